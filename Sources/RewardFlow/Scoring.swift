/// The propagation operators of SPEC §3 that the engine offers.
public enum PropagationOperator: String, Sendable, CaseIterable {
    /// `V(s) = sup over walks of γ^len · r(t)` (the paper's operator).
    case maxDecay = "max-decay"
    /// GiGPO's per-trajectory discounted return (no graph).
    case trajectoryReturn = "trajectory-return"
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
    /// γ for `max-decay` and `trajectory-return`.
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
        case .maxDecay: _ = try MaxDecay(gamma: options.gamma)
        case .trajectoryReturn: _ = try TrajectoryReturn(gamma: options.gamma)
        }
        if let mode = options.advantage { _ = try AdvantageEstimator(mode: mode, stepWeight: options.stepWeight) }
        self.options = options
    }

    /// Scores a batch.
    public func score(_ rows: StepRows) throws(RewardFlowError) -> ScoredRows {
        let index = try TrajectoryIndex(rows)
        let rewards: RowRewards
        switch options.propagation {
        case .maxDecay:
            let graph = GraphBuilder(nodeReward: options.nodeReward).build(rows, index: index)
            let values = try MaxDecay(gamma: options.gamma).values(on: graph)
            rewards = RewardExtractor.extract(rows, index: index, graph: graph, nodeValues: values)
        case .trajectoryReturn:
            let returns = try TrajectoryReturn(gamma: options.gamma).returns(rows, index: index)
            rewards = RewardExtractor.extract(rows, index: index, returns: returns)
        }
        var advantages: RowAdvantages?
        if let mode = options.advantage {
            advantages = try AdvantageEstimator(mode: mode, stepWeight: options.stepWeight)
                .advantages(rows, index: index, stepReward: rewards.stepReward)
        }
        return ScoredRows(rewards: rewards, advantages: advantages)
    }
}
