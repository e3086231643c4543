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
