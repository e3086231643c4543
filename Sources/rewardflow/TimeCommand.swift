// `rewardflow time`: in-process stage timings (medians over repeats), for scripts/compare.py.
import Glibc
import RewardFlow

/// Times the pipeline's stages in process, so that sub-millisecond work (the paper batch) is
/// not drowned by process start-up. Prints one JSON object on stdout.
struct TimeCommand {
    static let usage = """
        usage: rewardflow time INPUT [--repeat N] [--gamma G] [--operator OP] [--advantage MODE]
               rewardflow time --synth-groups G [--keys] [--seed S] [--repeat N] [...]

          Parses INPUT (or synthesises G groups × 8 rollouts × 50 steps in memory, with 64-bit
          state keys under --keys), then times each stage N times (default 20) and prints the
          medians in seconds as JSON: parse, index, graph, solve, extract, advantages, score
          (index → advantages), render, and the values' checksum.
        """

    var input: String?
    var synthGroups = 0
    var keys = false
    var seed: UInt64 = 7
    var repeats = 20
    var options = ScoringOptions()

    init(arguments: [String]) {
        options.advantage = .meanNorm
        var i = 0
        func value(_ flag: String) -> String {
            i += 1
            guard i < arguments.count else { SynthCommand.fail("\(flag): missing value") }
            return arguments[i]
        }
        while i < arguments.count {
            let argument = arguments[i]
            switch argument {
            case "--repeat": repeats = max(1, Int(value(argument)) ?? 20)
            case "--synth-groups": synthGroups = Int(value(argument)) ?? 0
            case "--keys": keys = true
            case "--seed": seed = UInt64(value(argument)) ?? 7
            case "--gamma": options.gamma = Double(value(argument)) ?? .nan
            case "--operator":
                let text = value(argument)
                guard let op = PropagationOperator(rawValue: text) else { SynthCommand.fail("--operator: unknown operator '\(text)'") }
                options.propagation = op
            case "--advantage":
                let text = value(argument)
                options.advantage = text == "none" ? nil : AdvantageMode(rawValue: text)
            case "-h", "--help":
                print(TimeCommand.usage)
                exit(0)
            default:
                if argument.hasPrefix("-") { SynthCommand.fail("time: unknown option '\(argument)'\n\(TimeCommand.usage)") }
                input = argument
            }
            i += 1
        }
    }

    func run() {
        do {
            try measure()
        } catch {
            SynthCommand.fail(error.description)
        }
    }

    func measure() throws(RewardFlowError) {
        var timings: [String: [Double]] = [:]
        func time<T>(_ stage: String, _ body: () throws(RewardFlowError) -> T) throws(RewardFlowError) -> T {
            let start = ProgressBar.now()
            let result = try body()
            timings[stage, default: []].append(ProgressBar.now() - start)
            return result
        }
        var rows: StepRows
        if let input {
            rows = try JSONLReader.read(path: input)
            if input != "-" {
                for _ in 0..<min(repeats, 5) { _ = try time("parse") { () throws(RewardFlowError) in try JSONLReader.read(path: input) } }
            }
        } else {
            var o = SynthesisOptions()
            o.groups = max(1, synthGroups)
            o.seed = seed
            rows = try RolloutSynthesizer(o).rows(identity: keys ? .key : .text)
        }
        let scorer = try Scorer(options: options)
        var scored = try scorer.score(rows)
        for _ in 0..<repeats {
            scored = try time("score") { () throws(RewardFlowError) in try scorer.score(rows) }
            if options.propagation == .maxDecay {
                let index = try time("index") { () throws(RewardFlowError) in try TrajectoryIndex(rows) }
                let graph = try time("graph") { GraphBuilder(nodeReward: options.nodeReward).build(rows, index: index) }
                let values = try time("solve") { () throws(RewardFlowError) in try MaxDecay(gamma: options.gamma).values(on: graph) }
                let rewards = try time("extract") { RewardExtractor.extract(rows, index: index, graph: graph, nodeValues: values) }
                if let mode = options.advantage {
                    _ = try time("advantages") { () throws(RewardFlowError) in
                        try AdvantageEstimator(
                            mode: mode, stepWeight: options.stepWeight, episodeWeight: options.episodeWeight,
                            episodeWeighting: options.episodeWeighting)
                            .advantages(rows, index: index, stepReward: rewards.stepReward)
                    }
                }
            }
        }
        for _ in 0..<min(repeats, 5) { _ = try time("render") { JSONLWriter.render(rows, scored) } }
        var checksum = 0.0
        for v in scored.rewards.value { checksum += v }
        var fields = ["\"rows\": \(rows.count)", "\"threads\": \(Execution.threadCount)", "\"repeats\": \(repeats)"]
        for stage in ["parse", "index", "graph", "solve", "extract", "advantages", "score", "render"] {
            guard var samples = timings[stage], !samples.isEmpty else { continue }
            samples.sort()
            fields.append("\"\(stage)\": \(samples[samples.count / 2])")
            fields.append("\"\(stage)_min\": \(samples[0])")
        }
        fields.append("\"value_sum\": \(checksum)")
        print("{" + fields.joined(separator: ", ") + "}")
    }
}
