// `rewardflow stats`: batch and per-group statistics of a scored batch.
import ArgumentParser
import RewardFlow

/// Reads and scores INPUT with `score`'s options (advantages default to `mean_norm` here), and
/// maps library errors to exit codes (2: bad input or options, 1: I/O or numerics).
enum ScoredInput {
    /// Reads and scores `options.input`, with `mean_norm` advantages unless `--advantage` says
    /// otherwise.
    static func load(_ options: ScoreOptions) -> ScoredBatch {
        let input = options.input, scoring = options.scoring(advantage: .meanNorm)
        return run { () throws(RewardFlowError) in
            let rows = try JSONLReader.read(path: input, threads: scoring.threads)
            return try Scorer(options: scoring).scoreBatch(rows)
        }
    }

    /// `body`'s result, or exit with the error's status.
    static func run<T>(_ body: () throws(RewardFlowError) -> T) -> T {
        do {
            return try body()
        } catch {
            switch error {
            case .invalidInput, .invalidParameter: fail(error.description, status: 2)
            case .io, .numerical: fail(error.description, status: 1)
            }
        }
    }
}

/// `rewardflow stats`: batch and per-group statistics, as a table or JSON.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Batch and per-group statistics of a scored batch.",
        discussion: """
            Scores INPUT like `rewardflow score` (advantage mean_norm unless --advantage is given) \
            and prints batch and per-group statistics: rows, trajectories, success rate, distinct \
            states, nodes, edges, SCCs, unique-state ratio, step-group sizes, share of nodes that \
            reach a positive reward, quantiles of value, step reward and advantage. A table by \
            default (first N groups); --json prints every group (schema rewardflow.stats/1, see \
            README). -o FILE writes the output to FILE instead of standard output.
            """)

    @OptionGroup var score: ScoreOptions

    @Flag(help: "Print every group as JSON (schema rewardflow.stats/1) instead of a table.")
    var json = false

    @Option(name: .customLong("max-groups"), parsing: .unconditional,
            help: ArgumentHelp("Groups listed in the table.", valueName: "N"), transform: Parse.nonNegative)
    var maxGroups = 50

    func run() {
        let statistics = ScoredInput.load(score).statistics()
        let text = json ? statistics.json : statistics.table(maxGroups: maxGroups)
        let output = score.output
        ScoredInput.run { () throws(RewardFlowError) in try TextOutput.write(text, to: output) }
    }
}
