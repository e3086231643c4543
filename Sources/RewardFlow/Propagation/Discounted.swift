/// The linear operator of the empirical policy: `(I − γP)·V = r` with `P(u→v) = w(u→v)/Σ_t w(u→t)`
/// (a node without successors has `V = r`).
///
/// Backends (`LinearSolver`), all solving the same block-diagonal batch system and agreeing
/// within 1e-9:
/// - `direct`: sparse LU (UMFPACK) of the whole batch matrix, one symbolic analysis and one
///   numeric factorisation, then one solve;
/// - `iterative`: Jacobi / power iteration `V ← r + γ·P·V` over the whole batch (sparse
///   product in parallel row chunks, vector updates with BLAS `daxpy`/`dcopy`/`idamax`),
///   stopping as soon as `‖(I−γP)V − r‖∞ ≤ tolerance` (so `‖V − V*‖∞ ≤ tolerance/(1−γ)`); an
///   error when `maxIterations` sweeps do not get there;
/// - `dense`: LAPACK `dgesv` on each group's dense `n × n` matrix (groups in parallel);
/// - `auto`, per group: a group whose graph is acyclic is solved exactly by one
///   back-substitution in reverse topological order (O(n + E), no factorisation); a cyclic
///   group of at most `denseLimit` nodes by `dgesv`; the larger cyclic groups together by one
///   UMFPACK LU. Why (measured on a 2-core VM, README "Linear operators"): on batches binned
///   by group size, dense LU beats sparse LU up to ~125 nodes per group (no symbolic phase,
///   BLAS-3 on tiny blocks; 40–125 nodes: 1.3–1.9× faster) and loses above (dense is O(n³);
///   125–150 nodes: 1.2× slower, 150–200: 1.7×, 300–450: 7.5×). Jacobi is about as fast as
///   UMFPACK on these graphs at γ = 0.9 but needs `log(tol)/log(γ)` sweeps (10× more at
///   γ = 0.99) and is only accurate to `tol/(1−γ)`, so `auto` keeps the direct solver.
package struct Discounted: Propagator {
    /// Cyclic groups up to this many nodes go to dense LU under `auto` (measured crossover).
    package static let denseLimit = 128

    /// The discount γ ∈ (0, 1).
    package let gamma: Double
    /// The backend.
    package let solver: LinearSolver
    /// Stop rule of the iterative backend: `‖(I−γP)V − r‖∞ ≤ tolerance`.
    package let tolerance: Double
    /// Sweep cap of the iterative backend; reaching it is an error.
    package let maxIterations: Int
    /// Threads of the solve's parallel loops (at least 1; from the `threads` argument of the
    /// initialiser, nil giving `Execution.threadCount`). Values never depend on it.
    package let threads: Int

    /// Creates the operator; refuses γ outside (0, 1), a tolerance that is not a positive
    /// finite number, and fewer than one iteration.
    package init(
        gamma: Double, solver: LinearSolver = .auto, tolerance: Double = 1e-12, maxIterations: Int = 10_000,
        threads: Int? = nil
    ) throws(RewardFlowError) {
        try ParameterCheck.discount(gamma, name: "gamma", allowOne: false)
        try ParameterCheck.iterative(tolerance: tolerance, maxIterations: maxIterations)
        self.gamma = gamma
        self.solver = solver
        self.tolerance = tolerance
        self.maxIterations = maxIterations
        self.threads = Parallel.threads(threads)
    }

    /// `V` per node, recording backends, iterations, residual and stage times in `explain`.
    package func values(on graph: StateGraph, explain: inout SolveExplanation) throws(RewardFlowError) -> [Double] {
        explain.operatorDescription = "discounted (gamma \(gamma), solver \(solver.rawValue))"
        let n = graph.nodeCount
        var values = [Double](repeating: 0, count: n)
        guard n > 0 else { return values }
        let p = explain.time("assemble P") { LinearSystems.rowNormalised(graph) }
        let groups = graph.nonEmptyGroups
        let size = graph.nodeCount(ofGroup:)

        switch solver {
        case .direct:
            try solveDirect(GroupPack(groups, graph: graph), graph, p, &values, &explain)
        case .iterative:
            try solveIterative(GroupPack(groups, graph: graph), graph, p, &values, &explain)
        case .dense:
            try explain.time("dense: dgesv per group") { () throws(RewardFlowError) in
                try solveDense(groups, graph, p, &values)
            }
            explain.record("dense", groups: groups.count, nodes: n)
        case .auto:
            let cyclic = try explain.time("acyclic: topological back-substitution") { () throws(RewardFlowError) in
                try solveAcyclic(groups, graph, p, &values)
            }
            explain.record("acyclic", groups: groups.count - cyclic.count, nodes: n - cyclic.reduce(0) { $0 + size($1) })
            let small = cyclic.filter { size($0) <= Self.denseLimit }
            let large = cyclic.filter { size($0) > Self.denseLimit }
            try explain.time("dense: dgesv per group") { () throws(RewardFlowError) in
                try solveDense(small, graph, p, &values)
            }
            explain.record("dense", groups: small.count, nodes: small.reduce(0) { $0 + size($1) })
            try solveDirect(GroupPack(large, graph: graph), graph, p, &values, &explain)
            explain.notes.append("auto: acyclic groups by back-substitution, cyclic groups of ≤ \(Self.denseLimit) nodes by dgesv, larger ones by UMFPACK")
        }
        if solver != .iterative {  // the iterative backend reports the residual it stopped at
            explain.residual = explain.time("residual") { residual(values, graph, p) }
            explain.residualDescription = "‖(I−γP)V − r‖∞"
        }
        return values
    }

    /// `‖(I−γP)V − r‖∞` over the batch.
    func residual(_ v: [Double], _ graph: StateGraph, _ p: [Double]) -> Double {
        LinearSystems.maxAbs(threads: threads, count: graph.nodeCount) { u in
            var s = 0.0
            for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] { s += p[e] * v[Int(graph.edgeTarget[e])] }
            return v[u] - gamma * s - graph.nodeReward[u]
        }
    }

    // MARK: acyclic groups

    /// Solves every acyclic group of `groups` by back-substitution in reverse topological order
    /// (Kahn's algorithm) and returns the cyclic ones, untouched.
    func solveAcyclic(
        _ groups: [Int], _ graph: StateGraph, _ p: [Double], _ values: inout [Double]
    ) throws(RewardFlowError) -> [Int] {
        var isCyclic = [Bool](repeating: false, count: groups.count)
        try values.withUnsafeMutableBufferPointer { (out) throws(RewardFlowError) in
            try isCyclic.withUnsafeMutableBufferPointer { (flags) throws(RewardFlowError) in
                let (out, flags) = (SendableBuffer(out), SendableBuffer(flags))
                try LinearSystems.forEachGroup(groups, threads: threads, makeWorkspace: { TopologicalOrder() }) { k, g, work in
                    let base = graph.groupNodeStart[g], n = graph.groupNodeStart[g + 1] - base
                    guard work.sort(base..<base + n, graph) else {
                        flags[k] = true
                        return
                    }
                    for i in work.order.reversed() {
                        let u = base + Int(i)
                        var s = 0.0
                        for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] { s += p[e] * out[Int(graph.edgeTarget[e])] }
                        out[u] = graph.nodeReward[u] + gamma * s
                    }
                }
            }
        }
        return zip(groups, isCyclic).compactMap { $1 ? $0 : nil }
    }

    // MARK: dense

    /// Solves each group of `groups` by LAPACK `dgesv` on its dense matrix `I − γP`.
    func solveDense(_ groups: [Int], _ graph: StateGraph, _ p: [Double], _ values: inout [Double]) throws(RewardFlowError) {
        guard !groups.isEmpty else { return }
        try values.withUnsafeMutableBufferPointer { (out) throws(RewardFlowError) in
            let out = SendableBuffer(out)
            try LinearSystems.forEachGroup(groups, threads: threads, makeWorkspace: { DenseWorkspace() }) { (_, g, work) throws(RewardFlowError) in
                let base = graph.groupNodeStart[g], n = graph.groupNodeStart[g + 1] - base
                work.reset(order: n)
                for i in 0..<n {
                    let u = base + i
                    work.a[i + i * n] = 1
                    for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] {
                        work.a[i + (Int(graph.edgeTarget[e]) - base) * n] -= gamma * p[e]
                    }
                    work.b[i] = graph.nodeReward[u]
                }
                try DenseLAPACK.solveGeneral(order: n, &work.a, &work.b, pivots: &work.pivots)
                for i in 0..<n { out[base + i] = work.b[i] }
            }
        }
    }

    // MARK: direct

    /// `I − γP` over the packed groups in compressed rows (diagonal in its sorted place).
    func systemMatrix(_ pack: GroupPack, _ graph: StateGraph, _ p: [Double]) throws(RewardFlowError) -> CompressedRows {
        let edges = pack.edgeCount(graph)
        try LinearSystems.check32Bit(nodes: pack.nodeCount, nonzeros: pack.nodeCount + edges, "discounted")
        var a = CompressedRows(rowStart: [0], column: [], value: [])
        a.rowStart.reserveCapacity(pack.nodeCount + 1)
        a.column.reserveCapacity(pack.nodeCount + edges)
        a.value.reserveCapacity(pack.nodeCount + edges)
        for (k, g) in pack.groups.enumerated() {
            let base = graph.groupNodeStart[g], shift = pack.start[k] - base
            for u in base..<graph.groupNodeStart[g + 1] {
                var diagonal = 1.0, placed = false
                for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] {
                    let t = Int(graph.edgeTarget[e])
                    if t == u { diagonal -= gamma * p[e]; continue }
                    if t > u && !placed {
                        a.column.append(Int32(u + shift)); a.value.append(diagonal); placed = true
                    }
                    a.column.append(Int32(t + shift)); a.value.append(-gamma * p[e])
                }
                if !placed { a.column.append(Int32(u + shift)); a.value.append(diagonal) }
                a.rowStart.append(Int32(a.column.count))
            }
        }
        return a
    }

    /// Solves the packed groups by one UMFPACK LU of their block-diagonal matrix.
    func solveDirect(
        _ pack: GroupPack, _ graph: StateGraph, _ p: [Double], _ values: inout [Double], _ explain: inout SolveExplanation
    ) throws(RewardFlowError) {
        guard !pack.isEmpty else { return }
        let a = try explain.time("direct: assemble") { () throws(RewardFlowError) in try systemMatrix(pack, graph, p) }
        let rhs = pack.gather(graph.nodeReward, graph: graph)
        // CSR of A is CSC of Aᵀ: factorise Aᵀ and solve (Aᵀ)ᵀ·V = A·V = r.
        let lu = try explain.time("direct: UMFPACK symbolic") { () throws(RewardFlowError) in
            try SparseLU(analysing: a.asColumnsOfTranspose)
        }
        try explain.time("direct: UMFPACK numeric") { () throws(RewardFlowError) in try lu.factorise() }
        let x = try explain.time("direct: UMFPACK solve") { () throws(RewardFlowError) in
            try lu.solve(rhs, transposed: true)
        }
        pack.scatter(x, into: &values, graph: graph)
        explain.record("direct", groups: pack.groups.count, nodes: pack.nodeCount, nonzeros: a.column.count)
    }

    // MARK: iterative

    /// Solves the packed groups by Jacobi sweeps `V ← r + γ·P·V` over the whole pack.
    func solveIterative(
        _ pack: GroupPack, _ graph: StateGraph, _ p: [Double], _ values: inout [Double], _ explain: inout SolveExplanation
    ) throws(RewardFlowError) {
        guard !pack.isEmpty else { return }
        let m = try explain.time("iterative: assemble") { () throws(RewardFlowError) in
            try scaledTransitions(pack, graph, p)
        }
        let r = pack.gather(graph.nodeReward, graph: graph)
        let n = pack.nodeCount
        var v = r, next = [Double](repeating: 0, count: n), change = next
        var sweeps = 0, residual = Double.infinity
        explain.time("iterative: sweeps") {
            r.withUnsafeBufferPointer { r in
                while sweeps < maxIterations {
                    sweeps += 1
                    v.withUnsafeBufferPointer { v in
                        next.withUnsafeMutableBufferPointer { next in
                            m.multiply(v, into: next, threads: threads)  // next = γ·P·V
                            BLAS.axpy(1, r, next)  // next = r + γ·P·V
                            change.withUnsafeMutableBufferPointer { change in
                                BLAS.copy(UnsafeBufferPointer(next), change)
                                BLAS.axpy(-1, v, change)  // change = −((I−γP)V − r)
                                residual = BLAS.maxAbs(UnsafeBufferPointer(change))
                            }
                        }
                    }
                    if residual <= tolerance { break }
                    swap(&v, &next)
                }
            }
        }
        explain.iterations = (explain.iterations ?? 0) + sweeps
        explain.residual = max(explain.residual ?? 0, residual)
        explain.residualDescription = "‖(I−γP)V − r‖∞"
        guard residual <= tolerance else {
            throw .numerical(message: "discounted: the iterative solver did not converge in \(maxIterations) iterations (residual ‖(I−γP)V − r‖∞ = \(residual), tolerance \(tolerance))")
        }
        pack.scatter(v, into: &values, graph: graph)
        explain.record("iterative", groups: pack.groups.count, nodes: n, nonzeros: m.column.count)
    }

    /// `γ·P` over the packed groups in compressed rows.
    func scaledTransitions(_ pack: GroupPack, _ graph: StateGraph, _ p: [Double]) throws(RewardFlowError) -> CompressedRows {
        let edges = pack.edgeCount(graph)
        try LinearSystems.check32Bit(nodes: pack.nodeCount, nonzeros: edges, "discounted")
        var m = CompressedRows(rowStart: [0], column: [], value: [])
        m.rowStart.reserveCapacity(pack.nodeCount + 1)
        m.column.reserveCapacity(edges)
        m.value.reserveCapacity(edges)
        for (k, g) in pack.groups.enumerated() {
            let base = graph.groupNodeStart[g], shift = pack.start[k] - base
            for u in base..<graph.groupNodeStart[g + 1] {
                for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] {
                    m.column.append(Int32(Int(graph.edgeTarget[e]) + shift))
                    m.value.append(gamma * p[e])
                }
                m.rowStart.append(Int32(m.column.count))
            }
        }
        return m
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
            x.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        } else {
            x = [Double](repeating: 0, count: count)
        }
    }
}

/// Kahn's topological sort of one group (local node ids, sources first), reused across groups.
struct TopologicalOrder {
    var indegree: [Int32] = []
    var order: [Int32] = []

    /// Sorts the group with nodes `nodes`; false when the group has a cycle.
    mutating func sort(_ nodes: Range<Int>, _ graph: StateGraph) -> Bool {
        let base = nodes.lowerBound, n = nodes.count
        if indegree.count == n {
            indegree.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        } else {
            indegree = [Int32](repeating: 0, count: n)
        }
        for e in graph.edgeStart[base]..<graph.edgeStart[base + n] { indegree[Int(graph.edgeTarget[e]) - base] += 1 }
        order.removeAll(keepingCapacity: true)
        for i in 0..<n where indegree[i] == 0 { order.append(Int32(i)) }
        var head = 0
        while head < order.count {
            let u = base + Int(order[head])
            head += 1
            for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] {
                let t = Int(graph.edgeTarget[e]) - base
                indegree[t] -= 1
                if indegree[t] == 0 { order.append(Int32(t)) }
            }
        }
        return order.count == n
    }
}
