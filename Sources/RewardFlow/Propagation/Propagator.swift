/// A propagation operator (SPEC §3): maps a `StateGraph` to one value `V(s)` per node.
///
/// Values of a group depend only on that group's block of the graph.
package protocol Propagator: Sendable {
    /// `V` per node of `graph` (indexed like `graph.nodeReward`), recording what was solved
    /// (backends, iterations, residual, stage times) in `explain`.
    func values(on graph: StateGraph, explain: inout SolveExplanation) throws(RewardFlowError) -> [Double]
}

extension Propagator {
    /// `V` per node of `graph`, without a record of the solve.
    package func values(on graph: StateGraph) throws(RewardFlowError) -> [Double] {
        var explain = SolveExplanation()
        return try values(on: graph, explain: &explain)
    }
}

/// Checks that a discount or damping factor lies in its domain.
enum ParameterCheck {
    /// `value ∈ (0, 1]` when `allowOne`, else `(0, 1)`.
    static func discount(_ value: Double, name: String, allowOne: Bool) throws(RewardFlowError) {
        let ok = value.isFinite && value > 0 && (allowOne ? value <= 1 : value < 1)
        guard ok else {
            throw .invalidParameter(name: name, message: "must be in (0, \(allowOne ? "1]" : "1)"), got \(value)")
        }
    }

    /// `value ∈ [0, 1)`.
    static func damping(_ value: Double, name: String) throws(RewardFlowError) {
        guard value.isFinite && value >= 0 && value < 1 else {
            throw .invalidParameter(name: name, message: "must be in [0, 1), got \(value)")
        }
    }
}
