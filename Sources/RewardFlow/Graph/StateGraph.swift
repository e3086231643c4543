/// How a node's reward `r(s)` is chosen from the rewards attached to its mentions (SPEC §2).
public enum NodeRewardPolicy: String, Sendable, CaseIterable {
    /// The reward of the first mention (trajectory order, transition order, source before target).
    case firstSeen
    /// The largest reward over all mentions.
    case max
    /// The arithmetic mean over all mentions.
    case mean
}

/// The state graph of a batch (SPEC §2): one CSR matrix, block-diagonal over groups.
///
/// Nodes of group `g` are `groupNodeStart[g]..<groupNodeStart[g+1]`, numbered in order of first
/// mention; the out-edges of node `u` are `edgeStart[u]..<edgeStart[u+1]` (targets ascending),
/// with `w(u→v)` = the number of the group's trajectories that contain `u→v`.
package struct StateGraph: Sendable {
    /// Node ranges per group (`groupCount + 1` offsets).
    package let groupNodeStart: [Int]
    /// The weighted adjacency `w` (rows: sources, columns: targets, values: `w(u→v)`).
    let adjacency: SparseMatrix
    /// CSR row offsets (`nodeCount + 1`).
    package var edgeStart: [Int] { adjacency.rowStart }
    /// CSR column indices: the edge targets (global node ids).
    package var edgeTarget: [Int32] { adjacency.column }
    /// `w(u→v)` per edge: trajectory counts, as doubles for the numerical kernels.
    package var edgeWeight: [Double] { adjacency.value }
    /// `r(s)` per node.
    package let nodeReward: [Double]
    /// The state id (into the rows' state table) of each node.
    package let nodeState: [Int32]
    /// Per input row: the node of its state, or -1 when the state is in no emitted transition.
    package private(set) var rowNode: [Int32]

    /// Gives `rowNode`'s storage to `workspace`; the graph is spent (its row nodes are empty).
    mutating func recycle(into workspace: ScoringWorkspace) { workspace.keep(&rowNode) }

    /// Number of groups.
    package var groupCount: Int { groupNodeStart.count - 1 }
    /// Number of nodes in the batch.
    package var nodeCount: Int { nodeReward.count }
    /// Number of edges in the batch.
    package var edgeCount: Int { edgeTarget.count }

    /// Number of nodes of group `g`.
    package func nodeCount(ofGroup g: Int) -> Int { groupNodeStart[g + 1] - groupNodeStart[g] }

    /// The groups with at least one node, ascending.
    package var nonEmptyGroups: [Int] { (0..<groupCount).filter { nodeCount(ofGroup: $0) > 0 } }

    /// Creates a graph from its CSR parts, checking in every build that they describe one
    /// (a malformed graph would make the kernels read and write out of bounds):
    ///
    /// - `groupNodeStart` starts at 0, never decreases and ends at `nodeReward.count`;
    /// - `edgeStart` has `nodeReward.count + 1` offsets, starts at 0, never decreases and ends
    ///   at `edgeTarget.count`; `edgeWeight` and `nodeState` are as long as what they annotate;
    /// - the targets of a node lie in its own group's node block, strictly ascending (no
    ///   parallel edges), none the node itself (cleaning removes self-loops, SPEC §2);
    /// - weights are finite and positive, rewards finite, states non-negative, and each
    ///   `rowNode` entry is -1 or a node.
    ///
    /// Throws `RewardFlowError.invalidParameter` naming the first broken part.
    package init(
        groupNodeStart: [Int], edgeStart: [Int], edgeTarget: [Int32], edgeWeight: [Double],
        nodeReward: [Double], nodeState: [Int32], rowNode: [Int32]
    ) throws(RewardFlowError) {
        try Self.check(
            groupNodeStart: groupNodeStart, edgeStart: edgeStart, edgeTarget: edgeTarget,
            edgeWeight: edgeWeight, nodeReward: nodeReward, nodeState: nodeState, rowNode: rowNode)
        self.init(
            unchecked: groupNodeStart, edgeStart: edgeStart, edgeTarget: edgeTarget, edgeWeight: edgeWeight,
            nodeReward: nodeReward, nodeState: nodeState, rowNode: rowNode)
    }

    /// Creates a graph from CSR parts the caller built correctly (`GraphBuilder`, `reversed()`);
    /// checked only in debug builds. Tests build graphs with parallel edges, unsorted targets
    /// and self-loops through it for the kernels that tolerate them (`GoalDistance`).
    init(
        unchecked groupNodeStart: [Int], edgeStart: [Int], edgeTarget: [Int32], edgeWeight: [Double],
        nodeReward: [Double], nodeState: [Int32], rowNode: [Int32]
    ) {
        assert(edgeStart.count == nodeReward.count + 1 && edgeTarget.count == edgeWeight.count)
        self.init(
            unchecked: groupNodeStart, adjacency: SparseMatrix(rowStart: edgeStart, column: edgeTarget, value: edgeWeight),
            nodeReward: nodeReward, nodeState: nodeState, rowNode: rowNode)
    }

    /// Creates a graph from its adjacency and node arrays, built correctly by the caller.
    init(unchecked groupNodeStart: [Int], adjacency: SparseMatrix, nodeReward: [Double], nodeState: [Int32], rowNode: [Int32]) {
        assert(adjacency.rowCount == nodeReward.count && adjacency.columnCount == nodeReward.count)
        self.groupNodeStart = groupNodeStart
        self.adjacency = adjacency
        self.nodeReward = nodeReward
        self.nodeState = nodeState
        self.rowNode = rowNode
    }

    /// The invariants of the package initialiser; O(nodes + edges + rows).
    private static func check(
        groupNodeStart: [Int], edgeStart: [Int], edgeTarget: [Int32], edgeWeight: [Double],
        nodeReward: [Double], nodeState: [Int32], rowNode: [Int32]
    ) throws(RewardFlowError) {
        func fail(_ part: String, _ message: String) -> RewardFlowError {
            .invalidParameter(name: "StateGraph.\(part)", message: message)
        }
        let nodes = nodeReward.count, edges = edgeTarget.count
        guard let firstGroup = groupNodeStart.first, firstGroup == 0, groupNodeStart.last == nodes else {
            throw fail("groupNodeStart", "must start at 0 and end at the node count \(nodes)")
        }
        for g in 1..<groupNodeStart.count where groupNodeStart[g] < groupNodeStart[g - 1] {
            throw fail("groupNodeStart", "decreases at group \(g) (\(groupNodeStart[g - 1]) then \(groupNodeStart[g]))")
        }
        guard edgeStart.count == nodes + 1 else {
            throw fail("edgeStart", "has \(edgeStart.count) offsets for \(nodes) nodes (expected \(nodes + 1))")
        }
        guard edgeStart[0] == 0, edgeStart[nodes] == edges else {
            throw fail("edgeStart", "must start at 0 and end at the edge count \(edges)")
        }
        guard edgeWeight.count == edges else {
            throw fail("edgeWeight", "has \(edgeWeight.count) weights for \(edges) edges")
        }
        guard nodeState.count == nodes else {
            throw fail("nodeState", "has \(nodeState.count) states for \(nodes) nodes")
        }
        for u in 0..<nodes where edgeStart[u + 1] < edgeStart[u] {
            throw fail("edgeStart", "decreases at node \(u) (\(edgeStart[u]) then \(edgeStart[u + 1]))")
        }
        for g in 0..<(groupNodeStart.count - 1) {
            let low = groupNodeStart[g], high = groupNodeStart[g + 1]
            for u in low..<high {
                var previous = -1
                for e in edgeStart[u]..<edgeStart[u + 1] {
                    let v = Int(edgeTarget[e])
                    guard v >= low, v < high else {
                        throw fail("edgeTarget", "edge \(e) of node \(u) points at node \(v), outside group \(g)'s nodes \(low)..<\(high)")
                    }
                    guard v != u else {
                        throw fail("edgeTarget", "edge \(e) is a self-loop of node \(u) (cleaning removes them, SPEC §2)")
                    }
                    guard v > previous else {
                        throw fail("edgeTarget", "the targets of node \(u) are not strictly ascending at edge \(e)")
                    }
                    previous = v
                    guard edgeWeight[e].isFinite, edgeWeight[e] > 0 else {
                        throw fail("edgeWeight", "edge \(e) has weight \(edgeWeight[e]) (must be finite and > 0)")
                    }
                }
            }
        }
        for u in 0..<nodes {
            guard nodeReward[u].isFinite else { throw fail("nodeReward", "node \(u) has reward \(nodeReward[u]) (must be finite)") }
            guard nodeState[u] >= 0 else { throw fail("nodeState", "node \(u) has state \(nodeState[u]) (must be >= 0)") }
        }
        for (r, u) in rowNode.enumerated() where u < -1 || Int(u) >= nodes {
            throw fail("rowNode", "row \(r) maps to node \(u) (must be -1 or in 0..<\(nodes))")
        }
    }

    /// The transpose: edge `v→u` for every edge `u→v`, same weights (the predecessor lists),
    /// each node's sources ascending. The transpose of a block-diagonal matrix has the same
    /// blocks, so each group's block is transposed alone (a counting sort), groups in parallel
    /// on `threads` (nil: `Execution.threadCount`); a target outside its group's block traps.
    package func reversed(threads: Int? = nil) -> StateGraph {
        let threads = Parallel.threads(threads)
        let (nodes, edges) = (nodeCount, edgeCount)
        var start = [Int].filledParallel(repeating: edges, count: nodes + 1, threads: threads)
        var source = [Int32].filledParallel(repeating: 0, count: edges, threads: threads)
        var weight = [Double].filledParallel(repeating: 0, count: edges, threads: threads)
        let (edgeStart, edgeTarget, edgeWeight) = (self.edgeStart, self.edgeTarget, self.edgeWeight)
        Parallel.forEachChunk(threads: threads, count: groupCount, work: nodes + edges, writing: &start, &source, &weight) { groups, start, source, weight in
            var fill: [Int] = []
            for g in groups {
                let lo = groupNodeStart[g], hi = groupNodeStart[g + 1]
                // fill[v - lo + 1]: in-degree of v, then (prefix sums) where v's row starts.
                fill.removeAll(keepingCapacity: true)
                fill.append(contentsOf: repeatElement(0, count: hi - lo + 1))
                for e in edgeStart[lo]..<edgeStart[hi] {
                    let v = Int(edgeTarget[e])
                    precondition(v >= lo && v < hi, "StateGraph.reversed: an edge leaves its group's block")
                    fill[v - lo + 1] += 1
                }
                fill[0] = edgeStart[lo]
                for k in 0..<(hi - lo) { fill[k + 1] += fill[k] }
                for v in lo..<hi { start[v] = fill[v - lo] }
                for u in lo..<hi {
                    for e in edgeStart[u]..<edgeStart[u + 1] {
                        let k = Int(edgeTarget[e]) - lo
                        source[fill[k]] = Int32(truncatingIfNeeded: u)
                        weight[fill[k]] = edgeWeight[e]
                        fill[k] += 1
                    }
                }
            }
        }
        return StateGraph(
            unchecked: groupNodeStart, adjacency: SparseMatrix(rowStart: start, column: source, value: weight),
            nodeReward: nodeReward, nodeState: nodeState, rowNode: rowNode)
    }
}
