import RewardFlow
import Glibc
import SystemPackage

/// What kind of observation an invalid action produces.
public enum InvalidObservation: String, Sendable, CaseIterable {
    /// The observation repeats (a self-loop in the state graph).
    case same
    /// The text "Nothing happens." shared by the whole group (ALFWorld's answer).
    case nothing
}

/// Parameters of `RolloutSynthesizer` (the defaults give an ALFWorld-like batch).
public struct SynthesisOptions: Sendable {
    /// Prompt groups.
    public var groups = 16
    /// Rollouts per group.
    public var rollouts = 8
    /// Observations per trajectory at most (so at most `maxSteps − 1` actions).
    public var maxSteps = 50
    /// Latent states per group's hidden environment.
    public var states = 200
    /// Actions per latent state.
    public var branching = 4
    /// Layers of the environment (0: `round(√states / 1.5)`, at least 3).
    public var depth = 0
    /// Goal states (terminal, rewarded) in the last layer.
    public var goals = 3
    /// Fraction of latent states that are dead ends (they only lead to dead ends).
    public var deadFraction = 0.03
    /// Relative weights of forward, lateral, back (cycles) and skip moves.
    public var moveWeights: (forward: Double, lateral: Double, back: Double, skip: Double) = (0.5, 0.2, 0.2, 0.1)
    /// Scale of the shared policy's logits (larger: rollouts agree more).
    public var beta = 1.5
    /// Logit bonus of forward and skip moves.
    public var forwardBias = 2.0
    /// Probability that a step is an invalid action (the latent state does not change).
    public var invalidProbability = 0.08
    /// What an invalid action shows.
    public var invalidObservation = InvalidObservation.same
    /// Reward `−P` of an invalid action (0: none).
    public var negativePenalty = 0.0
    /// Terminal reward of a goal.
    public var goalReward = 10.0
    /// Goal `i` gets `goalReward · U(1 − spread, 1)` (rounded to 6 decimals).
    public var goalSpread = 0.0
    /// Goal observations are the shared text "You Won!".
    public var wonObservation = false
    /// Short observation texts (same graph, fewer bytes).
    public var shortObservations = false
    /// Rows of invalid actions carry `noop: true`.
    public var markNoop = false
    /// The seed: equal options give byte-identical batches.
    public var seed: UInt64 = 0
    /// Fraction in [0, 1] of rows whose observation text is perturbed (seeded per row): a
    /// counter changed, two listed items swapped, a word dropped, or an accent added, so that
    /// near-duplicate texts exercise similarity merging (SPEC §2.1). 0: none.
    public var perturbFraction = 0.0
    /// Threads generating and rendering groups (nil: `Execution.threadCount`). The batch never
    /// depends on it.
    public var threads: Int?

    /// The defaults: 16 groups × 8 rollouts × 50 steps (the paper's batch).
    public init() {}

    /// The most latent states of a group's world (and of states × branching): 2^22.
    public static let maxStates = 1 << 22
    /// The most actions per latent state.
    public static let maxBranching = 1024

    func validate() throws(RewardFlowError) {
        func check(_ ok: Bool, _ name: String, _ message: String) throws(RewardFlowError) {
            if !ok { throw .invalidParameter(name: name, message: message) }
        }
        func range(_ value: Int, _ bounds: ClosedRange<Int>, _ name: String) throws(RewardFlowError) {
            try check(bounds.contains(value), name, "must be in \(bounds.lowerBound)...\(bounds.upperBound), got \(value)")
        }
        // Upper bounds: what one scoring batch holds (2^31 − 2 rows, steps below 2^31) and a
        // group's hidden world in memory (states × branching ≤ 2^22 targets per thread).
        let maxRows = StepRows.maxRows
        if let threads { try check(threads >= 1, "threads", "must be an integer >= 1, got \(threads)") }
        try range(groups, 1...maxRows, "groups")
        try range(rollouts, 1...maxRows, "rollouts")
        try range(maxSteps, 1...maxRows, "max-steps")
        try range(states, 2...Self.maxStates, "states")
        try range(branching, 1...Self.maxBranching, "branching")
        try check(states * branching <= Self.maxStates, "branching",
                  "must be at most \(Self.maxStates / states) with \(states) states (states × branching ≤ \(Self.maxStates)), got \(branching)")
        try range(depth, 0...states, "depth")
        try range(goals, 0...states, "goals")
        let (perGroup, o1) = rollouts.multipliedReportingOverflow(by: maxSteps)
        let (total, o2) = groups.multipliedReportingOverflow(by: perGroup)
        try check(!o1 && !o2 && total <= maxRows, "groups",
                  "must be such that groups × rollouts × max-steps ≤ \(maxRows) (one scoring batch)")
        try check(deadFraction >= 0 && deadFraction <= 1, "dead-frac", "must be in [0, 1]")
        let w = moveWeights
        try check([w.forward, w.lateral, w.back, w.skip].allSatisfy { $0 >= 0 && $0.isFinite }
                  && w.forward + w.lateral + w.back + w.skip > 0, "p-forward", "move weights must be non-negative with a positive sum")
        try check(beta.isFinite && forwardBias.isFinite, "beta", "must be finite")
        try check(invalidProbability >= 0 && invalidProbability <= 1, "invalid-prob", "must be in [0, 1]")
        try check(negativePenalty.isFinite, "neg-penalty", "must be finite")
        try check(goalReward.isFinite, "goal-reward", "must be finite")
        try check(goalSpread >= 0 && goalSpread <= 1, "goal-spread", "must be in [0, 1]")
        try check(perturbFraction >= 0 && perturbFraction <= 1, "perturb", "must be in [0, 1]")
    }
}

/// What a synthesis produced.
public struct SynthesisSummary: Sendable {
    /// Rows written.
    public var rows = 0
    /// Trajectories.
    public var trajectories = 0
    /// Trajectories that reached a goal.
    public var successes = 0
    /// Distinct observations, summed over groups.
    public var uniqueObservations = 0
}
