/// A self-contained HTML report of a scored batch (`rewardflow report`): inline CSS and SVG,
/// one small inline script (table sorting), no network access.
///
/// Sections: batch statistics, the step-group size table, histograms of value, step reward and
/// advantage, an optional A/B panel (the same rows' advantages under a second operator), the
/// table of groups (each rendered group links to `#graph-K`), and at most `maxGraphs` group
/// graphs (the first groups in input order; the page says which).
package struct HTMLReport: Sendable {
    /// Advantages (or step rewards) of the same rows under another operator.
    package struct Comparison: Sendable {
        /// The other scoring's summary.
        package var scoring: String
        /// Its per-row credit, aligned with the rows.
        package var credit: [Double]

        /// A comparison column named by `scoring`.
        package init(scoring: String, credit: [Double]) {
            self.scoring = scoring
            self.credit = credit
        }
    }

    /// The batch.
    package var batch: ScoredBatch
    /// Its statistics.
    package var statistics: BatchStatistics
    /// The A/B comparison, if any.
    package var comparison: Comparison?
    /// How many group graphs are drawn.
    package var maxGraphs: Int = 12
    /// How many rows the group table lists.
    package var maxTableRows: Int = 10_000

    /// A report of `batch`.
    package init(batch: ScoredBatch, statistics: BatchStatistics? = nil, comparison: Comparison? = nil) {
        self.batch = batch
        self.statistics = statistics ?? batch.statistics()
        self.comparison = comparison
    }

    /// The per-row credit compared and plotted: the combined advantage, or the step reward when
    /// the batch has no advantages.
    package static func credit(_ scored: ScoredRows) -> [Double] { scored.advantages?.combined ?? scored.rewards.stepReward }

    /// The HTML text.
    package func render() throws(RewardFlowError) -> String {
        let s = statistics, t = s.total
        let rows = batch.rows
        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>RewardFlow report</title>
            <style>
            body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1200px}
            h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
            table{border-collapse:collapse;font-variant-numeric:tabular-nums}
            td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}
            td:first-child,th:first-child{text-align:left}
            th{cursor:pointer;background:#f6f6f6;position:sticky;top:0}
            .charts{display:flex;flex-wrap:wrap;gap:1em}
            .graph{overflow:auto;border:1px solid #ddd;margin:.5em 0 1.5em}
            .note{color:#666}
            </style></head><body>
            <h1>RewardFlow report</h1>
            <p class="note">\(HTML.escape(s.scoring)) — \(rows.count) rows, \(s.groups.count) groups</p>

            """
        h += "<h2 id=\"batch\">Batch</h2>\n<table id=\"batch-table\">\n"
        func pct(_ x: Double) -> String { Palette.number(100 * x) + "%" }
        let summary: [(String, String)] = [
            ("rows", "\(t.rows) (\(t.activeRows) active)"), ("groups", "\(s.groups.count)"),
            ("trajectories", "\(t.trajectories)"), ("success rate", pct(t.successRate)),
            ("distinct states", "\(t.distinctStates)"), ("unique-state ratio", Palette.number(t.uniqueStateRatio)),
            ("nodes", "\(t.nodes)"), ("edges", "\(t.edges)"),
            ("strongly connected components", "\(t.components) (\(t.cyclicComponents) with a cycle)"),
            ("nodes reaching a positive reward", "\(t.nodesReachingPositive) (\(pct(t.reachingPositiveShare)))"),
            ("step groups", "\(t.stepGroups), mean size \(Palette.number(t.meanStepGroupSize))"),
        ]
        for (k, v) in summary { h += "<tr><td>\(k)</td><td>\(HTML.escape(v))</td></tr>\n" }
        h += "</table>\n<h3>Quantiles</h3>\n<table><tr><th></th>"
        for q in ["count", "min", "p10", "p25", "median", "p75", "p90", "max", "mean"] { h += "<th>\(q)</th>" }
        h += "</tr>\n"
        for (name, q) in [("value (all rows)", t.value), ("step reward (active rows)", t.stepReward), ("advantage (active rows)", t.advantage)] {
            h += "<tr><td>\(name)</td>"
            if let q {
                h += "<td>\(q.count)</td>" + [q.min, q.p10, q.p25, q.median, q.p75, q.p90, q.max, q.mean].map { "<td>\(Palette.number($0))</td>" }.joined()
            } else {
                h += "<td colspan=\"9\">—</td>"
            }
            h += "</tr>\n"
        }
        h += "</table>\n<h2 id=\"step-groups\">Step-group sizes</h2>\n<table><tr><th>size</th><th>step groups</th><th>share</th></tr>\n"
        for bin in s.stepGroupSizes.prefix(40) { h += "<tr><td>\(bin.size)</td><td>\(bin.stepGroups)</td><td>\(pct(bin.share))</td></tr>\n" }
        if s.stepGroupSizes.count > 40 { h += "<tr><td colspan=\"3\" class=\"note\">\(s.stepGroupSizes.count - 40) larger sizes not listed</td></tr>\n" }
        h += "</table>\n"

        // Histograms.
        var active: [Int] = []
        active.reserveCapacity(t.activeRows)
        for r in 0..<rows.count where rows.active[r] { active.append(r) }
        h += "<h2 id=\"histograms\">Histograms</h2>\n<div class=\"charts\">\n"
        h += SVGCharts.histogram(batch.scored.rewards.value, title: "value V (all rows)", id: "hist-value")
        h += SVGCharts.histogram(active.map { batch.scored.rewards.stepReward[$0] }, title: "step reward (active rows)", id: "hist-step-reward")
        if let a = batch.scored.advantages {
            h += SVGCharts.histogram(active.map { a.combined[$0] }, title: "advantage (active rows)", id: "hist-advantage")
        }
        h += "</div>\n"

        if let comparison { h += compare(comparison, active) }

        // Groups.
        let drawn = min(maxGraphs, s.groups.count)
        h += "<h2 id=\"groups\">Groups</h2>\n<p class=\"note\">Click a column to sort. "
        h += drawn == s.groups.count ? "Every group's graph is drawn below." : "Graphs are drawn for the first \(drawn) of \(s.groups.count) groups (input order); the others are listed without one (rewardflow graph INPUT --group NAME draws any group)."
        if s.groups.count > maxTableRows { h += " The table lists the first \(maxTableRows) groups." }
        h += "</p>\n<table id=\"group-table\"><thead><tr>"
        for c in ["group", "rows", "trajectories", "success", "states", "unique ratio", "nodes", "edges", "SCCs", "reach +", "step groups", "V median", "adv median", "adv p90"] {
            h += "<th>\(c)</th>"
        }
        h += "</tr></thead><tbody>\n"
        for (k, g) in s.groups.prefix(maxTableRows).enumerated() {
            let name = HTML.escape(g.name)
            h += "<tr><td>" + (k < drawn ? "<a href=\"#graph-\(k)\">\(name)</a>" : name) + "</td>"
            let cells = ["\(g.rows)", "\(g.trajectories)", pct(g.successRate), "\(g.distinctStates)", Palette.number(g.uniqueStateRatio),
                         "\(g.nodes)", "\(g.edges)", "\(g.components)", pct(g.reachingPositiveShare), "\(g.stepGroups)",
                         g.value.map { Palette.number($0.median) } ?? "", g.advantage.map { Palette.number($0.median) } ?? "",
                         g.advantage.map { Palette.number($0.p90) } ?? ""]
            h += cells.map { "<td>\($0)</td>" }.joined() + "</tr>\n"
        }
        h += "</tbody></table>\n<h2 id=\"graphs\">Group graphs</h2>\n"
        h += "<p class=\"note\">Node fill = value V (yellow low → purple high, per group); thick outline = start state; double ring = goal (r &gt; 0); edge width = w (trajectories through it); edge colour = mean step advantage of the rows that took it (red negative, blue positive). Hover for state texts and actions.</p>\n"
        for k in 0..<drawn {
            let picture = try GroupPicture(batch, groupIndex: k)
            h += "<section class=\"graph\" id=\"graph-\(k)\"><h3>\(HTML.escape(picture.group))</h3>\n"
            h += SVGCharts.graph(picture, id: k) + "</section>\n"
        }
        h += """
            <script>
            document.querySelectorAll('#group-table th').forEach(function(th,i){th.addEventListener('click',function(){
            var b=th.closest('table').tBodies[0],r=Array.from(b.rows),d=th.dataset.d==='1'?-1:1;th.dataset.d=d===1?'1':'0';
            r.sort(function(x,y){var p=x.cells[i].textContent,q=y.cells[i].textContent,a=parseFloat(p),c=parseFloat(q);
            return (isNaN(a)||isNaN(c)?p.localeCompare(q):a-c)*d;});r.forEach(function(e){b.appendChild(e);});});});
            </script>
            </body></html>

            """
        return h
    }

    /// The A/B panel: correlation, sign agreement, mean |A − B|, and a scatter plot.
    func compare(_ c: Comparison, _ active: [Int]) -> String {
        let a = Self.credit(batch.scored), b = c.credit
        var sa = ExactAccumulator(), sb = ExactAccumulator(), sd = ExactAccumulator()
        var agree = 0, signed = 0
        for r in active {
            sa.add(a[r]); sb.add(b[r]); sd.add(abs(a[r] - b[r]))
            if a[r] != 0 || b[r] != 0 {
                signed += 1
                if (a[r] > 0) == (b[r] > 0) && (a[r] < 0) == (b[r] < 0) { agree += 1 }
            }
        }
        let n = Double(max(1, active.count))
        let ma = sa.value / n, mb = sb.value / n
        var sab = ExactAccumulator(), saa = ExactAccumulator(), sbb = ExactAccumulator()
        for r in active {
            sab.add((a[r] - ma) * (b[r] - mb)); saa.add((a[r] - ma) * (a[r] - ma)); sbb.add((b[r] - mb) * (b[r] - mb))
        }
        let denominator = (saa.value * sbb.value).squareRoot()
        let correlation = denominator > 0 ? Palette.number(sab.value / denominator) : "undefined (a constant column)"
        var h = "<h2 id=\"compare\">A/B: \(HTML.escape(statistics.scoring)) vs \(HTML.escape(c.scoring))</h2>\n<table id=\"compare-table\">\n"
        h += "<tr><td>active rows</td><td>\(active.count)</td></tr>\n"
        h += "<tr><td>Pearson correlation of the advantages</td><td>\(correlation)</td></tr>\n"
        h += "<tr><td>same sign (rows where either is non-zero)</td><td>\(signed == 0 ? "—" : Palette.number(100 * Double(agree) / Double(signed)) + "%") of \(signed)</td></tr>\n"
        h += "<tr><td>mean |A − B|</td><td>\(Palette.number(sd.value / n))</td></tr>\n</table>\n"
        let stride = max(1, active.count / 2000)
        let points = Swift.stride(from: 0, to: active.count, by: stride).map { (a[active[$0]], b[active[$0]]) }
        h += "<div class=\"charts\">" + SVGCharts.scatter(points, x: "A: " + statistics.scoring, y: "B: " + c.scoring, id: "scatter")
        h += SVGCharts.histogram(active.map { b[$0] }, title: "B advantage (active rows)", id: "hist-compare") + "</div>\n"
        h += "<p class=\"note\">Scatter: \(points.count) of \(active.count) active rows (every \(stride)th).</p>\n"
        return h
    }
}

/// Inline SVG drawings: histograms, scatter plots and a layered drawing of a group's graph.
enum SVGCharts {
    /// A 40-bin histogram of `values` over their range.
    static func histogram(_ values: [Double], title: String, id: String) -> String {
        let w = 360.0, hgt = 180.0, pad = 30.0, bins = 40
        var svg = "<figure id=\"\(id)\"><svg width=\"\(Int(w))\" height=\"\(Int(hgt))\" role=\"img\"><title>\(HTML.escape(title))</title>"
        guard let lo = values.min(), let hi = values.max() else {
            return svg + "<text x=\"10\" y=\"20\">no values</text></svg><figcaption>\(HTML.escape(title))</figcaption></figure>\n"
        }
        var counts = [Int](repeating: 0, count: bins)
        let span = hi > lo ? hi - lo : 1
        for v in values { counts[min(bins - 1, max(0, Int((v - lo) / span * Double(bins))))] += 1 }
        let top = Double(counts.max() ?? 1)
        let bw = (w - 2 * pad) / Double(bins)
        for (k, c) in counts.enumerated() where c > 0 {
            let bh = (hgt - 2 * pad) * Double(c) / top
            svg += "<rect x=\"\(f(pad + Double(k) * bw))\" y=\"\(f(hgt - pad - bh))\" width=\"\(f(bw - 1))\" height=\"\(f(bh))\" fill=\"#4a78b5\"><title>\(Palette.number(lo + Double(k) * span / Double(bins)))…: \(c)</title></rect>"
        }
        svg += "<line x1=\"\(f(pad))\" y1=\"\(f(hgt - pad))\" x2=\"\(f(w - pad))\" y2=\"\(f(hgt - pad))\" stroke=\"#444\"/>"
        svg += "<text x=\"\(f(pad))\" y=\"\(f(hgt - 10))\" font-size=\"11\">\(Palette.number(lo))</text>"
        svg += "<text x=\"\(f(w - pad))\" y=\"\(f(hgt - 10))\" font-size=\"11\" text-anchor=\"end\">\(Palette.number(hi))</text>"
        svg += "<text x=\"\(f(pad))\" y=\"18\" font-size=\"11\">max bin \(Int(top)) of \(values.count)</text>"
        return svg + "</svg><figcaption>\(HTML.escape(title))</figcaption></figure>\n"
    }

    /// A scatter plot of `(x, y)` pairs.
    static func scatter(_ points: [(Double, Double)], x: String, y: String, id: String) -> String {
        let size = 300.0, pad = 30.0
        var svg = "<figure id=\"\(id)\"><svg width=\"\(Int(size))\" height=\"\(Int(size))\" role=\"img\"><title>A/B scatter</title>"
        let xs = points.map(\.0), ys = points.map(\.1)
        let lo = min(xs.min() ?? 0, ys.min() ?? 0), hi = max(xs.max() ?? 1, ys.max() ?? 1)
        let span = hi > lo ? hi - lo : 1
        func p(_ v: Double) -> Double { pad + (v - lo) / span * (size - 2 * pad) }
        svg += "<line x1=\"\(f(pad))\" y1=\"\(f(size - pad))\" x2=\"\(f(size - pad))\" y2=\"\(f(pad))\" stroke=\"#ccc\"/>"
        for (a, b) in points { svg += "<circle cx=\"\(f(p(a)))\" cy=\"\(f(size - p(b)))\" r=\"1.6\" fill=\"#4a78b5\" fill-opacity=\"0.5\"/>" }
        svg += "<text x=\"\(f(pad))\" y=\"\(f(size - 8))\" font-size=\"10\">\(Palette.number(lo)) … \(Palette.number(hi)) (both axes; diagonal: A = B)</text>"
        return svg + "</svg><figcaption>x = \(HTML.escape(x)); y = \(HTML.escape(y))</figcaption></figure>\n"
    }

    /// A layered drawing: column = breadth-first distance from the start states (unreached
    /// nodes in a last column), rows in graph order; forward edges straight, others curved.
    /// `picture` as inline SVG; `id` makes its arrowhead marker's id unique on the page.
    static func graph(_ picture: GroupPicture, id: Int) -> String {
        let n = picture.nodes.count
        var successors = [[Int]](repeating: [], count: n)
        for e in picture.edges { successors[e.source].append(e.target) }
        var layer = [Int](repeating: -1, count: n)
        var queue = (0..<n).filter { picture.nodes[$0].isStart }
        for u in queue { layer[u] = 0 }
        var head = 0
        while head < queue.count {
            let u = queue[head]
            head += 1
            for v in successors[u] where layer[v] < 0 {
                layer[v] = layer[u] + 1
                queue.append(v)
            }
        }
        let maxLayer = layer.max() ?? 0
        for u in 0..<n where layer[u] < 0 { layer[u] = maxLayer + 1 }
        var slot = [Int](repeating: 0, count: n)
        var filled = [Int: Int]()
        for u in 0..<n {
            slot[u] = filled[layer[u], default: 0]
            filled[layer[u], default: 0] += 1
        }
        let dx = 110.0, dy = 34.0, r = 11.0, pad = 24.0
        let width = pad * 2 + dx * Double((layer.max() ?? 0))  + 40
        let height = pad * 2 + dy * Double(max(0, (filled.values.max() ?? 1) - 1)) + 20
        func x(_ u: Int) -> Double { pad + 20 + dx * Double(layer[u]) }
        func y(_ u: Int) -> Double { pad + dy * Double(slot[u]) }
        let (lo, hi) = picture.valueRange
        let span = hi > lo ? hi - lo : 1
        let scale = picture.creditScale
        var svg = "<svg width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\"><title>state graph of group \(HTML.escape(picture.group)): \(n) nodes, \(picture.edges.count) edges</title>"
        svg += "<defs><marker id=\"arrow-\(id)\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#666\"/></marker></defs>"
        for e in picture.edges {
            let (x1, y1, x2, y2) = (x(e.source), y(e.source), x(e.target), y(e.target))
            let len = max(((x2 - x1) * (x2 - x1) + (y2 - y1) * (y2 - y1)).squareRoot(), 1e-9)
            let (ux, uy) = ((x2 - x1) / len, (y2 - y1) / len)
            let (sx, sy, tx, ty) = (x1 + ux * r, y1 + uy * r, x2 - ux * r, y2 - uy * r)
            let colour = Palette.credit(e.credit.map { $0 / scale })
            let width = 0.8 + 1.2 * DOTWriter.log2(e.weight)
            let path = layer[e.target] == layer[e.source] + 1
                ? "M\(f(sx)),\(f(sy))L\(f(tx)),\(f(ty))"
                : "M\(f(sx)),\(f(sy))Q\(f((sx + tx) / 2 - uy * 30)),\(f((sy + ty) / 2 + ux * 30)) \(f(tx)),\(f(ty))"
            let tip = "\(e.action) (w = \(Palette.number(e.weight)), credit \(e.credit.map { Palette.number($0) } ?? "none"))"
            svg += "<path class=\"edge\" d=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"\(f(width))\" marker-end=\"url(#arrow-\(id))\"><title>\(HTML.escape(tip))</title></path>"
        }
        for (u, node) in picture.nodes.enumerated() {
            let fill = Palette.value((node.value - lo) / span)
            let stroke = node.isStart ? " stroke=\"#000\" stroke-width=\"3\"" : " stroke=\"#555\""
            svg += "<g class=\"node\"><title>\(HTML.escape(node.state)) — V = \(Palette.number(node.value)), r = \(Palette.number(node.reward))</title>"
            svg += "<circle cx=\"\(f(x(u)))\" cy=\"\(f(y(u)))\" r=\"\(f(r))\" fill=\"\(fill)\"\(stroke)/>"
            if node.isGoal { svg += "<circle cx=\"\(f(x(u)))\" cy=\"\(f(y(u)))\" r=\"\(f(r + 3))\" fill=\"none\" stroke=\"#c00\" stroke-width=\"1.5\"/>" }
            svg += "</g>"
        }
        return svg + "</svg>\n"
    }

    /// A coordinate with one decimal.
    static func f(_ v: Double) -> String {
        let t = (v * 10).rounded() / 10
        var s = "\(t)"
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }
}
