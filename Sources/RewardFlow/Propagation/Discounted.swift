/// The linear operator of the empirical policy: `(I − γP)·V = r` with `P(u→v) = w(u→v)/Σ_t w(u→t)`
/// (a node without successors has `V = r`).
///
/// Backends (`LinearSolver`), all solving the same block-diagonal batch system and agreeing
/// within 1e-9:
/// - `direct`: sparse LU (UMFPACK) of the whole batch matrix, one symbolic analysis and one
///   numeric factorisation, then one solve;
/// - `iterative`: Jacobi / power iteration `V ← r + γ·P·V` over the whole batch (sparse
///   product in parallel row chunks, vector updates with BLAS `daxpy`/`dcopy`/`idamax`),
///   stopping as soon as `‖(I−γP)V − r‖∞ ≤ tolerance` (so `‖V − V*‖∞ ≤ tolerance/(1−γ)`); an
///   error when `maxIterations` sweeps do not get there;
/// - `dense`: LAPACK `dgesv` on each group's dense `n × n` matrix (groups in parallel);
/// - `auto`, per group: a group whose graph is acyclic is solved exactly by one
///   back-substitution in reverse topological order (O(n + E), no factorisation); a cyclic
///   group of at most `denseLimit` nodes by `dgesv`; the larger cyclic groups together by one
///   UMFPACK LU. Why (measured on a 2-core VM, README "Linear operators"): on batches binned
///   by group size, dense LU beats sparse LU up to ~125 nodes per group (no symbolic phase,
///   BLAS-3 on tiny blocks; 40–125 nodes: 1.3–1.9× faster) and loses above (dense is O(n³);
///   125–150 nodes: 1.2× slower, 150–200: 1.7×, 300–450: 7.5×). Jacobi is about as fast as
///   UMFPACK on these graphs at γ = 0.9 but needs `log(tol)/log(γ)` sweeps (10× more at
///   γ = 0.99) and is only accurate to `tol/(1−γ)`, so `auto` keeps the direct solver.
package struct Discounted: Propagator {
    /// Cyclic groups up to this many nodes go to dense LU under `auto` (measured crossover).
    package static let denseLimit = 128

    /// The discount γ ∈ (0, 1).
    package let gamma: Double
    /// The backend.
    package let solver: LinearSolver
    /// Stop rule of the iterative backend: `‖(I−γP)V − r‖∞ ≤ tolerance`.
    package let tolerance: Double
    /// Sweep cap of the iterative backend; reaching it is an error.
    package let maxIterations: Int
    /// Threads of the solve's parallel loops (at least 1; from the `threads` argument of the
    /// initialiser, nil giving `Execution.threadCount`). Values never depend on it.
    package let threads: Int

    /// Creates the operator; refuses γ outside (0, 1), a tolerance that is not a positive
    /// finite number, and fewer than one iteration.
    package init(
        gamma: Double, solver: LinearSolver = .auto, tolerance: Double = 1e-12, maxIterations: Int = 10_000,
        threads: Int? = nil
    ) throws(RewardFlowError) {
        try ParameterCheck.discount(gamma, name: "gamma", allowOne: false)
        try ParameterCheck.iterative(tolerance: tolerance, maxIterations: maxIterations)
        self.gamma = gamma
        self.solver = solver
        self.tolerance = tolerance
        self.maxIterations = maxIterations
        self.threads = Parallel.threads(threads)
    }

    /// `V` per node, recording backends, iterations, residual and stage times in `explain`.
    package func values(on graph: StateGraph, explain: inout SolveExplanation) throws(RewardFlowError) -> [Double] {
        explain.operatorDescription = "discounted (gamma \(gamma), solver \(solver.rawValue))"
        let n = graph.nodeCount
        var values = [Double](repeating: 0, count: n)
        guard n > 0 else { return values }
        let p = explain.time("assemble P") { LinearSystems.rowNormalised(graph) }
        let groups = graph.nonEmptyGroups
        let size = graph.nodeCount(ofGroup:)
        let system = DiscountedSystem(graph: graph, p: p, gamma: gamma)

        switch solver {
        case .direct:
            try BlockSolver.solveSparse(system, pack: GroupPack(groups, graph: graph), graph: graph, into: &values, explain: &explain)
        case .iterative:
            try solveIterative(GroupPack(groups, graph: graph), graph, p, &values, &explain)
        case .dense:
            try BlockSolver.solveDense(system, groups: groups, graph: graph, threads: threads, into: &values, explain: &explain)
        case .auto:
            let cyclic = explain.time("acyclic: topological back-substitution") { solveAcyclic(groups, graph, p, &values) }
            explain.record("acyclic", groups: groups.count - cyclic.count, nodes: n - cyclic.reduce(0) { $0 + size($1) })
            let small = cyclic.filter { size($0) <= Self.denseLimit }
            let large = cyclic.filter { size($0) > Self.denseLimit }
            try BlockSolver.solveDense(system, groups: small, graph: graph, threads: threads, into: &values, explain: &explain)
            try BlockSolver.solveSparse(system, pack: GroupPack(large, graph: graph), graph: graph, into: &values, explain: &explain)
            explain.notes.append("auto: acyclic groups by back-substitution, cyclic groups of ≤ \(Self.denseLimit) nodes by dgesv, larger ones by UMFPACK")
        }
        if solver != .iterative {  // the iterative backend reports the residual it stopped at
            explain.residual = explain.time("residual") { residual(values, graph, p) }
            explain.residualDescription = "‖(I−γP)V − r‖∞"
        }
        return values
    }

    /// `‖(I−γP)V − r‖∞` over the batch.
    func residual(_ v: [Double], _ graph: StateGraph, _ p: [Double]) -> Double {
        LinearSystems.maxAbs(threads: threads, count: graph.nodeCount) { u in
            var s = 0.0
            for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] { s += p[e] * v[Int(graph.edgeTarget[e])] }
            return v[u] - gamma * s - graph.nodeReward[u]
        }
    }

    // MARK: acyclic groups

    /// Solves every acyclic group of `groups` by back-substitution in reverse topological order
    /// (Kahn's algorithm) and returns the cyclic ones, untouched.
    func solveAcyclic(
        _ groups: [Int], _ graph: StateGraph, _ p: [Double], _ values: inout [Double]
    ) -> [Int] {
        var isCyclic = [Bool](repeating: false, count: groups.count)
        Parallel.forEachChunk(threads: threads, count: groups.count, writing: &values, &isCyclic) { chunk, out, flags in
            var work = TopologicalOrder()
            for k in chunk {
                let g = groups[k]
                let base = graph.groupNodeStart[g], n = graph.groupNodeStart[g + 1] - base
                guard work.sort(base..<base + n, graph) else {
                    flags[k] = true
                    continue
                }
                for i in work.order.reversed() {
                    let u = base + Int(i)
                    var s = 0.0
                    for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] { s += p[e] * out[Int(graph.edgeTarget[e])] }
                    out[u] = graph.nodeReward[u] + gamma * s
                }
            }
        }
        return zip(groups, isCyclic).compactMap { $1 ? $0 : nil }
    }

    // MARK: iterative

    /// Solves the packed groups by Jacobi sweeps `V ← r + γ·P·V` over the whole pack.
    func solveIterative(
        _ pack: GroupPack, _ graph: StateGraph, _ p: [Double], _ values: inout [Double], _ explain: inout SolveExplanation
    ) throws(RewardFlowError) {
        guard !pack.isEmpty else { return }
        let m = try explain.time("iterative: assemble") { () throws(RewardFlowError) in
            try scaledTransitions(pack, graph, p)
        }
        let r = pack.gather(graph.nodeReward, graph: graph)
        let n = pack.nodeCount
        var v = r, next = [Double](repeating: 0, count: n), change = next
        var sweeps = 0, residual = Double.infinity
        explain.time("iterative: sweeps") {
            while sweeps < maxIterations {
                sweeps += 1
                m.multiply(v, into: &next, threads: threads)  // next = γ·P·V
                BLAS.axpy(1, r, &next)  // next = r + γ·P·V
                BLAS.copy(next, &change)
                BLAS.axpy(-1, v, &change)  // change = −((I−γP)V − r)
                residual = BLAS.maxAbs(change)
                if residual <= tolerance { break }
                swap(&v, &next)
            }
        }
        explain.iterations = (explain.iterations ?? 0) + sweeps
        explain.residual = max(explain.residual ?? 0, residual)
        explain.residualDescription = "‖(I−γP)V − r‖∞"
        guard residual <= tolerance else {
            throw .numerical(message: "discounted: the iterative solver did not converge in \(maxIterations) iterations (residual ‖(I−γP)V − r‖∞ = \(residual), tolerance \(tolerance))")
        }
        pack.scatter(v, into: &values, graph: graph)
        explain.record("iterative", groups: pack.groups.count, nodes: n, nonzeros: m.nonzeroCount)
    }

    /// `γ·P` over the packed groups in compressed rows.
    func scaledTransitions(_ pack: GroupPack, _ graph: StateGraph, _ p: [Double]) throws(RewardFlowError) -> SparseMatrix {
        let edges = pack.edgeCount(graph)
        try LinearSystems.check32Bit(nodes: pack.nodeCount, nonzeros: edges, "discounted")
        var m = SparseMatrix(reservingRows: pack.nodeCount, nonzeros: edges, columnCount: pack.nodeCount)
        for (k, g) in pack.groups.enumerated() {
            let base = graph.groupNodeStart[g], shift = pack.start[k] - base
            for u in base..<graph.groupNodeStart[g + 1] {
                for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] {
                    m.append(Int(graph.edgeTarget[e]) + shift, gamma * p[e])
                }
                m.endRow()
            }
        }
        return m
    }
}

/// `A = I − γP` of `Discounted`, `P(u→v) = w(u→v)/Σ_t w(u→t)` (rows of nodes without
/// successors are 0), for `BlockSolver`.
///
/// Nonsingular: each row of `P` sums to 1 or 0, so `‖γP‖∞ ≤ γ < 1` and `A` is strictly
/// diagonally dominant by rows (`A⁻¹ = Σ_k (γP)^k`, `‖A⁻¹‖∞ ≤ 1/(1−γ)`); LU factorises it
/// (pivoting only for stability). Error bound (postcondition): `κ∞(A) ≤ (1+γ)/(1−γ)`, so the
/// backward-stable LU solves give `‖V − V*‖∞ / ‖V*‖∞ ≤ c(n)·ε·(1+γ)/(1−γ)`; `Discounted`
/// reports the residual `‖AV − r‖∞` it reached, and `‖V − V*‖∞ ≤ residual/(1−γ)`.
struct DiscountedSystem: BlockSystem {
    let graph: StateGraph
    /// `P`'s values, aligned with the graph's edges.
    let p: [Double]
    let gamma: Double

    var factorisation: BlockFactorisation { .lu }
    var name: String { "discounted" }

    /// Row `u`: `1 − γ·P(u, u)` on the diagonal (in its sorted place), `−γ·P(u, t)` elsewhere.
    @inline(__always)
    func forEachEntry(ofRow u: Int, _ body: (Int, Double) -> Void) {
        forEachEntryOfIdentityMinus(gamma, graph.edgeStart, graph.edgeTarget, p, row: u, body)
    }
}

/// Kahn's topological sort of one group (local node ids, sources first), reused across groups.
struct TopologicalOrder {
    var indegree: [Int32] = []
    var order: [Int32] = []

    /// Sorts the group with nodes `nodes`; false when the group has a cycle.
    mutating func sort(_ nodes: Range<Int>, _ graph: StateGraph) -> Bool {
        let base = nodes.lowerBound, n = nodes.count
        if indegree.count == n {
            indegree.fill(with: 0)
        } else {
            indegree = [Int32](repeating: 0, count: n)
        }
        for e in graph.edgeStart[base]..<graph.edgeStart[base + n] { indegree[Int(graph.edgeTarget[e]) - base] += 1 }
        order.removeAll(keepingCapacity: true)
        for i in 0..<n where indegree[i] == 0 { order.append(Int32(i)) }
        var head = 0
        while head < order.count {
            let u = base + Int(order[head])
            head += 1
            for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] {
                let t = Int(graph.edgeTarget[e]) - base
                indegree[t] -= 1
                if indegree[t] == 0 { order.append(Int32(t)) }
            }
        }
        return order.count == n
    }
}
