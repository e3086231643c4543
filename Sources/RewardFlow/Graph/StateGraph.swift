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
public struct StateGraph: Sendable {
    /// Node ranges per group (`groupCount + 1` offsets).
    public let groupNodeStart: [Int]
    /// CSR row offsets (`nodeCount + 1`).
    public let edgeStart: [Int]
    /// CSR column indices: the edge targets (global node ids).
    public let edgeTarget: [Int32]
    /// `w(u→v)` per edge: trajectory counts, as doubles for the numerical kernels.
    public let edgeWeight: [Double]
    /// `r(s)` per node.
    public let nodeReward: [Double]
    /// The state id (into the rows' state table) of each node.
    public let nodeState: [Int32]
    /// Per input row: the node of its state, or -1 when the state is in no emitted transition.
    public let rowNode: [Int32]

    /// Number of groups.
    public var groupCount: Int { groupNodeStart.count - 1 }
    /// Number of nodes in the batch.
    public var nodeCount: Int { nodeReward.count }
    /// Number of edges in the batch.
    public var edgeCount: Int { edgeTarget.count }

    /// Number of nodes of group `g`.
    public func nodeCount(ofGroup g: Int) -> Int { groupNodeStart[g + 1] - groupNodeStart[g] }

    /// The groups with at least one node, ascending.
    public var nonEmptyGroups: [Int] { (0..<groupCount).filter { nodeCount(ofGroup: $0) > 0 } }

    /// Creates a graph from its CSR parts (checked only in debug builds).
    public init(
        groupNodeStart: [Int], edgeStart: [Int], edgeTarget: [Int32], edgeWeight: [Double],
        nodeReward: [Double], nodeState: [Int32], rowNode: [Int32]
    ) {
        assert(edgeStart.count == nodeReward.count + 1 && edgeTarget.count == edgeWeight.count)
        self.groupNodeStart = groupNodeStart
        self.edgeStart = edgeStart
        self.edgeTarget = edgeTarget
        self.edgeWeight = edgeWeight
        self.nodeReward = nodeReward
        self.nodeState = nodeState
        self.rowNode = rowNode
    }

    /// The transpose: edge `v→u` for every edge `u→v`, same weights (the predecessor lists).
    public func reversed() -> StateGraph {
        let n = nodeCount
        var start = [Int](repeating: 0, count: n + 1)
        for v in edgeTarget { start[Int(v) + 1] += 1 }
        for i in 0..<n { start[i + 1] += start[i] }
        var fill = start
        var target = [Int32](repeating: 0, count: edgeCount)
        var weight = [Double](repeating: 0, count: edgeCount)
        for u in 0..<n {
            for e in edgeStart[u]..<edgeStart[u + 1] {
                let v = Int(edgeTarget[e])
                target[fill[v]] = Int32(u)
                weight[fill[v]] = edgeWeight[e]
                fill[v] += 1
            }
        }
        return StateGraph(
            groupNodeStart: groupNodeStart, edgeStart: start, edgeTarget: target, edgeWeight: weight,
            nodeReward: nodeReward, nodeState: nodeState, rowNode: rowNode)
    }
}
