import Testing
@testable import RewardFlow

/// SPEC §4–5: step rewards, trajectory returns, advantages, exact sums.
@Suite struct ExtractionTests {
    func score(_ rows: StepRows, _ configure: (inout ScoringOptions) -> Void = { _ in }) throws -> ScoredRows {
        var options = ScoringOptions()
        configure(&options)
        return try Scorer(options: options).score(rows)
    }

    @Test func stepRewardsAreValueDifferencesInsideTheRange() throws {
        // A→B→C (goal 10, C inactive): V = 8.1, 9, 10.
        let rows = try makeRows([("g", "t", 0, "A", 0, true), ("g", "t", 1, "B", 10, true), ("g", "t", 2, "C", 7, false)])
        let s = try score(rows)
        #expect(s.rewards.value == [0.9 * (0.9 * 10), 0.9 * 10, 10])
        #expect(s.rewards.stepReward[0] == 0.9 * 10 - 0.9 * (0.9 * 10))
        #expect(s.rewards.stepRewardAbs[0] == 9)
        #expect(s.rewards.stepReward[1] == 1)
        #expect(s.rewards.stepRewardAbs[1] == 10)
        // The first inactive row keeps its environment reward.
        #expect(s.rewards.stepReward[2] == 7 && s.rewards.stepRewardAbs[2] == 7)
    }

    @Test func lastRowAndRowsAfterInactiveKeepEnvironmentReward() throws {
        let rows = try makeRows([
            ("g", "t", 0, "A", 1, true), ("g", "t", 1, "B", 2, false), ("g", "t", 2, "C", 3, false),
            ("g", "u", 0, "A", 4, true), ("g", "u", 1, "B", 5, true),
        ])
        let s = try score(rows)
        #expect(s.rewards.stepReward[1] == 2 && s.rewards.stepReward[2] == 3)
        #expect(s.rewards.stepReward[4] == 5 && s.rewards.stepRewardAbs[4] == 5)
        // Row 0 is in range: V(B) − V(A).
        #expect(s.rewards.stepRewardAbs[0] == s.rewards.value[1])
    }

    @Test func trajectoryReturn() throws {
        let rows = try makeRows([
            ("g", "t", 0, "A", 1, true), ("g", "t", 1, "B", 2, true), ("g", "t", 2, "C", 9, false),
        ])
        let s = try score(rows) { $0.propagation = .trajectoryReturn; $0.gamma = 0.5 }
        #expect(s.rewards.value == [1 + 0.5 * 2, 2, 0])
        #expect(s.rewards.stepReward == [2, 2, 9])
        #expect(s.rewards.stepRewardAbs == s.rewards.stepReward)
        #expect(thrownError { _ = try TrajectoryReturn(gamma: 1) } != nil)
    }

    @Test func episodeAdvantagesWeighRowsAndSkipInactive() throws {
        // t0: 2 active rows with score 3; t1: 1 active row with score 0 (its inactive 100 excluded).
        let rows = try makeRows([
            ("g", "t0", 0, "A", 1, true), ("g", "t0", 1, "B", 2, true),
            ("g", "t1", 0, "A", 0, true), ("g", "t1", 1, "C", 100, false),
        ])
        let s = try score(rows) { $0.advantage = .meanNorm }
        let a = try #require(s.advantages)
        let mean = (3.0 + 3 + 0) / 3
        #expect(a.episode == [3 - mean, 3 - mean, 0 - mean, 0])
        let std = try score(rows) { $0.advantage = .meanStdNorm }
        let sd = (((3 - mean) * (3 - mean) * 2 + mean * mean) / 2).squareRoot()
        let e = try #require(std.advantages).episode
        #expect(abs(e[0] - (3 - mean) / (sd + 1e-6)) < 1e-15)
        #expect(e[3] == 0)
    }

    @Test func stepGroupsNormaliseStepRewardsOfOneState() throws {
        let rows = try makeRows([
            ("g", "t0", 0, "A", 0, true), ("g", "t0", 1, "G", 10, true), ("g", "t0", 2, "W", 0, false),
            ("g", "t1", 0, "A", 0, true), ("g", "t1", 1, "X", 0, true),
        ])
        let s = try score(rows) { $0.advantage = .meanNorm; $0.stepWeight = 0.5 }
        let a = try #require(s.advantages)
        let r = s.rewards.stepReward
        // Step group A = rows 0 and 3; G, X are singletons (0); W inactive (0).
        let mean = (r[0] + r[3]) / 2
        #expect(a.step[0] == r[0] - mean && a.step[3] == r[3] - mean)
        #expect(a.step[1] == 0 && a.step[2] == 0 && a.step[4] == 0)
        for i in 0..<5 { #expect(a.combined[i] == a.episode[i] + 0.5 * a.step[i]) }
    }

    @Test func singleActiveRowGroup() throws {
        let rows = try makeRows([("g", "t", 0, "A", 0.5, true)])
        let s = try score(rows) { $0.advantage = .meanStdNorm }
        #expect(try #require(s.advantages).episode == [0.5 / (1 + 1e-6)])
    }

    @Test func exactSumIsCorrectlyRounded() {
        #expect(ExactSum.of([1e100, 1, -1e100]) == 1)
        #expect(ExactSum.of([0.1, 0.2, 0.3, -0.6]) == 2.7755575615628914e-17)  // math.fsum's answer
        #expect(ExactSum.of(Array(repeating: [1, 1e100, 1, -1e100], count: 10_000).flatMap { $0 }) == 20_000)
        #expect(ExactSum.of(Array(repeating: 0.1, count: 10)) == 1)
        #expect(ExactSum.of([]) == 0)
        var rng = SplitMix64(seed: 9)
        for _ in 0..<200 {
            // Integers scaled by 2^-20 sum exactly in Int64: an independent oracle.
            let ints = (0..<50).map { _ in Int64(rng.next() % 2_000_001) - 1_000_000 }
            let xs = ints.map { Double($0) / 1_048_576 }
            #expect(ExactSum.of(xs) == Double(ints.reduce(0, +)) / 1_048_576)
            #expect(ExactSum.of(xs.reversed()) == ExactSum.of(xs))
        }
    }

    @Test func exactSumOfSparseValuesIgnoresTheZeros() {
        // Rewards are mostly zeros (a fast path adds them): the same sums with zeros of either
        // sign spread among the values, against the Int64 oracle; zeros alone follow IEEE's signs.
        var rng = SplitMix64(seed: 21)
        for _ in 0..<300 {
            let ints = (0..<(1 + Int(rng.next() % 6))).map { _ in Int64(rng.next() % 2_001) - 1_000 }
            var xs: [Double] = []
            for x in ints {
                for _ in 0..<Int(rng.next() % 5) { xs.append(rng.next() % 2 == 0 ? 0.0 : -0.0) }
                xs.append(Double(x) / 1_024)
            }
            for _ in 0..<Int(rng.next() % 5) { xs.append(rng.next() % 2 == 0 ? 0.0 : -0.0) }
            let want = Double(ints.reduce(0, +)) / 1_024
            #expect(ExactSum.of(xs) == want, "\(xs)")
            var sum = ExactAccumulator()
            for x in xs { sum.add(x) }
            #expect(sum.value == want)
        }
        for (xs, negative) in [([-0.0, -0.0, -0.0], true), ([-0.0, 0.0], false), ([0.0, -0.0, -0.0], false), ([5, -0.0, -5], false)] as [([Double], Bool)] {
            #expect(ExactSum.of(xs) == 0 && ExactSum.of(xs).sign == (negative ? .minus : .plus), "\(xs)")
        }
    }

    @Test func refusesBadOptions() {
        var options = ScoringOptions()
        options.gamma = 0
        #expect(thrownError { _ = try Scorer(options: options) } == .invalidParameter(name: "gamma", message: "must be in (0, 1], got 0.0"))
        options.gamma = 0.9
        options.advantage = .meanNorm
        options.stepWeight = .nan
        #expect(thrownError { _ = try Scorer(options: options) } != nil)
    }
}

/// Rewards at the edge of the double range: exact sums and outputs never turn into UB or JSON
/// that cannot be parsed.
@Suite struct OverflowTests {
    @Test func exactSumReportsOverflowAsInfinity() {
        #expect(ExactSum.of([1e308, 1e308]) == .infinity)
        #expect(ExactSum.of([-1e308, -1e308, 5]) == -.infinity)
        #expect(ExactSum.of([1e308, 1e308, -1e308]) == .infinity)  // math.fsum raises here
        #expect(ExactSum.of([.infinity, -.infinity]).isNaN)
        // Many overflowing additions never overrun the fixed partial store.
        #expect(ExactSum.of(Array(repeating: 1.7e308, count: 500)) == .infinity)
        var sum = ExactSum()
        sum.add(1e308); sum.add(1e308); sum.reset(); sum.add(2)
        #expect(sum.value == 2)
    }

    @Test func overflowingScoresAreAnErrorNamingRowAndField() throws {
        let rows = try makeRows([("g", "t", 0, "A", 1.5e308, true), ("g", "t", 1, "B", 1.5e308, true),
                                 ("g", "u", 0, "A", 0, true)])
        var options = ScoringOptions()
        options.advantage = .meanNorm
        let error = thrownError { _ = try Scorer(options: options).score(rows) }
        guard case .numerical(let message)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(message.hasPrefix("row 0: episode_advantage: the result overflows a double"), "\(message)")
        // Without advantages the same rows score fine.
        #expect(thrownError { _ = try Scorer().score(rows) } == nil)
    }

    /// The sparse path of the episode score gives the exact accumulator's bits: zeros of
    /// either sign, one nonzero term, two or more, and non-finite terms, in any order.
    @Test func episodeScoreEqualsExactSum() {
        var generator = SplitMix64(seed: 17)
        let pool: [Double] = [0, -0.0, 0, -0.0, 0, 0, 10, -1, 0.1, 1e308, -1e308, 5e-324, .infinity, -.infinity, .nan]
        var sum = ExactAccumulator()
        for trial in 0..<4000 {
            let length = Int(generator.next() % 7)
            // Two trials in three draw from the finite part of the pool only.
            let choices = UInt64(trial % 3 == 0 ? pool.count : 7)
            let reward = (0..<length).map { _ in pool[Int(generator.next() % choices)] }
            let rows = ArraySlice((0..<Int32(length)).reversed())
            let got = AdvantageEstimator.episodeScore(reward, rows, &sum)
            let want = ExactSum.of(rows.map { reward[Int($0)] })
            #expect(got.bitPattern == want.bitPattern || (got.isNaN && want.isNaN), "\(reward)")
        }
    }
}
