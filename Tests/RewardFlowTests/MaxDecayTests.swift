import Testing
@testable import RewardFlow

/// SPEC §3 `max-decay`: hand-computed cases and a property test against the plain fixed-point
/// iteration run to convergence (an independent oracle).
@Suite struct MaxDecayTests {
    /// A one-group graph from an edge list.
    static func graph(_ rewards: [Double], _ edges: [(Int, Int)], groups: [Int]? = nil) throws -> StateGraph {
        let n = rewards.count
        var start = [Int](repeating: 0, count: n + 1)
        let sorted = edges.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
        for (u, _) in sorted { start[u + 1] += 1 }
        for i in 0..<n { start[i + 1] += start[i] }
        return try StateGraph(
            groupNodeStart: groups ?? [0, n], edgeStart: start, edgeTarget: sorted.map { Int32($0.1) },
            edgeWeight: sorted.map { _ in 1 }, nodeReward: rewards, nodeState: (0..<n).map(Int32.init),
            rowNode: [])
    }

    /// The reference recursion `V_{k+1}(s) = max(V_k(s), γ·max_{s→t} V_k(t))`, iterated until
    /// no value moves by more than 1e-15 (or `limit` sweeps).
    static func fixedPoint(_ g: StateGraph, gamma: Double, limit: Int = 20_000) -> [Double] {
        var v = g.nodeReward
        for _ in 0..<limit {
            var next = v
            for u in 0..<g.nodeCount where g.edgeStart[u] < g.edgeStart[u + 1] {
                var best = -Double.infinity
                for e in g.edgeStart[u]..<g.edgeStart[u + 1] { best = max(best, v[Int(g.edgeTarget[e])]) }
                next[u] = max(v[u], gamma * best)
            }
            let moved = zip(next, v).map { abs($0 - $1) }.max() ?? 0
            if moved <= 1e-15 { break }
            v = next
        }
        return v
    }

    @Test func chainDecays() throws {
        let g = try Self.graph([0, 0, 10], [(0, 1), (1, 2)])
        #expect(try MaxDecay(gamma: 0.9).values(on: g) == [0.9 * (0.9 * 10), 0.9 * 10, 10])
    }

    @Test func shortestPathWinsForPositiveRewards() throws {
        // A→B→C→G and A→G directly: V(A) = γ·10.
        let g = try Self.graph([0, 0, 0, 10], [(0, 1), (1, 2), (2, 3), (0, 3)])
        let v = try MaxDecay(gamma: 0.5).values(on: g)
        #expect(v == [5, 2.5, 5, 10])
    }

    @Test func negativeRewardsTakeTheLongestPath() throws {
        // A→D (−8) and A→B→C→D: no cycle, so V(A) = γ³·(−8); a dead end stays at its reward.
        let g = try Self.graph([0, 0, 0, -8], [(0, 3), (0, 1), (1, 2), (2, 3)])
        let v = try MaxDecay(gamma: 0.5).values(on: g)
        #expect(v == [0, 0, 0, -8])  // r(A) = 0 itself beats any negative walk
        let h = try Self.graph([-1, -1, -1, -8], [(0, 3), (0, 1), (1, 2), (2, 3)])
        let w = try MaxDecay(gamma: 0.5).values(on: h)
        #expect(w[3] == -8)
        #expect(w[2] == max(-1, 0.5 * -8))
        #expect(w[1] == max(-1, 0.5 * w[2]))
        #expect(w[0] == max(-1, 0.5 * max(w[1], w[3])))
    }

    @Test func negativeCycleLimitIsZero() throws {
        // B↔C with negative rewards, reached from A: the limit is 0 for γ < 1 ...
        let g = try Self.graph([-1, -2, -3], [(0, 1), (1, 2), (2, 1)])
        #expect(try MaxDecay(gamma: 0.9).values(on: g) == [0, 0, 0])
        // ... and the best reachable reward for γ = 1.
        #expect(try MaxDecay(gamma: 1).values(on: g) == [-1, -2, -2])
    }

    @Test func gammaOneIsBestReachableReward() throws {
        let g = try Self.graph([1, 5, 2, 7, -3], [(0, 1), (1, 2), (2, 1), (3, 4)])
        #expect(try MaxDecay(gamma: 1).values(on: g) == [5, 5, 5, 7, -3])
    }

    @Test func refusesGammaOutsideRange() {
        for gamma in [0, -0.5, 1.0000001, .nan, .infinity] {
            #expect(thrownError { _ = try MaxDecay(gamma: gamma) } != nil, "γ = \(gamma)")
        }
    }

    @Test func emptyGroupsAndIsolatedGroups() throws {
        // Group 0 empty, group 1 one edge, group 2 empty.
        let g = try Self.graph([0, 4], [(0, 1)], groups: [0, 0, 2, 2])
        #expect(try MaxDecay(gamma: 0.9).values(on: g) == [0.9 * 4, 4])
    }

    /// Random graphs with cycles, negative rewards and isolated nodes against the fixed point.
    @Test(arguments: [0.5, 0.9, 0.95, 1.0])
    func agreesWithFixedPointOnRandomGraphs(gamma: Double) throws {
        var rng = SplitMix64(seed: UInt64(gamma * 1000))
        for trial in 0..<300 {
            let groups = 1 + Int(rng.next() % 3)
            var rewards: [Double] = []
            var edges: [(Int, Int)] = []
            var starts = [0]
            for _ in 0..<groups {
                let base = rewards.count
                let n = 1 + Int(rng.next() % 9)
                for _ in 0..<n {
                    switch rng.next() % 4 {
                    case 0: rewards.append(0)
                    case 1: rewards.append(-Double(1 + rng.next() % 5))
                    default: rewards.append(Double(rng.next() % 21) - 5)
                    }
                }
                var seen = Set<[Int]>()
                let m = Int(rng.next() % UInt64(2 * n + 1))
                for _ in 0..<m {
                    let u = Int(rng.next() % UInt64(n)), v = Int(rng.next() % UInt64(n))
                    if u != v && seen.insert([u, v]).inserted { edges.append((base + u, base + v)) }
                }
                starts.append(rewards.count)
            }
            let g = try Self.graph(rewards, edges, groups: starts)
            let exact = try MaxDecay(gamma: gamma).values(on: g)
            let oracle = Self.fixedPoint(g, gamma: gamma)
            for i in 0..<g.nodeCount {
                #expect(abs(exact[i] - oracle[i]) <= 1e-13, "trial \(trial) node \(i): \(exact[i]) vs \(oracle[i])")
            }
        }
    }
}

/// A small seeded generator for reproducible random tests.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
