/// Builds the `StateGraph` of a batch from its rows (SPEC §2).
///
/// Per group: walk each trajectory's state sequence, clean self-loops and bridge `noop`
/// transitions, dedup the emitted tuples inside the trajectory, number nodes by first mention,
/// count `w(u→v)` over trajectories, pick node rewards. Groups are independent, so they are
/// built side by side and concatenated in group order (the result never depends on threads).
package struct GraphBuilder: Sendable {
    /// How `r(s)` is chosen from a state's mentions.
    package var nodeReward: NodeRewardPolicy
    /// Threads of the build's parallel loops; nil: `Execution.threadCount`. The graph never
    /// depends on it.
    package var threads: Int?
    /// Where the per-row node array may come from (`ScoringWorkspace`); nil: fresh memory.
    package var workspace: ScoringWorkspace?

    /// Creates a builder.
    package init(nodeReward: NodeRewardPolicy = .firstSeen, threads: Int? = nil, workspace: ScoringWorkspace? = nil) {
        self.nodeReward = nodeReward
        self.threads = threads
        self.workspace = workspace
    }

    /// Builds the graph of `rows`, ordered by `index`.
    ///
    /// Groups are built in parallel (one part of contiguous groups per thread, each into its
    /// own arrays with per-thread scratch; no hashing containers: stamped arrays and small
    /// open-addressing tables), then laid out into the batch's CSR arrays in group order. The
    /// result never depends on threads.
    ///
    /// `states` replaces the rows' state column (one id per row): the representatives of
    /// SPEC §2.1's similarity clusters (`SimilarStates.graphStates`); nil reads `rows.state`.
    package func build(_ rows: StepRows, index: TrajectoryIndex, states: [Int32]? = nil) -> StateGraph {
        let stateColumn = states ?? rows.state
        let groups = index.groupCount
        let threads = Parallel.threads(self.threads)
        let partCount = rows.count < Parallel.serialWork ? 1 : max(1, min(threads, groups))
        var parts = [GraphPart?](repeating: nil, count: partCount)
        // Per row: the local node of its state (-1: not a node), made global in `assemble`.
        var rowNode = [Int32].filledParallel(repeating: -1, count: rows.count, threads: threads, workspace: workspace)
        Parallel.forEachChunk(threads: threads, count: partCount, writing: &parts, &rowNode) { range, output, rowNodes in
            var scratch = GroupScratch(stateCount: rows.stateCount)
            for p in range {
                var part = GraphPart(firstGroup: groups * p / partCount)
                for g in part.firstGroup..<(groups * (p + 1) / partCount) {
                    buildGroup(g, rows, stateColumn, index, rowNodes, &part, &scratch)
                }
                output[p] = part
            }
        }
        return assemble(parts.map { $0! }, groups: groups, rows: rows, rowNode: &rowNode)
    }

    // MARK: - One group

    /// The graphs of consecutive groups `firstGroup ..< firstGroup + nodeCount.count`, one
    /// after the other in the part's own arrays; node ids are local to their group (0 at the
    /// group's first node).
    struct GraphPart {
        let firstGroup: Int
        /// Per group of the part: its number of nodes and of edges.
        var nodeCount: [Int] = [], edgeCount: [Int] = []
        /// Per node: its state, `r(s)`, and where its out-edges start in the part's edge arrays.
        var nodeState: [Int32] = [], nodeReward: [Double] = [], edgeStart: [Int] = []
        /// Per edge: its target (local to the group), ascending within each source, and `w`.
        var edgeTarget: [Int32] = [], edgeWeight: [Double] = []

        init(firstGroup: Int) { self.firstGroup = firstGroup }
    }

    /// An emitted transition `(s, a, s', r(s), r(s'))`; rewards compared as numbers.
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

        var mixedHash: UInt64 {
            var h = InternTable.mix(UInt64(UInt32(bitPattern: source)) << 32 | UInt64(UInt32(bitPattern: target)), 0x9E37_79B9_7F4A_7C15)
            h = InternTable.mix(h ^ UInt64(UInt32(bitPattern: action)), 0xA076_1D64_78BD_642F)
            h = InternTable.mix(h ^ sourceReward.bitPattern, 0xE703_7ED1_A0B4_28DB)
            return InternTable.mix(h ^ targetReward.bitPattern, 0x8EBC_6AF0_9C88_C6E3)
        }
    }

    /// Per-thread scratch reused across groups.
    struct GroupScratch {
        /// State → local node of the current group.
        let nodeOfState: StampedMap
        /// The current trajectory's deduplicated emitted transitions.
        var emitted: [EmittedTransition] = []
        /// Open addressing over `emitted` (index + 1; 0 empty), cleared per trajectory.
        var tupleSlots: [Int32] = [Int32](repeating: 0, count: 64)
        var usedTupleSlots: [Int] = []
        /// Open addressing over the group's edges: slot → edge index + 1 (0 empty).
        var edgeSlots: [Int32] = [Int32](repeating: 0, count: 256)
        var usedEdgeSlots: [Int] = []
        var edgeKey: [UInt64] = []
        var edgeWeight: [Int32] = []
        /// The last trajectory that counted each edge.
        var edgeSeenIn: [Int32] = []
        /// Mentions per local node (`mean` only).
        var mentionCount: [Int32] = []
        var order: [Int32] = []
        /// The current group's local CSR offsets, and their fill positions.
        var localEdgeStart: [Int] = [], fill: [Int] = []

        init(stateCount: Int) {
            nodeOfState = StampedMap(count: stateCount)
        }

        /// Inserts `e` into the trajectory's dedup table; false when an equal tuple is there.
        mutating func insertTuple(_ e: EmittedTransition) -> Bool {
            let mask = tupleSlots.count - 1
            var slot = Int(truncatingIfNeeded: e.mixedHash) & mask
            while true {
                let i = Int(tupleSlots[slot])
                if i == 0 { break }
                if emitted[i - 1] == e { return false }
                slot = (slot + 1) & mask
            }
            emitted.append(e)
            tupleSlots[slot] = Int32(emitted.count)
            usedTupleSlots.append(slot)
            return true
        }

        mutating func clearTuples(expected: Int) {
            for slot in usedTupleSlots { tupleSlots[slot] = 0 }
            usedTupleSlots.removeAll(keepingCapacity: true)
            emitted.removeAll(keepingCapacity: true)
            if expected * 2 > tupleSlots.count {
                var size = tupleSlots.count
                while expected * 2 > size { size <<= 1 }
                tupleSlots = [Int32](repeating: 0, count: size)
            }
        }

        /// Counts edge `key` for trajectory `t` (once per trajectory).
        mutating func countEdge(_ key: UInt64, trajectory t: Int32) {
            var mask = edgeSlots.count - 1
            var slot = Int(truncatingIfNeeded: InternTable.mix(key, 0x9E37_79B9_7F4A_7C15)) & mask
            while true {
                let i = Int(edgeSlots[slot])
                if i == 0 { break }
                if edgeKey[i - 1] == key {
                    if edgeSeenIn[i - 1] != t {
                        edgeSeenIn[i - 1] = t
                        edgeWeight[i - 1] += 1
                    }
                    return
                }
                slot = (slot + 1) & mask
            }
            edgeKey.append(key)
            edgeWeight.append(1)
            edgeSeenIn.append(t)
            edgeSlots[slot] = Int32(edgeKey.count)
            usedEdgeSlots.append(slot)
            if edgeKey.count * 2 > edgeSlots.count {
                // Grow and re-insert.
                for s in usedEdgeSlots { edgeSlots[s] = 0 }
                usedEdgeSlots.removeAll(keepingCapacity: true)
                edgeSlots = [Int32](repeating: 0, count: edgeSlots.count * 2)
                mask = edgeSlots.count - 1
                for (i, k) in edgeKey.enumerated() {
                    var s = Int(truncatingIfNeeded: InternTable.mix(k, 0x9E37_79B9_7F4A_7C15)) & mask
                    while edgeSlots[s] != 0 { s = (s + 1) & mask }
                    edgeSlots[s] = Int32(i + 1)
                    usedEdgeSlots.append(s)
                }
            }
        }

        mutating func clearEdges() {
            for slot in usedEdgeSlots { edgeSlots[slot] = 0 }
            usedEdgeSlots.removeAll(keepingCapacity: true)
            edgeKey.removeAll(keepingCapacity: true)
            edgeWeight.removeAll(keepingCapacity: true)
            edgeSeenIn.removeAll(keepingCapacity: true)
        }
    }

    /// The length of trajectory `t`'s SPEC §2 state sequence: it stops after the first
    /// inactive step j ≥ 1 (included), or at the last row.
    static func sequenceLength(_ index: TrajectoryIndex, _ t: Int) -> Int {
        let length = index.trajectoryRowStart[t + 1] - index.trajectoryRowStart[t]
        guard Int(index.activePrefix[t]) < length else { return length }
        return min(max(Int(index.activePrefix[t]), 1) + 1, length)
    }

    func buildGroup(
        _ g: Int, _ rows: StepRows, _ stateColumn: [Int32], _ index: TrajectoryIndex, _ rowNodes: SendableBuffer<Int32>,
        _ out: inout GraphPart, _ s: inout GroupScratch
    ) {
        // The group's nodes are `out`'s from `nodeBase` on, its edges from `edgeBase` on.
        let nodeBase = out.nodeState.count, edgeBase = out.edgeTarget.count
        s.nodeOfState.clear()
        s.clearEdges()
        s.mentionCount.removeAll(keepingCapacity: true)

        /// The local node of `state`, created at its first mention (which gives `r(s)` its
        /// first value: the whole rule for `firstSeen`, the start of `max` and of `mean`'s sum);
        /// later mentions apply the policy. Rewards arrive normalised (`+ 0.0`), so starting
        /// `mean`'s sum at the first reward equals starting it at 0.
        func mention(_ state: Int32, _ reward: Double, _ s: inout GroupScratch, _ out: inout GraphPart) -> Int32 {
            let known = s.nodeOfState.value(Int(state))
            if known < 0 {
                let id = Int32(out.nodeState.count - nodeBase)
                s.nodeOfState.set(Int(state), id)
                out.nodeState.append(state)
                out.nodeReward.append(reward)
                if nodeReward == .mean { s.mentionCount.append(1) }
                return id
            }
            let i = nodeBase + Int(known)
            switch nodeReward {
            case .firstSeen:
                break
            case .max:
                if reward > out.nodeReward[i] { out.nodeReward[i] = reward }
            case .mean:
                out.nodeReward[i] += reward
                s.mentionCount[Int(known)] += 1
            }
            return known
        }

        for t in index.groupTrajectoryStart[g]..<index.groupTrajectoryStart[g + 1] {
            let first = index.trajectoryRowStart[t]
            // The state sequence s_0..s_{n-1}: stops after the first inactive step j ≥ 1.
            let n = Self.sequenceLength(index, t)
            @inline(__always) func row(_ j: Int) -> Int { Int(index.orderedRows[first + j]) }
            @inline(__always) func stateReward(_ j: Int) -> Double { j == 0 ? 0 : rows.reward[row(j - 1)] }

            // Cleaning and bridging, then dedup inside the trajectory.
            // Dedup inside the trajectory changes only `mean` rewards: a repeated tuple adds no
            // node, no first mention, no larger reward, and edges count once per trajectory
            // anyway (`countEdge`). So only `mean` pays for the tuple table.
            let dedup = nodeReward == .mean
            if dedup { s.clearTuples(expected: n) }
            // Without the tuple table, each transition is counted as it is emitted. The source of
            // a transition is usually the previous one's target, mentioned with the same reward
            // (`stateReward` of the same step; a bridged transition's source reward is another
            // step's): then under `firstSeen` and `max` the mention changes nothing, so its node
            // is reused without a lookup.
            var lastTarget: (state: Int32, node: Int32, reward: Double) = (-1, -1, 0)
            func emit(_ e: EmittedTransition, _ s: inout GroupScratch, _ out: inout GraphPart) {
                if dedup {
                    _ = s.insertTuple(e)
                    return
                }
                let repeated = e.source == lastTarget.state && (nodeReward == .firstSeen || e.sourceReward == lastTarget.reward)
                let u = repeated ? lastTarget.node : mention(e.source, e.sourceReward, &s, &out)
                let v = mention(e.target, e.targetReward, &s, &out)
                lastTarget = (e.target, v, e.targetReward)
                s.countEdge(UInt64(UInt32(u)) << 32 | UInt64(UInt32(v)), trajectory: Int32(t))
            }
            var j = 0
            while j < n - 1 {
                let from = stateColumn[row(j)]
                if !rows.noop[row(j)] && stateColumn[row(j + 1)] != from {
                    emit(EmittedTransition(from, rows.action[row(j)], stateColumn[row(j + 1)], stateReward(j), stateReward(j + 1)), &s, &out)
                    j += 1
                    continue
                }
                var k = j + 1
                while k < n - 1 && (rows.noop[row(k)] || stateColumn[row(k + 1)] == from) { k += 1 }
                guard k < n - 1 else { break }
                emit(EmittedTransition(from, rows.action[row(k)], stateColumn[row(k + 1)], stateReward(k), stateReward(k + 1)), &s, &out)
                j = k + 1
            }

            // `mean`: nodes, rewards and edge counts from the deduplicated list.
            if dedup {
                for e in s.emitted {
                    let u = mention(e.source, e.sourceReward, &s, &out)
                    let v = mention(e.target, e.targetReward, &s, &out)
                    s.countEdge(UInt64(UInt32(u)) << 32 | UInt64(UInt32(v)), trajectory: Int32(t))
                }
            }
        }

        let nodes = out.nodeState.count - nodeBase
        if nodeReward == .mean {
            for i in 0..<nodes { out.nodeReward[nodeBase + i] /= Double(s.mentionCount[i]) }
        }

        // Local CSR by counting sort on the source, targets ascending within each source,
        // appended to the part's edge arrays.
        let edges = s.edgeKey.count
        s.localEdgeStart.removeAll(keepingCapacity: true)
        s.localEdgeStart.append(contentsOf: repeatElement(0, count: nodes + 1))
        for key in s.edgeKey { s.localEdgeStart[Int(key >> 32) + 1] += 1 }
        for u in 0..<nodes { s.localEdgeStart[u + 1] += s.localEdgeStart[u] }
        s.order.removeAll(keepingCapacity: true)
        s.order.append(contentsOf: repeatElement(0, count: edges))
        s.fill.removeAll(keepingCapacity: true)
        s.fill.append(contentsOf: s.localEdgeStart)
        for (i, key) in s.edgeKey.enumerated() {
            let u = Int(key >> 32)
            s.order[s.fill[u]] = Int32(i)
            s.fill[u] += 1
        }
        for u in 0..<nodes {
            let lo = s.localEdgeStart[u], hi = s.localEdgeStart[u + 1]
            out.edgeStart.append(edgeBase + lo)
            // Insertion sort by target (out-degrees are small); a full sort for large ones.
            if hi - lo > 32 {
                s.order[lo..<hi].sort { s.edgeKey[Int($0)] < s.edgeKey[Int($1)] }
            } else if hi - lo > 1 {
                for a in (lo + 1)..<hi {
                    let item = s.order[a]
                    let key = s.edgeKey[Int(item)]
                    var b = a
                    while b > lo && s.edgeKey[Int(s.order[b - 1])] > key {
                        s.order[b] = s.order[b - 1]
                        b -= 1
                    }
                    s.order[b] = item
                }
            }
            for e in lo..<hi {
                let i = Int(s.order[e])
                out.edgeTarget.append(Int32(truncatingIfNeeded: s.edgeKey[i] & 0xFFFF_FFFF))
                out.edgeWeight.append(Double(s.edgeWeight[i]))
            }
        }
        out.nodeCount.append(nodes)
        out.edgeCount.append(edges)

        // Rows of the group whose state is a node: their local node.
        for t in index.groupTrajectoryStart[g]..<index.groupTrajectoryStart[g + 1] {
            for j in index.trajectoryRowStart[t]..<index.trajectoryRowStart[t + 1] {
                let r = Int(index.orderedRows[j])
                let state = Int(stateColumn[r])
                let node = s.nodeOfState.value(state)
                if node >= 0 { rowNodes[r] = node }
            }
        }
    }

    // MARK: - Concatenation

    /// Lays the parts' local CSRs out into the batch's arrays (offsets first, then every part
    /// copies its blocks in parallel) and turns local row nodes into global ones.
    func assemble(_ parts: [GraphPart], groups: Int, rows: StepRows, rowNode: inout [Int32]) -> StateGraph {
        var groupNodeStart = [Int](repeating: 0, count: groups + 1)
        var groupEdgeStart = [Int](repeating: 0, count: groups + 1)
        for part in parts {
            for (k, (nodes, edges)) in zip(part.nodeCount, part.edgeCount).enumerated() {
                let g = part.firstGroup + k
                groupNodeStart[g + 1] = groupNodeStart[g] + nodes
                groupEdgeStart[g + 1] = groupEdgeStart[g] + edges
            }
        }
        let nodes = groupNodeStart[groups], edges = groupEdgeStart[groups]
        let threads = Parallel.threads(self.threads)
        var edgeStart = [Int].filledParallel(repeating: 0, count: nodes + 1, threads: threads)
        var edgeTarget = [Int32].filledParallel(repeating: 0, count: edges, threads: threads)
        var edgeWeight = [Double].filledParallel(repeating: 0, count: edges, threads: threads)
        var nodeReward = [Double].filledParallel(repeating: 0, count: nodes, threads: threads)
        var nodeState = [Int32].filledParallel(repeating: 0, count: nodes, threads: threads)
        edgeStart[nodes] = edges
        // Nodes, then edges: each part copies its blocks (disjoint ranges) in parallel.
        Parallel.forEachChunk(threads: threads, count: parts.count, work: nodes + edges, writing: &edgeStart, &nodeReward, &nodeState) { range, start, reward, state in
            for part in parts[range] {
                let nodeBase = groupNodeStart[part.firstGroup], edgeBase = groupEdgeStart[part.firstGroup]
                for u in 0..<part.nodeState.count {
                    start[nodeBase + u] = edgeBase + part.edgeStart[u]
                    reward[nodeBase + u] = part.nodeReward[u]
                    state[nodeBase + u] = part.nodeState[u]
                }
            }
        }
        Parallel.forEachChunk(threads: threads, count: parts.count, work: nodes + edges, writing: &edgeTarget, &edgeWeight) { range, target, weight in
            for part in parts[range] {
                let edgeBase = groupEdgeStart[part.firstGroup]
                var e = 0
                for (k, count) in part.edgeCount.enumerated() {
                    let nodeBase = Int32(groupNodeStart[part.firstGroup + k])
                    for _ in 0..<count {
                        target[edgeBase + e] = nodeBase + part.edgeTarget[e]
                        weight[edgeBase + e] = part.edgeWeight[e]
                        e += 1
                    }
                }
            }
        }
        Parallel.forEachChunk(threads: threads, count: rows.count, minimumChunk: 1 << 16, writing: &rowNode) { range, out in
            for r in range where out[r] >= 0 {
                out[r] += Int32(groupNodeStart[Int(rows.group[r])])
            }
        }
        return StateGraph(
            unchecked: groupNodeStart, adjacency: SparseMatrix(rowStart: edgeStart, column: edgeTarget, value: edgeWeight),
            nodeReward: nodeReward, nodeState: nodeState, rowNode: rowNode)
    }
}
