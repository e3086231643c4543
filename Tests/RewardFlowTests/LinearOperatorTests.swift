import Foundation
import Testing
@testable import RewardFlow

/// SPEC §3 linear operators (`discounted`, `pagerank`, `diffusion`): fixtures per backend,
/// backends against each other and against independent oracles, parameter domains, errors.
@Suite struct LinearOperatorTests {
    // MARK: graphs

    /// A batch from per-group edge lists `(u, v, w)` (local ids) and rewards.
    static func batch(_ groups: [(rewards: [Double], edges: [(Int, Int, Double)])]) throws -> StateGraph {
        var groupStart = [0], edgeStart = [0], target: [Int32] = [], weight: [Double] = [], reward: [Double] = []
        for group in groups {
            let base = groupStart[groupStart.count - 1], n = group.rewards.count
            var out = [[(Int, Double)]](repeating: [], count: n)
            for (u, v, w) in group.edges { out[u].append((v, w)) }
            for u in 0..<n {
                for (v, w) in out[u].sorted(by: { $0.0 < $1.0 }) {
                    target.append(Int32(base + v))
                    weight.append(w)
                }
                edgeStart.append(target.count)
            }
            reward += group.rewards
            groupStart.append(base + n)
        }
        return try StateGraph(
            groupNodeStart: groupStart, edgeStart: edgeStart, edgeTarget: target, edgeWeight: weight,
            nodeReward: reward, nodeState: (0..<reward.count).map(Int32.init), rowNode: [])
    }

    /// A random group of `n` nodes: a spine `i → i+1` plus `extra` random edges (no self-loops,
    /// no duplicates); `acyclic` keeps every edge pointing forward. Rewards: mostly 0, some
    /// positive goals, some negative penalties; trajectory-count weights 1…8.
    static func randomGroup(
        _ n: Int, extra: Int, acyclic: Bool, spine: Bool = true, rng: inout SplitMix64
    ) -> (rewards: [Double], edges: [(Int, Int, Double)]) {
        var rewards = [Double](repeating: 0, count: n)
        for i in 0..<n {
            switch rng.next() % 10 {
            case 0: rewards[i] = Double(1 + rng.next() % 10)
            case 1: rewards[i] = -Double(rng.next() % 5) / 4
            default: break
            }
        }
        var seen = Set<Int>(), edges: [(Int, Int, Double)] = []
        func add(_ u: Int, _ v: Int) {
            guard u != v, seen.insert(u * n + v).inserted else { return }
            edges.append((u, v, Double(1 + rng.next() % 8)))
        }
        if spine && n > 1 { for i in 0..<(n - 1) { add(i, i + 1) } }
        if n > 1 {
            for _ in 0..<extra {
                let u = Int(rng.next() % UInt64(n)), v = Int(rng.next() % UInt64(n))
                acyclic ? add(min(u, v), max(u, v)) : add(u, v)
            }
        }
        return (rewards, edges)
    }

    /// A batch of every shape the backends must handle: empty and one-node groups, isolated
    /// nodes, acyclic groups, small and medium cyclic groups, and (when `large`) groups of
    /// 2,000+ nodes, one of them with several nodes that have no successors.
    static func randomBatch(seed: UInt64, large: Bool) throws -> StateGraph {
        var rng = SplitMix64(seed: seed)
        var groups: [(rewards: [Double], edges: [(Int, Int, Double)])] = []
        groups.append(([], []))  // empty group
        groups.append(([7], []))  // one-node group (isolated node)
        groups.append(([0, 5, -1], [(0, 1, 2)]))  // node 2 isolated
        groups.append(([0, 0, 10], [(0, 1, 3), (1, 0, 1), (1, 2, 2)]))  // 2-cycle next to a goal
        for _ in 0..<6 { groups.append(randomGroup(2 + Int(rng.next() % 40), extra: 30, acyclic: true, rng: &rng)) }
        for _ in 0..<12 { groups.append(randomGroup(2 + Int(rng.next() % 60), extra: 40, acyclic: false, rng: &rng)) }
        for _ in 0..<3 { groups.append(randomGroup(130 + Int(rng.next() % 300), extra: 200, acyclic: false, rng: &rng)) }
        if large {
            groups.append(randomGroup(2_000 + Int(rng.next() % 500), extra: 900, acyclic: false, rng: &rng))
            groups.append(randomGroup(2_100, extra: 2_500, acyclic: false, spine: false, rng: &rng))
        }
        return try batch(groups)
    }

    // MARK: independent oracles

    /// `‖(I − γP)V − r‖∞`, computed here from the graph.
    static func discountedResidual(_ g: StateGraph, gamma: Double, _ v: [Double]) -> Double {
        var worst = 0.0
        for u in 0..<g.nodeCount {
            let edges = g.edgeStart[u]..<g.edgeStart[u + 1]
            let total = edges.reduce(0.0) { $0 + g.edgeWeight[$1] }
            var s = 0.0
            for e in edges { s += g.edgeWeight[e] / total * v[Int(g.edgeTarget[e])] }
            worst = max(worst, abs(v[u] - gamma * s - g.nodeReward[u]))
        }
        return worst
    }

    /// Diffusion by a dense LU solve (LAPACK `dgesv`) of `I − αS`, assembled here per group
    /// from `W = w + wᵀ` and `D = diag(W·1)` (no code shared with the operator).
    static func diffusionOracle(_ g: StateGraph, alpha: Double) throws -> [Double] {
        var f = [Double](repeating: 0, count: g.nodeCount)
        for group in 0..<g.groupCount {
            let base = g.groupNodeStart[group], n = g.groupNodeStart[group + 1] - base
            guard n > 0 else { continue }
            // W = w + wᵀ as an edge map, degrees = row sums of W.
            var w: [Int: Double] = [:]
            for u in base..<(base + n) {
                for e in g.edgeStart[u]..<g.edgeStart[u + 1] {
                    let (i, j) = (u - base, Int(g.edgeTarget[e]) - base)
                    w[i * n + j, default: 0] += g.edgeWeight[e]
                    w[j * n + i, default: 0] += g.edgeWeight[e]
                }
            }
            var degree = [Double](repeating: 0, count: n)
            for (key, value) in w { degree[key / n] += value }
            var a = [Double](repeating: 0, count: n * n), b = Array(g.nodeReward[base..<(base + n)])
            for (key, value) in w {
                let (i, j) = (key / n, key % n)
                a[i + j * n] = -alpha * value / (degree[i] * degree[j]).squareRoot()
            }
            for i in 0..<n { a[i + i * n] += 1 }
            var pivots: [Int32] = []
            try DenseLAPACK.solveGeneral(order: n, &a, &b, pivots: &pivots)
            for i in 0..<n { f[base + i] = b[i] }
        }
        return f
    }

    /// PageRank by the textbook power iteration of `networkx.pagerank(G.reverse(), α,
    /// personalization = r⁺)` on dictionaries of the reversed graph, per group, from the uniform
    /// start, until the ℓ1 change is below 1e-15 (or 20,000 sweeps).
    static func pagerankOracle(_ g: StateGraph, alpha: Double) -> [Double] {
        var result = [Double](repeating: 0, count: g.nodeCount)
        for group in 0..<g.groupCount {
            let nodes = Array(g.groupNodeStart[group]..<g.groupNodeStart[group + 1])
            let positive = nodes.reduce(0.0) { $0 + max(0, g.nodeReward[$1]) }
            guard positive > 0 else { continue }
            // Reversed graph: v → u with weight w(u→v).
            var reversedOut: [Int: [(Int, Double)]] = [:]
            for u in nodes {
                for e in g.edgeStart[u]..<g.edgeStart[u + 1] { reversedOut[Int(g.edgeTarget[e]), default: []].append((u, g.edgeWeight[e])) }
            }
            var p: [Int: Double] = [:]
            for u in nodes { p[u] = max(0, g.nodeReward[u]) / positive }
            var x: [Int: Double] = [:]
            for u in nodes { x[u] = 1 / Double(nodes.count) }
            for _ in 0..<20_000 {
                var next: [Int: Double] = [:]
                var danglingMass = 0.0
                for v in nodes {
                    guard let out = reversedOut[v], !out.isEmpty else { danglingMass += x[v, default: 0]; continue }
                    let total = out.reduce(0.0) { $0 + $1.1 }
                    for (u, w) in out { next[u, default: 0] += x[v, default: 0] * w / total }
                }
                var change = 0.0
                for u in nodes {
                    let value = alpha * (next[u, default: 0] + danglingMass * p[u, default: 0]) + (1 - alpha) * p[u, default: 0]
                    change += abs(value - x[u, default: 0])
                    next[u] = value
                }
                x = next
                if change < 1e-15 { break }
            }
            for u in nodes { result[u] = x[u, default: 0] }
        }
        return result
    }

    /// Nodes per group.
    static func groupSizes(_ g: StateGraph) -> [Int] {
        (0..<g.groupCount).map { g.groupNodeStart[$0 + 1] - g.groupNodeStart[$0] }
    }

    static func maxDifference(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count)
        return zip(a, b).reduce(0.0) { max($0, abs($1.0 - $1.1)) }
    }

    // MARK: discounted

    @Test func discountedHandWorked() throws {
        // A→B→C (goal 10), γ = 0.9, and B→D (w 1 vs 3): V(B) = 0.9·(3/4·10 + 1/4·0) = 6.75.
        let g = try Self.batch([([0, 0, 10, 0], [(0, 1, 4), (1, 2, 3), (1, 3, 1)])])
        for solver in LinearSolver.allCases {
            let v = try Discounted(gamma: 0.9, solver: solver).values(on: g)
            // Acyclic: every backend ends on the same products, exactly (6.75 = 0.9 · 7.5).
            #expect(v[1] == 6.75, "\(solver)")
            #expect(v[0] == 0.9 * 6.75, "\(solver)")
            #expect(v[2] == 10 && v[3] == 0, "\(solver): nodes without successors keep V = r")
        }
        // A 2-cycle A ⇄ B with r(B) = 1: V(A) = γV(B), V(B) = 1 + γV(A) ⇒ V(B) = 1/(1 − γ²).
        let cycle = try Self.batch([([0, 1], [(0, 1, 1), (1, 0, 1)])])
        for solver in LinearSolver.allCases {
            let v = try Discounted(gamma: 0.5, solver: solver, tolerance: 1e-14).values(on: cycle)
            // Jacobi stops at residual 1e-14: error at most 1e-14 / (1 − γ) = 2e-14.
            #expect(abs(v[1] - 1 / 0.75) <= 2e-14, "\(solver)")
            #expect(abs(v[0] - 0.5 / 0.75) <= 2e-14, "\(solver)")
        }
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func discountedBackendsAgreeOnRandomGraphs(seed: UInt64) throws {
        let g = try Self.randomBatch(seed: seed, large: seed == 1)
        #expect(Self.groupSizes(g).contains { $0 >= 2_000 } == (seed == 1))
        for gamma in [0.5, 0.9, 0.97] {
            var results: [LinearSolver: [Double]] = [:]
            for solver in LinearSolver.allCases {
                let v = try Discounted(gamma: gamma, solver: solver, tolerance: 1e-12).values(on: g)
                // Jacobi stops at residual 1e-12 (recomputed here, within rounding); the direct backends far below.
                #expect(Self.discountedResidual(g, gamma: gamma, v) <= 2e-12, "\(solver) γ = \(gamma)")
                results[solver] = v
            }
            let reference = try #require(results[.direct])
            for (solver, v) in results {
                // Jacobi stops at residual 1e-12: error at most 1e-12 / (1 − γ) (substochastic P); the rest is rounding.
                #expect(Self.maxDifference(v, reference) <= 1e-12 / (1 - gamma) + 1e-13, "\(solver) vs direct, γ = \(gamma)")
            }
        }
    }

    @Test func discountedAutoSplitsGroupsByStructureAndSize() throws {
        let g = try Self.randomBatch(seed: 4, large: true)
        var explain = SolveExplanation()
        _ = try Discounted(gamma: 0.9).values(on: g, explain: &explain)
        let used = Dictionary(uniqueKeysWithValues: explain.backends.map { ($0.backend, $0) })
        let nonEmpty = Self.groupSizes(g).filter { $0 > 0 }.count
        #expect(explain.backends.reduce(0) { $0 + $1.groups } == nonEmpty)
        #expect(explain.backends.reduce(0) { $0 + $1.nodes } == g.nodeCount)
        // One-node groups, isolated-node groups and the forward-only groups are acyclic.
        #expect((used["acyclic"]?.groups ?? 0) >= 8)
        #expect((used["dense"]?.groups ?? 0) >= 1)
        // The groups above `denseLimit` nodes go to UMFPACK together.
        let large = Self.groupSizes(g).filter { $0 > Discounted.denseLimit }.count
        #expect(used["direct"]?.groups == large)
        #expect((explain.residual ?? 1) <= 1e-13)
    }

    @Test func discountedBackendsAgreeOnGeneratedFixtures() throws {
        for name in ["discounted_16", "paper_16x8x50", "search_64x5x5", "neg_penalty", "noop_nothing_happens"] {
            let rows = try JSONLReader.read(path: Fixtures.url(name, "input.jsonl").path)
            let graph = GraphBuilder(nodeReward: .firstSeen).build(rows, index: try TrajectoryIndex(rows))
            let direct = try Discounted(gamma: 0.9, solver: .direct).values(on: graph)
            #expect(Self.discountedResidual(graph, gamma: 0.9, direct) <= 1e-13, "\(name)")
            for solver in [LinearSolver.iterative, .dense, .auto] {
                let v = try Discounted(gamma: 0.9, solver: solver, tolerance: 1e-13).values(on: graph)
                // Jacobi stops at residual 1e-13, so its error is at most 1e-13 / (1 − γ) = 1e-12.
                #expect(Self.maxDifference(v, direct) <= 1e-12, "\(name): \(solver) vs direct")
            }
        }
    }

    @Test func iterativeThrowsWhenMaxIterationsIsTooSmall() throws {
        let g = try Self.batch([([0, 1, 0], [(0, 1, 1), (1, 0, 1), (1, 2, 1)])])
        let error = thrownError { _ = try Discounted(gamma: 0.9, solver: .iterative, maxIterations: 5).values(on: g) }
        guard case .numerical(let message)? = error else {
            Issue.record("expected a numerical error, got \(String(describing: error))")
            return
        }
        #expect(message.contains("5 iterations") && message.contains("residual"))
        // The same system converges with room to iterate, and reports its sweeps.
        var explain = SolveExplanation()
        _ = try Discounted(gamma: 0.9, solver: .iterative, maxIterations: 1_000).values(on: g, explain: &explain)
        #expect((explain.iterations ?? 0) > 5 && (explain.residual ?? 1) <= 1e-12)
        // PageRank's power iteration likewise.
        let pr = thrownError { _ = try PageRank(alpha: 0.85, maxIterations: 3).values(on: g) }
        guard case .numerical(let prMessage)? = pr else {
            Issue.record("expected a numerical error, got \(String(describing: pr))")
            return
        }
        #expect(prMessage.contains("3 iterations"))
    }

    // MARK: diffusion

    @Test(arguments: [UInt64(1), 2])
    func diffusionMatchesDenseOracle(seed: UInt64) throws {
        let g = try Self.randomBatch(seed: seed + 10, large: seed == 1)
        for alpha in [0.0, 0.5, 0.9] {
            let oracle = try Self.diffusionOracle(g, alpha: alpha)
            for solver in [LinearSolver.auto, .direct, .dense] {
                let f = try Diffusion(alpha: alpha, solver: solver).values(on: g)
                // Measured at most 1e-13 (dense and sparse Cholesky against the oracle).
                #expect(Self.maxDifference(f, oracle) <= 2e-13, "\(solver) α = \(alpha)")
            }
            if alpha == 0 { #expect(try Diffusion(alpha: 0).values(on: g) == g.nodeReward) }
        }
    }

    @Test func diffusionUsesCholmodForLargeGroupsUnderAuto() throws {
        let g = try Self.randomBatch(seed: 5, large: false)
        var explain = SolveExplanation()
        _ = try Diffusion(alpha: 0.5).values(on: g, explain: &explain)
        let large = Self.groupSizes(g).filter { $0 > Diffusion.denseLimit }.count
        #expect(large > 0)
        #expect(explain.backends.first { $0.backend == "cholmod" }?.groups == large)
        #expect((explain.residual ?? 1) <= 1e-13)
    }

    @Test func notPositiveDefiniteIsAnError() throws {
        // [[1, 2], [2, 1]] is symmetric indefinite (eigenvalues 3, −1); lower triangle by rows.
        let lower = SparseMatrix(rowStart: [0, 1, 3], column: [0, 0, 1], value: [1, 2, 1])
        let cholesky = try SparseCholesky(analysing: lower)
        let error = thrownError { try cholesky.factorise() }
        guard case .numerical(let message)? = error else {
            Issue.record("expected a numerical error, got \(String(describing: error))")
            return
        }
        #expect(message.contains("not positive definite"))
        // A positive definite one factorises (supernodal LLᵀ) and solves.
        let spd = try SparseCholesky(analysing: SparseMatrix(rowStart: [0, 1, 3], column: [0, 0, 1], value: [4, 1, 3]))
        try spd.factorise()
        #expect(spd.factor.isSupernodalLL)
        let x = try spd.solve([1, 2])
        #expect(abs(4 * x[0] + x[1] - 1) < 1e-14 && abs(x[0] + 3 * x[1] - 2) < 1e-14)
        // LAPACK's dense path reports it too.
        var a: [Double] = [1, 2, 2, 1], b: [Double] = [1, 1]
        #expect(thrownError { try DenseLAPACK.solveSPD(order: 2, &a, &b) } != nil)
    }

    @Test func cholmodObjectsAreFreedWithTheirOwners() throws {
        let context = CholmodContext()
        let spd = SparseMatrix(rowStart: [0, 1, 3], column: [0, 0, 1], value: [4, 1, 3])
        let indefinite = SparseMatrix(rowStart: [0, 1, 3], column: [0, 0, 1], value: [1, 2, 1])
        do {
            let cholesky = try SparseCholesky(analysing: spd, context: context)
            try cholesky.factorise()
            _ = try cholesky.solve([1, 1])
            #expect(context.liveAllocations > 0)
            let failing = try SparseCholesky(analysing: indefinite, context: context)
            #expect(thrownError { try failing.factorise() } != nil)
        }
        context.freeWorkspace()
        #expect(context.liveAllocations == 0)
    }

    @Test func sparseLUSolvesTheMatrixGivenByRows() throws {
        // A = [[2, 1], [0, 3]] by rows (not symmetric: solving Aᵀ instead would give [1.5, 0.5]).
        let lu = try SparseLU(analysing: SparseMatrix(rowStart: [0, 2, 3], column: [0, 1, 1], value: [2, 1, 3]))
        try lu.factorise()
        let x = try lu.solve([3, 3])
        #expect(abs(x[0] - 1) < 1e-15 && abs(x[1] - 1) < 1e-15)
    }

    @Test func singularLUIsAnError() throws {
        // [[1, 1], [1, 1]] by rows.
        let lu = try SparseLU(analysing: SparseMatrix(rowStart: [0, 2, 4], column: [0, 1, 0, 1], value: [1, 1, 1, 1]))
        let error = thrownError { try lu.factorise() }
        guard case .numerical(let message)? = error else {
            Issue.record("expected a numerical error, got \(String(describing: error))")
            return
        }
        #expect(message.contains("singular"))
    }

    // MARK: pagerank

    @Test(arguments: [UInt64(1), 2])
    func pagerankMatchesPlainPowerIteration(seed: UInt64) throws {
        let g = try Self.randomBatch(seed: seed + 20, large: false)
        for alpha in [0.0, 0.5, 0.85] {
            let x = try PageRank(alpha: alpha, tolerance: 1e-14).values(on: g)
            let oracle = Self.pagerankOracle(g, alpha: alpha)
            #expect(Self.maxDifference(x, oracle) <= 1e-13, "α = \(alpha)")
            for group in 0..<g.groupCount {
                let nodes = g.groupNodeStart[group]..<g.groupNodeStart[group + 1]
                let positive = nodes.contains { g.nodeReward[$0] > 0 }
                let total = nodes.reduce(0.0) { $0 + x[$1] }
                #expect(abs(total - (positive ? 1 : 0)) < 1e-14, "group \(group) sums to \(total)")
            }
        }
    }

    @Test func pagerankGroupWithoutPositiveRewardIsZero() throws {
        let g = try Self.batch([([0, -1, 0], [(0, 1, 1), (1, 2, 1)]), ([0, 3], [(0, 1, 2)])])
        let x = try PageRank(alpha: 0.85).values(on: g)
        #expect(x[0..<3].allSatisfy { $0 == 0 })
        // Group 2: reversed graph B → A (w 2); p = (0, 1); A dangling. x_B = 0.15 + 0.85·x_A,
        // x_A = 0.85·x_B: x_B = 0.15/(1 − 0.85²), x_A = 0.85·x_B.
        let xb = 0.15 / (1 - 0.85 * 0.85)
        #expect(abs(x[4] - xb) < 1e-12 && abs(x[3] - 0.85 * xb) < 1e-12)
    }

    @Test func pagerankPersonalisationSurvivesHugeRewards() throws {
        // Σr⁺ = 2e308 overflows; the personalisation is still (½, ½) and the group sums to 1.
        let huge = try Self.batch([([1e308, 1e308, 0], [(2, 0, 1), (2, 1, 1)])])
        let x = try PageRank(alpha: 0.85, tolerance: 1e-14).values(on: huge)
        let same = try PageRank(alpha: 0.85, tolerance: 1e-14).values(on: Self.batch([([1, 1, 0], [(2, 0, 1), (2, 1, 1)])]))
        #expect(abs(x.reduce(0, +) - 1) <= 4 * Double.ulpOfOne)
        #expect(Self.maxDifference(x, same) < 1e-15)
    }

    // MARK: fixtures per operator and backend

    static var linearFixtures: [String] {
        Fixtures.names.filter { name in
            ["discounted", "pagerank", "diffusion"].contains((try? Fixtures.params(name))?["operator"] as? String ?? "")
        }
    }

    @Test(arguments: linearFixtures)
    func fixtureValuesPerBackend(_ name: String) throws {
        let params = try Fixtures.params(name)
        let operatorName = try #require(params["operator"] as? String)
        let op = try #require(PropagationOperator(rawValue: operatorName))
        let tolerance = try #require(params["tolerance"] as? Double)
        let rows = try JSONLReader.read(path: Fixtures.url(name, "input.jsonl").path)
        let expected = try Fixtures.jsonLines(Fixtures.url(name, "expected.jsonl"))
        let solvers: [LinearSolver] = switch op {
        case .discounted: LinearSolver.allCases
        case .diffusion: [.auto, .direct, .dense]
        default: [.auto, .iterative]
        }
        for solver in solvers {
            var options = ScoringOptions()
            options.propagation = op
            options.gamma = params["gamma"] as? Double ?? options.gamma
            options.alpha = params["alpha"] as? Double ?? options.alpha
            options.solver = solver
            options.tolerance = 1e-13
            let scored = try Scorer(options: options).score(rows)
            var worst = 0.0
            for (r, line) in expected.enumerated() {
                for (field, got) in [("value", scored.rewards.value[r]), ("step_reward", scored.rewards.stepReward[r]),
                                     ("step_reward_abs", scored.rewards.stepRewardAbs[r])] {
                    worst = max(worst, abs(got - (try #require(line[field] as? Double))))
                }
            }
            #expect(worst <= tolerance, "\(name) with \(solver): off by \(worst)")
        }
    }

    // MARK: parameters and options

    @Test func parametersOutsideTheirDomainsAreRefused() {
        for gamma in [0, 1, 1.5, -0.1, .nan, .infinity] {
            var options = ScoringOptions()
            options.propagation = .discounted
            options.gamma = gamma
            guard case .invalidParameter(let name, let message)? = thrownError({ _ = try Scorer(options: options) }) else {
                Issue.record("γ = \(gamma) accepted")
                continue
            }
            #expect(name == "gamma" && message.contains("(0, 1)"), "γ = \(gamma): \(message)")
        }
        for op in [PropagationOperator.pagerank, .diffusion] {
            for alpha in [1, 1.01, -0.1, .nan, -.infinity] {
                var options = ScoringOptions()
                options.propagation = op
                options.alpha = alpha
                guard case .invalidParameter(let name, let message)? = thrownError({ _ = try Scorer(options: options) }) else {
                    Issue.record("\(op) α = \(alpha) accepted")
                    continue
                }
                #expect(name == "alpha" && message.contains("[0, 1)"), "\(op) α = \(alpha): \(message)")
            }
            var options = ScoringOptions()
            options.propagation = op
            options.alpha = 0
            #expect(thrownError { _ = try Scorer(options: options) } == nil, "\(op) accepts α = 0")
        }
        var options = ScoringOptions()
        options.propagation = .discounted
        options.tolerance = 0
        #expect(thrownError { _ = try Scorer(options: options) } == .invalidParameter(name: "tolerance", message: "must be a positive finite number, got 0.0"))
        options.tolerance = 1e-12
        options.maxIterations = 0
        #expect(thrownError { _ = try Scorer(options: options) } == .invalidParameter(name: "max-iter", message: "must be at least 1, got 0"))
        // Backends an operator does not have are refused, not ignored.
        options = ScoringOptions()
        options.propagation = .diffusion
        options.solver = .iterative
        #expect(thrownError { _ = try Scorer(options: options) } != nil)
        options.propagation = .pagerank
        options.solver = .direct
        #expect(thrownError { _ = try Scorer(options: options) } != nil)
    }

    @Test func cliExplainsAndRefusesBadLinearOptions() throws {
        let input = Fixtures.url("diffusion_16", "input.jsonl").path
        let output = CLITests.temporary("linear-explain.jsonl")
        defer { try? FileManager.default.removeItem(atPath: output) }
        let ok = try CLITests.run(["score", input, "--operator", "diffusion", "--alpha", "0.5", "--solver", "direct", "--explain", "--quiet", "-o", output])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stderr.contains("backend cholmod: 16 groups"), "\(ok.stderr)")
        #expect(ok.stderr.contains("time cholmod: factorise"))
        let expected = try Fixtures.jsonLines(Fixtures.url("diffusion_16", "expected.jsonl"))
        let got = try Fixtures.jsonLines(URL(fileURLWithPath: output))
        #expect(got.count == expected.count)
        let worst = zip(got, expected).reduce(0.0) { max($0, abs(($1.0["value"] as? Double ?? .nan) - ($1.1["value"] as? Double ?? 0))) }
        #expect(worst <= 1e-13)
        for bad in [["--operator", "discounted", "--gamma", "1"], ["--operator", "pagerank", "--alpha", "1"],
                    ["--operator", "discounted", "--solver", "cholesky"], ["--operator", "discounted", "--tol", "-1"],
                    ["--operator", "discounted", "--max-iter", "many"]] {
            let run = try CLITests.run(["score", input, "-o", output + ".bad"] + bad)
            #expect(run.status == 2 && run.stderr.hasPrefix("error: "), "\(bad): \(run.status) \(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: output + ".bad"))
        }
        let slow = try CLITests.run(["score", input, "--operator", "discounted", "--solver", "iterative", "--max-iter", "2", "-o", output + ".bad"])
        #expect(slow.status == 1 && slow.stderr.contains("did not converge in 2 iterations"), "\(slow.stderr)")
    }

    @Test func scorerExplainsWhatItSolved() throws {
        let rows = try JSONLReader.read(path: Fixtures.url("discounted_16", "input.jsonl").path)
        var options = ScoringOptions()
        options.propagation = .discounted
        options.solver = .iterative
        var explain = SolveExplanation()
        _ = try Scorer(options: options).score(rows, explain: &explain)
        #expect(explain.groups == 16 && explain.nodes > 0)
        #expect(explain.backends.map(\.backend) == ["iterative"])
        #expect((explain.iterations ?? 0) > 0 && (explain.residual ?? 1) <= options.tolerance)
        #expect(["index", "graph", "iterative: sweeps", "extract"].allSatisfy { stage in explain.stages.contains { $0.name == stage } })
        #expect(explain.description.contains("iterations: \(explain.iterations ?? -1)"))
        // Each stage carries the process's CPU time beside its wall time.
        #expect(explain.stages.allSatisfy { $0.cpuSeconds >= 0 && $0.cpuSeconds.isFinite })
        #expect(explain.stages.reduce(0) { $0 + $1.cpuSeconds } > 0)
        #expect(explain.description.split(separator: "\n").filter { $0.hasPrefix("time ") }.allSatisfy { $0.hasSuffix(" s)") && $0.contains(" s (cpu ") })
    }
}
