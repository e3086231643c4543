/// How `Scorer` runs the operator `ScoringOptions.propagation` names (SPEC §3–4).
///
/// Every operator is a `ScoringOperator`: it solves on a `ScoringBatch` (asking the batch for
/// its state graph when it needs one) and turns its solution into per-row rewards. The graph
/// operators share one implementation (`GraphOperator`: node values, then each row takes its
/// state's value); `trajectory-return` works on the rows alone. The one dispatch on the operator
/// name is `ScoringOptions.scoringOperator()`.

/// The batch of one scoring run: the rows, their SPEC §2 order, and the state graph, built on
/// first use (at most once) by whichever stage asks for it.
struct ScoringBatch: Sendable {
    /// The input rows.
    let rows: StepRows
    /// Their SPEC §2 order.
    private(set) var index: TrajectoryIndex
    /// The options of the run (validated by `Scorer`).
    let options: ScoringOptions
    /// Threads of the run's parallel loops (at least 1).
    let threads: Int
    /// Where the run's large per-row arrays may come from, and go back to (nil: none).
    let workspace: ScoringWorkspace?
    /// The state graph, once `stateGraph(explain:)` has built it.
    private(set) var graph: StateGraph?

    /// A batch whose graph is not built yet.
    init(rows: StepRows, index: TrajectoryIndex, options: ScoringOptions, threads: Int, workspace: ScoringWorkspace? = nil) {
        (self.rows, self.index, self.options, self.threads, self.workspace) = (rows, index, options, threads, workspace)
    }

    /// Gives the index's and the graph's per-row arrays to the workspace; the batch is spent.
    consuming func recycle() {
        guard let workspace else { return }
        index.recycle(into: workspace)
        if var built = graph {
            graph = nil  // so `built` holds the only reference to its arrays
            built.recycle(into: workspace)
        }
    }

    /// The state graph of the rows (SPEC §2, with graph similarity when set), built on the first
    /// call (timed as `similarity` and `graph`, its size recorded in `explain`), then kept.
    mutating func stateGraph(explain: inout SolveExplanation) -> StateGraph {
        if let graph { return graph }
        var states: [Int32]?
        if let t = options.similarity {
            states = explain.time("similarity") { SimilarStates.graphStates(rows, index: index, threshold: t, threads: threads) }
        }
        let built = explain.time("graph") {
            GraphBuilder(nodeReward: options.nodeReward, threads: threads, workspace: workspace).build(rows, index: index, states: states)
        }
        (explain.groups, explain.nodes, explain.edges) = (built.groupCount, built.nodeCount, built.edgeCount)
        graph = built
        return built
    }
}

/// What an operator's solve produced, reduced to the numbers it solved for.
protocol OperatorSolution: Sendable {
    /// Node values (graph operators) or per-row returns (`trajectory-return`).
    var values: [Double] { get }
}

/// An operator as `Scorer` runs it: a solve on the batch, then per-row rewards from the solution.
protocol ScoringOperator: Sendable {
    /// What `solve` hands to `extract`.
    associatedtype Solution: OperatorSolution
    /// Solves on `batch` (building its state graph if the operator needs one), recording the
    /// operator, backends and stage times in `explain`.
    func solve(_ batch: inout ScoringBatch, explain: inout SolveExplanation) throws(RewardFlowError) -> Solution
    /// Per-row values and step rewards (SPEC §4) of `batch` from `solution`.
    func extract(_ solution: Solution, _ batch: ScoringBatch) -> RowRewards
}

extension ScoringOperator {
    /// `solve`, then `extract` (timed as `extract`).
    func rewards(_ batch: inout ScoringBatch, explain: inout SolveExplanation) throws(RewardFlowError) -> RowRewards {
        let solution = try solve(&batch, explain: &explain)
        let solved = batch
        return explain.time("extract") { extract(solution, solved) }
    }
}

extension ScoringOptions {
    /// The operator `propagation` names, with its parameters from these options; refuses
    /// parameters outside the operator's domain.
    func scoringOperator() throws(RewardFlowError) -> any ScoringOperator {
        switch propagation {
        case .maxDecay:
            return try MaxDecay(gamma: gamma, threads: threads)
        case .trajectoryReturn:
            return try TrajectoryReturn(gamma: gamma)
        case .discounted:
            return try Discounted(
                gamma: gamma, solver: solver, tolerance: tolerance, maxIterations: maxIterations, threads: threads)
        case .pagerank:
            guard solver == .auto || solver == .iterative else {
                throw .invalidParameter(name: "solver", message: "pagerank is solved by power iteration only (choose auto or iterative)")
            }
            return try PageRank(alpha: alpha, tolerance: tolerance, maxIterations: maxIterations, threads: threads)
        case .diffusion:
            return try Diffusion(alpha: alpha, solver: solver, threads: threads)
        case .goalDistance:
            return try GoalDistance(gamma: gamma, goalReward: goalReward, threads: threads)
        }
    }
}

// MARK: - Operators on the state graph

/// A graph operator's solution: the graph, its node values, and the step rule that turns them
/// into step rewards.
struct NodeSolution: OperatorSolution {
    /// The state graph solved on.
    let graph: StateGraph
    /// `V` per node of `graph`.
    let values: [Double]
    /// How `step_reward` is formed on the step range.
    let rule: StepRule
}

/// An operator on the state graph (SPEC §3): `V` per node, then row values `V(state of the row)`
/// and step rewards by the options' step rule (SPEC §4).
protocol GraphOperator: ScoringOperator, Propagator where Solution == NodeSolution {
    /// Node values and the step rule for `mode`. Default: `values(on:explain:)` and the plain
    /// rule of `mode`.
    func nodeValues(
        on graph: StateGraph, stepReward mode: StepRewardMode, explain: inout SolveExplanation
    ) throws(RewardFlowError) -> (values: [Double], rule: StepRule)
    /// Whether the solve runs OpenBLAS kernels (the explanation then names the core).
    var usesBLAS: Bool { get }
}

extension GraphOperator {
    /// `values(on:explain:)` with the plain rule of `mode`.
    func nodeValues(
        on graph: StateGraph, stepReward mode: StepRewardMode, explain: inout SolveExplanation
    ) throws(RewardFlowError) -> (values: [Double], rule: StepRule) {
        (try values(on: graph, explain: &explain), StepRule(mode))
    }

    /// Node values on the batch's state graph.
    func solve(_ batch: inout ScoringBatch, explain: inout SolveExplanation) throws(RewardFlowError) -> NodeSolution {
        let graph = batch.stateGraph(explain: &explain)
        let (values, rule) = try nodeValues(on: graph, stepReward: batch.options.stepReward, explain: &explain)
        if usesBLAS { explain.notes.append("OpenBLAS kernels: \(BLAS.coreName)") }
        return NodeSolution(graph: graph, values: values, rule: rule)
    }

    /// Row values and step rewards from node values (`RewardExtractor`).
    func extract(_ solution: NodeSolution, _ batch: ScoringBatch) -> RowRewards {
        RewardExtractor.extract(
            batch.rows, index: batch.index, graph: solution.graph, nodeValues: solution.values,
            rule: solution.rule, threads: batch.threads, workspace: batch.workspace)
    }
}

extension MaxDecay: GraphOperator {
    /// Max-decay's sweeps are plain loops.
    var usesBLAS: Bool { false }
}

extension Discounted: GraphOperator {
    /// Its solvers run BLAS vector kernels or LAPACK.
    var usesBLAS: Bool { true }
}

extension PageRank: GraphOperator {
    /// Its power iteration runs BLAS vector kernels.
    var usesBLAS: Bool { true }
}

extension Diffusion: GraphOperator {
    /// Its solvers run BLAS vector kernels or LAPACK.
    var usesBLAS: Bool { true }
}

extension GoalDistance: GraphOperator {
    /// A breadth-first search: no BLAS.
    var usesBLAS: Bool { false }

    /// Values `R·γ^d`; under `progress` the rule carries the distances they come from.
    func nodeValues(
        on graph: StateGraph, stepReward mode: StepRewardMode, explain: inout SolveExplanation
    ) -> (values: [Double], rule: StepRule) {
        let solved = solve(on: graph, explain: &explain)
        guard mode == .progress else { return (solved.values, StepRule(mode)) }
        return (solved.values, .progress(GoalProgress(goal: self, distance: solved.distance, unreachable: solved.unreachable)))
    }
}

// MARK: - The operator on the rows

/// `trajectory-return`'s solution: `R_t` per input row.
struct RowReturns: OperatorSolution {
    /// `R_t` per row (0 on inactive rows).
    let values: [Double]
}

extension TrajectoryReturn: ScoringOperator {
    /// Discounted returns per trajectory (timed as `returns`); no state graph.
    func solve(_ batch: inout ScoringBatch, explain: inout SolveExplanation) -> RowReturns {
        explain.operatorDescription = "trajectory-return (gamma \(gamma))"
        return RowReturns(values: explain.time("returns") { returns(batch.rows, index: batch.index) })
    }

    /// `value = step_reward = step_reward_abs = R_t` on active rows (`RewardExtractor`).
    func extract(_ solution: RowReturns, _ batch: ScoringBatch) -> RowRewards {
        RewardExtractor.extract(batch.rows, index: batch.index, returns: solution.values)
    }
}
