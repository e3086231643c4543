/// Builds the `StateGraph` of a batch from its rows (SPEC §2).
///
/// Per group: walk each trajectory's state sequence, clean self-loops and bridge `noop`
/// transitions, dedup the emitted tuples inside the trajectory, number nodes by first mention,
/// count `w(u→v)` over trajectories, pick node rewards. Groups are independent, so they are
/// built side by side and concatenated in group order (the result never depends on threads).
public struct GraphBuilder: Sendable {
    /// How `r(s)` is chosen from a state's mentions.
    public var nodeReward: NodeRewardPolicy

    /// Creates a builder.
    public init(nodeReward: NodeRewardPolicy = .firstSeen) {
        self.nodeReward = nodeReward
    }

    /// Builds the graph of `rows`, ordered by `index`.
    public func build(_ rows: StepRows, index: TrajectoryIndex) -> StateGraph {
        let groups = index.groupCount
        var parts = [GroupGraph?](repeating: nil, count: groups)
        parts.withUnsafeMutableBufferPointer { out in
            let output = SendableBuffer(out)
            Parallel.forEachChunk(count: groups) { range in
                var scratch = GroupScratch(stateCount: rows.stateCount)
                for g in range {
                    output[g] = buildGroup(g, rows, index, &scratch)
                }
            }
        }
        return assemble(parts.map { $0! }, rowCount: rows.count, index: index)
    }

    // MARK: - One group

    /// One group's graph with local node ids.
    struct GroupGraph {
        var nodeState: [Int32] = []
        var nodeReward: [Double] = []
        /// Sorted `(u << 32 | v)` local edge keys and their weights.
        var edges: [(key: UInt64, weight: Int32)] = []
        /// `(row, local node)` for every row of the group whose state is a node.
        var rowNodes: [(row: Int32, node: Int32)] = []
    }

    /// Per-thread scratch reused across groups.
    struct GroupScratch {
        var nodeOfState: [Int32]
        var stampOfState: [Int32]
        var stamp: Int32 = 0
        var tuples = Set<EmittedTransition>()
        var pairs = Set<UInt64>()
        var emitted: [EmittedTransition] = []
        var edgeCount: [UInt64: Int32] = [:]
        var rewardSum: [Double] = []
        var mentionCount: [Int32] = []

        init(stateCount: Int) {
            nodeOfState = [Int32](repeating: -1, count: stateCount)
            stampOfState = [Int32](repeating: -1, count: stateCount)
        }
    }

    /// An emitted transition `(s, a, s', r(s), r(s'))` with rewards compared as numbers.
    struct EmittedTransition: Hashable {
        var source: Int32
        var action: Int32
        var target: Int32
        var sourceReward: Double
        var targetReward: Double

        init(_ source: Int32, _ action: Int32, _ target: Int32, _ sourceReward: Double, _ targetReward: Double) {
            self.source = source
            self.action = action
            self.target = target
            // -0.0 == 0.0 as numbers; normalise so hashing agrees with equality.
            self.sourceReward = sourceReward + 0.0
            self.targetReward = targetReward + 0.0
        }
    }

    func buildGroup(_ g: Int, _ rows: StepRows, _ index: TrajectoryIndex, _ s: inout GroupScratch) -> GroupGraph {
        var out = GroupGraph()
        s.stamp += 1
        let stamp = s.stamp
        s.edgeCount.removeAll(keepingCapacity: true)
        s.rewardSum.removeAll(keepingCapacity: true)
        s.mentionCount.removeAll(keepingCapacity: true)

        func node(of state: Int32, _ s: inout GroupScratch, _ out: inout GroupGraph) -> Int32 {
            if s.stampOfState[Int(state)] == stamp { return s.nodeOfState[Int(state)] }
            let id = Int32(out.nodeState.count)
            s.stampOfState[Int(state)] = stamp
            s.nodeOfState[Int(state)] = id
            out.nodeState.append(state)
            out.nodeReward.append(0)
            s.rewardSum.append(0)
            s.mentionCount.append(0)
            return id
        }
        func mention(_ node: Int32, _ reward: Double, _ s: inout GroupScratch, _ out: inout GroupGraph) {
            let i = Int(node)
            switch nodeReward {
            case .firstSeen:
                if s.mentionCount[i] == 0 { out.nodeReward[i] = reward }
            case .max:
                if s.mentionCount[i] == 0 || reward > out.nodeReward[i] { out.nodeReward[i] = reward }
            case .mean:
                s.rewardSum[i] += reward
            }
            s.mentionCount[i] += 1
        }

        for t in index.groupTrajectoryStart[g]..<index.groupTrajectoryStart[g + 1] {
            let first = index.trajectoryRowStart[t]
            let length = index.trajectoryRowStart[t + 1] - first
            // The state sequence s_0..s_{n-1}: stops after the first inactive step j ≥ 1.
            var n = length
            for j in 1..<max(1, length) where !rows.active[Int(index.orderedRows[first + j])] {
                n = j + 1
                break
            }
            @inline(__always) func row(_ j: Int) -> Int { Int(index.orderedRows[first + j]) }
            @inline(__always) func stateReward(_ j: Int) -> Double { j == 0 ? 0 : rows.reward[row(j - 1)] }

            // Cleaning and bridging, then dedup inside the trajectory.
            s.emitted.removeAll(keepingCapacity: true)
            s.tuples.removeAll(keepingCapacity: true)
            var j = 0
            while j < n - 1 {
                let from = rows.state[row(j)]
                if !rows.noop[row(j)] && rows.state[row(j + 1)] != from {
                    let e = EmittedTransition(from, rows.action[row(j)], rows.state[row(j + 1)], stateReward(j), stateReward(j + 1))
                    if s.tuples.insert(e).inserted { s.emitted.append(e) }
                    j += 1
                    continue
                }
                var k = j + 1
                while k < n - 1 && (rows.noop[row(k)] || rows.state[row(k + 1)] == from) { k += 1 }
                guard k < n - 1 else { break }
                let e = EmittedTransition(from, rows.action[row(k)], rows.state[row(k + 1)], stateReward(k), stateReward(k + 1))
                if s.tuples.insert(e).inserted { s.emitted.append(e) }
                j = k + 1
            }

            // Nodes, rewards and edge pairs from the deduplicated list.
            s.pairs.removeAll(keepingCapacity: true)
            for e in s.emitted {
                let u = node(of: e.source, &s, &out)
                mention(u, e.sourceReward, &s, &out)
                let v = node(of: e.target, &s, &out)
                mention(v, e.targetReward, &s, &out)
                let key = UInt64(UInt32(u)) << 32 | UInt64(UInt32(v))
                if s.pairs.insert(key).inserted { s.edgeCount[key, default: 0] += 1 }
            }
        }

        if nodeReward == .mean {
            for i in 0..<out.nodeReward.count { out.nodeReward[i] = s.rewardSum[i] / Double(s.mentionCount[i]) }
        }
        out.edges = s.edgeCount.map { (key: $0.key, weight: $0.value) }
        out.edges.sort { $0.key < $1.key }

        for t in index.groupTrajectoryStart[g]..<index.groupTrajectoryStart[g + 1] {
            for j in index.trajectoryRowStart[t]..<index.trajectoryRowStart[t + 1] {
                let r = index.orderedRows[j]
                let state = Int(rows.state[Int(r)])
                if s.stampOfState[state] == stamp { out.rowNodes.append((r, s.nodeOfState[state])) }
            }
        }
        return out
    }

    // MARK: - Concatenation

    func assemble(_ parts: [GroupGraph], rowCount: Int, index: TrajectoryIndex) -> StateGraph {
        var groupNodeStart = [Int](repeating: 0, count: parts.count + 1)
        var edgeTotal = 0
        for (g, part) in parts.enumerated() {
            groupNodeStart[g + 1] = groupNodeStart[g] + part.nodeState.count
            edgeTotal += part.edges.count
        }
        let nodes = groupNodeStart[parts.count]
        var edgeStart = [Int](repeating: 0, count: nodes + 1)
        var edgeTarget = [Int32](); edgeTarget.reserveCapacity(edgeTotal)
        var edgeWeight = [Double](); edgeWeight.reserveCapacity(edgeTotal)
        var nodeReward = [Double](); nodeReward.reserveCapacity(nodes)
        var nodeState = [Int32](); nodeState.reserveCapacity(nodes)
        var rowNode = [Int32](repeating: -1, count: rowCount)
        for (g, part) in parts.enumerated() {
            let base = groupNodeStart[g]
            nodeReward.append(contentsOf: part.nodeReward)
            nodeState.append(contentsOf: part.nodeState)
            for edge in part.edges {
                let u = Int(edge.key >> 32), v = Int(edge.key & 0xFFFF_FFFF)
                edgeStart[base + u + 1] += 1
                edgeTarget.append(Int32(base + v))
                edgeWeight.append(Double(edge.weight))
            }
            for (r, node) in part.rowNodes { rowNode[Int(r)] = Int32(base) + node }
        }
        for i in 0..<nodes { edgeStart[i + 1] += edgeStart[i] }
        return StateGraph(
            groupNodeStart: groupNodeStart, edgeStart: edgeStart, edgeTarget: edgeTarget,
            edgeWeight: edgeWeight, nodeReward: nodeReward, nodeState: nodeState, rowNode: rowNode)
    }
}
