/// Scoring one stage at a time, for benchmarks and profiling: the benchmark package (a separate
/// package, which sees only public API) times each stage alone on a batch prepared once.
///
/// The stages run the code `Scorer.score` runs, so their outputs are the scorer's: the
/// `rewards` and `advantages` of `extractAndEstimate()` equal `Scorer(options:).score(rows)`.
public struct ScoringStages: Sendable {
    /// The scorer (and so the validated options) of every stage.
    public let scorer: Scorer
    /// The rows the stages work on.
    public let rows: StepRows
    /// The prepared batch: the rows' order, and the state graph when the operator uses one.
    private let batch: ScoringBatch
    /// Per-row rewards from the solution computed at preparation.
    private let extractStage: @Sendable () -> RowRewards

    /// Prepares `rows` under `options`: validates both, orders the rows, builds the state graph
    /// (when the operator uses one) and solves once, so that each stage can then run alone.
    public init(rows: StepRows, options: ScoringOptions = ScoringOptions()) throws(RewardFlowError) {
        scorer = try Scorer(options: options)
        self.rows = rows
        var explain = SolveExplanation()
        var batch = try scorer.prepare(rows, explain: &explain)
        extractStage = try Self.extraction(options.scoringOperator(), &batch)
        self.batch = batch
    }

    /// Solves `op` on `batch` and returns its extraction stage on that solution.
    private static func extraction<Op: ScoringOperator>(
        _ op: Op, _ batch: inout ScoringBatch
    ) throws(RewardFlowError) -> @Sendable () -> RowRewards {
        var explain = SolveExplanation()
        let solution = try op.solve(&batch, explain: &explain)
        let solved = batch
        return { op.extract(solution, solved) }
    }

    /// Stage 1, anew from the rows: their SPEC §2 order and the state graph (with the options'
    /// graph similarity and node rewards). Returns the graph's edge count.
    public func assembleGraph() throws(RewardFlowError) -> Int {
        var explain = SolveExplanation()
        var fresh = try scorer.prepare(rows, explain: &explain)
        return fresh.stateGraph(explain: &explain).edgeCount
    }

    /// Stage 2: the solve of the operator that `options` names (nil: the stages' own options),
    /// with its parameters from `options`, on the prepared batch (whose state graph was built
    /// under the stages' own options). Returns node values (graph operators) or per-row returns
    /// (`trajectory-return`); refuses options outside their domains.
    public func solve(_ options: ScoringOptions? = nil) throws(RewardFlowError) -> [Double] {
        try solver(options)()
    }

    /// `solve(options)` with the options validated and the operator built once, up front: the
    /// returned closure runs only the solve (what a benchmark of the operator times).
    public func solver(_ options: ScoringOptions? = nil) throws(RewardFlowError) -> @Sendable () throws(RewardFlowError) -> [Double] {
        let chosen = try options.map { o throws(RewardFlowError) in try Scorer(options: o) } ?? scorer
        return Self.solver(try chosen.options.scoringOperator(), batch)
    }

    /// A closure solving `op` on a copy of `batch`.
    private static func solver<Op: ScoringOperator>(
        _ op: Op, _ batch: ScoringBatch
    ) -> @Sendable () throws(RewardFlowError) -> [Double] {
        { () throws(RewardFlowError) in
            var copy = batch
            var explain = SolveExplanation()
            return try op.solve(&copy, explain: &explain).values
        }
    }

    /// Stage 3: per-row rewards from the solution computed at preparation, then the advantages
    /// (when the options name a mode). Postcondition: equal to `scorer.score(rows)`, without its
    /// check that every output is finite.
    public func extractAndEstimate() throws(RewardFlowError) -> ScoredRows {
        var explain = SolveExplanation()
        let rewards = extractStage()
        return ScoredRows(rewards: rewards, advantages: try scorer.advantages(batch, rewards, explain: &explain))
    }

    /// The execution environment, for benchmark logs: engine threads (`$REWARDFLOW_THREADS` or
    /// the processor count), the OpenBLAS core and its thread count.
    public static var environment: String {
        "engine threads \(Execution.threadCount), OpenBLAS core \(Execution.blasCoreName), OpenBLAS threads \(Execution.blasThreadCount)"
    }
}
