/// One group's state graph prepared for drawing: node values, goal and start marks, edge
/// weights, actions and advantages, and optionally one trajectory's path.
///
/// A node's value is the mean `value` of the rows on its state (one number for every graph
/// operator); an edge `u→v` is "taken" by the rows `j` of a trajectory with `s_j` on `u` and
/// `s_{j+1}` on `v`; its colour value is the mean step advantage of those rows that are active
/// (the mean step reward when the batch has no advantages).
package struct GroupPicture: Sendable {
    /// A node of the picture (ids are local: `0..<nodes.count`).
    package struct Node: Sendable, Equatable {
        /// The state text (or `key 0x…` for keyed states).
        package var state: String
        /// `V(s)`.
        package var value: Double
        /// `r(s)`.
        package var reward: Double
        /// `r(s) > 0`.
        package var isGoal: Bool
        /// A trajectory of the group starts here.
        package var isStart: Bool
        /// On the highlighted trajectory (all true when none is highlighted).
        package var onPath: Bool
    }

    /// An edge of the picture.
    package struct Edge: Sendable, Equatable {
        /// Local source node.
        package var source: Int
        /// Local target node.
        package var target: Int
        /// `w(u→v)`: trajectories that contain it.
        package var weight: Double
        /// The most frequent action of the rows that took it (ties: first seen); "" when none did.
        package var action: String
        /// Mean step advantage (or step reward) of the rows that took it; nil when none did.
        package var credit: Double?
        /// On the highlighted trajectory (all true when none is highlighted).
        package var onPath: Bool
    }

    /// The group's name.
    package var group: String
    /// The highlighted trajectory, if any.
    package var trajectory: String?
    /// Nodes in graph order (first mention).
    package var nodes: [Node]
    /// Edges, by source then target.
    package var edges: [Edge]
    /// Whether `credit` holds step advantages (true) or step rewards (false).
    package var creditIsAdvantage: Bool
    /// The scoring summary, for captions.
    package var scoring: String

    /// The picture of the group named `group`, highlighting trajectory `trajectory` if given.
    package init(_ batch: ScoredBatch, group: String, trajectory: String? = nil) throws(RewardFlowError) {
        guard let g = (0..<batch.index.groupCount).first(where: { batch.rows.groupNames.string(of: Int32($0)) == group }) else {
            throw .invalidParameter(name: "group", message: "no group named '\(group)' in the batch (\(batch.index.groupCount) groups)")
        }
        try self.init(batch, groupIndex: g, trajectory: trajectory)
    }

    /// The picture of group number `g` (input order).
    package init(_ batch: ScoredBatch, groupIndex g: Int, trajectory: String? = nil) throws(RewardFlowError) {
        let (rows, index, graph) = (batch.rows, batch.index, batch.graph)
        let trajectories = index.groupTrajectoryStart[g]..<index.groupTrajectoryStart[g + 1]
        func name(_ t: Int) -> String {
            rows.trajectoryNames.string(of: rows.trajectory[Int(index.orderedRows[index.trajectoryRowStart[t]])])
        }
        var highlighted: Int?
        if let trajectory {
            guard let t = trajectories.first(where: { name($0) == trajectory }) else {
                throw .invalidParameter(name: "trajectory", message: "group '\(rows.groupNames.string(of: Int32(g)))' has no trajectory named '\(trajectory)'")
            }
            highlighted = t
        }
        let base = graph.groupNodeStart[g], end = graph.groupNodeStart[g + 1]
        var valueSum = [Double](repeating: 0, count: end - base)
        var valueCount = [Int](repeating: 0, count: end - base)
        var nodes = (base..<end).map { u in
            let id = graph.nodeState[u]
            let text = rows.identity == .key ? "key 0x" + String(rows.stateKeys.key(of: id), radix: 16) : rows.stateTexts.string(of: id)
            return Node(state: text, value: 0, reward: graph.nodeReward[u], isGoal: graph.nodeReward[u] > 0,
                        isStart: false, onPath: highlighted == nil)
        }
        var edges: [Edge] = []
        for u in base..<end {
            for e in graph.edgeStart[u]..<graph.edgeStart[u + 1] {
                edges.append(Edge(source: u - base, target: Int(graph.edgeTarget[e]) - base, weight: graph.edgeWeight[e],
                                  action: "", credit: nil, onPath: highlighted == nil))
            }
        }
        var creditSum = [Double](repeating: 0, count: edges.count)
        var creditCount = [Int](repeating: 0, count: edges.count)
        var actionCounts = [[Int32: Int]](repeating: [:], count: edges.count)
        var actionFirst = [[Int32: Int]](repeating: [:], count: edges.count)
        let credit = batch.scored.advantages?.step ?? batch.scored.rewards.stepReward
        var order = 0
        for t in trajectories {
            let first = index.trajectoryRowStart[t], last = index.trajectoryRowStart[t + 1]
            for j in first..<last {
                let r = Int(index.orderedRows[j])
                let u = Int(graph.rowNode[r])
                guard u >= 0 else { continue }
                valueSum[u - base] += batch.scored.rewards.value[r]
                valueCount[u - base] += 1
                if j == first { nodes[u - base].isStart = true }
                if t == highlighted { nodes[u - base].onPath = true }
                guard j + 1 < last else { continue }
                let v = Int(graph.rowNode[Int(index.orderedRows[j + 1])])
                guard v >= 0, let e = Self.edge(graph, from: u, to: v) else { continue }
                let k = e - graph.edgeStart[base]
                if t == highlighted { edges[k].onPath = true }
                if j - first < Int(index.activePrefix[t]) {
                    creditSum[k] += credit[r]
                    creditCount[k] += 1
                }
                let a = rows.action[r]
                actionCounts[k][a, default: 0] += 1
                if actionFirst[k][a] == nil { actionFirst[k][a] = order }
                order += 1
            }
        }
        for i in nodes.indices where valueCount[i] > 0 { nodes[i].value = valueSum[i] / Double(valueCount[i]) }
        for k in edges.indices {
            if creditCount[k] > 0 { edges[k].credit = creditSum[k] / Double(creditCount[k]) }
            let best = actionCounts[k].max { a, b in
                a.value != b.value ? a.value < b.value : actionFirst[k][a.key]! > actionFirst[k][b.key]!
            }
            if let best { edges[k].action = rows.actionNames.string(of: best.key) }
        }
        self.group = rows.groupNames.string(of: Int32(g))
        self.trajectory = highlighted.map(name)
        self.nodes = nodes
        self.edges = edges
        self.creditIsAdvantage = batch.scored.advantages != nil
        self.scoring = batch.options.summary
    }

    /// The edge `u→v` of `graph` (binary search: targets ascend), or nil.
    static func edge(_ graph: StateGraph, from u: Int, to v: Int) -> Int? {
        var lo = graph.edgeStart[u], hi = graph.edgeStart[u + 1]
        while lo < hi {
            let mid = (lo + hi) / 2
            let t = Int(graph.edgeTarget[mid])
            if t == v { return mid }
            if t < v { lo = mid + 1 } else { hi = mid }
        }
        return nil
    }

    /// The smallest and largest node value (0…1 for an empty picture).
    package var valueRange: (Double, Double) {
        guard let lo = nodes.map(\.value).min(), let hi = nodes.map(\.value).max() else { return (0, 1) }
        return (lo, hi)
    }

    /// The largest `|credit|` over edges (at least the smallest positive double).
    package var creditScale: Double {
        max(edges.compactMap { $0.credit.map(abs) }.max() ?? 0, .leastNonzeroMagnitude)
    }
}

/// Colour scales and text helpers shared by the DOT, SVG and HTML writers.
enum Palette {
    /// Node fill for `x ∈ [0, 1]`: light yellow → green → dark blue (viridis-like stops).
    static func value(_ x: Double) -> String {
        let stops: [(Double, Double, Double)] = [(253, 231, 37), (94, 201, 98), (33, 145, 140), (59, 82, 139), (68, 1, 84)]
        let t = min(max(x.isFinite ? x : 0, 0), 1) * Double(stops.count - 1)
        let k = min(Int(t), stops.count - 2)
        let f = t - Double(k)
        let (a, b) = (stops[k], stops[k + 1])
        return hex(a.0 + f * (b.0 - a.0), a.1 + f * (b.1 - a.1), a.2 + f * (b.2 - a.2))
    }

    /// Whether text on `value(x)` should be white (dark fills).
    static func darkFill(_ x: Double) -> Bool { x > 0.55 }

    /// Edge colour for `x ∈ [−1, 1]`: red (negative) → grey (0) → blue (positive).
    static func credit(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "#bbbbbb" }
        let t = min(max(x, -1), 1)
        let grey = 170.0
        return t < 0 ? hex(grey + -t * (214 - grey), grey * (1 + t) + -t * 39, grey * (1 + t) + -t * 40)
                     : hex(grey * (1 - t) + t * 31, grey * (1 - t) + t * 119, grey + t * (180 - grey))
    }

    static func hex(_ r: Double, _ g: Double, _ b: Double) -> String {
        func h(_ x: Double) -> String {
            let v = Int(min(max(x.rounded(), 0), 255))
            let s = String(v, radix: 16)
            return s.count == 1 ? "0" + s : s
        }
        return "#" + h(r) + h(g) + h(b)
    }

    /// `text` cut to `limit` characters (grapheme clusters), with `…` when cut; control
    /// characters become spaces.
    static func shorten(_ text: String, _ limit: Int) -> String {
        var out = ""
        var n = 0
        for c in text {
            if n == limit { return out + "…" }
            out.append(c.unicodeScalars.allSatisfy { $0.value < 0x20 || $0.value == 0x7F } ? " " : c)
            n += 1
        }
        return out
    }

    /// A short decimal for labels (4 significant digits).
    static func number(_ x: Double) -> String {
        guard x.isFinite else { return "\(x)" }
        if x == 0 { return "0" }
        let a = abs(x)
        if a >= 1e5 || a < 1e-3 {
            return formatScientific(x)
        }
        let digits = max(0, 3 - Int((a.log10Floor)))
        var scaled = (x * pow10(digits)).rounded() / pow10(digits)
        if scaled == 0 { scaled = 0 }
        var s = "\(scaled)"
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }

    private static func pow10(_ k: Int) -> Double {
        var p = 1.0
        for _ in 0..<k { p *= 10 }
        return p
    }

    private static func formatScientific(_ x: Double) -> String {
        var e = 0
        var m = abs(x)
        while m >= 10 { m /= 10; e += 1 }
        while m < 1 { m *= 10; e -= 1 }
        let mantissa = (m * 100).rounded() / 100
        return (x < 0 ? "-" : "") + "\(mantissa)e\(e)"
    }
}

extension Double {
    /// `⌊log10 |x|⌋` for finite non-zero `x`, by repeated division (no libm dependency).
    var log10Floor: Int {
        var e = 0
        var m = abs(self)
        while m >= 10 { m /= 10; e += 1 }
        while m < 1 { m *= 10; e -= 1 }
        return e
    }
}
