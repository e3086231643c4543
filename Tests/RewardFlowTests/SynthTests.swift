import Foundation
import Testing
@testable import RewardFlow
import RewardFlowSynthesis

/// `RolloutSynthesizer` (`rewardflow synth`): determinism and the shape of what it makes.
@Suite struct SynthTests {
    func options(groups: Int = 6, rollouts: Int = 5, maxSteps: Int = 30, seed: UInt64 = 3) -> SynthesisOptions {
        var o = SynthesisOptions()
        o.groups = groups
        o.rollouts = rollouts
        o.maxSteps = maxSteps
        o.seed = seed
        return o
    }

    @Test func perturbedObservationsAreSeededNearDuplicates() throws {
        var options = SynthesisOptions()
        options.groups = 4
        options.seed = 3
        let plain = try RolloutSynthesizer(options).rows()
        options.perturbFraction = 0.3
        let perturbed = try RolloutSynthesizer(options).rows()
        #expect(perturbed.count == plain.count)
        #expect(perturbed.stateCount > plain.stateCount)
        #expect(try RolloutSynthesizer(options).jsonl() == RolloutSynthesizer(options).jsonl())
        // The JSONL and the in-memory rows agree on the perturbed texts.
        let text = String(decoding: try RolloutSynthesizer(options).jsonl(), as: UTF8.self)
        #expect(text.contains(perturbed.stateTexts.string(of: perturbed.state[perturbed.count - 1]).unicodeScalars.map { $0.isASCII ? String($0) : "" }.joined()))
        var scoring = ScoringOptions()
        scoring.similarity = 0.95
        let merged = try Scorer(options: scoring).score(perturbed)
        #expect(merged.rewards.value.count == perturbed.count)
        options.perturbFraction = 1.5
        #expect(thrownError { _ = try RolloutSynthesizer(options) } != nil)
    }

    @Test func sameSeedSameBytesDifferentSeedDifferentBytes() throws {
        let a = try RolloutSynthesizer(options()).jsonl()
        let b = try RolloutSynthesizer(options()).jsonl()
        let c = try RolloutSynthesizer(options(seed: 4)).jsonl()
        #expect(a == b)
        #expect(a != c)
    }

    @Test func outputDoesNotDependOnThreads() throws {
        var o = options(groups: 70)
        o.threads = 1
        let one = try RolloutSynthesizer(o).jsonl()
        o.threads = 3
        let three = try RolloutSynthesizer(o).jsonl()
        #expect(one == three)
    }

    @Test func inMemoryRowsEqualTheParsedJSONL() throws {
        let synthesizer = try RolloutSynthesizer(options())
        var bytes = synthesizer.jsonl()
        let parsed = try JSONLReader.parse(bytes: &bytes)
        let direct = synthesizer.rows(identity: .text)
        #expect(parsed.count == direct.count)
        #expect(parsed.group == direct.group)
        #expect(parsed.trajectory == direct.trajectory)
        #expect(parsed.step == direct.step)
        #expect(parsed.state == direct.state)
        #expect(parsed.action == direct.action)
        #expect(parsed.reward == direct.reward)
        #expect(parsed.active == direct.active)
        #expect(parsed.stateTexts.count == direct.stateTexts.count)
        // Keys name the same states: the same partition of rows.
        let keyed = synthesizer.rows(identity: .key)
        #expect(keyed.identity == .key)
        #expect(keyed.state == direct.state)
    }

    @Test func shapeGroupsRolloutsStepsGoalsAndCycles() throws {
        var o = options(groups: 8, rollouts: 6, maxSteps: 40)
        o.negativePenalty = 0.5
        o.markNoop = true
        o.invalidProbability = 0.2
        let rows = try RolloutSynthesizer(o).rows()
        let index = try TrajectoryIndex(rows)  // valid: steps 0..<L, active prefix
        #expect(index.groupCount == 8)
        #expect(index.trajectoryCount == 8 * 6)
        var goals = 0, selfLoops = 0, penalties = 0
        for t in 0..<index.trajectoryCount {
            let lo = index.trajectoryRowStart[t], hi = index.trajectoryRowStart[t + 1]
            let length = hi - lo
            #expect(length >= 1 && length <= 40)
            let last = Int(index.orderedRows[hi - 1])
            if !rows.active[last] {
                goals += 1
                // The goal's reward arrives with the step before it; the goal row is inactive.
                #expect(rows.reward[Int(index.orderedRows[hi - 2])] == 10)
                #expect(Int(index.activePrefix[t]) == length - 1)
            } else {
                #expect(length == 40)  // truncated walks hold maxSteps observations
            }
            for j in lo..<(hi - 1) {
                let r = Int(index.orderedRows[j]), next = Int(index.orderedRows[j + 1])
                if rows.state[r] == rows.state[next] { selfLoops += 1 }
                if rows.noop[r] {
                    penalties += 1
                    #expect(rows.reward[r] == -0.5)
                }
            }
        }
        #expect(goals > 0)
        #expect(selfLoops > 0)
        #expect(penalties > 0)
        // Rollouts of a group share states: far fewer distinct states than rows.
        #expect(rows.stateTexts.count * 2 < rows.count)
    }

    @Test func nothingHappensIsOneSharedObservation() throws {
        var o = options()
        o.invalidObservation = .nothing
        o.invalidProbability = 0.3
        let rows = try RolloutSynthesizer(o).rows()
        let texts = (0..<rows.stateTexts.count).map { rows.stateTexts.string(of: Int32($0)) }
        #expect(texts.filter { $0 == "Nothing happens." }.count == 1)
    }

    @Test func refusesBadParameters() {
        var o = options()
        o.groups = 0
        #expect(thrownError { _ = try RolloutSynthesizer(o) } != nil)
        o = options()
        o.invalidProbability = 1.5
        #expect(thrownError { _ = try RolloutSynthesizer(o) } != nil)
    }

    /// Sizes beyond what the engine can hold (or what would exhaust memory) are refused up
    /// front, by name, with exit 2 from the CLI, instead of hanging and aborting.
    @Test func refusesSizesOutOfRange() throws {
        let cases: [(String, String, String)] = [
            ("--states", "2147483648", "states"), ("--max-steps", "2147483648", "max-steps"),
            ("--groups", "9223372036854775807", "groups"), ("--rollouts", "4611686018427387904", "rollouts"),
            ("--branching", "100000", "branching"), ("--depth", "1000000000", "depth"),
            ("--goals", "4294967296", "goals"), ("--states", "-5", "states"),
        ]
        for (flag, value, name) in cases {
            let result = try CLITests.run(["synth", flag, value, "--quiet", "-o", "/dev/null"])
            #expect(result.status == 2, "\(flag) \(value): \(result.stderr)")
            #expect(result.stderr.hasPrefix("error: \(name): must be"), "\(flag) \(value): \(result.stderr)")
        }
        // The whole batch must fit one scoring batch (2^31 − 2 rows).
        let big = try CLITests.run(["synth", "--groups", "100000", "--rollouts", "1000", "--max-steps", "1000", "--quiet", "-o", "/dev/null"])
        #expect(big.status == 2)
        #expect(big.stderr.contains("2147483646"), "\(big.stderr)")
    }

    @Test func seededRandomIsReproducibleAndUniform() {
        var a = SeededRandom(1, 2, 3), b = SeededRandom(1, 2, 3)
        var counts = [Int](repeating: 0, count: 10)
        for _ in 0..<10_000 {
            let x = a.below(10)
            #expect(x == b.below(10))
            counts[x] += 1
        }
        #expect(counts.allSatisfy { $0 > 850 && $0 < 1150 })
    }
}
