/// Order statistics of a sample: type-7 quantiles (linear interpolation between the order
/// statistics, NumPy's default): `q(p) = x₍ₖ₎ + (h − k)·(x₍ₖ₊₁₎ − x₍ₖ₎)`, `h = p·(n − 1)`, `k = ⌊h⌋`.
package struct Quantiles: Sendable, Equatable {
    /// Number of values.
    package var count: Int
    /// Smallest value.
    package var min: Double
    /// 10th percentile.
    package var p10: Double
    /// First quartile.
    package var p25: Double
    /// Median.
    package var median: Double
    /// Third quartile.
    package var p75: Double
    /// 90th percentile.
    package var p90: Double
    /// Largest value.
    package var max: Double
    /// Mean: the exactly rounded sum divided by `count`.
    package var mean: Double

    /// The quantiles of `values` (any order); nil for an empty sample.
    package init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        self.init(sorted: values.sorted())
    }

    /// The quantiles of a non-empty ascending sample.
    init(sorted x: [Double]) {
        func q(_ p: Double) -> Double {
            let h = p * Double(x.count - 1)
            let k = Int(h)
            guard k + 1 < x.count else { return x[x.count - 1] }
            return x[k] + (h - Double(k)) * (x[k + 1] - x[k])
        }
        var sum = ExactAccumulator()
        for v in x { sum.add(v) }
        count = x.count
        min = x[0]
        p10 = q(0.10)
        p25 = q(0.25)
        median = q(0.5)
        p75 = q(0.75)
        p90 = q(0.90)
        max = x[x.count - 1]
        mean = sum.value / Double(x.count)
    }
}

/// Statistics of one group of a scored batch (one row of `rewardflow stats`).
///
/// `successRate = successfulTrajectories / trajectories` (a success has a positive episode
/// score, the sum of its active rows' rewards); `uniqueStateRatio = distinctStates / rows`;
/// `reachingPositiveShare = nodesReachingPositive / nodes`.
package struct GroupStatistics: Sendable, Equatable {
    /// The group's name.
    package var name: String
    /// Input rows of the group.
    package var rows: Int
    /// Active rows (the rows advantages are computed on).
    package var activeRows: Int
    /// Trajectories of the group.
    package var trajectories: Int
    /// Trajectories whose episode score is positive.
    package var successfulTrajectories: Int
    /// Distinct states among the group's rows (inactive rows included).
    package var distinctStates: Int
    /// Nodes of the group's state graph (states in an emitted transition).
    package var nodes: Int
    /// Edges of the group's state graph.
    package var edges: Int
    /// Strongly connected components of the group's graph (a node on no cycle is one).
    package var components: Int
    /// Components with two or more nodes (a self-loop never survives cleaning, SPEC §2).
    package var cyclicComponents: Int
    /// Nodes from which a node with a positive reward `r(s) > 0` is reachable (itself included).
    package var nodesReachingPositive: Int
    /// Step groups (active rows with one state, SPEC §5).
    package var stepGroups: Int
    /// Per-row values `V(s)` of the group's rows; nil for an empty sample.
    package var value: Quantiles?
    /// Step rewards of the group's active rows.
    package var stepReward: Quantiles?
    /// Advantages of the group's active rows (nil without an advantage mode).
    package var advantage: Quantiles?

    /// `successfulTrajectories / trajectories`.
    package var successRate: Double { trajectories == 0 ? 0 : Double(successfulTrajectories) / Double(trajectories) }
    /// `distinctStates / rows`.
    package var uniqueStateRatio: Double { rows == 0 ? 0 : Double(distinctStates) / Double(rows) }
    /// `nodesReachingPositive / nodes` (0 for a group without nodes).
    package var reachingPositiveShare: Double { nodes == 0 ? 0 : Double(nodesReachingPositive) / Double(nodes) }
    /// Mean step-group size: `activeRows / stepGroups` (the reference's "Avg size of step-level group").
    package var meanStepGroupSize: Double { stepGroups == 0 ? 0 : Double(activeRows) / Double(stepGroups) }
}

/// Statistics of a scored batch: totals, the step-group size histogram, quantiles of value,
/// step reward and advantage, and one `GroupStatistics` per group (input order).
///
/// Batch counts are sums over groups (states are merged within a group only, SPEC §2, so a
/// state seen in two groups counts twice in `distinctStates`); batch quantiles are over all
/// rows (value) or all active rows (step reward, advantage).
package struct BatchStatistics: Sendable, Equatable {
    /// One entry of the step-group size histogram: `stepGroups` step groups have `size` rows.
    package struct SizeBin: Sendable, Equatable {
        /// Rows per step group.
        package var size: Int
        /// Step groups of that size.
        package var stepGroups: Int
        /// `stepGroups / (all step groups)`.
        package var share: Double
    }

    /// What scored the batch, e.g. `max-decay gamma 0.9, advantage mean_norm`.
    package var scoring: String
    /// Per group, in input order.
    package var groups: [GroupStatistics]
    /// Totals over groups (name `""`): rows, trajectories, nodes, edges, components, …
    package var total: GroupStatistics
    /// Step-group sizes, ascending, with counts and shares (the reference's size table).
    package var stepGroupSizes: [SizeBin]

    /// Statistics from a scoring run's parts: the rows, their index, the batch's state graph
    /// and the scorer's outputs (all of the same rows). Groups are summarised in parallel on
    /// `threads` threads (nil: `Execution.threadCount`); the statistics never depend on it.
    package init(
        rows: StepRows, index: TrajectoryIndex, graph: StateGraph, scored: ScoredRows, scoring: String = "",
        threads: Int? = nil
    ) {
        let groupCount = index.groupCount
        var groups = [GroupStatistics?](repeating: nil, count: groupCount)
        var histograms = [[Int: Int]](repeating: [:], count: groupCount)
        let reverse = graph.reversed()
        Parallel.forEachChunk(threads: Parallel.threads(threads), count: groupCount, work: rows.count, writing: &groups, &histograms) { range, output, histogram in
            var scratch = Scratch(stateCount: rows.stateCount)
            for g in range {
                let (stats, sizes) = Self.group(g, rows, index, graph, reverse, scored, &scratch)
                output[g] = stats
                histogram[g] = sizes
            }
        }
        self.groups = groups.map { $0! }
        self.scoring = scoring

        var sizes: [Int: Int] = [:]
        for h in histograms { for (size, n) in h { sizes[size, default: 0] += n } }
        let stepGroupTotal = sizes.values.reduce(0, +)
        stepGroupSizes = sizes.keys.sorted().map {
            SizeBin(size: $0, stepGroups: sizes[$0]!, share: Double(sizes[$0]!) / Double(Swift.max(1, stepGroupTotal)))
        }

        var t = GroupStatistics(
            name: "", rows: 0, activeRows: 0, trajectories: 0, successfulTrajectories: 0, distinctStates: 0,
            nodes: 0, edges: 0, components: 0, cyclicComponents: 0, nodesReachingPositive: 0, stepGroups: 0)
        for g in self.groups {
            t.rows += g.rows; t.activeRows += g.activeRows; t.trajectories += g.trajectories
            t.successfulTrajectories += g.successfulTrajectories; t.distinctStates += g.distinctStates
            t.nodes += g.nodes; t.edges += g.edges; t.components += g.components
            t.cyclicComponents += g.cyclicComponents; t.nodesReachingPositive += g.nodesReachingPositive
            t.stepGroups += g.stepGroups
        }
        t.value = Quantiles(scored.rewards.value)
        var active: [Int] = []
        active.reserveCapacity(t.activeRows)
        for r in 0..<rows.count where rows.active[r] { active.append(r) }
        t.stepReward = Quantiles(active.map { scored.rewards.stepReward[$0] })
        if let a = scored.advantages { t.advantage = Quantiles(active.map { a.combined[$0] }) }
        total = t
    }

    /// Per-thread scratch (indexed by state id or by local node id).
    struct Scratch {
        var seenState: [Int32]
        var stamp: Int32 = 0
        var stepGroupSize: [Int32]
        var tarjan = TarjanSCC()
        var reaches: [Bool] = []
        var queue: [Int32] = []
        var values: [Double] = []

        init(stateCount: Int) {
            seenState = [Int32](repeating: 0, count: stateCount)
            stepGroupSize = [Int32](repeating: 0, count: stateCount)
        }
    }

    static func group(
        _ g: Int, _ rows: StepRows, _ index: TrajectoryIndex, _ graph: StateGraph, _ reverse: StateGraph,
        _ scored: ScoredRows, _ s: inout Scratch
    ) -> (GroupStatistics, [Int: Int]) {
        let trajectories = index.groupTrajectoryStart[g]..<index.groupTrajectoryStart[g + 1]
        let rowRange = index.trajectoryRowStart[trajectories.lowerBound]..<index.trajectoryRowStart[trajectories.upperBound]
        var stats = GroupStatistics(
            name: rows.groupNames.string(of: Int32(g)), rows: rowRange.count, activeRows: 0,
            trajectories: trajectories.count, successfulTrajectories: 0, distinctStates: 0, nodes: 0, edges: 0,
            components: 0, cyclicComponents: 0, nodesReachingPositive: 0, stepGroups: 0)

        // Episode scores, active rows, distinct states and step groups (one stamp per group).
        s.stamp += 1
        let stamp = s.stamp
        var sizes: [Int32] = []  // step-group sizes, by first appearance
        var sum = ExactAccumulator()
        for t in trajectories {
            let first = index.trajectoryRowStart[t], end = index.trajectoryRowStart[t + 1]
            let m = Int(index.activePrefix[t])
            sum.reset()
            for j in first..<end {
                let r = Int(index.orderedRows[j])
                let state = Int(rows.state[r])
                let isActive = j - first < m
                if isActive { sum.add(rows.reward[r]) }
                if s.seenState[state] != stamp {
                    s.seenState[state] = stamp
                    s.stepGroupSize[state] = -1
                    stats.distinctStates += 1
                }
                if isActive {
                    if s.stepGroupSize[state] < 0 {
                        s.stepGroupSize[state] = Int32(sizes.count)
                        sizes.append(0)
                    }
                    sizes[Int(s.stepGroupSize[state])] += 1
                }
            }
            stats.activeRows += m
            if sum.value > 0 { stats.successfulTrajectories += 1 }
        }
        stats.stepGroups = sizes.count
        var histogram: [Int: Int] = [:]
        for n in sizes { histogram[Int(n), default: 0] += 1 }

        // Graph: nodes, edges, SCCs (the max-decay Tarjan), reach of a positive reward.
        let nodes = graph.groupNodeStart[g]..<graph.groupNodeStart[g + 1]
        stats.nodes = nodes.count
        if !nodes.isEmpty {
            stats.edges = graph.edgeStart[nodes.upperBound] - graph.edgeStart[nodes.lowerBound]
            s.tarjan.run(nodes, graph)
            let c = s.tarjan.componentStart
            stats.components = c.count - 1
            for k in 0..<stats.components where c[k + 1] - c[k] >= 2 { stats.cyclicComponents += 1 }
            // Backwards breadth-first search from the positive nodes over predecessor lists.
            let base = nodes.lowerBound
            s.reaches.removeAll(keepingCapacity: true)
            s.reaches.append(contentsOf: repeatElement(false, count: nodes.count))
            s.queue.removeAll(keepingCapacity: true)
            for u in nodes where graph.nodeReward[u] > 0 {
                s.reaches[u - base] = true
                s.queue.append(Int32(u))
            }
            var head = 0
            while head < s.queue.count {
                let v = Int(s.queue[head])
                head += 1
                for e in reverse.edgeStart[v]..<reverse.edgeStart[v + 1] {
                    let p = Int(reverse.edgeTarget[e])
                    if !s.reaches[p - base] {
                        s.reaches[p - base] = true
                        s.queue.append(Int32(p))
                    }
                }
            }
            stats.nodesReachingPositive = s.queue.count
        }

        // Quantiles: values over the group's rows, step rewards and advantages over active rows.
        s.values.removeAll(keepingCapacity: true)
        for j in rowRange { s.values.append(scored.rewards.value[Int(index.orderedRows[j])]) }
        stats.value = Quantiles(s.values)
        func activeQuantiles(_ column: [Double]) -> Quantiles? {
            s.values.removeAll(keepingCapacity: true)
            for t in trajectories {
                let first = index.trajectoryRowStart[t]
                for j in first..<first + Int(index.activePrefix[t]) { s.values.append(column[Int(index.orderedRows[j])]) }
            }
            return Quantiles(s.values)
        }
        stats.stepReward = activeQuantiles(scored.rewards.stepReward)
        if let a = scored.advantages { stats.advantage = activeQuantiles(a.combined) }
        return (stats, histogram)
    }
}

/// A scored batch with the intermediate structures the reports draw from.
package struct ScoredBatch: Sendable {
    /// The input rows.
    package let rows: StepRows
    /// Their SPEC §2 order.
    package let index: TrajectoryIndex
    /// The batch's state graph (built for the report even when the operator used none).
    package let graph: StateGraph
    /// The scorer's per-row outputs.
    package let scored: ScoredRows
    /// The options that scored it.
    package let options: ScoringOptions

    /// The batch's statistics.
    package func statistics() -> BatchStatistics {
        BatchStatistics(rows: rows, index: index, graph: graph, scored: scored, scoring: options.summary, threads: options.threads)
    }
}

extension ScoringOptions {
    /// One line naming the operator and its parameters, e.g. `max-decay gamma 0.9, advantage mean_norm`.
    package var summary: String {
        var parts: [String]
        switch propagation {
        case .maxDecay, .discounted, .trajectoryReturn: parts = ["\(propagation.rawValue) gamma \(gamma)"]
        case .pagerank, .diffusion: parts = ["\(propagation.rawValue) alpha \(alpha)"]
        case .goalDistance: parts = ["\(propagation.rawValue) gamma \(gamma) goal reward \(goalReward)"]
        }
        if stepReward != .difference { parts.append("step reward \(stepReward.rawValue)") }
        parts.append("advantage \(advantage?.rawValue ?? "none")")
        if advantage != nil && stepWeight != 1 { parts.append("step weight \(stepWeight)") }
        if advantage != nil && episodeWeight != 1 { parts.append("episode weight \(episodeWeight)") }
        if advantage != nil && episodeWeighting != .rows { parts.append("episode weighting \(episodeWeighting.rawValue)") }
        if advantage != nil && stepGroupHistory > 0 { parts.append("step-group history \(stepGroupHistory)") }
        if nodeReward != .firstSeen { parts.append("node reward \(nodeReward.rawValue)") }
        return parts.joined(separator: ", ")
    }
}

extension Scorer {
    /// Scores `rows` and keeps the index and the state graph (the one scoring built, similarity
    /// merging included, or built now if the operator needed none) for statistics and pictures.
    package func scoreBatch(_ rows: StepRows) throws(RewardFlowError) -> ScoredBatch {
        var explain = SolveExplanation()
        let (scored, scoredBatch) = try scoreKeepingBatch(rows, explain: &explain)
        var batch = scoredBatch
        let graph = batch.stateGraph(explain: &explain)
        return ScoredBatch(rows: rows, index: batch.index, graph: graph, scored: scored, options: options)
    }

    /// The statistics of `rows` scored with this scorer's options (`rewardflow stats`).
    package func statistics(_ rows: StepRows) throws(RewardFlowError) -> BatchStatistics {
        try scoreBatch(rows).statistics()
    }
}
