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
        let s = explain.time("assemble S") { NormalisedAdjacency(graph) }
        let groups = graph.nonEmptyGroups
        let size = graph.nodeCount(ofGroup:)
        let limit: Int
        switch solver {
        case .dense: limit = Int.max
        case .direct, .iterative: limit = 0
        case .auto: limit = Self.denseLimit
        }
        let small = groups.filter { size($0) <= limit }, large = groups.filter { size($0) > limit }
        try explain.time("dense: dposv per group") { () throws(RewardFlowError) in
            try solveDense(small, graph, s, &values)
        }
        explain.record("dense", groups: small.count, nodes: small.reduce(0) { $0 + size($1) })
        try solveCholmod(GroupPack(large, graph: graph), graph, s, &values, &explain)
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

    /// Solves each group by LAPACK `dposv` on its dense matrix `I − αS`.
    func solveDense(_ groups: [Int], _ graph: StateGraph, _ s: NormalisedAdjacency, _ values: inout [Double]) throws(RewardFlowError) {
        guard !groups.isEmpty else { return }
        let alpha = self.alpha
        try values.withUnsafeMutableBufferPointer { (out) throws(RewardFlowError) in
            let out = SendableBuffer(out)
            try LinearSystems.forEachGroup(groups, threads: threads, makeWorkspace: { DenseWorkspace() }) { (_, g, work) throws(RewardFlowError) in
                let base = graph.groupNodeStart[g], n = graph.groupNodeStart[g + 1] - base
                work.reset(order: n)
                for j in 0..<n {
                    let v = base + j
                    work.a[j + j * n] = 1
                    for e in s.rowStart[v]..<s.rowStart[v + 1] {
                        work.a[(Int(s.column[e]) - base) + j * n] -= alpha * s.value[e]
                    }
                    work.b[j] = graph.nodeReward[v]
                }
                try DenseLAPACK.solveSPD(order: n, &work.a, &work.b)
                for i in 0..<n { out[base + i] = work.b[i] }
            }
        }
    }

    /// The upper triangle of `I − αS` over the packed groups, compressed by columns.
    func upperTriangle(_ pack: GroupPack, _ graph: StateGraph, _ s: NormalisedAdjacency) throws(RewardFlowError) -> CompressedColumns {
        var entries = 0
        for g in pack.groups { entries += s.rowStart[graph.groupNodeStart[g + 1]] - s.rowStart[graph.groupNodeStart[g]] }
        let capacity = pack.nodeCount + entries / 2 + 1
        try LinearSystems.check32Bit(nodes: pack.nodeCount, nonzeros: capacity, "diffusion")
        var start: [Int32] = [0], rows: [Int32] = [], vals: [Double] = []
        start.reserveCapacity(pack.nodeCount + 1)
        rows.reserveCapacity(capacity)
        vals.reserveCapacity(capacity)
        for (k, g) in pack.groups.enumerated() {
            let base = graph.groupNodeStart[g], shift = pack.start[k] - base
            for j in base..<graph.groupNodeStart[g + 1] {
                var diagonal = 1.0
                for e in s.rowStart[j]..<s.rowStart[j + 1] {
                    let i = Int(s.column[e])
                    if i == j { diagonal -= alpha * s.value[e] }
                    if i >= j { continue }
                    rows.append(Int32(i + shift))
                    vals.append(-alpha * s.value[e])
                }
                rows.append(Int32(j + shift))
                vals.append(diagonal)
                start.append(Int32(rows.count))
            }
        }
        return CompressedColumns(order: pack.nodeCount, columnStart: start, rowIndex: rows, values: vals)
    }

    /// Solves the packed groups by one CHOLMOD supernodal `LLᵀ` of their block-diagonal matrix.
    func solveCholmod(
        _ pack: GroupPack, _ graph: StateGraph, _ s: NormalisedAdjacency, _ values: inout [Double],
        _ explain: inout SolveExplanation
    ) throws(RewardFlowError) {
        guard !pack.isEmpty else { return }
        let upper = try explain.time("cholmod: assemble") { () throws(RewardFlowError) in try upperTriangle(pack, graph, s) }
        let rhs = pack.gather(graph.nodeReward, graph: graph)
        let cholesky = try explain.time("cholmod: analyse") { () throws(RewardFlowError) in
            try SparseCholesky(analysing: upper)
        }
        try explain.time("cholmod: factorise") { () throws(RewardFlowError) in try cholesky.factorise() }
        let x = try explain.time("cholmod: solve") { () throws(RewardFlowError) in try cholesky.solve(rhs) }
        pack.scatter(x, into: &values, graph: graph)
        explain.record("cholmod", groups: pack.groups.count, nodes: pack.nodeCount, nonzeros: upper.rowIndex.count)
        if !cholesky.factor.isSupernodalLL { explain.notes.append("CHOLMOD returned a factor that is not supernodal LLᵀ") }
    }
}

/// `S = D^{-1/2}·(w + wᵀ)·D^{-1/2}` of a batch in compressed rows (columns ascending, global
/// node ids; symmetric, so the rows are also its columns).
struct NormalisedAdjacency: Sendable {
    var rowStart: [Int]
    var column: [Int32]
    var value: [Double]

    init(_ graph: StateGraph) {
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
        self.rowStart = rowStart
        self.column = column
        self.value = weight
    }
}
