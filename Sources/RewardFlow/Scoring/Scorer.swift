/// Per-row outputs of a scoring run, aligned with the input rows.
public struct ScoredRows: Sendable {
    /// Values and step rewards.
    public var rewards: RowRewards
    /// Advantages, when an advantage mode was given.
    public var advantages: RowAdvantages?
}

/// The whole pipeline: rows → their SPEC §2 order → the options' operator (on the state graph,
/// or on the rows for `trajectory-return`) → per-row rewards (SPEC §4) → advantages (SPEC §5).
public struct Scorer: Sendable {
    /// The options of this scorer (validated at construction).
    public let options: ScoringOptions

    /// Creates a scorer; refuses options outside their domains.
    public init(options: ScoringOptions = ScoringOptions()) throws(RewardFlowError) {
        _ = try options.scoringOperator()
        if let mode = options.advantage { _ = try Self.estimator(options, mode) }
        if options.stepReward == .progress && options.propagation != .goalDistance {
            throw .invalidParameter(name: "step_reward", message: "progress needs goal distances: it works with the goal-distance operator only, not \(options.propagation.rawValue)")
        }
        if let threads = options.threads, threads < 1 {
            throw .invalidParameter(name: "threads", message: "must be an integer >= 1, got \(threads)")
        }
        guard options.stepGroupHistory >= 0 else {
            throw .invalidParameter(name: "step_group_history", message: "must be an integer >= 0, got \(options.stepGroupHistory)")
        }
        if options.stepGroupHistory > 0 && options.stepGroupSimilarity != nil {
            throw .invalidParameter(name: "step_group_history", message: "cannot be combined with step_group_similarity (step groups are keyed either on the last K states or by ratio)")
        }
        for (name, threshold) in [("similarity", options.similarity), ("step_group_similarity", options.stepGroupSimilarity)] {
            if let t = threshold, !(t > 0 && t <= 1) {
                throw .invalidParameter(name: name, message: "must be a number in (0, 1], got \(t)")
            }
        }
        self.options = options
    }

    /// The advantage estimator the options select.
    static func estimator(_ options: ScoringOptions, _ mode: AdvantageMode) throws(RewardFlowError) -> AdvantageEstimator {
        try AdvantageEstimator(
            mode: mode, stepWeight: options.stepWeight, episodeWeight: options.episodeWeight,
            episodeWeighting: options.episodeWeighting)
    }

    /// Refuses similarity on a batch without state texts.
    static func checkSimilarity(_ options: ScoringOptions, _ rows: StepRows) throws(RewardFlowError) {
        guard rows.identity == .key else { return }
        for (name, threshold) in [("similarity", options.similarity), ("step_group_similarity", options.stepGroupSimilarity)] where threshold != nil {
            throw .invalidParameter(name: name, message: "compares state texts, but this batch names its states by state_key")
        }
    }

    /// Scores a batch.
    public func score(_ rows: StepRows) throws(RewardFlowError) -> ScoredRows {
        var explain = SolveExplanation()
        return try score(rows, explain: &explain)
    }

    /// Scores a batch and records in `explain` what was solved and how long each stage took.
    /// With a `workspace`, the run's large per-row arrays come from it when it holds some, and
    /// the index's and the graph's go back to it; the outputs are the same either way (give
    /// the outputs back with `ScoringWorkspace.keep(_:)` once read).
    package func score(
        _ rows: StepRows, explain: inout SolveExplanation, workspace: ScoringWorkspace? = nil
    ) throws(RewardFlowError) -> ScoredRows {
        let (scored, batch) = try scoreKeepingBatch(rows, explain: &explain, workspace: workspace)
        batch.recycle()
        return scored
    }

    /// The batch of `rows` as scoring sees it: their SPEC §2 order (timed as `index`), the graph
    /// not built yet.
    func prepare(
        _ rows: StepRows, explain: inout SolveExplanation, workspace: ScoringWorkspace? = nil
    ) throws(RewardFlowError) -> ScoringBatch {
        try Self.checkSimilarity(options, rows)
        let threads = Parallel.threads(options.threads)
        explain.threads = threads
        let index = try explain.time("index") { () throws(RewardFlowError) in
            try TrajectoryIndex(rows, threads: threads, workspace: workspace)
        }
        return ScoringBatch(rows: rows, index: index, options: options, threads: threads, workspace: workspace)
    }

    /// `score`, also returning the batch it worked on (with the state graph when the operator
    /// built one).
    func scoreKeepingBatch(
        _ rows: StepRows, explain: inout SolveExplanation, workspace: ScoringWorkspace? = nil
    ) throws(RewardFlowError) -> (scored: ScoredRows, batch: ScoringBatch) {
        var batch = try prepare(rows, explain: &explain, workspace: workspace)
        let rewards = try options.scoringOperator().rewards(&batch, explain: &explain)
        if options.stepReward != .difference { explain.notes.append("step reward: \(options.stepReward.rawValue)") }
        let scored = ScoredRows(rewards: rewards, advantages: try advantages(batch, rewards, explain: &explain))
        try Self.requireFinite(scored, rows, threads: batch.threads)
        return (scored, batch)
    }

    /// The advantages of the options' mode (nil without one) from `rewards` of `batch` (SPEC §5).
    func advantages(
        _ batch: ScoringBatch, _ rewards: RowRewards, explain: inout SolveExplanation
    ) throws(RewardFlowError) -> RowAdvantages? {
        guard let mode = options.advantage else { return nil }
        let (rows, index, threads) = (batch.rows, batch.index, batch.threads)
        if options.episodeWeighting != .rows || options.episodeWeight != 1 || options.stepGroupHistory > 0 {
            explain.notes.append(
                "advantages: episode weighting \(options.episodeWeighting.rawValue), episode weight \(options.episodeWeight), step-group history \(options.stepGroupHistory)")
        }
        var stepStates: [Int32]?
        if let t = options.stepGroupSimilarity {
            stepStates = explain.time("step-group similarity") { SimilarStates.stepGroupStates(rows, index: index, threshold: t, threads: threads) }
        } else if options.stepGroupHistory > 0 {
            stepStates = explain.time("step-group history") {
                StepGroupHistory.keys(rows, index: index, history: options.stepGroupHistory, threads: threads)
            }
        }
        return try explain.time("advantages") { () throws(RewardFlowError) in
            try Self.estimator(options, mode).advantages(
                rows, index: index, stepReward: rewards.stepReward, stepStates: stepStates, threads: threads,
                workspace: batch.workspace)
        }
    }

    /// Refuses outputs that left the double range (rewards near ±1e308 can overflow a value
    /// difference, a discounted sum or an episode score): JSON has no infinities.
    static func requireFinite(_ scored: ScoredRows, _ rows: StepRows, threads: Int) throws(RewardFlowError) {
        var columns = [("value", scored.rewards.value), ("step_reward", scored.rewards.stepReward),
                       ("step_reward_abs", scored.rewards.stepRewardAbs)]
        if let a = scored.advantages {
            columns += [("episode_advantage", a.episode), ("step_advantage", a.step), ("advantage", a.combined)]
        }
        for (name, column) in columns {
            // Exponent field all ones ⇔ ±inf or NaN; integer ops, so the scan vectorises.
            let parts = column.count < Parallel.serialWork ? 1 : threads
            let nonFinite = Parallel.map(threads: threads, parts: parts) { k in
                var bits: UInt64 = 0
                for x in column[column.count * k / parts..<column.count * (k + 1) / parts] {
                    bits |= (((x.bitPattern >> 52) & 0x7FF) &+ 1) >> 11
                }
                return bits
            }
            guard nonFinite.contains(where: { $0 != 0 }), let r = column.firstIndex(where: { !$0.isFinite }) else { continue }
            throw .numerical(message: "\(rows.location(ofRow: r)): \(name): the result overflows a double (\(column[r])); rewards this large cannot be scored, rescale them")
        }
    }
}
