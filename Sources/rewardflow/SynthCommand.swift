// `rewardflow synth`: seeded synthetic rollout batches (JSONL step rows).
import ArgumentParser
import RewardFlow
import RewardFlowSynthesis

/// `rewardflow synth`: seeded synthetic rollout batches as JSONL step rows.
struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write a seeded synthetic batch of rollouts as JSONL step rows.",
        discussion: """
            Writes G groups × N rollouts of at most T observations as JSONL step rows (SPEC §1): \
            rollouts of a group share one hidden environment and one policy, so they share many \
            states; back moves make cycles, invalid actions self-loops (or "Nothing happens." \
            with --invalid-obs nothing), goals end a walk with a terminal reward (then one \
            inactive row holds the goal). --perturb f perturbs a seeded fraction f of the rows' \
            observations (a counter, two swapped words, a dropped word, an accent) for similarity \
            merging. Same options and seed: byte-identical output. A summary goes to stderr.
            """)

    private static let defaults = SynthesisOptions()

    @Option(name: [.customShort("G"), .long], parsing: .unconditional, help: ArgumentHelp("Prompt groups.", valueName: "G"))
    var groups = defaults.groups
    @Option(name: [.customShort("N"), .long], parsing: .unconditional, help: ArgumentHelp("Rollouts per group.", valueName: "N"))
    var rollouts = defaults.rollouts
    @Option(name: [.customShort("T"), .customLong("max-steps")], parsing: .unconditional,
            help: ArgumentHelp("Observations per trajectory at most.", valueName: "T"))
    var maxSteps = defaults.maxSteps
    @Option(name: [.customShort("K"), .long], parsing: .unconditional,
            help: ArgumentHelp("Latent states per group's hidden environment.", valueName: "K"))
    var states = defaults.states
    @Option(name: [.customShort("b"), .long], parsing: .unconditional, help: ArgumentHelp("Actions per latent state.", valueName: "B"))
    var branching = defaults.branching
    @Option(parsing: .unconditional, help: ArgumentHelp("Layers of the environment (0: round(√states / 1.5), at least 3).", valueName: "D"))
    var depth = defaults.depth
    @Option(parsing: .unconditional, help: ArgumentHelp("Goal states (terminal, rewarded) in the last layer.", valueName: "n"))
    var goals = defaults.goals
    @Option(name: .customLong("dead-frac"), parsing: .unconditional,
            help: ArgumentHelp("Fraction of latent states that are dead ends (default: \(defaults.deadFraction)).", valueName: "f"), transform: Parse.number)
    var deadFraction = defaults.deadFraction
    @Option(name: .customLong("p-forward"), parsing: .unconditional, help: ArgumentHelp("Weight of forward moves (default: \(defaults.moveWeights.forward)).", valueName: "w"), transform: Parse.number)
    var pForward = defaults.moveWeights.forward
    @Option(name: .customLong("p-lateral"), parsing: .unconditional, help: ArgumentHelp("Weight of lateral moves (default: \(defaults.moveWeights.lateral)).", valueName: "w"), transform: Parse.number)
    var pLateral = defaults.moveWeights.lateral
    @Option(name: .customLong("p-back"), parsing: .unconditional, help: ArgumentHelp("Weight of back moves (cycles) (default: \(defaults.moveWeights.back)).", valueName: "w"), transform: Parse.number)
    var pBack = defaults.moveWeights.back
    @Option(name: .customLong("p-skip"), parsing: .unconditional, help: ArgumentHelp("Weight of skip moves (default: \(defaults.moveWeights.skip)).", valueName: "w"), transform: Parse.number)
    var pSkip = defaults.moveWeights.skip
    @Option(parsing: .unconditional, help: ArgumentHelp("Scale of the shared policy's logits (larger: rollouts agree more) (default: \(defaults.beta)).", valueName: "x"), transform: Parse.number)
    var beta = defaults.beta
    @Option(name: .customLong("forward-bias"), parsing: .unconditional,
            help: ArgumentHelp("Logit bonus of forward and skip moves (default: \(defaults.forwardBias)).", valueName: "x"), transform: Parse.number)
    var forwardBias = defaults.forwardBias
    @Option(name: .customLong("invalid-prob"), parsing: .unconditional,
            help: ArgumentHelp("Probability that a step is an invalid action (default: \(defaults.invalidProbability)).", valueName: "p"), transform: Parse.number)
    var invalidProbability = defaults.invalidProbability
    @Option(name: .customLong("invalid-obs"), parsing: .unconditional,
            help: ArgumentHelp("What an invalid action shows: the same observation, or \"Nothing happens.\"", valueName: "KIND"))
    var invalidObservation = defaults.invalidObservation
    @Option(name: .customLong("neg-penalty"), parsing: .unconditional,
            help: ArgumentHelp("Reward -P of an invalid action (0: none) (default: \(defaults.negativePenalty)).", valueName: "P"), transform: Parse.number)
    var negativePenalty = defaults.negativePenalty
    @Option(name: .customLong("goal-reward"), parsing: .unconditional, help: ArgumentHelp("Terminal reward of a goal (default: \(defaults.goalReward)).", valueName: "R"), transform: Parse.number)
    var goalReward = defaults.goalReward
    @Option(name: .customLong("goal-spread"), parsing: .unconditional,
            help: ArgumentHelp("Goal i gets R·U(1 - s, 1) (rounded to 6 decimals) (default: \(defaults.goalSpread)).", valueName: "s"), transform: Parse.number)
    var goalSpread = defaults.goalSpread
    @Flag(name: .customLong("won-obs"), help: "Goal observations are the shared text \"You Won!\".")
    var wonObservation = false
    @Flag(name: .customLong("short-obs"), help: "Short observation texts (same graph, fewer bytes).")
    var shortObservations = false
    @Flag(name: .customLong("mark-noop"), help: "Rows of invalid actions carry noop: true.")
    var markNoop = false
    @Option(name: .customLong("perturb"), parsing: .unconditional,
            help: ArgumentHelp("Fraction in [0, 1] of rows whose observation text is perturbed (default: \(defaults.perturbFraction)).", valueName: "f"), transform: Parse.number)
    var perturbFraction = defaults.perturbFraction
    @Option(parsing: .unconditional,
            help: ArgumentHelp("Threads of the engine's parallel loops (default: $REWARDFLOW_THREADS, else the processor count); the output is the same bytes at any count.", valueName: "N"),
            transform: Parse.positive)
    var threads: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("The seed: equal options give byte-identical batches.", valueName: "S"))
    var seed = defaults.seed
    @Option(name: [.customShort("o"), .long], parsing: .unconditional,
            help: ArgumentHelp("Output file (written atomically); '-' is standard output.", valueName: "OUTPUT"))
    var output = "-"
    @Flag(name: [.customShort("q"), .long], help: "No progress bar and no summary on stderr.")
    var quiet = false

    /// The library's options.
    var options: SynthesisOptions {
        var o = SynthesisOptions()
        o.groups = groups
        o.rollouts = rollouts
        o.maxSteps = maxSteps
        o.states = states
        o.branching = branching
        o.depth = depth
        o.goals = goals
        o.deadFraction = deadFraction
        o.moveWeights = (pForward, pLateral, pBack, pSkip)
        o.beta = beta
        o.forwardBias = forwardBias
        o.invalidProbability = invalidProbability
        o.invalidObservation = invalidObservation
        o.negativePenalty = negativePenalty
        o.goalReward = goalReward
        o.goalSpread = goalSpread
        o.wonObservation = wonObservation
        o.shortObservations = shortObservations
        o.markNoop = markNoop
        o.perturbFraction = perturbFraction
        o.seed = seed
        o.threads = threads
        return o
    }

    func run() {
        let options = options
        let synthesizer: RolloutSynthesizer
        do {
            synthesizer = try RolloutSynthesizer(options)
        } catch {
            fail(error.description, status: 2)
        }
        let file: OutputFile?
        do { file = output == "-" || OutputFile.isDevice(output) ? nil : try OutputFile(path: output) } catch { fail(error.description, status: 1) }
        let fd: Int32
        if let file { fd = file.fd } else if output == "-" { fd = 1 } else {
            do { fd = try FileIO.openForWriting(output) } catch { fail(error.description, status: 1) }
        }
        let expected = options.groups * options.rollouts * options.maxSteps
        let progress = ProgressBar(label: "synth", total: expected, unit: "rows", enabled: !quiet)
        let started = ProgressBar.now()
        do {
            let summary = try synthesizer.writeJSONL(to: fd, path: output) { progress.update($0) }
            progress.finish()
            if let file { try file.commit() } else if fd != 1 { try FileIO.close(descriptor: fd, path: output) }
            let seconds = ProgressBar.now() - started
            let rate = Double(summary.successes) / Double(max(1, summary.trajectories))
            let line = #"{"records": \#(summary.rows), "trajs": \#(summary.trajectories), "success": \#(summary.successes), "unique_obs": \#(summary.uniqueObservations), "seconds": \#((seconds * 1000).rounded() / 1000), "success_rate": \#((rate * 10000).rounded() / 10000), "mean_len": \#((Double(summary.rows) / Double(max(1, summary.trajectories)) * 100).rounded() / 100)}"#
            if !quiet { ProgressBar.writeStderr(line + "\n") }
        } catch {
            progress.finish()
            fail(error.description, status: 1)
        }
    }
}
