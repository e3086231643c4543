// Benchmarks of the RewardFlow engine (ordo-one/benchmark).
//
// Run from the repository root:
//     cd Benchmarks && swift package --allow-writing-to-package-directory benchmark
// One suite:   swift package benchmark --filter 'max-decay.*'
// Threads:     REWARDFLOW_THREADS=1 swift package benchmark ...
//
// Only public API: stage suites go through `ScoringStages`. Batches come from the seeded
// `RolloutSynthesizer` of the RewardFlowSynthesis product (the generator behind `rewardflow synth`), in memory, at three sizes: the paper's batch (16 groups × 8 rollouts ×
// 50 steps), 128 groups, and about 1M rows (3800 groups).
import Benchmark
import RewardFlow
import RewardFlowSynthesis

/// One benchmark size: its batch with text states, with 64-bit keys, its JSONL bytes, and the
/// text batch prepared for stage-by-stage runs (order, state graph, a max-decay solve).
final class Workload: @unchecked Sendable {
    let name: String
    let options: SynthesisOptions
    private(set) lazy var textRows: StepRows = try! RolloutSynthesizer(options).rows(identity: .text)
    private(set) lazy var keyRows: StepRows = try! RolloutSynthesizer(options).rows(identity: .key)
    private(set) lazy var jsonl: [UInt8] = try! RolloutSynthesizer(options).jsonl()
    private(set) lazy var stages: ScoringStages = try! ScoringStages(rows: textRows, options: scoringOptions(.maxDecay))

    init(_ name: String, groups: Int, maxSteps: Int = 50, perturb: Double = 0, seed: UInt64 = 7) {
        self.name = name
        var o = SynthesisOptions()
        o.groups = groups
        o.rollouts = 8
        o.maxSteps = maxSteps
        o.perturbFraction = perturb
        o.seed = seed
        options = o
    }

    /// Iterations that fit: many for small batches, a handful for the 1M-row one.
    var configuration: Benchmark.Configuration {
        let large = options.groups >= 1000
        return .init(
            metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident],
            timeUnits: large ? .milliseconds : .microseconds,
            warmupIterations: large ? 1 : 3,
            maxDuration: .seconds(large ? 20 : 3),
            maxIterations: large ? 15 : 2000)
    }
}

let workloads = [
    Workload("paper 16x8x50", groups: 16),
    Workload("128 groups", groups: 128),
    Workload("1M rows", groups: 3800),
]

/// Batches for similarity merging (SPEC §2.1): 30% of the observations perturbed, as README's
/// similarity figures (`synth --max-steps 30 --perturb 0.3 --seed 1`), at 128 groups and ~1M rows.
let similarityWorkloads = [
    Workload("128 groups, 30% perturbed", groups: 128, maxSteps: 30, perturb: 0.3, seed: 1),
    Workload("1M rows, 30% perturbed", groups: 5400, maxSteps: 30, perturb: 0.3, seed: 1),
]

/// Scoring options of the benchmarks: γ = 0.9, `mean_norm` advantages.
func scoringOptions(_ op: PropagationOperator) -> ScoringOptions {
    var o = ScoringOptions()
    o.propagation = op
    o.gamma = 0.9
    o.advantage = .meanNorm
    return o
}

let benchmarks: @Sendable () -> Void = {
    print("RewardFlow benchmarks: \(ScoringStages.environment)")

    for w in workloads {
        let config = w.configuration

        Benchmark("parse JSONL · \(w.name)", configuration: config) { benchmark in
            var bytes = w.jsonl
            benchmark.startMeasurement()
            blackHole(try! JSONLReader.parse(bytes: &bytes))
            benchmark.stopMeasurement()
        } setup: {
            _ = w.jsonl
        }

        Benchmark("graph assembly · \(w.name)", configuration: config) { _ in
            blackHole(try! w.stages.assembleGraph())
        } setup: {
            _ = w.stages
        }

        // The operators' solves on the prepared state graph (trajectory-return: on the rows).
        let solves: [(String, ScoringOptions)] = [
            ("max-decay", scoringOptions(.maxDecay)),
            ("discounted", scoringOptions(.discounted)),
            ("pagerank", scoringOptions(.pagerank)),
            ("diffusion", { var o = scoringOptions(.diffusion); o.alpha = 0.5; return o }()),
            ("goal-distance", { var o = scoringOptions(.goalDistance); o.gamma = 0.1; return o }()),
            ("trajectory-return", scoringOptions(.trajectoryReturn)),
        ]
        for (name, options) in solves {
            Benchmark("\(name) · \(w.name)", configuration: config) { benchmark in
                let solve = try! w.stages.solver(options)
                benchmark.startMeasurement()
                blackHole(try! solve())
                benchmark.stopMeasurement()
            } setup: {
                _ = w.stages
            }
        }

        Benchmark("extraction + advantages · \(w.name)", configuration: config) { _ in
            blackHole(try! w.stages.extractAndEstimate())
        } setup: {
            _ = w.stages
        }

        // Target 1: in-memory rows with 64-bit state keys → values, step rewards, advantages.
        Benchmark("score max-decay, 64-bit keys · \(w.name)", configuration: config) { _ in
            blackHole(try! Scorer(options: scoringOptions(.maxDecay)).score(w.keyRows))
        } setup: {
            _ = w.keyRows
        }

        // GraphGPO-style credit: goal distances, progress step rewards, per-trajectory episode
        // statistics, step groups keyed on the last 3 states.
        Benchmark("score goal-distance progress, trajectories, history 2 · \(w.name)", configuration: config) { _ in
            var o = scoringOptions(.goalDistance)
            o.gamma = 0.1
            o.stepReward = .progress
            o.episodeWeighting = .trajectories
            o.episodeWeight = 0.5
            o.stepGroupHistory = 2
            blackHole(try! Scorer(options: o).score(w.textRows))
        } setup: {
            _ = w.textRows
        }

        Benchmark("end to end JSONL → JSONL · \(w.name)", configuration: config) { _ in
            var bytes = w.jsonl
            let rows = try! JSONLReader.parse(bytes: &bytes)
            let scored = try! Scorer(options: scoringOptions(.maxDecay)).score(rows)
            blackHole(JSONLWriter.render(rows, scored))
        } setup: {
            _ = w.jsonl
        }
    }

    // Similarity merging at T = 0.95 (difflib's greedy clusters), then max-decay and advantages.
    for w in similarityWorkloads {
        Benchmark("score with similarity 0.95 · \(w.name)", configuration: w.configuration) { _ in
            var o = scoringOptions(.maxDecay)
            o.similarity = 0.95
            blackHole(try! Scorer(options: o).score(w.textRows))
        } setup: {
            _ = w.textRows
        }
    }
}
