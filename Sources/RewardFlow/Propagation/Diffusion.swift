/// Symmetric diffusion: `(I − α·S)·f = r`, `S = D^{-1/2}·W·D^{-1/2}`, `W = w + wᵀ`, `D = diag(W·1)`.
///
/// `I − αS` is symmetric positive definite for 0 ≤ α < 1 (the eigenvalues of `S` lie in
/// [−1, 1]). Backends (`LinearSolver`):
/// - `direct`: sparse Cholesky by CHOLMOD, supernodal `LLᵀ` of the whole batch matrix (one
///   analysis, one factorisation, one solve);
/// - `dense`: LAPACK `dposv` per group (groups in parallel);
/// - `auto`: groups of at most `denseLimit` nodes by `dposv`, the others together by CHOLMOD
///   (measured on a 2-core VM: dense Cholesky is faster up to ~200 nodes per group, 1.7× at
///   150–200; CHOLMOD from ~200 on, 1.3× at 200–300 and 2.6× at 300–450; README "Linear operators").
/// A matrix that is not positive definite is reported as an error by both (CHOLMOD:
/// `CHOLMOD_NOT_POSDEF` / `L.minor < n`; LAPACK: `info > 0`). There is no iterative backend.
package struct Diffusion: Propagator {
    /// Groups up to this many nodes go to dense Cholesky under `auto` (measured crossover).
    package static let denseLimit = 200

    /// α ∈ [0, 1).
    package let alpha: Double
    /// The backend (`auto`, `direct` or `dense`).
    package let solver: LinearSolver
    /// Threads of the solve's parallel loops (at least 1; from the `threads` argument of the
    /// initialiser, nil giving `Execution.threadCount`). Values never depend on it.
    package let threads: Int

    /// Creates the operator; refuses α outside [0, 1) and the `iterative` backend.
    package init(alpha: Double, solver: LinearSolver = .auto, threads: Int? = nil) throws(RewardFlowError) {
        try ParameterCheck.damping(alpha, name: "alpha")
        guard solver != .iterative else {
            throw .invalidParameter(name: "solver", message: "diffusion has no iterative backend (choose auto, direct or dense)")
        }
        self.alpha = alpha
        self.solver = solver
        self.threads = Parallel.threads(threads)
    }

    /// `f` per node, recording backends, residual and stage times in `explain`.
    package func values(on graph: StateGraph, explain: inout SolveExplanation) throws(RewardFlowError) -> [Double] {
        explain.operatorDescription = "diffusion (alpha \(alpha), solver \(solver.rawValue))"
        let n = graph.nodeCount
        var values = [Double](repeating: 0, count: n)
        guard n > 0 else { return values }
        let s = explain.time("assemble S") { Self.normalisedAdjacency(graph) }
        let groups = graph.nonEmptyGroups
        let size = graph.nodeCount(ofGroup:)
        let limit: Int
        switch solver {
        case .dense: limit = Int.max
        case .direct, .iterative: limit = 0
        case .auto: limit = Self.denseLimit
        }
        let small = groups.filter { size($0) <= limit }, large = groups.filter { size($0) > limit }
        let system = DiffusionSystem(s: s, alpha: alpha)
        try BlockSolver.solveDense(system, groups: small, graph: graph, threads: threads, into: &values, explain: &explain)
        try BlockSolver.solveSparse(system, pack: GroupPack(large, graph: graph), graph: graph, into: &values, explain: &explain)
        if solver == .auto {
            explain.notes.append("auto: groups of ≤ \(Self.denseLimit) nodes by dposv, larger ones by CHOLMOD")
        }
        explain.residual = explain.time("residual") {
            LinearSystems.maxAbs(threads: threads, count: n) { u in
                var t = 0.0
                for e in s.rowStart[u]..<s.rowStart[u + 1] { t += s.value[e] * values[Int(s.column[e])] }
                return values[u] - alpha * t - graph.nodeReward[u]
            }
        }
        explain.residualDescription = "‖(I−αS)f − r‖∞"
        return values
    }
}

/// `A = I − α·S` of `Diffusion`, `S = D^{-1/2}·W·D^{-1/2}` (exactly symmetric: both
/// triangles are computed by the same products), for `BlockSolver`.
///
/// SPD: `S` is similar to the random-walk matrix `D⁻¹W`, so its eigenvalues lie in [−1, 1]
/// (isolated nodes give zero rows), and those of `A` in `[1−α, 1+α]` with `0 ≤ α < 1`:
/// Cholesky applies. Error bound (postcondition): `κ₂(A) ≤ (1+α)/(1−α)`, so the
/// backward-stable Cholesky solves give `‖f − f*‖₂ / ‖f*‖₂ ≤ c(n)·ε·(1+α)/(1−α)`; `Diffusion`
/// reports the residual `‖Af − r‖∞` it reached.
struct DiffusionSystem: BlockSystem {
    let s: SparseMatrix
    let alpha: Double

    var factorisation: BlockFactorisation { .cholesky }
    var name: String { "diffusion" }

    /// Row `j`: `1 − α·S(j, j)` on the diagonal (in its sorted place), `−α·S(j, i)` elsewhere.
    @inline(__always)
    func forEachEntry(ofRow j: Int, _ body: (Int, Double) -> Void) {
        forEachEntryOfIdentityMinus(alpha, s.rowStart, s.column, s.value, row: j, body)
    }
}

extension Diffusion {
    /// `S = D^{-1/2}·(w + wᵀ)·D^{-1/2}` of a batch (columns ascending, global node ids;
    /// symmetric, so the rows are also its columns).
    static func normalisedAdjacency(_ graph: StateGraph) -> SparseMatrix {
        let n = graph.nodeCount
        let reversed = graph.reversed()
        var rowStart = [0], column: [Int32] = [], weight: [Double] = []
        rowStart.reserveCapacity(n + 1)
        column.reserveCapacity(2 * graph.edgeCount)
        weight.reserveCapacity(2 * graph.edgeCount)
        var degree = [Double](repeating: 0, count: n)
        for u in 0..<n {
            // Merge the out-edges (targets ascending) and in-edges (sources ascending) of u.
            var a = graph.edgeStart[u], b = reversed.edgeStart[u]
            let aEnd = graph.edgeStart[u + 1], bEnd = reversed.edgeStart[u + 1]
            var total = 0.0
            while a < aEnd || b < bEnd {
                let ta = a < aEnd ? graph.edgeTarget[a] : Int32.max
                let tb = b < bEnd ? reversed.edgeTarget[b] : Int32.max
                let t = min(ta, tb)
                var w = 0.0
                if ta == t { w += graph.edgeWeight[a]; a += 1 }
                if tb == t { w += reversed.edgeWeight[b]; b += 1 }
                column.append(t)
                weight.append(w)
                total += w
            }
            degree[u] = total
            rowStart.append(column.count)
        }
        let scale = degree.map { $0 > 0 ? 1 / $0.squareRoot() : 0 }
        for u in 0..<n {
            for e in rowStart[u]..<rowStart[u + 1] { weight[e] *= scale[u] * scale[Int(column[e])] }
        }
        return SparseMatrix(rowStart: rowStart, column: column, value: weight)
    }
}
