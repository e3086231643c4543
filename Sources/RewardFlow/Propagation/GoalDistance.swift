import Glibc

/// GraphGPO's operator (SPEC §3 `goal-distance`): `V(s) = R·γ^d(s)`, `d(s)` the fewest edges
/// from `s` to a goal node (a node with `r(s) > 0`).
///
/// Per group, one breadth-first search on the reversed graph from all goal nodes at once
/// (O(V + E)); groups in parallel. Nodes that reach no goal get `d = D + 1`, `D` the group's
/// largest finite distance; in a group without a goal every `d = 1`.
package struct GoalDistance: Propagator {
    /// The decay factor γ ∈ (0, 1).
    package let gamma: Double
    /// The goal reward `R` (finite, > 0).
    package let goalReward: Double
    /// Threads of the solve's parallel loops (at least 1; from the `threads` argument of the
    /// initialiser, nil giving `Execution.threadCount`). Values never depend on it.
    package let threads: Int

    /// Creates the operator; refuses γ outside (0, 1) and `R` that is not a finite positive number.
    package init(gamma: Double, goalReward: Double = 10, threads: Int? = nil) throws(RewardFlowError) {
        try ParameterCheck.discount(gamma, name: "gamma", allowOne: false)
        guard goalReward.isFinite && goalReward > 0 else {
            throw .invalidParameter(name: "goal_reward", message: "must be a finite number > 0, got \(goalReward)")
        }
        self.gamma = gamma
        self.goalReward = goalReward
        self.threads = Parallel.threads(threads)
    }

    /// `V = R·γ^d` per node; `explain` records the operator and the solve time.
    package func values(on graph: StateGraph, explain: inout SolveExplanation) throws(RewardFlowError) -> [Double] {
        solve(on: graph, explain: &explain).values
    }

    /// Values together with the distances they come from (see `distances(on:)`).
    package func solve(
        on graph: StateGraph, explain: inout SolveExplanation
    ) -> (values: [Double], distance: [Int32], unreachable: [Int32]) {
        explain.operatorDescription = "goal-distance (gamma \(gamma), goal reward \(goalReward), reverse BFS per group)"
        let d = explain.time("solve") { distances(on: graph) }
        let values = d.distance.map { value(distance: Int($0)) }
        return (values, d.distance, d.unreachable)
    }

    /// `R·γ^d` (d may be negative in `progress` exponents).
    @inline(__always)
    func value(distance d: Int) -> Double { goalReward * pow(gamma, Double(d)) }

    /// Goal distances: `d` per node (unreachable nodes already set to `D + 1`), and per group
    /// the distance a state that reaches no goal (or is no node) counts as (`D + 1`, or 1 in a
    /// group without a goal).
    package func distances(on graph: StateGraph) -> (distance: [Int32], unreachable: [Int32]) {
        let n = graph.nodeCount, groups = graph.groupCount
        var distance = [Int32](repeating: -1, count: n)
        var unreachable = [Int32](repeating: 1, count: groups)
        let predecessors = graph.reversed()
        Parallel.forEachChunk(threads: threads, count: groups, work: n + graph.edgeCount, writing: &distance, &unreachable) { chunk, dist, unr in
            var queue: [Int32] = []
            for g in chunk {
                unr[g] = Self.bfs(graph.groupNodeStart[g]..<graph.groupNodeStart[g + 1], graph, predecessors, dist, &queue)
            }
        }
        return (distance, unreachable)
    }

    /// Multi-source BFS over `predecessors` from the goals of one group's `nodes`; fills
    /// `distance` for those nodes and returns the group's unreachable distance.
    static func bfs(
        _ nodes: Range<Int>, _ graph: StateGraph, _ predecessors: StateGraph,
        _ distance: SendableBuffer<Int32>, _ queue: inout [Int32]
    ) -> Int32 {
        queue.removeAll(keepingCapacity: true)
        for u in nodes where graph.nodeReward[u] > 0 {
            distance[u] = 0
            queue.append(Int32(u))
        }
        guard !queue.isEmpty else {
            for u in nodes { distance[u] = 1 }
            return 1
        }
        var head = 0
        while head < queue.count {
            let u = Int(queue[head])
            head += 1
            let next = distance[u] + 1
            for e in predecessors.edgeStart[u]..<predecessors.edgeStart[u + 1] {
                let p = Int(predecessors.edgeTarget[e])
                if distance[p] < 0 {
                    distance[p] = next
                    queue.append(Int32(p))
                }
            }
        }
        // BFS settles nodes in non-decreasing distance: the last one holds D.
        let unreachable = distance[Int(queue[queue.count - 1])] + 1
        for u in nodes where distance[u] < 0 { distance[u] = unreachable }
        return unreachable
    }
}

/// What `progress` step rewards need (SPEC §4): the goal distances of a solved batch.
package struct GoalProgress: Sendable {
    /// The operator (`R`, γ).
    package var goal: GoalDistance
    /// `d` per node (unreachable nodes at their group's `D + 1`).
    package var distance: [Int32]
    /// Per group: the `d` of a state that reaches no goal or is no node (`D + 1`, or 1 without a goal).
    package var unreachable: [Int32]

    /// Terms from `goal.distances(on:)` of the graph the rows are scored on.
    package init(goal: GoalDistance, distance: [Int32], unreachable: [Int32]) {
        self.goal = goal
        self.distance = distance
        self.unreachable = unreachable
    }

    /// `d` of the state of `row`.
    @inline(__always)
    func distance(ofRow row: Int, _ rows: StepRows, _ graph: StateGraph) -> Int {
        let node = graph.rowNode[row]
        return Int(node >= 0 ? distance[Int(node)] : unreachable[Int(rows.group[row])])
    }
}

/// The step-reward rule of a run (SPEC §4), with what `progress` needs.
package enum StepRule: Sendable {
    /// `V(s_{j+1}) − V(s_j)`.
    case difference
    /// `V(s_{j+1})`.
    case absolute
    /// `R·γ^(d(s_{j+1}) − d(s_j) + 1)`.
    case progress(GoalProgress)

    /// The rule of `mode` (`progress` without distances falls back to `difference`; the
    /// scorer supplies them).
    init(_ mode: StepRewardMode) {
        self = mode == .absolute ? .absolute : .difference
    }
}
