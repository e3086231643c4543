import Testing
@testable import RewardFlow
import RewardFlowSynthesis

/// `ScoringWorkspace`: the arrays a scoring run reuses change no output, and the workspace
/// hands back only what fits.
@Suite struct ScoringWorkspaceTests {
    /// A synthesised batch of `groups` × 8 rollouts (seeded; big enough that the per-row arrays
    /// pass `ScoringWorkspace.minimumCount` from about 300 groups on).
    static func batch(groups: Int, seed: UInt64) throws -> StepRows {
        var o = SynthesisOptions()
        o.groups = groups
        o.seed = seed
        o.negativePenalty = 0.25
        o.markNoop = true
        return try RolloutSynthesizer(o).rows(identity: .text)
    }

    /// Bit patterns of every output column (NaN-safe equality of whole runs).
    static func bits(_ s: ScoredRows) -> [[UInt64]] {
        var columns = [s.rewards.value, s.rewards.stepReward, s.rewards.stepRewardAbs]
        if let a = s.advantages { columns += [a.episode, a.step, a.combined] }
        return columns.map { $0.map(\.bitPattern) }
    }

    /// One workspace through batches that grow, shrink and change operator: each run's outputs
    /// equal a fresh run's, bit for bit, and the kept outputs are handed back in between.
    @Test func reusedArraysChangeNoOutput() throws {
        let workspace = ScoringWorkspace()
        let plan: [(groups: Int, seed: UInt64, op: PropagationOperator, mode: AdvantageMode?)] = [
            (400, 1, .maxDecay, .meanNorm), (400, 2, .maxDecay, .meanStdNorm), (600, 3, .maxDecay, .meanNorm),
            (300, 4, .trajectoryReturn, .meanNorm), (500, 5, .goalDistance, nil), (700, 6, .discounted, .meanStdNorm),
            (350, 7, .maxDecay, .meanNorm),
        ]
        var reused = 0
        for step in plan {
            let rows = try Self.batch(groups: step.groups, seed: step.seed)
            #expect(rows.count >= ScoringWorkspace.minimumCount)
            var options = ScoringOptions()
            options.propagation = step.op
            options.advantage = step.mode
            let scorer = try Scorer(options: options)
            let fresh = try scorer.score(rows)
            let before = workspace.keptCount(of: Double.self)
            var explain = SolveExplanation()
            var kept = try scorer.score(rows, explain: &explain, workspace: workspace)
            let same = Self.bits(kept) == Self.bits(fresh)
            #expect(same, "\(step)")
            if workspace.keptCount(of: Double.self) < before { reused += 1 }  // the run took some
            #expect(workspace.keptCount(of: Int32.self) > 0, "the index's and the graph's arrays go back")
            workspace.keep(&kept)
            #expect(kept.rewards.value.isEmpty && kept.advantages == nil)
            #expect(workspace.keptCount(of: Double.self) >= 3)
        }
        // Every run but those whose rows outgrow every array kept: the first, 600 and 700 groups.
        #expect(reused == plan.count - 3)
    }

    /// One holder at a time: a second `tryAcquire` fails until the first releases.
    @Test func oneRunHoldsTheWorkspaceAtATime() {
        let workspace = ScoringWorkspace()
        #expect(workspace.tryAcquire())
        #expect(!workspace.tryAcquire())
        workspace.release()
        #expect(workspace.tryAcquire())
        workspace.release()
    }

    @Test func takesTheBestFitAndOverwritesNothingItself() {
        let workspace = ScoringWorkspace()
        let n = ScoringWorkspace.minimumCount
        var small = [Double](repeating: 1, count: n), large = [Double](repeating: 2, count: 4 * n)
        var tiny = [Double](repeating: 3, count: n - 1)
        workspace.keep(&large)
        workspace.keep(&small)
        workspace.keep(&tiny)  // under the minimum: dropped
        #expect(large.isEmpty && small.isEmpty && tiny.isEmpty)
        #expect(workspace.take(count: n - 1, of: Double.self) == nil)  // under the minimum: never from the workspace
        #expect(workspace.take(count: n, of: Int32.self) == nil)  // another element type
        let first = workspace.take(count: 2 * n, of: Double.self)  // only `large` fits
        #expect(first?.count == 2 * n && first?.first == 2)
        let second = workspace.take(count: n, of: Double.self)
        #expect(second?.count == n && second?.first == 1)
        #expect(workspace.take(count: n, of: Double.self) == nil)
        var grown = [Double](repeating: 5, count: n)
        grown.reserveCapacity(2 * n)
        workspace.keep(&grown)
        let longer = workspace.take(count: 2 * n - 3, of: Double.self)  // within capacity: lengthened
        #expect(longer?.count == 2 * n - 3)
        // Storage kept once however many arrays share it.
        let shared = [Double](repeating: 6, count: n)
        var copyA = shared, copyB = shared
        let before = workspace.keptCount(of: Double.self)
        workspace.keep(&copyA)
        workspace.keep(&copyB)
        #expect(workspace.keptCount(of: Double.self) == before + 1)
        workspace.removeAll()
        var again = [Double](repeating: 0, count: n)
        workspace.keep(&again)
        workspace.removeAll()
        #expect(workspace.take(count: n, of: Double.self) == nil)
    }
}
