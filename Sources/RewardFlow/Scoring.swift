/// The propagation operators of SPEC §3 that the engine offers.
public enum PropagationOperator: String, Sendable, CaseIterable {
    /// `V(s) = sup over walks of γ^len · r(t)` (the paper's operator).
    case maxDecay = "max-decay"
    /// GiGPO's per-trajectory discounted return (no graph).
    case trajectoryReturn = "trajectory-return"
    /// `(I − γP)V = r`, `P` the row-normalised trajectory counts (linear, empirical policy).
    case discounted
    /// Personalised PageRank on the reversed graph: `x = α(Mx + (dᵀx)p) + (1 − α)p`, `p = r⁺/Σr⁺`.
    case pagerank
    /// `(I − αS)f = r`, `S = D^{-1/2}(w + wᵀ)D^{-1/2}`.
    case diffusion
    /// GraphGPO's `V(s) = R·γ^d(s)`, `d` the fewest edges from `s` to a node with `r > 0`.
    case goalDistance = "goal-distance"
}

/// What `step_reward` is on the rows j < min(m, L−1) of a trajectory (SPEC §4).
public enum StepRewardMode: String, Sendable, CaseIterable {
    /// `V(s_{j+1}) − V(s_j)` (RewardFlow's).
    case difference
    /// `V(s_{j+1})` (GraphGPO's proximity return).
    case absolute
    /// `R·γ^(d(s_{j+1}) − d(s_j) + 1)` (GraphGPO's `normalize_distance`; `goal-distance` only).
    case progress
}

/// Which backend solves a linear operator (`discounted`; SPEC §3).
public enum LinearSolver: String, Sendable, CaseIterable {
    /// Per group, by size and structure (documented with the operator).
    case auto
    /// Sparse LU (UMFPACK) of the batch's block-diagonal matrix.
    case direct
    /// Jacobi / power iteration with BLAS vector kernels, to `tolerance`.
    case iterative
    /// Dense LAPACK per group.
    case dense
}

/// Everything that configures one scoring run.
public struct ScoringOptions: Sendable {
    /// The propagation operator.
    public var propagation: PropagationOperator = .maxDecay
    /// γ for `max-decay`, `discounted` and `trajectory-return`.
    public var gamma: Double = 0.9
    /// α for `pagerank` (damping) and `diffusion`.
    public var alpha: Double = 0.85
    /// Backend for the linear operators.
    public var solver: LinearSolver = .auto
    /// Residual tolerance `‖(I−γP)V − r‖∞` (or PageRank's change per sweep) of iterative solvers.
    public var tolerance: Double = 1e-12
    /// Iteration cap of iterative solvers; reaching it without convergence is an error.
    public var maxIterations: Int = 10_000
    /// How node rewards are chosen.
    public var nodeReward: NodeRewardPolicy = .firstSeen
    /// Advantage normalisation; `nil` computes none.
    public var advantage: AdvantageMode?
    /// `w` in `advantage = episode + w · step`.
    public var stepWeight: Double = 1
    /// Graph similarity `T` in (0, 1] (SPEC §2.1): per group, each state occurrence (trajectory
    /// order, then position) joins the first cluster whose representative `r` has
    /// `difflib ratio(state, r) >= T`, and clusters are the graph's states. `nil` (the
    /// default): states merge only when byte-equal. Needs state texts (not `state_key`s).
    public var similarity: Double?
    /// Step-group similarity `T_s` in (0, 1] (SPEC §5): a group's active rows, in input order,
    /// join the first step group whose first row's state has `ratio >= T_s`. `nil` (the
    /// default): step groups are rows with byte-equal states. Needs state texts.
    public var stepGroupSimilarity: Double?
    /// `R` of `goal-distance`: `V(s) = R·γ^d(s)` (finite, > 0; default 10).
    public var goalReward: Double = 10
    /// `step_reward` on the step range: `difference` (default) `V(s_{j+1}) − V(s_j)`,
    /// `absolute` `V(s_{j+1})`, or `progress` `R·γ^(d(s_{j+1}) − d(s_j) + 1)` (goal-distance only).
    public var stepReward: StepRewardMode = .difference
    /// Episode statistics over a group's active rows (`rows`, default: a score counts once per
    /// active row) or over its trajectories with an active row (`trajectories`: once each).
    public var episodeWeighting: EpisodeWeighting = .rows
    /// `w_e` in `advantage = w_e · episode + w · step` (finite; default 1).
    public var episodeWeight: Double = 1
    /// Step-group history `K ≥ 0` (SPEC §5): row j's step-group key is the states of rows
    /// `max(0, j−K)...j` of its trajectory. 0 (the default): the row's own state. Refused
    /// together with `stepGroupSimilarity`.
    public var stepGroupHistory: Int = 0
    /// Threads of the run's parallel loops (graph build, solves, extraction, advantages,
    /// statistics), at least 1. `nil` (the default): `Execution.threadCount`, i.e.
    /// `$REWARDFLOW_THREADS` when set, else the processor count, read once per process.
    /// Outputs are the same bytes whatever the count (SPEC §6).
    public var threads: Int?

    /// Default options: max-decay, γ = 0.9, first-seen node rewards, no advantages.
    public init() {}
}

/// Per-row outputs of a scoring run, aligned with the input rows.
public struct ScoredRows: Sendable {
    /// Values and step rewards.
    public var rewards: RowRewards
    /// Advantages, when an advantage mode was given.
    public var advantages: RowAdvantages?
}

/// The whole pipeline: rows → `TrajectoryIndex` → `StateGraph` → `Propagator` → values →
/// `RewardExtractor` → per-row outputs (→ `AdvantageEstimator`).
public struct Scorer: Sendable {
    /// The options of this scorer (validated at construction).
    public let options: ScoringOptions

    /// Creates a scorer; refuses options outside their domains.
    public init(options: ScoringOptions = ScoringOptions()) throws(RewardFlowError) {
        switch options.propagation {
        case .trajectoryReturn: _ = try TrajectoryReturn(gamma: options.gamma)
        default: _ = try Self.propagator(options)
        }
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

    /// The graph operator the options select (every operator except `trajectory-return`).
    static func propagator(_ options: ScoringOptions) throws(RewardFlowError) -> any Propagator {
        switch options.propagation {
        case .maxDecay:
            return try MaxDecay(gamma: options.gamma, threads: options.threads)
        case .trajectoryReturn:
            throw .invalidParameter(name: "operator", message: "trajectory-return works on rows, not on the state graph")
        case .discounted:
            return try Discounted(
                gamma: options.gamma, solver: options.solver, tolerance: options.tolerance,
                maxIterations: options.maxIterations, threads: options.threads)
        case .pagerank:
            guard options.solver == .auto || options.solver == .iterative else {
                throw .invalidParameter(name: "solver", message: "pagerank is solved by power iteration only (choose auto or iterative)")
            }
            return try PageRank(
                alpha: options.alpha, tolerance: options.tolerance, maxIterations: options.maxIterations,
                threads: options.threads)
        case .diffusion:
            return try Diffusion(alpha: options.alpha, solver: options.solver, threads: options.threads)
        case .goalDistance:
            return try GoalDistance(gamma: options.gamma, goalReward: options.goalReward, threads: options.threads)
        }
    }

    /// Scores a batch.
    public func score(_ rows: StepRows) throws(RewardFlowError) -> ScoredRows {
        var explain = SolveExplanation()
        return try score(rows, explain: &explain)
    }

    /// Scores a batch and records in `explain` what was solved and how long each stage took.
    public func score(_ rows: StepRows, explain: inout SolveExplanation) throws(RewardFlowError) -> ScoredRows {
        try scoreKeepingGraph(rows, explain: &explain).scored
    }

    /// The state graph of `rows` as scoring builds it (SPEC §2, with graph similarity when set).
    func stateGraph(_ rows: StepRows, index: TrajectoryIndex, explain: inout SolveExplanation) -> StateGraph {
        var states: [Int32]?
        let threads = Parallel.threads(options.threads)
        if let t = options.similarity {
            states = explain.time("similarity") { SimilarStates.graphStates(rows, index: index, threshold: t, threads: threads) }
        }
        return explain.time("graph") {
            GraphBuilder(nodeReward: options.nodeReward, threads: threads).build(rows, index: index, states: states)
        }
    }

    /// `score`, also returning the index and the state graph it built (nil under
    /// trajectory-return, which builds none).
    func scoreKeepingGraph(
        _ rows: StepRows, explain: inout SolveExplanation
    ) throws(RewardFlowError) -> (scored: ScoredRows, index: TrajectoryIndex, graph: StateGraph?) {
        try Self.checkSimilarity(options, rows)
        let threads = Parallel.threads(options.threads)
        explain.threads = threads
        let index = try explain.time("index") { () throws(RewardFlowError) in try TrajectoryIndex(rows) }
        let rewards: RowRewards
        var kept: StateGraph?
        switch options.propagation {
        case .trajectoryReturn:
            explain.operatorDescription = "trajectory-return (gamma \(options.gamma))"
            let returns = try explain.time("returns") { () throws(RewardFlowError) in
                try TrajectoryReturn(gamma: options.gamma).returns(rows, index: index)
            }
            rewards = explain.time("extract") { RewardExtractor.extract(rows, index: index, returns: returns) }
        default:
            let graph = stateGraph(rows, index: index, explain: &explain)
            kept = graph
            (explain.groups, explain.nodes, explain.edges) = (graph.groupCount, graph.nodeCount, graph.edgeCount)
            let propagator = try Self.propagator(options)
            let values: [Double]
            var rule = StepRule(options.stepReward)
            if let goal = propagator as? GoalDistance {
                let solved = goal.solve(on: graph, explain: &explain)
                values = solved.values
                if options.stepReward == .progress {
                    rule = .progress(GoalProgress(goal: goal, distance: solved.distance, unreachable: solved.unreachable))
                }
            } else {
                values = try propagator.values(on: graph, explain: &explain)
            }
            if options.propagation != .maxDecay && options.propagation != .goalDistance {
                explain.notes.append("OpenBLAS kernels: \(BLAS.coreName)")
            }
            rewards = explain.time("extract") {
                RewardExtractor.extract(rows, index: index, graph: graph, nodeValues: values, rule: rule, threads: threads)
            }
        }
        if options.stepReward != .difference { explain.notes.append("step reward: \(options.stepReward.rawValue)") }
        var advantages: RowAdvantages?
        if let mode = options.advantage {
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
            advantages = try explain.time("advantages") { () throws(RewardFlowError) in
                try Self.estimator(options, mode)
                    .advantages(rows, index: index, stepReward: rewards.stepReward, stepStates: stepStates, threads: threads)
            }
        }
        let scored = ScoredRows(rewards: rewards, advantages: advantages)
        try Self.requireFinite(scored, rows)
        return (scored, index, kept)
    }

    /// Refuses outputs that left the double range (rewards near ±1e308 can overflow a value
    /// difference, a discounted sum or an episode score): JSON has no infinities.
    static func requireFinite(_ scored: ScoredRows, _ rows: StepRows) throws(RewardFlowError) {
        var columns = [("value", scored.rewards.value), ("step_reward", scored.rewards.stepReward),
                       ("step_reward_abs", scored.rewards.stepRewardAbs)]
        if let a = scored.advantages {
            columns += [("episode_advantage", a.episode), ("step_advantage", a.step), ("advantage", a.combined)]
        }
        for (name, column) in columns {
            // Exponent field all ones ⇔ ±inf or NaN; integer ops, so the scan vectorises.
            let nonFinite = column.withUnsafeBufferPointer { p -> UInt64 in
                var found: UInt64 = 0
                for x in p { found |= (((x.bitPattern >> 52) & 0x7FF) &+ 1) >> 11 }
                return found
            }
            guard nonFinite != 0, let r = column.firstIndex(where: { !$0.isFinite }) else { continue }
            throw .numerical(message: "\(rows.location(ofRow: r)): \(name): the result overflows a double (\(column[r])); rewards this large cannot be scored, rescale them")
        }
    }
}
