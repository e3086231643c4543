/// Per-row rewards (SPEC §4): the state value and the step reward of every input row.
public struct RowRewards: Sendable {
    /// `V(state of the row)`; 0 when the state is not a node. (R_t under `trajectory-return`.)
    public var value: [Double]
    /// `V(s_{j+1}) − V(s_j)` inside the step range, else the environment reward.
    public var stepReward: [Double]
    /// `V(s_{j+1})` inside the step range, else the environment reward.
    public var stepRewardAbs: [Double]
}

/// Turns node values into per-row values and step rewards (SPEC §4, mode `difference`).
package enum RewardExtractor {
    /// Rewards from node values: row j < min(m, L−1) of a trajectory gets
    /// `V(s_{j+1}) − V(s_j)` and `V(s_{j+1})`; every other row keeps its environment reward.
    /// `rule` sets `step_reward` on that range (`step_reward_abs` is always `V(s_{j+1})`).
    /// `threads`: of the parallel loops (nil: `Execution.threadCount`); the result never depends on it.
    /// `workspace`: where the three output arrays may come from (`ScoringWorkspace`).
    package static func extract(
        _ rows: StepRows, index: TrajectoryIndex, graph: StateGraph, nodeValues: [Double],
        rule: StepRule = .difference, threads: Int? = nil, workspace: ScoringWorkspace? = nil
    ) -> RowRewards {
        let n = rows.count
        let threads = Parallel.threads(threads)
        var stepReward = [Double].copiedParallel(rows.reward, threads: threads, workspace: workspace)
        var stepRewardAbs = [Double].copiedParallel(rows.reward, threads: threads, workspace: workspace)
        // Rows in parallel chunks, then trajectories in parallel chunks: disjoint writes only.
        let value = [Double].makeParallel(count: n, threads: threads, minimumChunk: 1 << 15, workspace: workspace) { range, out in
            for r in range {
                let node = graph.rowNode[r]
                out[r] = node >= 0 ? nodeValues[Int(node)] : 0
            }
        }
        var progress: GoalProgress?
        var absolute = false
        switch rule {
        case .difference: break
        case .absolute: absolute = true
        case .progress(let p): progress = p
        }
        Parallel.forEachChunk(
            threads: threads, count: index.trajectoryCount, minimumChunk: 256, writing: &stepReward, &stepRewardAbs
        ) { trajectories, stepOut, absOut in
            for t in trajectories {
                let first = index.trajectoryRowStart[t]
                let length = index.trajectoryRowStart[t + 1] - first
                let inRange = min(Int(index.activePrefix[t]), length - 1)
                for j in 0..<max(0, inRange) {
                    let r = Int(index.orderedRows[first + j])
                    let nextRow = Int(index.orderedRows[first + j + 1])
                    let next = value[nextRow]
                    if let p = progress {
                        let exponent = p.distance(ofRow: nextRow, rows, graph) - p.distance(ofRow: r, rows, graph) + 1
                        stepOut[r] = p.goal.value(distance: exponent)
                    } else {
                        stepOut[r] = absolute ? next : next - value[r]
                    }
                    absOut[r] = next
                }
            }
        }
        return RowRewards(value: value, stepReward: stepReward, stepRewardAbs: stepRewardAbs)
    }

    /// Rewards under `trajectory-return`: `value = step_reward = step_reward_abs = R_t` on active
    /// rows; inactive rows have value 0 and keep their environment reward.
    package static func extract(
        _ rows: StepRows, index: TrajectoryIndex, returns: [Double]
    ) -> RowRewards {
        var stepReward = rows.reward
        for t in 0..<index.trajectoryCount {
            let first = index.trajectoryRowStart[t]
            for j in 0..<Int(index.activePrefix[t]) {
                let r = Int(index.orderedRows[first + j])
                stepReward[r] = returns[r]
            }
        }
        return RowRewards(value: returns, stepReward: stepReward, stepRewardAbs: stepReward)
    }
}
