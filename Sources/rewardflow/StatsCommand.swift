// `rewardflow stats`: batch and per-group statistics of a scored batch.
import Glibc
import RewardFlow

/// Reads and scores INPUT with `score`'s options (advantages default to `mean_norm` here), and
/// maps library errors to exit codes (2: bad input or options, 1: I/O or numerics).
enum ScoredInput {
    /// `score`'s options, with `mean_norm` advantages unless `--advantage` says otherwise.
    static var defaults: ScoringOptions {
        var o = ScoringOptions()
        o.advantage = .meanNorm
        return o
    }

    static func load(_ command: ScoreCommand, usage: String) -> ScoredBatch {
        guard let input = command.input else { fail("missing INPUT\n\(usage)", status: 2) }
        return run {  () throws(RewardFlowError) in
            let rows = try JSONLReader.read(path: input)
            return try Scorer(options: command.options).scoreBatch(rows)
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

    /// Exits with usage when `-h`/`--help` is among `arguments`.
    static func help(_ arguments: [String], _ usage: String) {
        if arguments.contains("-h") || arguments.contains("--help") {
            print(usage)
            exit(0)
        }
    }
}

struct StatsCommand {
    static let usage = """
        usage: rewardflow stats INPUT [score options] [--json] [--max-groups N]

          Scores INPUT like `rewardflow score` (advantage mean_norm unless --advantage is given)
          and prints batch and per-group statistics: rows, trajectories, success rate, distinct
          states, nodes, edges, SCCs, unique-state ratio, step-group sizes, share of nodes that
          reach a positive reward, quantiles of value, step reward and advantage. A table by
          default (first N groups, default 50); --json prints every group (schema rewardflow.stats/1,
          see README). -o FILE writes the output to FILE instead of standard output.
        """

    let score: ScoreCommand
    var json = false
    var maxGroups = 50

    init(arguments: [String]) {
        ScoredInput.help(arguments, Self.usage)
        var json = false, maxGroups = 50
        score = ScoreCommand(arguments: arguments, options: ScoredInput.defaults) { flag, value in
            switch flag {
            case "--json": json = true
            case "--max-groups":
                let text = value()
                guard let n = Int(text), n >= 0 else { fail("--max-groups: expected a non-negative integer, got '\(text)'", status: 2) }
                maxGroups = n
            default: return false
            }
            return true
        }
        self.json = json
        self.maxGroups = maxGroups
    }

    func run() {
        let statistics = ScoredInput.load(score, usage: Self.usage).statistics()
        let text = json ? statistics.json : statistics.table(maxGroups: maxGroups)
        ScoredInput.run { () throws(RewardFlowError) in try TextOutput.write(text, to: score.output) }
    }
}
