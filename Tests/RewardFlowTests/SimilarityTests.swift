import Foundation
import Testing
@testable import RewardFlow
import RewardFlowSynthesis

/// Similarity merging (SPEC §2.1, §5) against a plain restatement of SPEC's greedy rule: every
/// occurrence compared with every representative by the full `ratio` (no bounds, no memo), the
/// clusters written back as state names, then scored with exact merging.
@Suite struct SimilarityTests {
    /// SPEC's greedy first match over `texts` (in the given order): the cluster of each.
    static func greedy(_ texts: [String], _ t: Double) -> [Int] {
        var reps: [String] = []
        var out: [Int] = []
        for x in texts {
            if let c = reps.firstIndex(where: { SequenceMatcher.ratio(x, $0) >= t }) {
                out.append(c)
            } else {
                reps.append(x)
                out.append(reps.count - 1)
            }
        }
        return out
    }

    struct Row { var group: String; var trajectory: String; var step: Int; var state: String; var reward: Double; var active: Bool }

    /// A batch of perturbed observations: groups of random walks over a few base texts.
    static func batch(seed: UInt64) -> [Row] {
        var rng = SeededRandom(seed)
        var rows: [Row] = []
        for g in 0..<(3 + rng.below(3)) {
            let bases = (0..<(3 + rng.below(5))).map { _ in
                PairGenerator.sentence(&rng, scalars: rng.below(2) == 0 ? 30 + rng.below(60) : 200 + rng.below(60))
            }
            for t in 0..<(2 + rng.below(5)) {
                let length = 1 + rng.below(8)
                let stopped = rng.below(3) == 0
                for j in 0..<length {
                    let base = bases[rng.below(bases.count)]
                    let text = rng.below(5) < 2 ? PairGenerator.perturb(base, &rng, edits: 1 + rng.below(3)).joined(separator: " ")
                        : base.joined(separator: " ")
                    let last = j == length - 1
                    rows.append(Row(group: "g\(g)", trajectory: "t\(t)", step: j, state: text,
                                    reward: last ? 0 : (rng.below(4) == 0 ? 10 : Double(rng.below(3)) - 1),
                                    active: !(stopped && last && j > 0)))
                }
            }
        }
        if seed % 2 == 1 { rows.shuffle(using: &rng) }  // input order ≠ trajectory order
        return rows
    }

    static func stepRows(_ rows: [Row], _ state: (Int) -> String) throws -> StepRows {
        var batch = StepRows()
        for (i, r) in rows.enumerated() {
            try batch.append(group: r.group, trajectory: r.trajectory, step: r.step, state: state(i),
                             action: "a", reward: r.reward, active: r.active)
        }
        return batch
    }

    /// The oracle's graph labels: per row, "c<cluster>" for occurrences in a SPEC §2 sequence
    /// and for later rows with a byte-equal text in one; the text itself (no node) otherwise.
    static func graphLabels(_ rows: [Row], _ t: Double) -> [String] {
        var labels = rows.map { "x" + $0.state }
        let byGroup = Dictionary(grouping: rows.indices, by: { rows[$0].group })
        for (_, members) in byGroup {
            // Trajectory order = first appearance; positions by step.
            var order: [String] = []
            for i in members.sorted() where !order.contains(rows[i].trajectory) { order.append(rows[i].trajectory) }
            var sequence: [Int] = [], outside: [Int] = []
            for name in order {
                let traj = members.filter { rows[$0].trajectory == name }.sorted { rows[$0].step < rows[$1].step }
                let m = traj.firstIndex { !rows[$0].active } ?? traj.count
                let n = m == traj.count ? traj.count : min(max(m, 1) + 1, traj.count)
                sequence += traj[0..<n]
                outside += traj[n...]
            }
            let clusters = greedy(sequence.map { rows[$0].state }, t)
            var clusterOfText: [String: Int] = [:]
            for (k, i) in sequence.enumerated() {
                labels[i] = "c\(clusters[k])"
                if clusterOfText[rows[i].state] == nil { clusterOfText[rows[i].state] = clusters[k] }
            }
            for i in outside { if let c = clusterOfText[rows[i].state] { labels[i] = "c\(c)" } }
        }
        return labels
    }

    /// The oracle's step-group labels: active rows of each group in input order, greedy.
    static func stepLabels(_ rows: [Row], _ t: Double) -> [String] {
        var labels = rows.map { "x" + $0.state }
        let byGroup = Dictionary(grouping: rows.indices.filter { rows[$0].active }, by: { rows[$0].group })
        for (_, members) in byGroup {
            let sorted = members.sorted()
            let clusters = greedy(sorted.map { rows[$0].state }, t)
            for (k, i) in sorted.enumerated() { labels[i] = "s\(clusters[k])" }
        }
        return labels
    }

    @Test(arguments: [0.5, 0.8, 0.9, 0.95, 1.0])
    func engineEqualsGreedyOracle(_ t: Double) throws {
        for seed in UInt64(0)..<12 {
            let rows = Self.batch(seed: seed &+ UInt64(t * 1000))
            let graphLabels = Self.graphLabels(rows, t)
            let stepLabels = Self.stepLabels(rows, t)
            let input = try Self.stepRows(rows) { rows[$0].state }
            var options = ScoringOptions()
            options.advantage = .meanStdNorm
            options.similarity = t
            options.stepGroupSimilarity = t
            let got = try Scorer(options: options).score(input)

            // Clusters: the engine's representatives partition rows as the oracle's labels do.
            let index = try TrajectoryIndex(input)
            let states = SimilarStates.graphStates(input, index: index, threshold: t, threads: 3)
            var forward: [String: Int32] = [:], backward: [Int32: String] = [:]
            for r in rows.indices where graphLabels[r].hasPrefix("c") {
                let key = rows[r].group + "|" + graphLabels[r]
                #expect(forward[key, default: states[r]] == states[r])
                #expect(backward[states[r], default: key].hasPrefix(rows[r].group + "|"))
                forward[key] = states[r]
            }

            // Values and step rewards: exact merging of the oracle's cluster names.
            var exact = ScoringOptions()
            exact.advantage = .meanStdNorm
            let relabelled = try Self.stepRows(rows) { graphLabels[$0] }
            let want = try Scorer(options: exact).score(relabelled)
            #expect(got.rewards.value == want.rewards.value)
            #expect(got.rewards.stepReward == want.rewards.stepReward)
            #expect(got.rewards.stepRewardAbs == want.rewards.stepRewardAbs)
            // Advantages: step groups from the oracle's step labels over the same step rewards.
            let stepBatch = try Self.stepRows(rows) { stepLabels[$0] }
            let wantAdvantages = try AdvantageEstimator(mode: .meanStdNorm)
                .advantages(stepBatch, index: try TrajectoryIndex(stepBatch), stepReward: want.rewards.stepReward)
            #expect(got.advantages?.step == wantAdvantages.step)
            #expect(got.advantages?.combined == wantAdvantages.combined)
            #expect(got.advantages?.episode == wantAdvantages.episode)
        }
    }

    /// `GreedyClusterer.assign` (group alphabet, folded 16-bit histograms, lazily built
    /// indexes over the symbols known then, the sampled longest match) against the greedy rule
    /// with the full ratio, on generated pairs fed as one stream per group of 40 texts.
    @Test(arguments: [0.3, 0.6, 0.8, 0.9, 0.95, 1.0])
    func clustererEqualsGreedyRatio(_ t: Double) {
        var rng = SeededRandom(11, UInt64(t * 1000))
        var clusterer = GreedyClusterer(threshold: t)
        var texts: [String] = []
        for n in 0..<400 {
            let (x, y) = PairGenerator.pair(&rng, kind: PairGenerator.mix(n))
            texts += [y, x]
        }
        for block in stride(from: 0, to: texts.count, by: 40) {
            clusterer.removeAll()
            let group = Array(texts[block..<min(texts.count, block + 40)])
            let want = Self.greedy(group, t)
            var got: [Int] = []
            for x in group {
                got.append(clusterer.assign(utf8: Array(x.utf8)[...]))
            }
            #expect(got == want, "block \(block / 40)")
        }
    }

    /// Texts longer than `Int16.max` scalars skip the histogram bound (16-bit counts) and still
    /// cluster by the ratio.
    @Test func longTextsCluster() {
        var rng = SeededRandom(5)
        let words = PairGenerator.sentence(&rng, scalars: 33_000)
        let base = words.joined(separator: " ")
        let near = PairGenerator.perturb(words, &rng, edits: 3).joined(separator: " ")
        let far = words.prefix(words.count * 3 / 4).joined(separator: " ")
        var matcher = SequenceMatcher()
        #expect(matcher.ratio(SimilarityText(near), SimilarityText(base)) >= 0.95)
        #expect(SequenceMatcher.realQuickRatio(SimilarityText(far), SimilarityText(base)) < 0.95)
        #expect(SequenceMatcher.realQuickRatio(SimilarityText(near), SimilarityText(far)) < 0.95)
        var clusterer = GreedyClusterer(threshold: 0.95)
        var got: [Int] = []
        for x in [base, far, near] {
            got.append(clusterer.assign(utf8: Array(x.utf8)[...]))
        }
        #expect(got == [0, 1, 0])
    }

    @Test func similarityOneEqualsExactMerging() throws {
        let rows = Self.batch(seed: 99)
        let input = try Self.stepRows(rows) { rows[$0].state }
        var options = ScoringOptions()
        options.advantage = .meanNorm
        let exact = try Scorer(options: options).score(input)
        options.similarity = 1
        options.stepGroupSimilarity = 1
        let merged = try Scorer(options: options).score(input)
        #expect(merged.rewards.value == exact.rewards.value)
        #expect(merged.advantages?.combined == exact.advantages?.combined)
    }

    @Test func badThresholdsAreRefused() throws {
        for bad in [0.0, -0.1, 1.0000001, .nan, .infinity] {
            var options = ScoringOptions()
            options.similarity = bad
            #expect(thrownError { _ = try Scorer(options: options) } == .invalidParameter(name: "similarity", message: "must be a number in (0, 1], got \(bad)"))
            options.similarity = nil
            options.stepGroupSimilarity = bad
            if case .invalidParameter(let name, _)? = thrownError({ _ = try Scorer(options: options) }) {
                #expect(name == "step_group_similarity")
            } else {
                Issue.record("step_group_similarity \(bad) accepted")
            }
        }
        var keyed = StepRows()
        try keyed.append(group: "g", trajectory: "t", step: 0, stateKey: 7, reward: 0)
        var options = ScoringOptions()
        options.similarity = 0.9
        let error = thrownError { _ = try Scorer(options: options).score(keyed) }
        #expect(error?.description.contains("state_key") == true)
    }
}
