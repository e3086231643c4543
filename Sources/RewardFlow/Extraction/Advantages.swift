/// How advantages are normalised (SPEC §5).
public enum AdvantageMode: String, Sendable, CaseIterable {
    /// `x − mean`.
    case meanNorm = "mean_norm"
    /// `(x − mean) / (std + ε)`, std the unbiased sample standard deviation, ε = 1e-6.
    case meanStdNorm = "mean_std_norm"
}

/// Per-row advantages (SPEC §5); 0 on inactive rows.
public struct RowAdvantages: Sendable {
    /// Normalised episode score within the group.
    public var episode: [Double]
    /// Normalised step reward within the step group (active rows of a group with one state).
    public var step: [Double]
    /// `episode + w · step`.
    public var combined: [Double]
}

/// Computes episode and step advantages with exactly rounded sums.
public struct AdvantageEstimator: Sendable {
    /// The normalisation.
    public var mode: AdvantageMode
    /// `w` in `advantage = episode + w · step`.
    public var stepWeight: Double
    /// ε added to the standard deviation.
    public static let epsilon = 1e-6

    /// Creates an estimator; refuses a non-finite step weight.
    public init(mode: AdvantageMode, stepWeight: Double = 1) throws(RewardFlowError) {
        guard stepWeight.isFinite else {
            throw .invalidParameter(name: "step_weight", message: "must be a finite number, got \(stepWeight)")
        }
        self.mode = mode
        self.stepWeight = stepWeight
    }

    /// Advantages of every row, given the per-row step rewards.
    public func advantages(_ rows: StepRows, index: TrajectoryIndex, stepReward: [Double]) -> RowAdvantages {
        let n = rows.count
        var episode = [Double](repeating: 0, count: n)
        var step = [Double](repeating: 0, count: n)
        var sum = ExactSum()
        var scores: [Double] = []
        var normalized: [Double] = []

        // Episode advantages: one score per active row, normalised over the group.
        for g in 0..<index.groupCount {
            scores.removeAll(keepingCapacity: true)
            let trajectories = index.groupTrajectoryStart[g]..<index.groupTrajectoryStart[g + 1]
            for t in trajectories {
                let first = index.trajectoryRowStart[t]
                sum.reset()
                for j in 0..<Int(index.activePrefix[t]) { sum.add(rows.reward[Int(index.orderedRows[first + j])]) }
                let score = sum.value
                for _ in 0..<Int(index.activePrefix[t]) { scores.append(score) }
            }
            normalize(scores, into: &normalized, singleton: .identity, &sum)
            var k = 0
            for t in trajectories {
                let first = index.trajectoryRowStart[t]
                for j in 0..<Int(index.activePrefix[t]) {
                    episode[Int(index.orderedRows[first + j])] = normalized[k]
                    k += 1
                }
            }
        }

        // Step groups: active rows of one group with one state, in first-appearance order.
        var stepGroups = KeyInternTable(capacity: 1024)
        var stepGroupOfRow = [Int32](repeating: -1, count: n)
        var active = 0
        for t in 0..<index.trajectoryCount {
            let g = UInt64(UInt32(bitPattern: rows.group[Int(index.orderedRows[index.trajectoryRowStart[t]])]))
            let first = index.trajectoryRowStart[t]
            for j in 0..<Int(index.activePrefix[t]) {
                let r = Int(index.orderedRows[first + j])
                stepGroupOfRow[r] = stepGroups.intern(g << 32 | UInt64(UInt32(bitPattern: rows.state[r])))
                active += 1
            }
        }
        let groups = stepGroups.count
        var start = [Int](repeating: 0, count: groups + 1)
        for r in 0..<n where stepGroupOfRow[r] >= 0 { start[Int(stepGroupOfRow[r]) + 1] += 1 }
        for i in 0..<groups { start[i + 1] += start[i] }
        var fill = start
        var members = [Int32](repeating: 0, count: active)
        for r in 0..<n where stepGroupOfRow[r] >= 0 {
            let s = Int(stepGroupOfRow[r])
            members[fill[s]] = Int32(r)
            fill[s] += 1
        }
        for s in 0..<groups {
            scores.removeAll(keepingCapacity: true)
            for m in start[s]..<start[s + 1] { scores.append(stepReward[Int(members[m])]) }
            normalize(scores, into: &normalized, singleton: .zero, &sum)
            for (k, m) in (start[s]..<start[s + 1]).enumerated() { step[Int(members[m])] = normalized[k] }
        }

        var combined = [Double](repeating: 0, count: n)
        for r in 0..<n { combined[r] = episode[r] + stepWeight * step[r] }
        return RowAdvantages(episode: episode, step: step, combined: combined)
    }

    /// What a set of one value normalises to.
    enum Singleton { case identity, zero }

    /// Normalises `xs` with exactly rounded mean and variance. A single value: episode scores
    /// use mean 0 and std 1; step groups give 0.
    func normalize(_ xs: [Double], into out: inout [Double], singleton: Singleton, _ sum: inout ExactSum) {
        out.removeAll(keepingCapacity: true)
        guard !xs.isEmpty else { return }
        var mean = 0.0, std = 1.0
        if xs.count == 1 {
            if singleton == .zero { out.append(0); return }
        } else {
            sum.reset()
            for x in xs { sum.add(x) }
            mean = sum.value / Double(xs.count)
            if mode == .meanStdNorm {
                sum.reset()
                for x in xs { sum.add((x - mean) * (x - mean)) }
                std = (sum.value / Double(xs.count - 1)).squareRoot()
            }
        }
        switch mode {
        case .meanNorm: for x in xs { out.append(x - mean) }
        case .meanStdNorm: for x in xs { out.append((x - mean) / (std + AdvantageEstimator.epsilon)) }
        }
    }
}
