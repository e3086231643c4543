/// How a block system's matrix is factorised (each `BlockSystem` says which, and why it may).
enum BlockFactorisation: Sendable {
    /// A nonsingular matrix: LU with partial pivoting, dense (`dgesv`) or sparse (UMFPACK).
    case lu
    /// A symmetric positive definite matrix: Cholesky, dense (`dposv`) or supernodal sparse
    /// `LLᵀ` (CHOLMOD); a matrix that turns out not to be positive definite is an error.
    case cholesky
}

/// A linear operator's system `A·x = r` over a batch's nodes (`r`: the node rewards), block
/// diagonal over groups: no entry of `A` couples nodes of two groups.
///
/// A conformer states only its matrix (row by row), why it is nonsingular (or SPD), and the
/// error bound of the solution, in its doc comment; `BlockSolver` does the rest: dense per
/// group, or the chosen groups packed into one sparse matrix, factorised, solved, scattered
/// back and explained.
protocol BlockSystem: Sendable {
    /// The factorisation `A` admits.
    var factorisation: BlockFactorisation { get }
    /// The operator's name in error messages (`"discounted"`).
    var name: String { get }
    /// Row `u` of `A` (global node ids): `body(column, value)` for every entry, columns
    /// ascending within `u`'s group, the diagonal present exactly once.
    func forEachEntry(ofRow u: Int, _ body: (Int, Double) -> Void)
}

/// Row `j` of `I − c·M`, `M` in CSR with ascending columns (`rowStart`, `column`, `value`):
/// `body(column, entry)` in ascending column order, `−c·M(j, i)` off the diagonal and
/// `1 − c·M(j, j)` on it, in its sorted place whether or not `M(j, j)` is stored. The rows of
/// both linear operators' matrices (`DiscountedSystem`, `DiffusionSystem`).
@inline(__always)
func forEachEntryOfIdentityMinus(
    _ c: Double, _ rowStart: [Int], _ column: [Int32], _ value: [Double], row j: Int, _ body: (Int, Double) -> Void
) {
    let entries = rowStart[j]..<rowStart[j + 1]
    var diagonal = 1.0
    for e in entries where Int(column[e]) == j { diagonal -= c * value[e] }
    var placed = false
    for e in entries {
        let i = Int(column[e])
        if i == j { continue }
        if i > j && !placed { body(j, diagonal); placed = true }
        body(i, -c * value[e])
    }
    if !placed { body(j, diagonal) }
}

/// The generic block-solver driver of the linear operators (`Discounted`, `Diffusion`).
enum BlockSolver {
    /// Solves each group of `groups` on its dense `n × n` block (`dgesv` or `dposv`, groups in
    /// parallel chunks of up to `threads`), writing the group's nodes of `values`; times the
    /// stage and records the `dense` backend in `explain`.
    ///
    /// Postcondition: each block's solution is LAPACK's (backward stable: the computed `x`
    /// solves `(A + δA)·x = r` with `‖δA‖ ≤ c(n)·ε·‖A‖` per block); the error of the lowest
    /// failing group (singular, not positive definite, too large) is thrown.
    static func solveDense<System: BlockSystem>(
        _ system: System, groups: [Int], graph: StateGraph, threads: Int, into values: inout [Double],
        explain: inout SolveExplanation
    ) throws(RewardFlowError) {
        let routine = system.factorisation == .lu ? "dgesv" : "dposv"
        try explain.time("dense: \(routine) per group") { () throws(RewardFlowError) in
            guard !groups.isEmpty else { return }
            try LinearSystems.forEachGroup(groups, threads: threads, writing: &values, makeWorkspace: { DenseWorkspace() }) {
                (_, g, work, out) throws(RewardFlowError) in
                let base = graph.groupNodeStart[g], n = graph.groupNodeStart[g + 1] - base
                work.reset(order: n)
                for i in 0..<n {
                    // Column-major: A(i, j) at a[i + j·n], local ids.
                    system.forEachEntry(ofRow: base + i) { j, v in work.a[i + (j - base) * n] += v }
                    work.b[i] = graph.nodeReward[base + i]
                }
                switch system.factorisation {
                case .lu: try DenseLAPACK.solveGeneral(order: n, &work.a, &work.b, pivots: &work.pivots)
                case .cholesky: try DenseLAPACK.solveSPD(order: n, &work.a, &work.b)
                }
                for i in 0..<n { out[base + i] = work.b[i] }
            }
        }
        explain.record("dense", groups: groups.count, nodes: groups.reduce(0) { $0 + graph.nodeCount(ofGroup: $1) })
    }

    /// Solves the packed groups together: one sparse factorisation of their block-diagonal
    /// matrix (UMFPACK LU as backend `direct`, or CHOLMOD supernodal `LLᵀ` of the lower
    /// triangle as backend `cholmod`), one solve, scattered into `values`; each stage timed.
    ///
    /// Postcondition: the solution is the library's (both backward stable; UMFPACK applies its
    /// default iterative refinement); a singular or not positive definite matrix, or one over
    /// the 32-bit index range, is an error.
    static func solveSparse<System: BlockSystem>(
        _ system: System, pack: GroupPack, graph: StateGraph, into values: inout [Double],
        explain: inout SolveExplanation
    ) throws(RewardFlowError) {
        guard !pack.isEmpty else { return }
        let rhs: [Double], x: [Double]
        switch system.factorisation {
        case .lu:
            let a = try explain.time("direct: assemble") { () throws(RewardFlowError) in
                try assemble(system, pack, graph, lowerTriangle: false)
            }
            rhs = pack.gather(graph.nodeReward, graph: graph)
            let lu = try explain.time("direct: UMFPACK symbolic") { () throws(RewardFlowError) in try SparseLU(analysing: a) }
            try explain.time("direct: UMFPACK numeric") { () throws(RewardFlowError) in try lu.factorise() }
            x = try explain.time("direct: UMFPACK solve") { () throws(RewardFlowError) in try lu.solve(rhs) }
            pack.scatter(x, into: &values, graph: graph)
            explain.record("direct", groups: pack.groups.count, nodes: pack.nodeCount, nonzeros: a.nonzeroCount)
        case .cholesky:
            let lower = try explain.time("cholmod: assemble") { () throws(RewardFlowError) in
                try assemble(system, pack, graph, lowerTriangle: true)
            }
            rhs = pack.gather(graph.nodeReward, graph: graph)
            let cholesky = try explain.time("cholmod: analyse") { () throws(RewardFlowError) in
                try SparseCholesky(analysing: lower)
            }
            try explain.time("cholmod: factorise") { () throws(RewardFlowError) in try cholesky.factorise() }
            x = try explain.time("cholmod: solve") { () throws(RewardFlowError) in try cholesky.solve(rhs) }
            pack.scatter(x, into: &values, graph: graph)
            explain.record("cholmod", groups: pack.groups.count, nodes: pack.nodeCount, nonzeros: lower.nonzeroCount)
            if !cholesky.factor.isSupernodalLL { explain.notes.append("CHOLMOD returned a factor that is not supernodal LLᵀ") }
        }
    }

    /// `A` over the packed groups (packed node ids), or its lower triangle (columns ≤ row,
    /// which CHOLMOD reads as the upper triangle by columns).
    static func assemble<System: BlockSystem>(
        _ system: System, _ pack: GroupPack, _ graph: StateGraph, lowerTriangle: Bool
    ) throws(RewardFlowError) -> SparseMatrix {
        let bound = pack.nodeCount + pack.edgeCount(graph)
        try LinearSystems.check32Bit(nodes: pack.nodeCount, nonzeros: bound, system.name)
        var a = SparseMatrix(reservingRows: pack.nodeCount, nonzeros: bound, columnCount: pack.nodeCount)
        for (k, g) in pack.groups.enumerated() {
            let base = graph.groupNodeStart[g], shift = pack.start[k] - base
            for u in base..<graph.groupNodeStart[g + 1] {
                system.forEachEntry(ofRow: u) { j, v in
                    if !lowerTriangle || j <= u { a.append(j + shift, v) }
                }
                a.endRow()
            }
        }
        return a
    }
}

/// Per-thread scratch of the dense paths: an `n × n` column-major matrix, a right-hand side
/// and pivots, reused across the groups of one chunk.
struct DenseWorkspace {
    var a: [Double] = []
    var b: [Double] = []
    var pivots: [Int32] = []

    /// Zeroes `a` (`n²`) and `b` (`n`), reusing their storage when the size repeats.
    mutating func reset(order n: Int) {
        Self.zero(&a, count: n * n)
        Self.zero(&b, count: n)
    }

    static func zero(_ x: inout [Double], count: Int) {
        if x.count == count {
            x.fill(with: 0)
        } else {
            x = [Double](repeating: 0, count: count)
        }
    }
}
