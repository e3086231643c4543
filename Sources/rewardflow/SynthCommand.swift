// `rewardflow synth`: seeded synthetic rollout batches (JSONL step rows).
import Glibc
import RewardFlow

/// Options of `rewardflow synth`, parsed by hand like `score`.
struct SynthCommand {
    static let usage = """
        usage: rewardflow synth [--groups G] [--rollouts N] [--max-steps T] [--seed S] [-o OUTPUT]
                                [--states K] [--branching B] [--depth D] [--goals n] [--dead-frac f]
                                [--p-forward w] [--p-lateral w] [--p-back w] [--p-skip w]
                                [--beta x] [--forward-bias x] [--invalid-prob p]
                                [--invalid-obs same|nothing] [--neg-penalty P] [--goal-reward R]
                                [--goal-spread s] [--won-obs] [--short-obs] [--mark-noop]
                                [--perturb f] [--quiet]

          Writes G groups × N rollouts of at most T observations as JSONL step rows (SPEC §1):
          rollouts of a group share one hidden environment and one policy, so they share many
          states; back moves make cycles, invalid actions self-loops (or "Nothing happens."
          with --invalid-obs nothing), goals end a walk with a terminal reward (then one
          inactive row holds the goal). --perturb f perturbs a seeded fraction f of the rows'
          observations (a counter, two swapped words, a dropped word, an accent) for similarity
          merging. Same options and seed: byte-identical output.
          Defaults: 16 × 8 × 50, K=200 states, B=4, seed 0; output to standard output.
          A summary goes to stderr.
        """

    var options = SynthesisOptions()
    var output = "-"
    var quiet = false

    init(arguments: [String]) {
        var i = 0
        func value(_ flag: String) -> String {
            i += 1
            guard i < arguments.count else { SynthCommand.fail("\(flag): missing value") }
            return arguments[i]
        }
        func integer(_ flag: String) -> Int {
            let text = value(flag)
            guard let x = Int(text) else { SynthCommand.fail("\(flag): expected an integer, got '\(text)'") }
            return x
        }
        func number(_ flag: String) -> Double {
            let text = value(flag)
            guard let x = Double(text), x.isFinite else { SynthCommand.fail("\(flag): expected a number, got '\(text)'") }
            return x
        }
        while i < arguments.count {
            let argument = arguments[i]
            switch argument {
            case "--groups", "-G": options.groups = integer(argument)
            case "--rollouts", "-N": options.rollouts = integer(argument)
            case "--max-steps", "-T": options.maxSteps = integer(argument)
            case "--states", "-K": options.states = integer(argument)
            case "--branching", "-b": options.branching = integer(argument)
            case "--depth": options.depth = integer(argument)
            case "--goals": options.goals = integer(argument)
            case "--dead-frac": options.deadFraction = number(argument)
            case "--p-forward": options.moveWeights.forward = number(argument)
            case "--p-lateral": options.moveWeights.lateral = number(argument)
            case "--p-back": options.moveWeights.back = number(argument)
            case "--p-skip": options.moveWeights.skip = number(argument)
            case "--beta": options.beta = number(argument)
            case "--forward-bias": options.forwardBias = number(argument)
            case "--invalid-prob": options.invalidProbability = number(argument)
            case "--invalid-obs":
                let text = value(argument)
                guard let kind = InvalidObservation(rawValue: text) else {
                    SynthCommand.fail("--invalid-obs: expected same or nothing, got '\(text)'")
                }
                options.invalidObservation = kind
            case "--neg-penalty": options.negativePenalty = number(argument)
            case "--goal-reward": options.goalReward = number(argument)
            case "--goal-spread": options.goalSpread = number(argument)
            case "--won-obs": options.wonObservation = true
            case "--short-obs": options.shortObservations = true
            case "--mark-noop": options.markNoop = true
            case "--perturb": options.perturbFraction = number(argument)
            case "--seed":
                let text = value(argument)
                guard let seed = UInt64(text) else { SynthCommand.fail("--seed: expected an unsigned integer, got '\(text)'") }
                options.seed = seed
            case "-o", "--output": output = value(argument)
            case "-q", "--quiet": quiet = true
            case "-h", "--help":
                print(SynthCommand.usage)
                exit(0)
            default:
                SynthCommand.fail("synth: unknown option '\(argument)'\n\(SynthCommand.usage)")
            }
            i += 1
        }
    }

    func run() {
        let synthesizer: RolloutSynthesizer
        do {
            synthesizer = try RolloutSynthesizer(options)
        } catch {
            SynthCommand.fail(error.description)
        }
        let file: OutputFile?
        do { file = output == "-" || OutputFile.isDevice(output) ? nil : try OutputFile(path: output) } catch { SynthCommand.fail(error.description, status: 1) }
        let fd: Int32 = file?.fd ?? (output == "-" ? 1 : open(output, O_WRONLY))
        guard fd >= 0 else { SynthCommand.fail("\(output): \(String(cString: strerror(errno)))", status: 1) }
        let expected = options.groups * options.rollouts * options.maxSteps
        let progress = ProgressBar(label: "synth", total: expected, unit: "rows", enabled: !quiet)
        let started = ProgressBar.now()
        do {
            let summary = try synthesizer.writeJSONL(to: fd, path: output) { progress.update($0) }
            progress.finish()
            if let file { try file.commit() } else if fd != 1, close(fd) != 0 { SynthCommand.fail("\(output): \(String(cString: strerror(errno)))", status: 1) }
            let seconds = ProgressBar.now() - started
            let rate = Double(summary.successes) / Double(max(1, summary.trajectories))
            let line = #"{"records": \#(summary.rows), "trajs": \#(summary.trajectories), "success": \#(summary.successes), "unique_obs": \#(summary.uniqueObservations), "seconds": \#((seconds * 1000).rounded() / 1000), "success_rate": \#((rate * 10000).rounded() / 10000), "mean_len": \#((Double(summary.rows) / Double(max(1, summary.trajectories)) * 100).rounded() / 100)}"#
            if !quiet { ProgressBar.writeStderr(line + "\n") }
        } catch {
            progress.finish()
            SynthCommand.fail(error.description, status: 1)
        }
    }

    /// Prints `error: MESSAGE` on stderr and exits.
    static func fail(_ message: String, status: Int32 = 2) -> Never {
        ProgressBar.writeStderr("error: \(message)\n")
        exit(status)
    }
}
