// `rewardflow time`: in-process stage timings (medians over repeats), for scripts/compare.py.
import ArgumentParser
import RewardFlow
import RewardFlowSynthesis

/// `rewardflow time`: times the pipeline's stages in process, so that sub-millisecond work (the
/// paper batch) is not drowned by process start-up. Prints one JSON object on stdout.
struct TimeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "time",
        abstract: "Time the pipeline's stages in process (medians over repeats, as JSON).",
        discussion: """
            Parses INPUT (or synthesises G groups × 8 rollouts × 50 steps in memory, with 64-bit \
            state keys under --keys), then times each stage N times and prints the medians in \
            seconds as JSON: parse, index, graph, solve, extract, advantages, score (index → \
            advantages), render, and the values' checksum.
            """)

    @Argument(help: ArgumentHelp("JSONL step rows (SPEC §1); '-' reads standard input. Without it, --synth-groups.", valueName: "INPUT"))
    var input: String?

    @Option(name: .customLong("synth-groups"), parsing: .unconditional,
            help: ArgumentHelp("Synthesise G groups in memory instead of reading INPUT (at least 1).", valueName: "G"))
    var synthGroups = 0

    @Flag(help: "Synthesised rows carry 64-bit state keys instead of texts.")
    var keys = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Seed of the synthesised batch.", valueName: "S"))
    var seed: UInt64 = 7

    @Option(name: .customLong("repeat"), parsing: .unconditional, help: ArgumentHelp("Timed runs per stage (at least 1).", valueName: "N"))
    var repeats = 20

    @Option(parsing: .unconditional, help: ArgumentHelp("Decay / discount factor.", valueName: "G"))
    var gamma = ScoringOptions().gamma

    @Option(name: .customLong("operator"), parsing: .unconditional, help: ArgumentHelp("Propagation operator.", valueName: "OP"))
    var propagation = ScoringOptions().propagation

    @Option(parsing: .unconditional, help: ArgumentHelp("Advantages.", valueName: "MODE"))
    var advantage = AdvantageChoice.meanNorm

    @Option(parsing: .unconditional,
            help: ArgumentHelp("Threads of the engine's parallel loops (default: $REWARDFLOW_THREADS, else the processor count); the output is the same bytes at any count.", valueName: "N"),
            transform: Parse.positive)
    var threads: Int?

    /// The library's options.
    var options: ScoringOptions {
        var o = ScoringOptions()
        o.gamma = gamma
        o.propagation = propagation
        o.advantage = advantage.mode
        o.threads = threads
        return o
    }

    func run() {
        do {
            try measure()
        } catch {
            fail(error.description, status: 2)
        }
    }

    func measure() throws(RewardFlowError) {
        let options = options, repeats = max(1, repeats), threads = threads ?? Execution.threadCount
        var timings: [String: [Double]] = [:]
        func time<T>(_ stage: String, _ body: () throws(RewardFlowError) -> T) throws(RewardFlowError) -> T {
            let start = ProgressBar.now()
            let result = try body()
            timings[stage, default: []].append(ProgressBar.now() - start)
            return result
        }
        var rows: StepRows
        if let input {
            rows = try JSONLReader.read(path: input, threads: threads)
            if input != "-" {
                for _ in 0..<min(repeats, 5) { _ = try time("parse") { () throws(RewardFlowError) in try JSONLReader.read(path: input, threads: threads) } }
            }
        } else {
            var o = SynthesisOptions()
            o.groups = max(1, synthGroups)
            o.seed = seed
            o.threads = threads
            rows = try RolloutSynthesizer(o).rows(identity: keys ? .key : .text)
        }
        let scorer = try Scorer(options: options)
        var scored = try scorer.score(rows)
        for _ in 0..<repeats {
            scored = try time("score") { () throws(RewardFlowError) in try scorer.score(rows) }
            if options.propagation == .maxDecay {
                let index = try time("index") { () throws(RewardFlowError) in try TrajectoryIndex(rows, threads: threads) }
                let graph = try time("graph") { GraphBuilder(nodeReward: options.nodeReward, threads: threads).build(rows, index: index) }
                let values = try time("solve") { () throws(RewardFlowError) in try MaxDecay(gamma: options.gamma, threads: threads).values(on: graph) }
                let rewards = try time("extract") { RewardExtractor.extract(rows, index: index, graph: graph, nodeValues: values, threads: threads) }
                if let mode = options.advantage {
                    _ = try time("advantages") { () throws(RewardFlowError) in
                        try AdvantageEstimator(
                            mode: mode, stepWeight: options.stepWeight, episodeWeight: options.episodeWeight,
                            episodeWeighting: options.episodeWeighting)
                            .advantages(rows, index: index, stepReward: rewards.stepReward, threads: threads)
                    }
                }
            }
        }
        for _ in 0..<min(repeats, 5) { _ = try time("render") { JSONLWriter.render(rows, scored, threads: threads) } }
        var checksum = 0.0
        for v in scored.rewards.value { checksum += v }
        var fields = ["\"rows\": \(rows.count)", "\"threads\": \(threads)", "\"repeats\": \(repeats)"]
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
