import Synchronization

/// Groups handed to one backend, renumbered contiguously: group `groups[k]`'s node `u` becomes
/// `u − groupNodeStart[groups[k]] + start[k]` (nodes keep their order inside a group).
///
/// With every group of the batch the numbering is the identity; a subset packs the chosen
/// blocks of the block-diagonal batch matrix into one smaller block-diagonal matrix.
struct GroupPack: Sendable {
    /// Global group ids, ascending.
    let groups: [Int]
    /// Packed node offsets (`groups.count + 1`).
    let start: [Int]

    init(_ groups: [Int], graph: StateGraph) {
        var start = [0]
        start.reserveCapacity(groups.count + 1)
        for g in groups { start.append(start[start.count - 1] + graph.nodeCount(ofGroup: g)) }
        self.groups = groups
        self.start = start
    }

    /// Number of packed unknowns.
    var nodeCount: Int { start[start.count - 1] }
    /// True when no group was handed over.
    var isEmpty: Bool { groups.isEmpty }
    /// Edges inside the packed groups.
    func edgeCount(_ graph: StateGraph) -> Int {
        groups.reduce(0) { $0 + graph.edgeStart[graph.groupNodeStart[$1 + 1]] - graph.edgeStart[graph.groupNodeStart[$1]] }
    }

    /// Copies the packed solution `x` back into the global `values`.
    func scatter(_ x: [Double], into values: inout [Double], graph: StateGraph) {
        for (k, g) in groups.enumerated() {
            let base = graph.groupNodeStart[g]
            for l in start[k]..<start[k + 1] { values[base + l - start[k]] = x[l] }
        }
    }

    /// The right-hand side `r` in packed order.
    func gather(_ global: [Double], graph: StateGraph) -> [Double] {
        var x = [Double](repeating: 0, count: nodeCount)
        for (k, g) in groups.enumerated() {
            let base = graph.groupNodeStart[g]
            for l in start[k]..<start[k + 1] { x[l] = global[base + l - start[k]] }
        }
        return x
    }
}

/// Linear-system helpers shared by the operators.
enum LinearSystems {
    /// Largest nonzero count the 32-bit SuiteSparse / BLAS interfaces accept.
    static let maxIndex = Int(Int32.max)

    /// Refuses batches whose index arrays would overflow 32-bit indices.
    static func check32Bit(nodes: Int, nonzeros: Int, _ what: String) throws(RewardFlowError) {
        guard nodes < maxIndex, nonzeros < maxIndex else {
            throw .numerical(message: "\(what): \(nodes) unknowns and \(nonzeros) nonzeros exceed the 32-bit index range")
        }
    }

    /// `P(u→v) = w(u→v) / Σ_t w(u→t)` per edge (the empirical policy).
    static func rowNormalised(_ graph: StateGraph) -> [Double] {
        var p = [Double](repeating: 0, count: graph.edgeCount)
        for u in 0..<graph.nodeCount {
            let edges = graph.edgeStart[u]..<graph.edgeStart[u + 1]
            var total = 0.0
            for e in edges { total += graph.edgeWeight[e] }
            guard total > 0 else { continue }
            for e in edges { p[e] = graph.edgeWeight[e] / total }
        }
        return p
    }

    /// Runs `body(index, groups[index], &workspace, out)` for every group of `groups`, in
    /// parallel chunks (up to `threads`; one workspace per chunk, OpenBLAS kept at one thread),
    /// `out` writing `values` (each group its own nodes only), and rethrows the error of the
    /// lowest-numbered failing group, so the outcome does not depend on the schedule.
    static func forEachGroup<Workspace>(
        _ groups: [Int], threads: Int, writing values: inout [Double], makeWorkspace: () -> Workspace,
        _ body: (_ index: Int, _ group: Int, inout Workspace, SendableBuffer<Double>) throws(RewardFlowError) -> Void
    ) throws(RewardFlowError) {
        let failure = Mutex<(Int, RewardFlowError)?>(nil)
        BLASThreads.singleThreaded {
            Parallel.forEachChunk(threads: threads, count: groups.count, writing: &values) { chunk, out in
                var work = makeWorkspace()
                for k in chunk {
                    do throws(RewardFlowError) {
                        try body(k, groups[k], &work, out)
                    } catch {
                        failure.withLock { f in
                            if let (first, _) = f, first < k { return }
                            f = (k, error)
                        }
                        return
                    }
                }
            }
        }
        if let (_, error) = failure.withLock({ $0 }) { throw error }
    }

    /// `max_i |f(i)|` over `0..<count`, in parallel chunks (up to `threads`).
    static func maxAbs(threads: Int, count: Int, _ f: (Int) -> Double) -> Double {
        let best = Mutex(0.0)
        withoutActuallyEscaping(f) { f in
            let f = UncheckedSendable(f)
            Parallel.forEachChunk(threads: threads, count: count, minimumChunk: 8192) { rows in
                var m = 0.0
                for i in rows {
                    let v = abs(f.value(i))
                    if !(v <= m) { m = v }  // NaN wins
                }
                best.withLock { if !($0 >= m) { $0 = m } }
            }
        }
        return best.withLock { $0 }
    }
}

extension ParameterCheck {
    /// An iterative solver's stop rule: `tolerance` positive and finite, `maxIterations ≥ 1`.
    static func iterative(tolerance: Double, maxIterations: Int) throws(RewardFlowError) {
        guard tolerance.isFinite && tolerance > 0 else {
            throw .invalidParameter(name: "tolerance", message: "must be a positive finite number, got \(tolerance)")
        }
        guard maxIterations >= 1 else {
            throw .invalidParameter(name: "max-iter", message: "must be at least 1, got \(maxIterations)")
        }
    }
}
