/// GiGPO's per-trajectory discounted return, for A/B comparisons: `R_t = reward_t + γ·R_{t+1}`
/// over the active rows of each trajectory (no graph). Inactive rows get 0.
package struct TrajectoryReturn: Sendable {
    /// The discount γ ∈ (0, 1).
    package let gamma: Double

    /// Creates the operator; refuses γ outside (0, 1).
    package init(gamma: Double) throws(RewardFlowError) {
        try ParameterCheck.discount(gamma, name: "gamma", allowOne: false)
        self.gamma = gamma
    }

    /// `R_t` per input row (0 on inactive rows), one backward pass per trajectory.
    package func returns(_ rows: StepRows, index: TrajectoryIndex) -> [Double] {
        var out = [Double](repeating: 0, count: rows.count)
        for t in 0..<index.trajectoryCount {
            let first = index.trajectoryRowStart[t]
            var future = 0.0
            var j = Int(index.activePrefix[t]) - 1
            while j >= 0 {
                let r = Int(index.orderedRows[first + j])
                future = rows.reward[r] + gamma * future
                out[r] = future
                j -= 1
            }
        }
        return out
    }
}
