/// Graphviz DOT text of a `GroupPicture` (`rewardflow graph`).
///
/// One DOT node `nK` per state-graph node and one `nU -> nV` per edge, nothing else (the legend
/// is the graph's HTML-like label), so a parser counts exactly the `StateGraph`'s nodes and edges.
/// Node fill = value on a colour scale over the group's `[min V, max V]`; goals (`r > 0`) are
/// ringed twice in red; start states are boxes; edge width = `1 + 2·log2(w)`; edge colour = credit
/// (red negative, blue positive, scaled by the group's largest `|credit|`); edge label = action
/// (shortened). With a highlighted trajectory, everything off its path is grey.
package enum DOTWriter {
    /// Characters of a state shown in a node label.
    package static let labelLimit = 24
    /// Characters of an action shown in an edge label.
    package static let actionLimit = 18

    /// The DOT text of `picture`.
    package static func render(_ picture: GroupPicture) -> String {
        let (lo, hi) = picture.valueRange
        let span = hi > lo ? hi - lo : 1
        let scale = picture.creditScale
        var out = "digraph \(quoted(picture.group)) {\n"
        out += "  graph [rankdir=TB, nodesep=0.2, ranksep=0.35, charset=\"UTF-8\", fontname=\"Helvetica\", fontsize=11, labelloc=t, label=\(legend(picture, lo, hi))];\n"
        out += "  node [shape=ellipse, style=filled, fontname=\"Helvetica\", fontsize=9, penwidth=1];\n"
        out += "  edge [fontname=\"Helvetica\", fontsize=8, arrowsize=0.6];\n"
        for (k, node) in picture.nodes.enumerated() {
            let x = (node.value - lo) / span
            var attributes = [
                "label=" + quoted(Palette.shorten(node.state, labelLimit) + "\nV = " + Palette.number(node.value)),
                "tooltip=" + quoted(node.state + "\nV = \(node.value), r = \(node.reward)"),
            ]
            if node.onPath {
                attributes.append("fillcolor=\"\(Palette.value(x))\"")
                if Palette.darkFill(x) { attributes.append("fontcolor=\"white\"") }
            } else {
                attributes += ["fillcolor=\"#eeeeee\"", "color=\"#cccccc\"", "fontcolor=\"#999999\""]
            }
            if node.isGoal { attributes += ["peripheries=2", "color=\"#c00000\""] }
            if node.isStart { attributes += ["shape=box", "style=\"filled,rounded,bold\"", "penwidth=2"] }
            out += "  n\(k) [\(attributes.joined(separator: ", "))];\n"
        }
        for edge in picture.edges {
            var attributes = ["penwidth=\(Palette.number(1 + 2 * log2(edge.weight)))"]
            if !edge.action.isEmpty { attributes.append("label=" + quoted(Palette.shorten(edge.action, actionLimit))) }
            let credit = edge.credit.map { Palette.number($0) } ?? "none"
            attributes.append("tooltip=" + quoted("\(edge.action)\nw = \(Palette.number(edge.weight)), \(picture.creditIsAdvantage ? "step advantage" : "step reward") = \(credit)"))
            if edge.onPath {
                attributes.append("color=\"\(Palette.credit(edge.credit.map { $0 / scale }))\"")
            } else {
                attributes += ["color=\"#dddddd\"", "fontcolor=\"#bbbbbb\""]
            }
            out += "  n\(edge.source) -> n\(edge.target) [\(attributes.joined(separator: ", "))];\n"
        }
        out += "}\n"
        return out
    }

    /// `log2(w)` for `w ≥ 1` by repeated halving plus a linear remainder (labels only).
    static func log2(_ w: Double) -> Double {
        guard w > 1 else { return 0 }
        var e = 0.0, m = w
        while m >= 2 { m /= 2; e += 1 }
        return e + (m - 1)
    }

    /// A DOT double-quoted string: `\` and `"` escaped, newlines as `\n` (centred lines), `&`
    /// as `&amp;` (Graphviz reads entities in labels), other control characters as spaces.
    /// Non-ASCII text stays UTF-8 (`charset="UTF-8"`).
    package static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "&": out += "&amp;"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F { out += " " } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }

    /// The graph label: title, scoring, and the colour legend as an HTML-like table.
    static func legend(_ picture: GroupPicture, _ lo: Double, _ hi: Double) -> String {
        var title = "group " + HTML.escape(picture.group)
        if let t = picture.trajectory { title += " — trajectory " + HTML.escape(t) }
        var cells = ""
        for k in 0...4 {
            let x = Double(k) / 4
            let v = lo + x * (hi - lo)
            cells += "<td bgcolor=\"\(Palette.value(x))\"><font color=\"\(Palette.darkFill(x) ? "white" : "black")\">\(HTML.escape(Palette.number(v)))</font></td>"
        }
        let credit = picture.creditIsAdvantage ? "step advantage" : "step reward"
        let s = Palette.number(picture.creditScale > Double.leastNonzeroMagnitude ? picture.creditScale : 0)
        let edges = "<td><font color=\"\(Palette.credit(-1))\">−\(s)</font></td><td><font color=\"\(Palette.credit(0))\">0</font></td><td><font color=\"\(Palette.credit(1))\">+\(s)</font></td>"
        return "<<table border=\"0\" cellspacing=\"2\"><tr><td colspan=\"6\"><b>\(title)</b></td></tr>"
            + "<tr><td colspan=\"6\">\(HTML.escape(picture.scoring)); box = start, red double ring = goal (r &gt; 0)</td></tr>"
            + "<tr><td>value V</td>\(cells)</tr><tr><td>edge colour: \(credit)</td>\(edges)<td>width: w</td></tr></table>>"
    }
}

/// HTML text escaping (`& < > " '`).
package enum HTML {
    /// `text` with `& < > " '` replaced by entities; control characters other than tab and
    /// newline become spaces.
    package static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\n", "\t": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F { out += " " } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}
