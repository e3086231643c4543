/// How advantages are normalised (SPEC §5).
public enum AdvantageMode: String, Sendable, CaseIterable {
    /// `x − mean`.
    case meanNorm = "mean_norm"
    /// `(x − mean) / (std + ε)`, std the unbiased sample standard deviation, ε = 1e-6.
    case meanStdNorm = "mean_std_norm"
}

/// Over what a group's episode mean and std are taken (SPEC §5 `episode_weighting`).
public enum EpisodeWeighting: String, Sendable, CaseIterable {
    /// Over the group's active rows: a score counts once per active row (the reference's).
    case rows
    /// Over the group's trajectories with an active row: each score once (GRPO's `trajectory_once`).
    case trajectories
}

/// Per-row advantages (SPEC §5); 0 on inactive rows.
public struct RowAdvantages: Sendable {
    /// Normalised episode score within the group.
    public var episode: [Double]
    /// Normalised step reward within the step group (active rows of a group with one state).
    public var step: [Double]
    /// `w_e · episode + w · step`.
    public var combined: [Double]
}

/// Computes episode and step advantages with exactly rounded sums.
package struct AdvantageEstimator: Sendable {
    /// The normalisation.
    package var mode: AdvantageMode
    /// `w` in `advantage = episode + w · step`.
    package var stepWeight: Double
    /// `w_e` in `advantage = w_e · episode + w · step`.
    package var episodeWeight: Double
    /// Whether the episode statistics count a score per active row or per trajectory.
    package var episodeWeighting: EpisodeWeighting
    /// ε added to the standard deviation.
    package static let epsilon = 1e-6

    /// Creates an estimator; refuses a non-finite step or episode weight.
    package init(
        mode: AdvantageMode, stepWeight: Double = 1, episodeWeight: Double = 1,
        episodeWeighting: EpisodeWeighting = .rows
    ) throws(RewardFlowError) {
        guard stepWeight.isFinite else {
            throw .invalidParameter(name: "step_weight", message: "must be a finite number, got \(stepWeight)")
        }
        guard episodeWeight.isFinite else {
            throw .invalidParameter(name: "episode_weight", message: "must be a finite number, got \(episodeWeight)")
        }
        self.mode = mode
        self.stepWeight = stepWeight
        self.episodeWeight = episodeWeight
        self.episodeWeighting = episodeWeighting
    }

    /// Advantages of every row, given the per-row step rewards.
    ///
    /// Groups are independent, so they are computed in parallel (contiguous chunks of groups,
    /// per-thread scratch); every sum is exactly rounded, so the result is the same bits
    /// whatever the thread count or the order of the rows.
    ///
    /// `stepStates` replaces the state column for the step groups (one id per row): the
    /// representatives of SPEC §5's step-group similarity (`SimilarStates.stepGroupStates`);
    /// nil groups rows by `rows.state`. Its ids must lie below `max(rows.stateCount, rows.count)`.
    /// `threads`: of the parallel loop over groups (nil: `Execution.threadCount`). `workspace`:
    /// where the three output arrays may come from (`ScoringWorkspace`).
    package func advantages(
        _ rows: StepRows, index: TrajectoryIndex, stepReward: [Double], stepStates: [Int32]? = nil,
        threads: Int? = nil, workspace: ScoringWorkspace? = nil
    ) -> RowAdvantages {
        let stateColumn = stepStates ?? rows.state
        let keyCount = stepStates == nil ? rows.stateCount : max(rows.stateCount, rows.count)
        let n = rows.count
        let threads = Parallel.threads(threads)
        var episode = [Double].filledParallel(repeating: 0, count: n, threads: threads, workspace: workspace)
        var step = [Double].filledParallel(repeating: 0, count: n, threads: threads, workspace: workspace)
        var combined = [Double].filledParallel(repeating: 0, count: n, threads: threads, workspace: workspace)
        Parallel.forEachChunk(threads: threads, count: index.groupCount, work: n, writing: &episode, &step, &combined) { groups, e, s, c in
            var scratch = GroupScratch(stateCount: keyCount)
            for g in groups {
                advantages(ofGroup: g, rows, stateColumn, index, stepReward, (e, s, c), &scratch)
            }
        }
        return RowAdvantages(episode: episode, step: step, combined: combined)
    }

    /// The exactly rounded sum of `reward` over `rows` (a trajectory's active rows).
    ///
    /// Sparse rewards first: with at most one nonzero term, finite, the exact sum is that term
    /// (`x + ±0 = x`), and a sum of zeros only is −0 exactly when every term is −0 (IEEE, as the
    /// accumulator gives); any other trajectory goes through `sum`.
    @inline(__always)
    static func episodeScore(_ reward: [Double], _ rows: ArraySlice<Int32>, _ sum: inout ExactAccumulator) -> Double {
        var nonzero = 0, term = 0.0, onlyNegativeZeros = true
        for r in rows {
            let x = reward[Int(r)]
            if x != 0 {  // also NaN
                nonzero += 1
                term = x
            } else if x.sign == .plus {
                onlyNegativeZeros = false
            }
        }
        if nonzero == 0 { return rows.isEmpty || !onlyNegativeZeros ? 0 : -0.0 }
        if nonzero == 1 && term.isFinite { return term }
        sum.reset()
        for r in rows { sum.add(reward[Int(r)]) }
        return sum.value
    }

    /// Per-thread scratch: state → step group of the current group (stamped, never cleared).
    struct GroupScratch {
        let stepGroupOfState: StampedMap
        let activeRows = RawBuffer<Int32>(repeating: 0)
        let stepGroupOfActive = RawBuffer<Int32>(repeating: 0)
        let stepGroupStart = RawBuffer<Int32>(repeating: 0)
        let members = RawBuffer<Int32>(repeating: 0)
        var values: [Double] = []
        var sum = ExactAccumulator()

        init(stateCount: Int) {
            stepGroupOfState = StampedMap(count: stateCount)
        }
    }

    func advantages(
        ofGroup g: Int, _ rows: StepRows, _ stateColumn: [Int32], _ index: TrajectoryIndex, _ stepReward: [Double],
        _ out: (SendableBuffer<Double>, SendableBuffer<Double>, SendableBuffer<Double>),
        _ s: inout GroupScratch
    ) {
        let trajectories = index.groupTrajectoryStart[g]..<index.groupTrajectoryStart[g + 1]
        let (episode, step, combined) = out

        // Episode advantages: every active row carries its trajectory's score; the group's
        // mean (and variance) are over those rows, so a score counts once per active row.
        // The sums add `m · score` exactly (two-product), as adding `m` copies would.
        var activeCount = 0
        s.values.removeAll(keepingCapacity: true)  // one score per trajectory
        for t in trajectories {
            let first = index.trajectoryRowStart[t]
            let m = Int(index.activePrefix[t])
            s.values.append(Self.episodeScore(rows.reward, index.orderedRows[first..<(first + m)], &s.sum))
            activeCount += m
        }
        if episodeWeighting == .trajectories {
            // Each trajectory with an active row counts its score once.
            var count = 0
            for t in trajectories where index.activePrefix[t] > 0 { count += 1 }
            var mean = 0.0, std = 1.0
            if count > 1 {
                s.sum.reset()
                for (k, t) in trajectories.enumerated() where index.activePrefix[t] > 0 { s.sum.add(s.values[k]) }
                mean = s.sum.value / Double(count)
                if mode == .meanStdNorm {
                    s.sum.reset()
                    for (k, t) in trajectories.enumerated() where index.activePrefix[t] > 0 {
                        let d = s.values[k] - mean
                        s.sum.add(d * d)
                    }
                    std = (s.sum.value / Double(count - 1)).squareRoot()
                }
            }
            for (k, t) in trajectories.enumerated() {
                let x = s.values[k]
                let a = mode == .meanNorm ? x - mean : (x - mean) / (std + AdvantageEstimator.epsilon)
                let first = index.trajectoryRowStart[t]
                for j in 0..<Int(index.activePrefix[t]) { episode[Int(index.orderedRows[first + j])] = a }
            }
        } else if activeCount > 0 {
            var mean = 0.0, std = 1.0
            if activeCount > 1 {
                s.sum.reset()
                for (k, t) in trajectories.enumerated() { s.sum.addProduct(s.values[k], Double(index.activePrefix[t])) }
                mean = s.sum.value / Double(activeCount)
                if mode == .meanStdNorm {
                    s.sum.reset()
                    for (k, t) in trajectories.enumerated() {
                        let d = (s.values[k] - mean) * (s.values[k] - mean)
                        s.sum.addProduct(d, Double(index.activePrefix[t]))
                    }
                    std = (s.sum.value / Double(activeCount - 1)).squareRoot()
                }
            }
            for (k, t) in trajectories.enumerated() {
                let x = s.values[k]
                let a = mode == .meanNorm ? x - mean : (x - mean) / (std + AdvantageEstimator.epsilon)
                let first = index.trajectoryRowStart[t]
                for j in 0..<Int(index.activePrefix[t]) { episode[Int(index.orderedRows[first + j])] = a }
            }
        }

        // Step groups: the group's active rows with one state, numbered by first appearance;
        // their members gathered by counting sort (raw per-thread buffers: no array checks).
        s.stepGroupOfState.clear()
        let activeRows = s.activeRows.reserve(activeCount)
        let stepGroupOfActive = s.stepGroupOfActive.reserve(activeCount)
        let members = s.members.reserve(activeCount)
        let start = s.stepGroupStart.reserve(activeCount + 2)
        var groups: Int32 = 0
        var k = 0
        for t in trajectories {
            let first = index.trajectoryRowStart[t]
            for j in 0..<Int(index.activePrefix[t]) {
                let r = index.orderedRows[first + j]
                let state = Int(stateColumn[Int(r)])
                var sg = s.stepGroupOfState.value(state)
                if sg < 0 {
                    sg = groups
                    s.stepGroupOfState.set(state, sg)
                    groups += 1
                }
                activeRows[k] = r
                stepGroupOfActive[k] = sg
                k += 1
            }
        }
        let stepGroups = Int(groups)
        start.update(repeating: 0, count: stepGroups + 2)
        for i in 0..<k { start[Int(stepGroupOfActive[i]) + 2] += 1 }
        for g in 0..<stepGroups { start[g + 2] += start[g + 1] }
        // start[g + 1] is now where group g begins; filling moves it to where g ends.
        for i in 0..<k {
            let sg = Int(stepGroupOfActive[i]) + 1
            members[Int(start[sg])] = activeRows[i]
            start[sg] += 1
        }
        for sg in 0..<stepGroups {
            let lo = Int(start[sg]), hi = Int(start[sg + 1])
            let count = hi - lo
            if count == 1 {  // a step group of one row: step advantage 0
                let r = Int(members[lo])
                combined[r] = episodeWeight * episode[r] + stepWeight * 0
                continue
            }
            s.sum.reset()
            for m in lo..<hi { s.sum.add(stepReward[Int(members[m])]) }
            let mean = s.sum.value / Double(count)
            var std = 1.0
            if mode == .meanStdNorm {
                s.sum.reset()
                for m in lo..<hi {
                    let d = stepReward[Int(members[m])] - mean
                    s.sum.add(d * d)
                }
                std = (s.sum.value / Double(count - 1)).squareRoot()
            }
            for m in lo..<hi {
                let r = Int(members[m])
                let x = stepReward[r]
                let a = mode == .meanNorm ? x - mean : (x - mean) / (std + AdvantageEstimator.epsilon)
                step[r] = a
                combined[r] = episodeWeight * episode[r] + stepWeight * a
            }
        }
    }
}
