/// Text forms of `BatchStatistics`: JSON (`rewardflow stats --json`) and a terminal table.
///
/// JSON schema (one object; numbers are JSON numbers, shortest round-trip doubles; a
/// quantile object is `null` for an empty sample):
/// ```
/// { "schema": "rewardflow.stats/1", "scoring": STRING,
///   "batch": COUNTS,                       // totals over groups
///   "step_group_sizes": [ {"size": INT, "step_groups": INT, "share": NUMBER}, … ],  // ascending size
///   "groups": [ COUNTS + {"name": STRING}, … ] }                                   // input order
/// COUNTS = { "rows", "active_rows", "trajectories", "successful_trajectories", "distinct_states",
///            "nodes", "edges", "components", "cyclic_components", "nodes_reaching_positive",
///            "step_groups": INT,
///            "success_rate", "unique_state_ratio", "reaching_positive_share", "mean_step_group_size": NUMBER,
///            "value", "step_reward", "advantage": QUANTILES | null }
/// QUANTILES = { "count": INT, "min", "p10", "p25", "median", "p75", "p90", "max", "mean": NUMBER }
/// ```
extension BatchStatistics {
    /// The JSON text (schema above), one line per group, ending in a newline.
    package var json: String {
        var out = "{\"schema\": \"rewardflow.stats/1\", \"scoring\": \(Self.string(scoring)),\n\"batch\": \(Self.counts(total, name: false)),\n\"step_group_sizes\": ["
        out += stepGroupSizes.map { "{\"size\": \($0.size), \"step_groups\": \($0.stepGroups), \"share\": \(Self.number($0.share))}" }
            .joined(separator: ", ")
        out += "],\n\"groups\": [\n"
        out += groups.map { Self.counts($0, name: true) }.joined(separator: ",\n")
        out += "\n]}\n"
        return out
    }

    static func counts(_ g: GroupStatistics, name: Bool) -> String {
        var fields: [String] = []
        if name { fields.append("\"name\": \(string(g.name))") }
        fields += [
            "\"rows\": \(g.rows)", "\"active_rows\": \(g.activeRows)", "\"trajectories\": \(g.trajectories)",
            "\"successful_trajectories\": \(g.successfulTrajectories)", "\"distinct_states\": \(g.distinctStates)",
            "\"nodes\": \(g.nodes)", "\"edges\": \(g.edges)", "\"components\": \(g.components)",
            "\"cyclic_components\": \(g.cyclicComponents)", "\"nodes_reaching_positive\": \(g.nodesReachingPositive)",
            "\"step_groups\": \(g.stepGroups)", "\"success_rate\": \(number(g.successRate))",
            "\"unique_state_ratio\": \(number(g.uniqueStateRatio))",
            "\"reaching_positive_share\": \(number(g.reachingPositiveShare))",
            "\"mean_step_group_size\": \(number(g.meanStepGroupSize))",
            "\"value\": \(quantiles(g.value))", "\"step_reward\": \(quantiles(g.stepReward))",
            "\"advantage\": \(quantiles(g.advantage))",
        ]
        return "{" + fields.joined(separator: ", ") + "}"
    }

    static func quantiles(_ q: Quantiles?) -> String {
        guard let q else { return "null" }
        let parts = [("min", q.min), ("p10", q.p10), ("p25", q.p25), ("median", q.median), ("p75", q.p75),
                     ("p90", q.p90), ("max", q.max), ("mean", q.mean)]
        return "{\"count\": \(q.count), " + parts.map { "\"\($0.0)\": \(number($0.1))" }.joined(separator: ", ") + "}"
    }

    /// A JSON number (`null` if not finite: JSON has no infinities).
    static func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }

    /// A JSON string: `"` `\` and control characters escaped; other text stays UTF-8.
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 {
                    let h = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// A terminal table: the batch summary, the step-group size table, then one line per group
    /// (at most `maxGroups`; the rest are counted).
    package func table(maxGroups: Int = 50) -> String {
        let t = total
        func pct(_ x: Double) -> String { Palette.number(100 * x) + "%" }
        var out = "scoring: \(scoring)\n"
        let summary: [(String, String)] = [
            ("groups", "\(groups.count)"), ("rows", "\(t.rows) (\(t.activeRows) active)"),
            ("trajectories", "\(t.trajectories), success rate \(pct(t.successRate))"),
            ("distinct states", "\(t.distinctStates), unique-state ratio \(Palette.number(t.uniqueStateRatio))"),
            ("graph", "\(t.nodes) nodes, \(t.edges) edges, \(t.components) SCCs (\(t.cyclicComponents) cyclic)"),
            ("reach a positive reward", "\(t.nodesReachingPositive) nodes (\(pct(t.reachingPositiveShare)))"),
            ("step groups", "\(t.stepGroups), mean size \(Palette.number(t.meanStepGroupSize))"),
        ]
        let width = summary.map(\.0.count).max() ?? 0
        for (k, v) in summary { out += pad(k, width) + "  " + v + "\n" }
        out += "\n" + pad("quantile", 12) + ["min", "p10", "p25", "median", "p75", "p90", "max", "mean"].map { padLeft($0, 10) }.joined() + "\n"
        for (name, q) in [("value", t.value), ("step reward", t.stepReward), ("advantage", t.advantage)] {
            guard let q else { out += pad(name, 12) + padLeft("-", 10) + "\n"; continue }
            out += pad(name, 12) + [q.min, q.p10, q.p25, q.median, q.p75, q.p90, q.max, q.mean].map { padLeft(Palette.number($0), 10) }.joined() + "\n"
        }
        out += "\nstep-group size   count    share\n"
        for bin in stepGroupSizes {
            out += padLeft("\(bin.size)", 15) + padLeft("\(bin.stepGroups)", 8) + padLeft(pct(bin.share), 9) + "\n"
        }
        let header = ["rows", "traj", "success", "states", "nodes", "edges", "SCCs", "reach+", "stepgrp", "V median", "adv p90"]
        let nameWidth = min(24, max(5, groups.prefix(maxGroups).map(\.name.count).max() ?? 5))
        out += "\n" + pad("group", nameWidth) + header.map { padLeft($0, 9) }.joined() + "\n"
        for g in groups.prefix(maxGroups) {
            let cells = ["\(g.rows)", "\(g.trajectories)", pct(g.successRate), "\(g.distinctStates)", "\(g.nodes)",
                         "\(g.edges)", "\(g.components)", pct(g.reachingPositiveShare), "\(g.stepGroups)",
                         g.value.map { Palette.number($0.median) } ?? "-", g.advantage.map { Palette.number($0.p90) } ?? "-"]
            out += pad(Palette.shorten(g.name, nameWidth), nameWidth) + cells.map { padLeft($0, 9) }.joined() + "\n"
        }
        if groups.count > maxGroups { out += "… \(groups.count - maxGroups) more groups (--json lists all)\n" }
        return out
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
    private func padLeft(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }
}
