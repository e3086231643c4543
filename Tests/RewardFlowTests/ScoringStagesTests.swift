import RewardFlow
import RewardFlowSynthesis
import Testing

/// `ScoringStages` (the benchmarks' public entry) runs the stages of `Scorer.score`: each stage's
/// output is the scorer's.
@Suite struct ScoringStagesTests {
    static func rows() throws -> StepRows {
        var o = SynthesisOptions()
        o.groups = 6
        o.rollouts = 4
        o.maxSteps = 15
        o.seed = 5
        return try RolloutSynthesizer(o).rows(identity: .text)
    }

    static func options(_ op: PropagationOperator) -> ScoringOptions {
        var o = ScoringOptions()
        o.propagation = op
        o.advantage = .meanStdNorm
        return o
    }

    @Test(arguments: PropagationOperator.allCases)
    func extractAndEstimateEqualsScore(_ op: PropagationOperator) throws {
        let rows = try Self.rows()
        let stages = try ScoringStages(rows: rows, options: Self.options(op))
        let staged = try stages.extractAndEstimate()
        let scored = try Scorer(options: Self.options(op)).score(rows)
        #expect(staged.rewards.value.map(\.bitPattern) == scored.rewards.value.map(\.bitPattern))
        #expect(staged.rewards.stepReward.map(\.bitPattern) == scored.rewards.stepReward.map(\.bitPattern))
        #expect(staged.advantages?.combined.map(\.bitPattern) == scored.advantages?.combined.map(\.bitPattern))
    }

    @Test func solveGivesTheOperatorsOutput() throws {
        let rows = try Self.rows()
        let stages = try ScoringStages(rows: rows, options: Self.options(.maxDecay))
        // trajectory-return's solution is R_t per row: the value column of its scoring.
        let returns = try stages.solve(Self.options(.trajectoryReturn))
        let scored = try Scorer(options: Self.options(.trajectoryReturn)).score(rows)
        #expect(returns.map(\.bitPattern) == scored.rewards.value.map(\.bitPattern))
        // Node values: one per graph node; the stages' own operator by default.
        let nodes = try stages.solve()
        #expect(nodes.count < rows.count && !nodes.isEmpty)
        #expect(try stages.solver(nil)().map(\.bitPattern) == nodes.map(\.bitPattern))
        #expect(try stages.assembleGraph() > 0)
    }

    @Test func refusesOptionsOutsideTheirDomain() throws {
        let stages = try ScoringStages(rows: try Self.rows())
        var bad = ScoringOptions()
        bad.gamma = 1.5
        #expect(throws: RewardFlowError.invalidParameter(name: "gamma", message: "must be in (0, 1], got 1.5")) {
            _ = try stages.solve(bad)
        }
    }
}
