import Testing
@testable import RewardFlow
import RewardFlowSynthesis

/// SPEC §2: transitions, cleaning, `noop` bridging, dedup, weights and node rewards.
@Suite struct GraphTests {
    /// Builds the graph and returns (edges as "A→B:w" strings, node rewards by state, graph).
    func graph(_ rows: StepRows, _ policy: NodeRewardPolicy = .firstSeen) throws -> (Set<String>, [String: Double], StateGraph) {
        let index = try TrajectoryIndex(rows)
        let g = GraphBuilder(nodeReward: policy).build(rows, index: index)
        let name = { (node: Int) in rows.stateTexts.string(of: g.nodeState[node]) }
        var edges = Set<String>()
        for u in 0..<g.nodeCount {
            for e in g.edgeStart[u]..<g.edgeStart[u + 1] {
                edges.insert("\(name(u))→\(name(Int(g.edgeTarget[e]))):\(Int(g.edgeWeight[e]))")
            }
        }
        var rewards: [String: Double] = [:]
        for u in 0..<g.nodeCount { rewards[name(u)] = g.nodeReward[u] }
        return (edges, rewards, g)
    }

    @Test func chainWithSharedPrefixCountsTrajectories() throws {
        let rows = try makeRows([
            ("g", "t0", 0, "A", 0, true), ("g", "t0", 1, "B", 10, true), ("g", "t0", 2, "C", 0, false),
            ("g", "t1", 0, "A", 0, true), ("g", "t1", 1, "B", 0, true), ("g", "t1", 2, "D", 0, true),
        ])
        let (edges, rewards, g) = try graph(rows)
        #expect(edges == ["A→B:2", "B→C:1", "B→D:1"])
        #expect(rewards == ["A": 0, "B": 0, "C": 10, "D": 0])
        #expect(g.groupNodeStart == [0, 4])
        // Nodes numbered by first mention; the all-active t1 has no node for its last outcome.
        #expect(g.nodeState.map { rows.stateTexts.string(of: $0) } == ["A", "B", "C", "D"])
        #expect(g.rowNode == [0, 1, 2, 0, 1, 3])
    }

    @Test func sequenceStopsAfterFirstInactiveStep() throws {
        let rows = try makeRows([
            ("g", "t", 0, "A", 1, true), ("g", "t", 1, "B", 2, false), ("g", "t", 2, "C", 0, false),
        ])
        let (edges, rewards, g) = try graph(rows)
        #expect(edges == ["A→B:1"])
        #expect(rewards == ["A": 0, "B": 1])
        #expect(g.rowNode[2] == -1)
    }

    @Test func selfLoopsAreCleaned() throws {
        // A, A, B, B, C: self-loops removed; the bridged edge keeps transition k's rewards.
        let rows = try makeRows([
            ("g", "t", 0, "A", -1, true), ("g", "t", 1, "A", 2, true), ("g", "t", 2, "B", -1, true),
            ("g", "t", 3, "B", 5, true), ("g", "t", 4, "C", 0, true),
        ])
        let (edges, rewards, _) = try graph(rows)
        #expect(edges == ["A→B:1", "B→C:1"])
        // A→B is transition 1 (A at reward -1 → B at reward 2), B→C is transition 3.
        #expect(rewards == ["A": -1, "B": 2, "C": 5])
    }

    @Test func noopTransitionsAreBridged() throws {
        // A -look(noop)-> A' -go-> B : bridged to A→B; a walk back to A is skipped.
        let rows = try makeRows([
            ("g", "t", 0, "A", 0, true), ("g", "t", 1, "A'", 0, true), ("g", "t", 2, "A", 0, true),
            ("g", "t", 3, "B", 3, true), ("g", "t", 4, "C", 0, true),
        ], noop: [0])
        let (edges, _, _) = try graph(rows)
        // Transition 0 noop; transition 1 (A'→A) targets `from` = A: skipped; transition 2 A→B emitted from A.
        #expect(edges == ["A→B:1", "B→C:1"])
    }

    @Test func trailingNoopEmitsNothing() throws {
        let rows = try makeRows([("g", "t", 0, "A", 0, true), ("g", "t", 1, "B", 0, true)], noop: [0])
        let (edges, _, g) = try graph(rows)
        #expect(edges.isEmpty)
        #expect(g.nodeCount == 0)
        #expect(g.rowNode == [-1, -1])
    }

    @Test func dedupInsideTrajectoryOnly() throws {
        // t0 walks A→B twice (same tuple, counted once); t1 once: w = 2.
        let rows = try makeRows([
            ("g", "t0", 0, "A", 0, true), ("g", "t0", 1, "B", 0, true), ("g", "t0", 2, "A", 0, true),
            ("g", "t0", 3, "B", 0, true), ("g", "t1", 0, "A", 0, true), ("g", "t1", 1, "B", 0, true),
            ("g", "t1", 2, "X", 0, true),
        ])
        let (edges, _, _) = try graph(rows)
        #expect(edges == ["A→B:2", "B→A:1", "B→X:1"])
    }

    @Test func negativeZeroEqualsZeroInDedup() {
        typealias T = GraphBuilder.EmittedTransition
        let plus = T(0, 1, 2, 0.0, 3), minus = T(0, 1, 2, -0.0, 3)
        #expect(plus == minus)
        #expect(Set([plus, minus]).count == 1)
        #expect(T(0, 1, 2, 0, 3) != T(0, 1, 2, 0, 4))
    }

    @Test func nodeRewardPolicies() throws {
        let rows = try makeRows([
            ("g", "t0", 0, "A", 1, true), ("g", "t0", 1, "B", 0, true), ("g", "t0", 2, "C", 0, false),
            ("g", "t1", 0, "A", 20, true), ("g", "t1", 1, "B", 0, true), ("g", "t1", 2, "D", 0, false),
        ])
        // Mentions of B: t0 (A→B target 1, B→C source 1), t1 (target 20, source 20).
        #expect(try graph(rows, .firstSeen).1["B"] == 1)
        #expect(try graph(rows, .max).1["B"] == 20)
        #expect(try graph(rows, .mean).1["B"] == 10.5)
    }

    @Test func groupsAreSeparateBlocks() throws {
        let rows = try makeRows([
            ("g", "t", 0, "A", 0, true), ("g", "t", 1, "B", 1, true), ("g", "t", 2, "C", 0, false),
            ("h", "t", 0, "A", 0, true), ("h", "t", 1, "B", 0, true),
        ])
        let (_, _, g) = try graph(rows)
        #expect(g.groupNodeStart == [0, 3, 5])
        for u in 0..<g.nodeCount {
            let group = u < 3 ? 0..<3 : 3..<5
            for e in g.edgeStart[u]..<g.edgeStart[u + 1] { #expect(group.contains(Int(g.edgeTarget[e]))) }
        }
        let reversed = g.reversed()
        #expect(reversed.edgeCount == g.edgeCount)
        #expect(reversed.reversed().edgeTarget == g.edgeTarget)
    }
    /// The public initialiser checks its CSR parts in every build: each malformed graph throws
    /// `invalidParameter` naming the broken part instead of letting the kernels run off its
    /// arrays; the well-formed base graph is accepted and scores.
    @Test func malformedGraphsAreRefused() throws {
        // Two groups: nodes 0, 1 (0 → 1) and nodes 2, 3 (3 → 2).
        struct Parts {
            var groupNodeStart = [0, 2, 4], edgeStart = [0, 1, 1, 1, 2], edgeTarget: [Int32] = [1, 2]
            var edgeWeight = [1.0, 2.0], nodeReward = [0.0, 1.0, 3.0, 0.0], nodeState: [Int32] = [0, 1, 2, 3]
            var rowNode: [Int32] = [0, 1, -1, 3]
            func build() throws(RewardFlowError) -> StateGraph {
                try StateGraph(
                    groupNodeStart: groupNodeStart, edgeStart: edgeStart, edgeTarget: edgeTarget,
                    edgeWeight: edgeWeight, nodeReward: nodeReward, nodeState: nodeState, rowNode: rowNode)
            }
        }
        let good = try Parts().build()
        #expect(try MaxDecay(gamma: 0.5).values(on: good) == [0.5, 1, 3, 1.5])
        let cases: [(String, (inout Parts) -> Void)] = [
            ("groupNodeStart", { $0.groupNodeStart = [] }),
            ("groupNodeStart", { $0.groupNodeStart = [0, 2, 5] }),
            ("groupNodeStart", { $0.groupNodeStart = [0, 3, 2, 4] }),
            ("edgeStart", { $0.edgeStart = [0, 1, 2] }),
            ("edgeStart", { $0.edgeStart = [0, 2, 1, 1, 2] }),
            ("edgeStart", { $0.edgeStart = [0, 1, 1, 1, 5] }),
            ("edgeWeight", { $0.edgeWeight = [1] }),
            ("edgeWeight", { $0.edgeWeight = [1, .nan] }),
            ("edgeWeight", { $0.edgeWeight = [0, 1] }),
            ("edgeTarget", { $0.edgeTarget = [1, 1_000_000] }),
            ("edgeTarget", { $0.edgeTarget = [2, 2] }),  // 0 → 2 crosses into group 1
            ("edgeTarget", { $0.edgeTarget = [-1, 2] }),
            ("edgeTarget", { $0.edgeTarget = [1, 3] }),  // self-loop 3 → 3
            ("edgeTarget", { $0.edgeStart = [0, 2, 2, 2, 3]; $0.edgeTarget = [1, 1, 2]; $0.edgeWeight = [1, 1, 1] }),
            ("edgeTarget", { $0.edgeStart = [0, 1, 1, 1, 3]; $0.edgeTarget = [1, 2, 2]; $0.edgeWeight = [1, 1, 1] }),
            ("edgeTarget", { $0.edgeStart = [0, 1, 1, 3, 3]; $0.edgeTarget = [1, 3, 3]; $0.edgeWeight = [1, 1, 1] }),
            ("nodeReward", { $0.nodeReward = [0, .infinity, 3, 0] }),
            ("nodeState", { $0.nodeState = [0, 1] }),
            ("nodeState", { $0.nodeState = [0, -4, 2, 3] }),
            ("rowNode", { $0.rowNode = [0, 4] }),
            ("rowNode", { $0.rowNode = [-2] }),
        ]
        for (part, breakIt) in cases {
            var parts = Parts()
            breakIt(&parts)
            let error = thrownError { _ = try parts.build() }
            guard case .invalidParameter(let name, _)? = error else {
                Issue.record("\(part): expected invalidParameter, got \(String(describing: error))")
                continue
            }
            #expect(name == "StateGraph.\(part)", "\(String(describing: error))")
        }
    }

    /// The per-group parallel transpose lists, for every node v, the edges u→v as v→u with
    /// their weights, sources ascending (brute force: all edges sorted by (target, source)), at
    /// any thread count, and keeps the group blocks.
    @Test func reversedEqualsTranspose() throws {
        var options = SynthesisOptions()
        (options.groups, options.seed) = (80, 5)
        let rows = try RolloutSynthesizer(options).rows(identity: .key)
        let graph = GraphBuilder().build(rows, index: try TrajectoryIndex(rows))
        var edges: [(target: Int32, source: Int32, weight: Double)] = []
        for u in 0..<graph.nodeCount {
            for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] {
                edges.append((graph.edgeTarget[e], Int32(u), graph.edgeWeight[e]))
            }
        }
        edges.sort { ($0.target, $0.source) < ($1.target, $1.source) }
        var start = [Int](repeating: 0, count: graph.nodeCount + 1)
        for edge in edges { start[Int(edge.target) + 1] += 1 }
        for v in 0..<graph.nodeCount { start[v + 1] += start[v] }
        #expect(graph.edgeCount > 1000)
        for threads in 1...3 {
            let reversed = graph.reversed(threads: threads)
            #expect(reversed.edgeStart == start)
            #expect(reversed.edgeTarget == edges.map(\.source))
            #expect(reversed.edgeWeight == edges.map(\.weight))
            #expect(reversed.groupNodeStart == graph.groupNodeStart)
        }
    }
}
