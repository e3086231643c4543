// rewardflow: command-line front end of the RewardFlow engine, on swift-argument-parser.
import ArgumentParser
import Glibc
import RewardFlow
import RewardFlowSynthesis

/// `rewardflow`: the root command; each stage of work is a subcommand.
///
/// Exit status: 0 on success; 2 on bad options (argument-parser's usage errors, mapped from
/// its `EX_USAGE`) and on bad input; 1 on I/O or numerical errors. `rewardflow` alone prints the
/// help on stderr and exits 2.
@main
struct RewardFlowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewardflow",
        abstract: "Graph-based dense rewards for agentic RL rollouts (JSONL step rows in, rewards out).",
        discussion: """
            INPUT is JSONL step rows (SPEC §1); '-' reads standard input. Outputs are written \
            atomically (a temporary file linked into place).

            Exit status: 0 on success, 2 on bad input or options (message on stderr), 1 on I/O \
            or numerical errors (no convergence, not positive definite, a result beyond the \
            double range).
            """,
        subcommands: [
            ScoreCommand.self, SynthCommand.self, TimeCommand.self, StatsCommand.self,
            GraphCommand.self, ReportCommand.self,
        ])

    /// Errors print as `error: MESSAGE`, like the engine's own errors.
    static var _errorPrefix: String { "error: " }

    /// Parses and runs a subcommand; usage errors exit 2 (not argument-parser's 64), and no
    /// arguments at all print the help on stderr and exit 2.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard !arguments.isEmpty else {
            ProgressBar.writeStderr(helpMessage() + "\n")
            Glibc.exit(2)
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                ProgressBar.writeStderr(fullMessage(for: error) + "\n")
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// Prints `error: MESSAGE` on stderr and exits with `status` (input and engine errors).
func fail(_ message: String, status: Int32) -> Never {
    ProgressBar.writeStderr("error: \(message)\n")
    Glibc.exit(status)
}

/// Value parsers for options whose domain is narrower than their type. A refused value is a
/// usage error: `error: The value 'x' is invalid for '--gamma <G>': expected a number`.
enum Parse {
    /// A finite double.
    @Sendable static func number(_ text: String) throws -> Double {
        guard let x = Double(text), x.isFinite else { throw ValidationError("expected a number") }
        return x
    }

    /// A similarity threshold in (0, 1].
    @Sendable static func threshold(_ text: String) throws -> Double {
        guard let x = Double(text), x > 0, x <= 1 else { throw ValidationError("expected a similarity threshold in (0, 1]") }
        return x
    }

    /// An integer >= 0.
    @Sendable static func nonNegative(_ text: String) throws -> Int {
        guard let n = Int(text), n >= 0 else { throw ValidationError("expected an integer >= 0") }
        return n
    }

    /// An integer > 0.
    @Sendable static func positive(_ text: String) throws -> Int {
        guard let n = Int(text), n > 0 else { throw ValidationError("expected a positive integer") }
        return n
    }
}

/// `--advantage`: the library's modes plus `none` (no advantages).
enum AdvantageChoice: String, CaseIterable, ExpressibleByArgument {
    /// No advantage columns.
    case none
    /// `mean_norm`.
    case meanNorm = "mean_norm"
    /// `mean_std_norm`.
    case meanStdNorm = "mean_std_norm"

    /// The library's mode (`nil` for `none`).
    var mode: AdvantageMode? {
        switch self {
        case .none: return nil
        case .meanNorm: return .meanNorm
        case .meanStdNorm: return .meanStdNorm
        }
    }
}

extension PropagationOperator: ExpressibleByArgument {}
extension LinearSolver: ExpressibleByArgument {}
extension NodeRewardPolicy: ExpressibleByArgument {}
extension StepRewardMode: ExpressibleByArgument {}
extension EpisodeWeighting: ExpressibleByArgument {}
extension InvalidObservation: ExpressibleByArgument {}
