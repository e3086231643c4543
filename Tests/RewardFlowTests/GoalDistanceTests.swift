import Foundation
import Testing
@testable import RewardFlow
import RewardFlowSynthesis

/// `goal-distance` (SPEC §3), the step-reward modes (§4) and the advantage options of §5,
/// on hand-computed batches and against a Floyd–Warshall oracle.
@Suite struct GoalDistanceTests {
    static func options(_ mode: StepRewardMode, gamma: Double = 0.5, goalReward: Double = 10) -> ScoringOptions {
        var o = ScoringOptions()
        o.propagation = .goalDistance
        o.gamma = gamma
        o.goalReward = goalReward
        o.stepReward = mode
        return o
    }

    /// g: A(noop) → B → G(goal): A→G is emitted (B is bridged over and is no node).
    /// h: no goal, every d = 1. u: P → Q(goal); P → S → T (S, T reach no goal: d = D + 1 = 2);
    /// a negative reward is no goal. (A state's reward is the previous row's `reward`, SPEC §2.)
    static func batch() throws -> StepRows {
        try makeRows([
            ("g", "t1", 0, "A", 0, true), ("g", "t1", 1, "B", 1, true), ("g", "t1", 2, "G", 0, true),
            ("h", "t1", 0, "X", 0, true), ("h", "t1", 1, "Y", -1, true), ("h", "t1", 2, "Z", 0, true),
            ("u", "t1", 0, "P", 1, true), ("u", "t1", 1, "Q", 0, true),
            ("u", "t2", 0, "P", 0, true), ("u", "t2", 1, "S", -2, true), ("u", "t2", 2, "T", 0, true),
        ], noop: [0])
    }

    @Test func valuesByHand() throws {
        let scored = try Scorer(options: Self.options(.difference)).score(Self.batch())
        // d: A 1, B no node, G 0 | X, Y, Z 1 (no goal) | P 1, Q 0, S 2, T 2 (unreachable, D = 1).
        #expect(scored.rewards.value == [5, 0, 10, 5, 5, 5, 5, 10, 5, 2.5, 2.5])
        // difference: V(next) − V(s) on j < L − 1; last rows keep the environment reward.
        #expect(scored.rewards.stepReward == [-5, 10, 0, 0, 0, 0, 5, 0, -2.5, 0, 0])
        #expect(scored.rewards.stepRewardAbs == [0, 10, 0, 5, 5, 0, 10, 0, 2.5, 2.5, 0])
    }

    @Test func absoluteMode() throws {
        let scored = try Scorer(options: Self.options(.absolute)).score(Self.batch())
        #expect(scored.rewards.stepReward == [0, 10, 0, 5, 5, 0, 10, 0, 2.5, 2.5, 0])
        #expect(scored.rewards.stepRewardAbs == scored.rewards.stepReward)
    }

    @Test func progressMode() throws {
        let scored = try Scorer(options: Self.options(.progress)).score(Self.batch())
        // R·γ^(d(next) − d(s) + 1); B (no node) counts as unreachable, d = D + 1 = 2:
        // A→B exponent 2 (2.5), B→G exponent −1 (20: no clamping); h: exponent 1 (5);
        // P→Q 0 (10), P→S 2 (2.5), S→T 1 (5).
        #expect(scored.rewards.stepReward == [2.5, 20, 0, 5, 5, 0, 10, 0, 2.5, 5, 0])
        #expect(scored.rewards.stepRewardAbs == [0, 10, 0, 5, 5, 0, 10, 0, 2.5, 2.5, 0])
        #expect(scored.rewards.value == [5, 0, 10, 5, 5, 5, 5, 10, 5, 2.5, 2.5])
    }

    @Test func refusals() throws {
        var o = ScoringOptions()
        o.stepReward = .progress
        #expect(thrownError { _ = try Scorer(options: o) }?.description.contains("goal-distance") == true)
        for bad in [0.0, -1, .infinity, .nan] {
            var g = Self.options(.difference)
            g.goalReward = bad
            #expect(thrownError { _ = try Scorer(options: g) } != nil, "goal reward \(bad)")
        }
        for bad in [0.0, 1, 1.5] {
            #expect(thrownError { _ = try Scorer(options: Self.options(.difference, gamma: bad)) } != nil, "gamma \(bad)")
        }
        var h = ScoringOptions()
        h.stepGroupHistory = 2
        h.stepGroupSimilarity = 0.9
        #expect(thrownError { _ = try Scorer(options: h) }?.description.contains("step_group_similarity") == true)
        h.stepGroupSimilarity = nil
        h.stepGroupHistory = -1
        #expect(thrownError { _ = try Scorer(options: h) } != nil)
        var w = ScoringOptions()
        w.advantage = .meanNorm
        w.episodeWeight = .nan
        #expect(thrownError { _ = try Scorer(options: w) } != nil)
    }

    /// Distances against Floyd–Warshall on random graphs (cycles, self-loops, parallel edges,
    /// goal-less groups, empty groups).
    @Test func distancesMatchFloydWarshall() throws {
        var rng = SplitMix(seed: 7)
        for _ in 0..<60 {
            var groupNodeStart = [0], edgeStart = [0], edgeTarget: [Int32] = [], reward: [Double] = []
            let groups = 1 + rng.below(4)
            for _ in 0..<groups {
                let n = rng.below(9), base = groupNodeStart.last!
                let goalChance = rng.below(4)  // 0: no goal
                for _ in 0..<n {
                    reward.append(goalChance > 0 && rng.below(5) < goalChance ? 1 : (rng.below(3) == 0 ? -1 : 0))
                    for _ in 0..<rng.below(4) where n > 0 { edgeTarget.append(Int32(base + rng.below(n))) }
                    edgeStart.append(edgeTarget.count)
                }
                groupNodeStart.append(base + n)
            }
            let nodes = reward.count
            // Parallel edges and unsorted targets: only the internal initialiser builds these.
            let graph = StateGraph(
                unchecked: groupNodeStart, edgeStart: edgeStart, edgeTarget: edgeTarget,
                edgeWeight: [Double](repeating: 1, count: edgeTarget.count), nodeReward: reward,
                nodeState: (0..<nodes).map { Int32($0) }, rowNode: [])
            let goal = try GoalDistance(gamma: 0.3, goalReward: 7)
            let (distance, unreachable) = goal.distances(on: graph)
            let values = try goal.values(on: graph)

            // Oracle: all-pairs shortest paths, then the SPEC rules.
            let inf = Int.max / 4
            var dist = [[Int]](repeating: [Int](repeating: inf, count: nodes), count: nodes)
            for u in 0..<nodes {
                dist[u][u] = 0
                for e in edgeStart[u]..<edgeStart[u + 1] { dist[u][Int(edgeTarget[e])] = min(dist[u][Int(edgeTarget[e])], 1) }
            }
            for k in 0..<nodes { for i in 0..<nodes { for j in 0..<nodes where dist[i][k] + dist[k][j] < dist[i][j] {
                dist[i][j] = dist[i][k] + dist[k][j]
            } } }
            for g in 0..<groups {
                let range = groupNodeStart[g]..<groupNodeStart[g + 1]
                let goals = range.filter { reward[$0] > 0 }
                var d = range.map { u in goals.map { dist[u][$0] }.min() ?? inf }
                let finite = d.filter { $0 < inf }
                let fallback = goals.isEmpty ? 1 : finite.max()! + 1
                d = d.map { $0 < inf ? $0 : fallback }
                #expect(Int(unreachable[g]) == fallback)
                for (k, u) in range.enumerated() {
                    #expect(Int(distance[u]) == d[k], "group \(g) node \(u)")
                    #expect(values[u] == 7 * pow(0.3, Double(d[k])))
                }
            }
        }
    }
}

/// The advantage options of SPEC §5 by hand.
@Suite struct AdvantageOptionTests {
    /// Group g: t1 two active rows (score 1), t2 one active row (score 0), t3 inactive from
    /// step 1 with its step-0 row active (score 3). Group h: one trajectory.
    static func batch() throws -> StepRows {
        try makeRows([
            ("g", "t1", 0, "a", 0, true), ("g", "t1", 1, "b", 1, true),
            ("g", "t2", 0, "a", 0, true),
            ("g", "t3", 0, "a", 3, true), ("g", "t3", 1, "c", 5, false),
            ("h", "t1", 0, "x", 2, true), ("h", "t1", 1, "y", 2, true),
        ])
    }

    @Test func trajectoryWeighting() throws {
        var o = ScoringOptions()
        o.advantage = .meanNorm
        o.episodeWeighting = .trajectories
        let a = try #require(try Scorer(options: o).score(Self.batch()).advantages)
        // g: scores 1, 0, 3 once each: mean 4/3. h: one trajectory: mean 0, so 4 − 0.
        let m = 4.0 / 3
        #expect(a.episode == [1 - m, 1 - m, 0 - m, 3 - m, 0, 4, 4])
        o.episodeWeighting = .rows  // rows: (1·2 + 0 + 3)/4 = 1.25
        let b = try #require(try Scorer(options: o).score(Self.batch()).advantages)
        #expect(b.episode == [-0.25, -0.25, -1.25, 1.75, 0, 4 - 4, 0])
        o.advantage = .meanStdNorm
        o.episodeWeighting = .trajectories
        let c = try #require(try Scorer(options: o).score(Self.batch()).advantages)
        let std = (((1 - m) * (1 - m) + m * m + (3 - m) * (3 - m)) / 2).squareRoot()
        // The engine's exactly rounded sums and this naive formula agree to within 2 ulps.
        #expect(abs(c.episode[0] - (1 - m) / (std + 1e-6)) <= 2 * c.episode[0].ulp)
        #expect(c.episode[5] == 4 / (1 + 1e-6))  // one trajectory: mean 0, std 1
    }

    @Test func episodeWeight() throws {
        var o = ScoringOptions()
        o.advantage = .meanNorm
        o.episodeWeight = 0.5
        o.stepWeight = 2
        let a = try #require(try Scorer(options: o).score(Self.batch()).advantages)
        for r in 0..<7 { #expect(a.combined[r] == 0.5 * a.episode[r] + 2 * a.step[r]) }
        #expect(a.combined[4] == 0)
    }

    /// K = 1: rows group on (previous state, state); K larger than every trajectory groups
    /// whole prefixes.
    @Test func stepGroupHistory() throws {
        let rows = try makeRows([
            ("g", "t1", 0, "a", 0, true), ("g", "t1", 1, "b", 0, true), ("g", "t1", 2, "c", 1, true),
            ("g", "t2", 0, "z", 0, true), ("g", "t2", 1, "b", 0, true), ("g", "t2", 2, "c", 0, true),
            ("g", "t3", 0, "a", 0, true), ("g", "t3", 1, "b", 0, true), ("g", "t3", 2, "d", 0, true),
        ])
        let index = try TrajectoryIndex(rows)
        func groups(_ k: Int) -> [Int32] { StepGroupHistory.keys(rows, index: index, history: k, threads: 3) }
        // K = 0 would pair the "b" rows of t1 and t2; K = 1 separates them, (a,b) vs (z,b),
        // and keeps their "c" rows together, (b,c).
        let k1 = groups(1)
        #expect(k1[0] == k1[6] && k1[1] == k1[7] && k1[1] != k1[4] && k1[2] == k1[5] && k1[2] != k1[8])
        #expect(k1[0] != k1[3])
        // K = 10: t1 and t3 share their first two prefixes only; a one-state prefix never
        // matches a longer one.
        let k10 = groups(10)
        #expect(k10[0] == k10[6] && k10[1] == k10[7] && k10[2] != k10[8])
        #expect(Set(k10).count == 7)
        var o = ScoringOptions()
        o.advantage = .meanNorm
        o.stepGroupHistory = 10
        let a = try #require(try Scorer(options: o).score(rows).advantages)
        // t2's rows are each alone in their step group: step advantage 0.
        #expect(a.step[3] == 0 && a.step[4] == 0 && a.step[5] == 0)
        o.stepGroupHistory = 0
        let plain = try #require(try Scorer(options: o).score(rows).advantages)
        #expect(plain.step[4] != 0 || plain.step[5] != 0)
    }
}

/// A small seeded generator for the property tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
}

/// Generated batches against an oracle written from SPEC §3–5 (naive loops, dictionaries):
/// goal distances by relaxation on the batch's graph, `progress` step rewards, episode
/// statistics per trajectory, step groups keyed on the last K + 1 states, `w_e`.
@Suite struct CreditOracleTests {
    @Test(arguments: [(UInt64(5), 0), (11, 2), (23, 40)])
    func generatedBatch(_ seed: UInt64, _ history: Int) throws {
        var synth = SynthesisOptions()
        synth.groups = 5
        synth.rollouts = 6
        synth.maxSteps = 25
        synth.seed = seed
        let rows = try RolloutSynthesizer(synth).rows()
        var o = ScoringOptions()
        o.propagation = .goalDistance
        o.gamma = 0.3
        o.goalReward = 7
        o.stepReward = .progress
        o.advantage = .meanStdNorm
        o.episodeWeighting = .trajectories
        o.episodeWeight = 0.25
        o.stepWeight = 1.5
        o.stepGroupHistory = history
        let batch = try Scorer(options: o).scoreBatch(rows)
        let graph = batch.graph, scored = batch.scored
        let advantages = try #require(scored.advantages)

        // Distances by relaxation until nothing changes, then the unreachable rule.
        var d = graph.nodeReward.map { $0 > 0 ? 0 : Int.max }
        var changed = true
        while changed {
            changed = false
            for u in 0..<graph.nodeCount {
                for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] where d[Int(graph.edgeTarget[e])] != .max {
                    if d[Int(graph.edgeTarget[e])] + 1 < d[u] { d[u] = d[Int(graph.edgeTarget[e])] + 1; changed = true }
                }
            }
        }
        var unreachable = [Int](repeating: 1, count: graph.groupCount)
        for g in 0..<graph.groupCount {
            let range = graph.groupNodeStart[g]..<graph.groupNodeStart[g + 1]
            let finite = range.map { d[$0] }.filter { $0 != .max }
            if let D = finite.max() { unreachable[g] = D + 1 }
            for u in range where d[u] == .max { d[u] = unreachable[g] }
        }
        func distance(_ r: Int) -> Int {
            graph.rowNode[r] >= 0 ? d[Int(graph.rowNode[r])] : unreachable[Int(rows.group[r])]
        }

        // Trajectories in step order.
        var trajectories: [[Int32]: [Int]] = [:]
        for r in 0..<rows.count { trajectories[[rows.group[r], rows.trajectory[r]], default: []].append(r) }
        var episodeScores: [Int32: [(score: Double, rows: [Int])]] = [:]
        var stepGroups: [[Int32]: [Int]] = [:]
        var checked = 0
        for (key, unsorted) in trajectories {
            let t = unsorted.sorted { rows.step[$0] < rows.step[$1] }
            let m = t.firstIndex { !rows.active[$0] } ?? t.count
            for j in 0..<t.count {
                let r = t[j]
                #expect(scored.rewards.value[r] == (graph.rowNode[r] >= 0 ? 7 * pow(0.3, Double(distance(r))) : 0))
                if j < min(m, t.count - 1) {
                    let want = 7 * pow(0.3, Double(distance(t[j + 1]) - distance(r) + 1))
                    #expect(scored.rewards.stepReward[r] == want)
                    checked += 1
                } else {
                    #expect(scored.rewards.stepReward[r] == rows.reward[r])
                }
            }
            if m > 0 {
                episodeScores[key[0], default: []].append((t[0..<m].reduce(0) { $0 + rows.reward[$1] }, Array(t[0..<m])))
            }
            for j in 0..<m {
                stepGroups[[key[0]] + t[max(0, j - history)...j].map { rows.state[$0] }, default: []].append(t[j])
            }
        }
        #expect(checked > 100)

        var wantEpisode = [Double](repeating: 0, count: rows.count)
        for (_, list) in episodeScores {
            var mean = 0.0, std = 1.0
            if list.count > 1 {
                mean = list.reduce(0) { $0 + $1.score } / Double(list.count)
                std = (list.reduce(0) { $0 + ($1.score - mean) * ($1.score - mean) } / Double(list.count - 1)).squareRoot()
            }
            for item in list { for r in item.rows { wantEpisode[r] = (item.score - mean) / (std + 1e-6) } }
        }
        var wantStep = [Double](repeating: 0, count: rows.count)
        for (_, members) in stepGroups where members.count > 1 {
            let x = members.map { scored.rewards.stepReward[$0] }
            let mean = x.reduce(0, +) / Double(x.count)
            let std = (x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(x.count - 1)).squareRoot()
            for (k, r) in members.enumerated() { wantStep[r] = (x[k] - mean) / (std + 1e-6) }
        }
        var bad = 0
        for r in 0..<rows.count {
            let want = 0.25 * wantEpisode[r] + 1.5 * wantStep[r]
            if abs(advantages.episode[r] - wantEpisode[r]) > 1e-6 || abs(advantages.step[r] - wantStep[r]) > 1e-6
                || abs(advantages.combined[r] - want) > 1e-6 {
                bad += 1
                if bad <= 3 { Issue.record("row \(r): got \(advantages.episode[r]) \(advantages.step[r]) \(advantages.combined[r]), want \(wantEpisode[r]) \(wantStep[r]) \(want)") }
            }
        }
        #expect(bad == 0)
    }
}
