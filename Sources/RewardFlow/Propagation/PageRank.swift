/// Personalised PageRank on the reversed graph: `x = α·(Mx + (dᵀx)·p) + (1 − α)·p` per group,
/// `M(u, v) = w(u→v)/Σ_{u'} w(u'→v)`, `p = r⁺/Σr⁺`, `d` = nodes without predecessors.
///
/// Mass flows from rewarded states back to their predecessors: on the reversed graph the edge
/// `v→u` carries `w(u→v)`, normalised over `v`'s reversed out-edges (its in-edges here), so the
/// product is a pull over the original CSR rows and needs no transpose. Personalisation and
/// dangling mass both follow `p` over the group's nodes; a group without a positive reward gets
/// zeros. This is `networkx.pagerank(G.reverse(), alpha, personalization=p)` (whose dangling
/// distribution defaults to `p`), solved to a tighter tolerance.
///
/// Power iteration over the whole batch from `x₀ = p`: the sparse pull per group, then BLAS
/// `ddot` (dangling mass), `daxpy` (teleport), `dcopy`/`daxpy`/`dasum` (change), with the
/// groups in parallel chunks. It stops when the largest per-group change `‖x_{k+1} − x_k‖₁` is
/// at most `tolerance` (then `‖x − x*‖₁ ≤ α/(1−α)·tolerance` per group) and returns `x_{k+1}`;
/// reaching `maxIterations` first is an error.
package struct PageRank: Propagator {
    /// The damping α ∈ [0, 1).
    package let alpha: Double
    /// Stop rule: largest per-group `‖x_{k+1} − x_k‖₁ ≤ tolerance`.
    package let tolerance: Double
    /// Sweep cap; reaching it is an error.
    package let maxIterations: Int
    /// Threads of the solve's parallel loops (at least 1; from the `threads` argument of the
    /// initialiser, nil giving `Execution.threadCount`). Values never depend on it.
    package let threads: Int

    /// Creates the operator; refuses α outside [0, 1), a non-positive tolerance, < 1 sweep.
    package init(
        alpha: Double, tolerance: Double = 1e-12, maxIterations: Int = 10_000, threads: Int? = nil
    ) throws(RewardFlowError) {
        try ParameterCheck.damping(alpha, name: "alpha")
        try ParameterCheck.iterative(tolerance: tolerance, maxIterations: maxIterations)
        self.alpha = alpha
        self.tolerance = tolerance
        self.maxIterations = maxIterations
        self.threads = Parallel.threads(threads)
    }

    /// PageRank per node, recording sweeps, last change and stage times in `explain`.
    package func values(on graph: StateGraph, explain: inout SolveExplanation) throws(RewardFlowError) -> [Double] {
        explain.operatorDescription = "pagerank (alpha \(alpha))"
        let n = graph.nodeCount
        var x = [Double](repeating: 0, count: n)
        guard n > 0 else { return x }
        let (pull, teleport, dangling, groups) = explain.time("assemble") { assemble(graph) }
        guard !groups.isEmpty else {
            explain.notes.append("no group has a positive reward: all values are 0")
            return x
        }
        x = teleport
        var next = [Double](repeating: 0, count: n), change = next
        var groupChange = [Double](repeating: 0, count: groups.count)
        var sweeps = 0, largest = Double.infinity
        let alpha = self.alpha
        // A sweep is O(nodes + edges): below ~2¹⁸ of them, waking threads costs more than it saves.
        let groupsPerChunk = n + graph.edgeCount < 1 << 18 ? groups.count : 1
        // One single-threaded-BLAS scope for all sweeps (the per-sweep group loops nest in it).
        explain.time("power iteration") { BLASThreads.singleThreaded {
            while sweeps < maxIterations {
                sweeps += 1
                let current = x
                current.withUncheckedView { xv in
                    Parallel.forEachChunk(
                        threads: threads, count: groups.count, minimumChunk: groupsPerChunk, writing: &next, &change, &groupChange
                    ) { chunk, next, change, slots in
                        for k in chunk {
                            let g = groups[k]
                            let nodes = graph.groupNodeStart[g]..<graph.groupNodeStart[g + 1]
                            for u in nodes {
                                var s = 0.0
                                for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] {
                                    s += pull[e] * xv[Int(graph.edgeTarget[e])]
                                }
                                next[u] = alpha * s
                            }
                            let (xg, yg, dg) = (current[nodes], next[nodes], change[nodes])
                            let danglingMass = BLAS.dot(dangling[nodes], xg)
                            BLAS.axpy(alpha * danglingMass + (1 - alpha), teleport[nodes], yg)
                            BLAS.copy(yg, dg)
                            BLAS.axpy(-1, xg, dg)
                            slots[k] = BLAS.asum(dg)
                        }
                    }
                }
                swap(&x, &next)
                largest = groupChange.reduce(0) { max($0, $1) }
                if largest <= tolerance || largest.isNaN { break }
            }
        } }
        explain.iterations = sweeps
        explain.residual = largest
        explain.residualDescription = "largest per-group ‖x_{k+1} − x_k‖₁ of the last sweep"
        explain.record("power", groups: groups.count, nodes: groups.reduce(0) { $0 + graph.groupNodeStart[$1 + 1] - graph.groupNodeStart[$1] }, nonzeros: graph.edgeCount)
        let zero = graph.groupCount - groups.count
        if zero > 0 { explain.notes.append("\(zero) group\(zero == 1 ? "" : "s") without a positive reward: values 0") }
        guard largest <= tolerance else {
            throw .numerical(message: "pagerank: power iteration did not converge in \(maxIterations) iterations (last change ‖x_{k+1} − x_k‖₁ = \(largest), tolerance \(tolerance))")
        }
        return x
    }

    /// The pull weights `w(u→v)/Σ_{u'} w(u'→v)` per edge, the teleport vector `p = r⁺/Σr⁺`
    /// per node, the dangling indicator (no predecessor) and the groups with a positive reward.
    func assemble(_ graph: StateGraph) -> (pull: [Double], teleport: [Double], dangling: [Double], groups: [Int]) {
        let n = graph.nodeCount
        var incoming = [Double](repeating: 0, count: n)
        for e in 0..<graph.edgeCount { incoming[Int(graph.edgeTarget[e])] += graph.edgeWeight[e] }
        var pull = [Double](repeating: 0, count: graph.edgeCount)
        for e in 0..<graph.edgeCount { pull[e] = graph.edgeWeight[e] / incoming[Int(graph.edgeTarget[e])] }
        let dangling = incoming.map { $0 > 0 ? 0.0 : 1.0 }
        var teleport = [Double](repeating: 0, count: n)
        var groups: [Int] = []
        for g in 0..<graph.groupCount {
            let nodes = graph.groupNodeStart[g]..<graph.groupNodeStart[g + 1]
            var total = ExactSum()
            var largest = 0.0
            for u in nodes where graph.nodeReward[u] > 0 {
                total.add(graph.nodeReward[u])
                largest = max(largest, graph.nodeReward[u])
            }
            guard largest > 0 else { continue }
            // r⁺/Σr⁺; when Σr⁺ overflows (rewards near 1e308), scale by the largest reward first.
            let sum = total.value
            let scale = sum.isFinite ? 1 : largest
            var scaledSum = sum
            if !sum.isFinite {
                var scaled = ExactSum()
                for u in nodes where graph.nodeReward[u] > 0 { scaled.add(graph.nodeReward[u] / scale) }
                scaledSum = scaled.value
            }
            for u in nodes where graph.nodeReward[u] > 0 { teleport[u] = graph.nodeReward[u] / scale / scaledSum }
            groups.append(g)
        }
        return (pull, teleport, dangling, groups)
    }
}
