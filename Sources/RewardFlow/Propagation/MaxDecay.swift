/// The paper's operator: `V(s) = sup over walks s→…→t of γ^len · r(t)`, solved exactly.
///
/// It is the limit of `V₀ = r`, `V_{k+1}(s) = max(V_k(s), γ·max_{s→t} V_k(t))`, computed per
/// group without sweeps:
/// - strongly connected components (iterative Tarjan), emitted sinks first;
/// - γ = 1: `V(s)` = the best reward reachable from `s` (a max over the condensation DAG);
/// - γ < 1, `s` reaches no cycle: the recursion is a DP over the DAG below `s` (longest paths
///   for negative rewards come out of it);
/// - γ < 1, `s` reaches a cycle: looping drives every negative term to 0, so
///   `V(s) = max(0, V⁺(s))`, where `V⁺(s) = max_{r(t)>0} γ^dist(s,t)·r(t)` comes from a
///   Dijkstra-like best-first search on the reversed graph (multiplying by γ is monotone, so
///   the first time a node is settled its value is final).
///
/// Each value is built by the same chain of multiplications `γ·(γ·(…r))` as the sweeps, so it
/// equals the reference's result bit for bit wherever the sweeps have converged. O(E log V).
package struct MaxDecay: Propagator {
    /// The decay factor γ ∈ (0, 1].
    package let gamma: Double
    /// Threads of the solve's parallel loops (at least 1; from the `threads` argument of the
    /// initialiser, nil giving `Execution.threadCount`). Values never depend on it.
    package let threads: Int

    /// Creates the operator; refuses γ outside (0, 1].
    package init(gamma: Double, threads: Int? = nil) throws(RewardFlowError) {
        try ParameterCheck.discount(gamma, name: "gamma", allowOne: true)
        self.gamma = gamma
        self.threads = Parallel.threads(threads)
    }

    /// `V` per node, the exact limit; `explain` records the operator and the solve time.
    package func values(on graph: StateGraph, explain: inout SolveExplanation) throws(RewardFlowError) -> [Double] {
        explain.operatorDescription = "max-decay (gamma \(gamma), exact: SCC + best-first search)"
        return explain.time("solve") { solve(graph) }
    }

    private func solve(_ graph: StateGraph) -> [Double] {
        let n = graph.nodeCount
        var values = [Double].filledParallel(repeating: 0, count: n, threads: threads)
        let predecessors = gamma < 1 ? graph.reversed(threads: threads) : graph
        Parallel.forEachChunk(threads: threads, count: graph.groupCount, work: graph.nodeCount + graph.edgeCount, writing: &values) { groups, output in
            var work = Workspace()
            for g in groups {
                solveGroup(graph.groupNodeStart[g]..<graph.groupNodeStart[g + 1], graph, predecessors, output, &work)
            }
        }
        return values
    }

    /// Scratch arrays reused across the groups of one thread (indexed by local node id).
    struct Workspace {
        var tarjan = TarjanSCC()
        var reachesCycle: [Bool] = []
        var best: [Double] = []
        var heap = MaxHeap()
    }

    func solveGroup(
        _ nodes: Range<Int>, _ graph: StateGraph, _ predecessors: StateGraph,
        _ values: SendableBuffer<Double>, _ work: inout Workspace
    ) {
        guard !nodes.isEmpty else { return }
        let base = nodes.lowerBound
        work.tarjan.run(nodes, graph)
        let scc = work.tarjan
        let components = scc.componentStart.count - 1

        if gamma == 1 {
            // Best reachable reward: a max over the condensation, sinks first.
            work.best.removeAll(keepingCapacity: true)
            for c in 0..<components {
                var best = -Double.infinity
                for m in scc.componentStart[c]..<scc.componentStart[c + 1] {
                    let u = Int(scc.members[m])
                    best = max(best, graph.nodeReward[u])
                    for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] {
                        let d = Int(scc.component[Int(graph.edgeTarget[e]) - base])
                        if d != c { best = max(best, work.best[d]) }
                    }
                }
                work.best.append(best)
                for m in scc.componentStart[c]..<scc.componentStart[c + 1] { values[Int(scc.members[m])] = best }
            }
            return
        }

        // V⁺ by best-first search from the positive rewards over predecessor lists.
        var hasPositive = false
        for u in nodes {
            let r = graph.nodeReward[u]
            values[u] = -Double.infinity
            if r > 0 {
                hasPositive = true
                values[u] = r
                work.heap.push(r, Int32(u))
            }
        }
        if hasPositive {
            while let (value, u) = work.heap.pop() {
                let node = Int(u)
                if value < values[node] { continue }  // stale entry
                let candidate = gamma * value
                for e in predecessors.edgeStart[node]..<predecessors.edgeStart[node + 1] {
                    let p = Int(predecessors.edgeTarget[e])
                    if candidate > values[p] {
                        values[p] = candidate
                        work.heap.push(candidate, Int32(p))
                    }
                }
            }
        }

        // Components sinks first: cycle reach, then the DAG recursion or max(0, V⁺).
        work.reachesCycle.removeAll(keepingCapacity: true)
        for c in 0..<components {
            let lo = scc.componentStart[c], hi = scc.componentStart[c + 1]
            var cyclic = hi - lo >= 2
            if !cyclic {
                let u = Int(scc.members[lo])
                for e in graph.edgeStart[u]..<graph.edgeStart[u + 1]
                where work.reachesCycle[Int(scc.component[Int(graph.edgeTarget[e]) - base])] {
                    cyclic = true
                    break
                }
            }
            work.reachesCycle.append(cyclic)
            if cyclic {
                for m in lo..<hi {
                    let u = Int(scc.members[m])
                    values[u] = max(values[u], 0)
                }
            } else {
                // A single node whose successors are all settled DAG nodes.
                let u = Int(scc.members[lo])
                var next = -Double.infinity
                for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] {
                    next = max(next, values[Int(graph.edgeTarget[e])])
                }
                values[u] = graph.edgeStart[u] == graph.edgeStart[u + 1]
                    ? graph.nodeReward[u] : max(graph.nodeReward[u], gamma * next)
            }
        }
    }
}

/// Strongly connected components of one group's block (iterative Tarjan).
///
/// Components come out in reverse topological order: every component is emitted after all
/// components it can reach. Node ids are local to the block (`global - base`).
struct TarjanSCC {
    /// Per local node: its component.
    var component: [Int32] = []
    /// Members of component `c` are `members[componentStart[c]..<componentStart[c+1]]` (global ids).
    var members: [Int32] = []
    var componentStart: [Int] = [0]

    private var order: [Int32] = []
    private var low: [Int32] = []
    private var onStack: [Bool] = []
    private var stack: [Int32] = []
    private var frames: [(node: Int32, edge: Int)] = []

    /// Sets `array` to `n` copies of `value`, keeping its capacity.
    private static func refill<T>(_ array: inout [T], _ value: T, _ n: Int) {
        array.removeAll(keepingCapacity: true)
        array.append(contentsOf: repeatElement(value, count: n))
    }

    mutating func run(_ nodes: Range<Int>, _ graph: StateGraph) {
        let n = nodes.count, base = nodes.lowerBound
        // Reuse this thread's storage across groups (no allocation per group once it has grown).
        Self.refill(&component, -1, n)
        Self.refill(&order, -1, n)
        Self.refill(&low, 0, n)
        Self.refill(&onStack, false, n)
        members.removeAll(keepingCapacity: true)
        componentStart.removeAll(keepingCapacity: true)
        componentStart.append(0)
        var counter: Int32 = 0
        for root in 0..<n where order[root] < 0 {
            order[root] = counter; low[root] = counter; counter += 1
            stack.append(Int32(root)); onStack[root] = true
            frames.append((Int32(root), graph.edgeStart[base + root]))
            while let (v32, e) = frames.last {
                let v = Int(v32)
                if e < graph.edgeStart[base + v + 1] {
                    frames[frames.count - 1].edge = e + 1
                    let w = Int(graph.edgeTarget[e]) - base
                    if order[w] < 0 {
                        order[w] = counter; low[w] = counter; counter += 1
                        stack.append(Int32(w)); onStack[w] = true
                        frames.append((Int32(w), graph.edgeStart[base + w]))
                    } else if onStack[w] {
                        low[v] = min(low[v], order[w])
                    }
                    continue
                }
                frames.removeLast()
                if low[v] == order[v] {
                    let c = Int32(componentStart.count - 1)
                    while true {
                        let w = Int(stack.removeLast())
                        onStack[w] = false
                        component[w] = c
                        members.append(Int32(base + w))
                        if w == v { break }
                    }
                    componentStart.append(members.count)
                }
                if let parent = frames.last {
                    let p = Int(parent.node)
                    low[p] = min(low[p], low[v])
                }
            }
        }
    }
}

/// A binary max-heap of `(value, node)` pairs.
struct MaxHeap {
    private var items: [(value: Double, node: Int32)] = []

    mutating func push(_ value: Double, _ node: Int32) {
        items.append((value, node))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent].value >= items[i].value { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> (Double, Int32)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            let n = items.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < n && items[l].value > items[m].value { m = l }
                if r < n && items[r].value > items[m].value { m = r }
                if m == i { break }
                items.swapAt(m, i)
                i = m
            }
        }
        return (top.value, top.node)
    }
}
