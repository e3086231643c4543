// rewardflow: command-line front end of the RewardFlow engine.
import Glibc
import RewardFlow

let usage = """
    usage: rewardflow score INPUT [-o OUTPUT] [--gamma G] [--operator OP]
                            [--advantage none|mean_norm|mean_std_norm] [--step-weight W]
                            [--node-reward firstSeen|max|mean] [--alpha A]
                            [--solver auto|direct|iterative|dense] [--tol T] [--max-iter N] [--explain]
                            [--similarity T] [--step-group-similarity T] [--max-line-bytes N] [--quiet]
                            [--goal-reward R] [--step-reward difference|absolute|progress]
                            [--episode-weighting rows|trajectories] [--episode-weight W]
                            [--step-group-history K]
           rewardflow synth [--groups G] [--rollouts N] [--max-steps T] [--seed S] [-o OUTPUT] [...]
           rewardflow time INPUT | --synth-groups G [--keys] [--repeat N]   (see each --help)
           rewardflow stats INPUT [score options] [--json]
           rewardflow graph INPUT --group G [--trajectory T] [-o FILE.dot|.svg|.png] [score options]
           rewardflow report INPUT -o REPORT.html [score options] [--compare OP] [--max-graphs N]

      INPUT          JSONL step rows (SPEC §1); '-' reads standard input
      -o OUTPUT      output JSONL (written atomically); default: standard output
      --operator OP  max-decay (default) | trajectory-return | discounted | pagerank | diffusion |
                     goal-distance (V = R·gamma^d, d = fewest edges to a node with reward > 0)
      --goal-reward R  R of goal-distance, finite and > 0 (default 10)
      --step-reward M  difference (default): V(next) - V(s); absolute: V(next);
                     progress: R·gamma^(d(next) - d(s) + 1) (goal-distance only) (SPEC 4)
      --episode-weighting E
                     rows (default): episode mean/std over active rows; trajectories: once per
                     trajectory (SPEC 5)
      --episode-weight W
                     w_e in advantage = w_e·episode + w·step (default 1)
      --step-group-history K
                     step groups keyed on the last K+1 states of a trajectory (default 0)
      --gamma G      decay / discount factor (default 0.9)
      --alpha A      pagerank damping / diffusion strength, in [0, 1) (default 0.85)
      --solver S     linear backend of discounted / diffusion (default auto)
      --tol T        iterative stop rule: residual (discounted) or change (pagerank) (default 1e-12)
      --max-iter N   iteration cap of iterative solvers; reaching it is an error (default 10000)
      --similarity T merge a group's states whose difflib ratio to a cluster's first state is >= T,
                     T in (0, 1] (SPEC 2.1; default: only byte-equal states merge)
      --step-group-similarity T
                     step groups by difflib ratio >= T to the group's first row (SPEC 5)
      --explain      print what was solved (backends, iterations, residual, stage times) to stderr
      --max-line-bytes N  longest input line accepted, in bytes (default 268435456 = 256 MiB);
                     a longer line (or input without newlines) is refused with exit 2
      --quiet        no progress bar (it is drawn on stderr, only when stderr is a terminal)

    Exit status: 0 on success, 2 on bad input or options (message on stderr), 1 on I/O or numerical
    errors (no convergence, not positive definite, a result beyond the double range).
    """

/// Prints `error: MESSAGE` and exits with `status`.
func fail(_ message: String, status: Int32) -> Never {
    var line = "error: \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(status)
}

/// Options of `rewardflow score`, parsed by hand (the CLI has no dependencies).
struct ScoreCommand {
    var input: String?
    var output = "-"
    var options = ScoringOptions()
    var explain = false
    var quiet = false
    var maxLineBytes = JSONLReader.defaultMaxLineBytes

    /// Parses `arguments`; `extra` may claim a flag the other commands add (`--json`, …),
    /// reading its value through the closure it is given.
    init(arguments: [String], options initial: ScoringOptions = ScoringOptions(),
         extra: (_ flag: String, _ value: () -> String) -> Bool = { _, _ in false }) {
        options = initial
        var i = 0
        func value(_ flag: String) -> String {
            i += 1
            guard i < arguments.count else { fail("\(flag): missing value", status: 2) }
            return arguments[i]
        }
        func number(_ flag: String) -> Double {
            let text = value(flag)
            guard let x = Double(text), x.isFinite else { fail("\(flag): expected a number, got '\(text)'", status: 2) }
            return x
        }
        func threshold(_ flag: String) -> Double {
            let text = value(flag)
            guard let x = Double(text), x > 0, x <= 1 else {
                fail("\(flag): expected a similarity threshold in (0, 1], got '\(text)'", status: 2)
            }
            return x
        }
        func choice<T: RawRepresentable & CaseIterable>(_ flag: String, _: T.Type) -> T where T.RawValue == String {
            let text = value(flag)
            guard let x = T(rawValue: text) else {
                fail("\(flag): unknown value '\(text)' (choose \(T.allCases.map(\.rawValue).joined(separator: ", ")))", status: 2)
            }
            return x
        }
        while i < arguments.count {
            let argument = arguments[i]
            switch argument {
            case "-o", "--output": output = value(argument)
            case "--gamma": options.gamma = number(argument)
            case "--step-weight": options.stepWeight = number(argument)
            case "--alpha": options.alpha = number(argument)
            case "--tol": options.tolerance = number(argument)
            case "--max-iter":
                let text = value(argument)
                guard let n = Int(text) else { fail("\(argument): expected an integer, got '\(text)'", status: 2) }
                options.maxIterations = n
            case "--solver":
                let text = value(argument)
                guard let solver = LinearSolver(rawValue: text) else {
                    fail("--solver: unknown solver '\(text)' (choose \(LinearSolver.allCases.map(\.rawValue).joined(separator: ", ")))", status: 2)
                }
                options.solver = solver
            case "--goal-reward": options.goalReward = number(argument)
            case "--episode-weight": options.episodeWeight = number(argument)
            case "--step-reward": options.stepReward = choice(argument, StepRewardMode.self)
            case "--episode-weighting": options.episodeWeighting = choice(argument, EpisodeWeighting.self)
            case "--step-group-history":
                let text = value(argument)
                guard let k = Int(text), k >= 0 else { fail("\(argument): expected an integer >= 0, got '\(text)'", status: 2) }
                options.stepGroupHistory = k
            case "--similarity": options.similarity = threshold(argument)
            case "--step-group-similarity": options.stepGroupSimilarity = threshold(argument)
            case "--max-line-bytes":
                let text = value(argument)
                guard let n = Int(text), n > 0 else { fail("\(argument): expected a positive integer, got '\(text)'", status: 2) }
                maxLineBytes = n
            case "--explain": explain = true
            case "-q", "--quiet": quiet = true
            case "--operator":
                let text = value(argument)
                guard let op = PropagationOperator(rawValue: text) else {
                    fail("--operator: unknown operator '\(text)' (choose \(PropagationOperator.allCases.map(\.rawValue).joined(separator: ", ")))", status: 2)
                }
                options.propagation = op
            case "--advantage":
                let text = value(argument)
                if text == "none" {
                    options.advantage = nil
                } else if let mode = AdvantageMode(rawValue: text) {
                    options.advantage = mode
                } else {
                    fail("--advantage: unknown mode '\(text)' (choose none, mean_norm, mean_std_norm)", status: 2)
                }
            case "--node-reward":
                let text = value(argument)
                guard let policy = NodeRewardPolicy(rawValue: text) else {
                    fail("--node-reward: unknown policy '\(text)' (choose firstSeen, max, mean)", status: 2)
                }
                options.nodeReward = policy
            case "-h", "--help":
                print(usage)
                exit(0)
            default:
                if extra(argument, { value(argument) }) { break }
                if argument.hasPrefix("-") && argument != "-" { fail("unknown option '\(argument)'\n\(usage)", status: 2) }
                guard input == nil else { fail("more than one INPUT given ('\(input!)', '\(argument)')", status: 2) }
                input = argument
            }
            i += 1
        }
    }

    func run() {
        guard let input else { fail("missing INPUT\n\(usage)", status: 2) }
        do {
            let scorer = try Scorer(options: options)
            var report = SolveExplanation()
            let progress = ScoreProgress(enabled: !quiet)
            let rows = try report.time("read") { () throws(RewardFlowError) in try JSONLReader.read(path: input, maxLineBytes: maxLineBytes, progress: progress.read) }
            progress.scoring(rows)
            let scored = try scorer.score(rows, explain: &report)
            progress.writing(rows)
            try report.time("write") { () throws(RewardFlowError) in try JSONLWriter.write(rows, scored, to: output, progress: progress.written) }
            progress.finish()
            if explain {
                var text = "\(report)\n"
                text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
            }
        } catch {
            ProgressBar.clearLine()
            switch error {
            case .invalidInput, .invalidParameter: fail(error.description, status: 2)
            case .io, .numerical: fail(error.description, status: 1)
            }
        }
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "score": ScoreCommand(arguments: Array(arguments.dropFirst())).run()
case "synth": SynthCommand(arguments: Array(arguments.dropFirst())).run()
case "time": TimeCommand(arguments: Array(arguments.dropFirst())).run()
case "stats": StatsCommand(arguments: Array(arguments.dropFirst())).run()
case "graph": GraphCommand(arguments: Array(arguments.dropFirst())).run()
case "report": ReportCommand(arguments: Array(arguments.dropFirst())).run()
case "-h", "--help", nil: print(usage)
default: fail("unknown command '\(arguments[0])'\n\(usage)", status: 2)
}
