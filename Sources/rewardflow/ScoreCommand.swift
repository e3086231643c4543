// `rewardflow score` and the scoring options it shares with `stats`, `graph` and `report`.
import ArgumentParser
import Glibc
import RewardFlow

/// The scoring options of `score`, also taken by `stats`, `graph` and `report`. Every option
/// with a value takes the next argument as it is (so `--gamma -1` and `-o -` parse).
struct ScoreOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("JSONL step rows (SPEC §1); '-' reads standard input.", valueName: "INPUT"))
    var input: String

    @Option(name: [.customShort("o"), .long], parsing: .unconditional,
            help: ArgumentHelp("Output file (written atomically); '-' is standard output.", valueName: "OUTPUT"))
    var output = "-"

    @Option(name: .customLong("operator"), parsing: .unconditional,
            help: ArgumentHelp("Propagation operator; goal-distance: V = R·gamma^d, d = fewest edges to a node with reward > 0.", valueName: "OP"))
    var propagation = ScoringOptions().propagation

    @Option(parsing: .unconditional, help: ArgumentHelp("Decay / discount factor (default: \(ScoringOptions().gamma)).", valueName: "G"), transform: Parse.number)
    var gamma = ScoringOptions().gamma

    @Option(parsing: .unconditional,
            help: ArgumentHelp("Advantages (default: none for score; mean_norm for stats, graph and report).", valueName: "MODE"))
    var advantage: AdvantageChoice?

    @Option(name: .customLong("step-weight"), parsing: .unconditional,
            help: ArgumentHelp("w in advantage = w_e·episode + w·step (default: \(ScoringOptions().stepWeight)).", valueName: "W"), transform: Parse.number)
    var stepWeight = ScoringOptions().stepWeight

    @Option(name: .customLong("node-reward"), parsing: .unconditional,
            help: ArgumentHelp("How a node's reward is chosen from its mentions (SPEC §2).", valueName: "POLICY"))
    var nodeReward = ScoringOptions().nodeReward

    @Option(parsing: .unconditional, help: ArgumentHelp("PageRank damping / diffusion strength, in [0, 1) (default: \(ScoringOptions().alpha)).", valueName: "A"),
            transform: Parse.number)
    var alpha = ScoringOptions().alpha

    @Option(parsing: .unconditional, help: ArgumentHelp("Linear backend of discounted / diffusion.", valueName: "S"))
    var solver = ScoringOptions().solver

    @Option(name: .customLong("tol"), parsing: .unconditional,
            help: ArgumentHelp("Iterative stop rule: residual (discounted) or change (pagerank) (default: \(ScoringOptions().tolerance)).", valueName: "T"),
            transform: Parse.number)
    var tolerance = ScoringOptions().tolerance

    @Option(name: .customLong("max-iter"), parsing: .unconditional,
            help: ArgumentHelp("Iteration cap of iterative solvers; reaching it is an error.", valueName: "N"))
    var maxIterations = ScoringOptions().maxIterations

    @Option(parsing: .unconditional,
            help: ArgumentHelp("Merge a group's states whose difflib ratio to a cluster's first state is >= T, T in (0, 1] (SPEC 2.1; default: only byte-equal states merge).", valueName: "T"),
            transform: Parse.threshold)
    var similarity: Double?

    @Option(name: .customLong("step-group-similarity"), parsing: .unconditional,
            help: ArgumentHelp("Step groups by difflib ratio >= T to the group's first row (SPEC 5).", valueName: "T"),
            transform: Parse.threshold)
    var stepGroupSimilarity: Double?

    @Option(name: .customLong("goal-reward"), parsing: .unconditional,
            help: ArgumentHelp("R of goal-distance, finite and > 0 (default: \(ScoringOptions().goalReward)).", valueName: "R"), transform: Parse.number)
    var goalReward = ScoringOptions().goalReward

    @Option(name: .customLong("step-reward"), parsing: .unconditional,
            help: ArgumentHelp("difference: V(next) - V(s); absolute: V(next); progress: R·gamma^(d(next) - d(s) + 1) (goal-distance only) (SPEC 4).", valueName: "M"))
    var stepReward = ScoringOptions().stepReward

    @Option(name: .customLong("episode-weighting"), parsing: .unconditional,
            help: ArgumentHelp("rows: episode mean/std over active rows; trajectories: once per trajectory (SPEC 5).", valueName: "E"))
    var episodeWeighting = ScoringOptions().episodeWeighting

    @Option(name: .customLong("episode-weight"), parsing: .unconditional,
            help: ArgumentHelp("w_e in advantage = w_e·episode + w·step (default: \(ScoringOptions().episodeWeight)).", valueName: "W"), transform: Parse.number)
    var episodeWeight = ScoringOptions().episodeWeight

    @Option(name: .customLong("step-group-history"), parsing: .unconditional,
            help: ArgumentHelp("Step groups keyed on the last K+1 states of a trajectory (default: \(ScoringOptions().stepGroupHistory)).", valueName: "K"),
            transform: Parse.nonNegative)
    var stepGroupHistory = ScoringOptions().stepGroupHistory

    @Option(parsing: .unconditional,
            help: ArgumentHelp("Threads of the engine's parallel loops (default: $REWARDFLOW_THREADS, else the processor count); the output is the same bytes at any count.", valueName: "N"),
            transform: Parse.positive)
    var threads: Int?

    @Flag(help: "Print what was solved (backends, iterations, residual, stage times) to stderr.")
    var explain = false

    @Option(name: .customLong("max-line-bytes"), parsing: .unconditional,
            help: ArgumentHelp("Longest input line accepted, in bytes (256 MiB by default); a longer line (or input without newlines) is refused with exit 2.", valueName: "N"),
            transform: Parse.positive)
    var maxLineBytes = JSONLReader.defaultMaxLineBytes

    @Flag(name: [.customShort("q"), .long], help: "No progress bar (it is drawn on stderr, only when stderr is a terminal).")
    var quiet = false

    /// The library's options; `advantage` applies when `--advantage` is not given.
    func scoring(advantage defaultAdvantage: AdvantageMode? = nil) -> ScoringOptions {
        var o = ScoringOptions()
        o.propagation = propagation
        o.gamma = gamma
        o.advantage = advantage.map(\.mode) ?? defaultAdvantage
        o.stepWeight = stepWeight
        o.nodeReward = nodeReward
        o.alpha = alpha
        o.solver = solver
        o.tolerance = tolerance
        o.maxIterations = maxIterations
        o.similarity = similarity
        o.stepGroupSimilarity = stepGroupSimilarity
        o.goalReward = goalReward
        o.stepReward = stepReward
        o.episodeWeighting = episodeWeighting
        o.episodeWeight = episodeWeight
        o.stepGroupHistory = stepGroupHistory
        o.threads = threads
        return o
    }
}

/// `rewardflow score`: values, step rewards and advantages per input row, as JSONL.
struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score JSONL step rows: value, step reward and (with --advantage) advantages per row.")

    @OptionGroup var score: ScoreOptions

    func run() {
        let options = score.scoring()
        let input = score.input, output = score.output, maxLineBytes = score.maxLineBytes, threads = options.threads
        do {
            let scorer = try Scorer(options: options)
            var report = SolveExplanation()
            let progress = ScoreProgress(enabled: !score.quiet)
            let rows = try report.time("read") { () throws(RewardFlowError) in try JSONLReader.read(path: input, maxLineBytes: maxLineBytes, threads: threads, progress: progress.read) }
            progress.scoring(rows)
            let scored = try scorer.score(rows, explain: &report)
            progress.writing(rows)
            try report.time("write") { () throws(RewardFlowError) in try JSONLWriter.write(rows, scored, to: output, threads: threads, progress: progress.written) }
            progress.finish()
            if score.explain { ProgressBar.writeStderr("\(report)\n") }
        } catch {
            ProgressBar.clearLine()
            switch error {
            case .invalidInput, .invalidParameter: fail(error.description, status: 2)
            case .io, .numerical: fail(error.description, status: 1)
            }
        }
    }
}
