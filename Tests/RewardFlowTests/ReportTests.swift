import Foundation
import Testing
@testable import RewardFlow

/// `BatchStatistics`, the DOT writer, the HTML report and the `stats` / `graph` / `report` CLI.
@Suite struct ReportTests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/alfworld_8x8x30.jsonl").path

    static func batch(_ rows: StepRows, _ configure: (inout ScoringOptions) -> Void = { _ in }) throws -> ScoredBatch {
        var options = ScoringOptions()
        options.advantage = .meanNorm
        configure(&options)
        return try Scorer(options: options).scoreBatch(rows)
    }

    /// g1: t0 = A B C(inactive) reaching r(C) = 10; t1 = A D A E (a cycle A⇄D, no reward).
    /// g2: t0 = X Y.
    static func smallBatch() throws -> StepRows {
        try makeRows([
            ("g1", "t0", 0, "A", 0, true), ("g1", "t0", 1, "B", 10, true), ("g1", "t0", 2, "C", 0, false),
            ("g1", "t1", 0, "A", 0, true), ("g1", "t1", 1, "D", 0, true), ("g1", "t1", 2, "A", 0, true),
            ("g1", "t1", 3, "E", 0, true),
            ("g2", "t0", 0, "X", 0, true), ("g2", "t0", 1, "Y", 0, true),
        ])
    }

    // MARK: - Statistics

    @Test func quantilesInterpolateLinearly() throws {
        let q = try #require(Quantiles([4, 1, 3, 2]))
        #expect(q.count == 4 && q.min == 1 && q.max == 4)
        #expect(q.median == 2.5 && q.p25 == 1.75 && q.mean == 2.5)
        #expect(q.p10 == 1.3 && q.p90 == 3.7)
        #expect(Quantiles([]) == nil)
        let one = try #require(Quantiles([7]))
        #expect(one.min == 7 && one.median == 7 && one.p90 == 7)
    }

    @Test func smallBatchByHand() throws {
        let s = try Self.batch(try Self.smallBatch()).statistics()
        try #require(s.groups.count == 2)
        let g1 = s.groups[0], g2 = s.groups[1]
        #expect(g1.name == "g1" && g2.name == "g2")
        #expect(g1.rows == 7 && g1.activeRows == 6 && g1.trajectories == 2 && g1.successfulTrajectories == 1)
        #expect(g1.distinctStates == 5 && g1.nodes == 5 && g1.edges == 5)
        #expect(g1.components == 4 && g1.cyclicComponents == 1)  // {A, D}, {B}, {C}, {E}
        #expect(g1.nodesReachingPositive == 4)                    // A, B, C, D reach C; E does not
        #expect(g1.stepGroups == 4)                               // A ×3, B, D, E
        #expect(g1.successRate == 0.5 && g1.uniqueStateRatio == 5.0 / 7 && g1.reachingPositiveShare == 0.8)
        #expect(g1.meanStepGroupSize == 1.5)
        #expect(g2.rows == 2 && g2.nodes == 2 && g2.edges == 1 && g2.components == 2 && g2.nodesReachingPositive == 0)
        #expect(g2.successfulTrajectories == 0 && g2.stepGroups == 2)
        // Values (max-decay, γ = 0.9): C 10, B 9, A 8.1, D 7.29, E 0 → rows 8.1 9 10 8.1 7.29 8.1 0.
        let v = try #require(g1.value)
        #expect(v.count == 7 && v.min == 0 && v.max == 10 && v.median == 8.1)
        #expect(v.p25 == 7.29 + 0.5 * 0.81)
        #expect(g1.stepReward?.count == 6 && g1.advantage?.count == 6)

        let t = s.total
        #expect(t.rows == 9 && t.activeRows == 8 && t.trajectories == 3 && t.successfulTrajectories == 1)
        #expect(t.nodes == 7 && t.edges == 6 && t.components == 6 && t.cyclicComponents == 1)
        #expect(t.nodesReachingPositive == 4 && t.stepGroups == 6 && t.distinctStates == 7)
        #expect(s.stepGroupSizes == [
            BatchStatistics.SizeBin(size: 1, stepGroups: 5, share: 5.0 / 6),
            BatchStatistics.SizeBin(size: 3, stepGroups: 1, share: 1.0 / 6),
        ])
        #expect(t.value?.count == 9 && t.stepReward?.count == 8)
        #expect(abs(t.advantage?.mean ?? 1) < 1e-15)  // mean_norm advantages sum to 0 per group
    }

    @Test func statisticsWithoutAdvantagesOrGraphOperator() throws {
        let s = try Self.batch(try Self.smallBatch()) { $0.advantage = nil; $0.propagation = .trajectoryReturn }.statistics()
        #expect(s.total.advantage == nil)
        #expect(s.total.nodes == 7 && s.total.edges == 6)  // the graph is still built
        #expect(s.json.contains("\"advantage\": null"))
        #expect(s.scoring == "trajectory-return gamma 0.9, advantage none")
    }

    /// Naive oracles over the raw graph and rows (no Tarjan, no stamped arrays).
    static func naiveComponents(_ graph: StateGraph, _ nodes: Range<Int>) -> Int {
        var reach = [Set<Int>](repeating: [], count: nodes.count)
        for u in nodes {
            var stack = [u], seen: Set<Int> = [u]
            while let x = stack.popLast() {
                for e in graph.edgeStart[x]..<graph.edgeStart[x + 1] where seen.insert(Int(graph.edgeTarget[e])).inserted {
                    stack.append(Int(graph.edgeTarget[e]))
                }
            }
            reach[u - nodes.lowerBound] = seen
        }
        var assigned = Set<Int>(), count = 0
        for u in nodes where !assigned.contains(u) {
            count += 1
            for v in nodes where reach[u - nodes.lowerBound].contains(v) && reach[v - nodes.lowerBound].contains(u) { assigned.insert(v) }
        }
        return count
    }

    @Test(arguments: Fixtures.names)
    func conformanceGraphsMatchNaiveCounts(_ name: String) throws {
        let params = try Fixtures.params(name)
        let rows = try JSONLReader.read(path: Fixtures.url(name, "input.jsonl").path)
        let batch = try Self.batch(rows) {
            $0.propagation = PropagationOperator(rawValue: params["operator"] as! String)!
            $0.gamma = params["gamma"] as? Double ?? 0.9
            $0.alpha = params["alpha"] as? Double ?? 0.85
            $0.nodeReward = NodeRewardPolicy(rawValue: params["node_reward"] as? String ?? "firstSeen")!
        }
        let s = batch.statistics()
        let graph = batch.graph
        #expect(s.total.nodes == graph.nodeCount && s.total.edges == graph.edgeCount)
        try #require(s.groups.count == graph.groupCount)
        var groupRows: [String: [Int]] = [:]
        for r in 0..<rows.count { groupRows[rows.groupNames.string(of: rows.group[r]), default: []].append(r) }
        for (g, stats) in s.groups.enumerated() {
            let nodes = graph.groupNodeStart[g]..<graph.groupNodeStart[g + 1]
            #expect(stats.components == Self.naiveComponents(graph, nodes), "\(name) group \(g)")
            let positive = nodes.filter { graph.nodeReward[$0] > 0 }
            var reaching = 0
            for u in nodes {
                var stack = [u], seen: Set<Int> = [u]
                while let x = stack.popLast() {
                    for e in graph.edgeStart[x]..<graph.edgeStart[x + 1] where seen.insert(Int(graph.edgeTarget[e])).inserted {
                        stack.append(Int(graph.edgeTarget[e]))
                    }
                }
                if positive.contains(where: seen.contains) { reaching += 1 }
            }
            #expect(stats.nodesReachingPositive == reaching, "\(name) group \(g)")
            let members = groupRows[stats.name] ?? []
            #expect(stats.rows == members.count)
            #expect(stats.distinctStates == Set(members.map { rows.state[$0] }).count)
            // Episode scores and step groups by dictionaries, rows in input order.
            var score: [Int32: Double] = [:], seenInactive: Set<Int32> = []
            var stepGroups: [Int32: Int] = [:]
            for r in members.sorted(by: { rows.step[$0] < rows.step[$1] }) {
                let t = rows.trajectory[r]
                if !rows.active[r] { seenInactive.insert(t) }
                guard rows.active[r], !seenInactive.contains(t) else { continue }
                score[t, default: 0] += rows.reward[r]
                stepGroups[rows.state[r], default: 0] += 1
            }
            #expect(stats.successfulTrajectories == score.values.filter { $0 > 0 }.count, "\(name) group \(g)")
            #expect(stats.stepGroups == stepGroups.count && stats.activeRows == stepGroups.values.reduce(0, +))
        }
        // Value quantiles against the fixture's expected values.
        let expected = try Fixtures.jsonLines(Fixtures.url(name, "expected.jsonl")).map { $0["value"] as! Double }
        let q = try #require(Quantiles(expected)), v = try #require(s.total.value)
        let tolerance = (params["tolerance"] as! Double) * 10
        #expect(abs(q.median - v.median) <= tolerance && abs(q.min - v.min) <= tolerance && abs(q.max - v.max) <= tolerance)
    }

    @Test func jsonParsesAndAgrees() throws {
        let s = try Self.batch(try JSONLReader.read(path: Self.example)).statistics()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(s.json.utf8)) as? [String: Any])
        #expect(object["schema"] as? String == "rewardflow.stats/1")
        let batch = try #require(object["batch"] as? [String: Any])
        #expect(batch["rows"] as? Int == 1451 && batch["nodes"] as? Int == s.total.nodes)
        #expect((batch["value"] as? [String: Any])?["median"] as? Double == s.total.value?.median)
        let groups = try #require(object["groups"] as? [[String: Any]])
        #expect(groups.count == 8 && groups.map { $0["name"] as? String } == s.groups.map(\.name))
        let sizes = try #require(object["step_group_sizes"] as? [[String: Any]])
        #expect(sizes.map { $0["step_groups"] as! Int }.reduce(0, +) == s.total.stepGroups)
        #expect(s.table().contains("g000007"))
    }

    @Test func jsonEscapesNames() throws {
        let name = "g \"q\" \\ back\nline\u{1}\t☕ 日本"
        var rows = StepRows()
        try rows.append(group: name, trajectory: "t", step: 0, state: "A", reward: 0)
        try rows.append(group: name, trajectory: "t", step: 1, state: "B", reward: 1)
        let s = try Self.batch(rows).statistics()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(s.json.utf8)) as? [String: Any])
        let groups = try #require(object["groups"] as? [[String: Any]])
        #expect(groups.first?["name"] as? String == name)
        #expect(!s.json.contains("\u{1}"))
    }

    // MARK: - DOT

    /// A minimal DOT reader: statements of a `digraph`, attribute lists, quoted strings
    /// (lexical `\"`, then escString `\\`, `\n`, then `&amp;`), HTML-like `<…>` strings.
    struct DOTGraph {
        var nodes: [String: [String: String]] = [:]
        var edges: [(String, String, [String: String])] = []

        enum Token: Equatable { case id(String), string(String), html(String), punct(Character) }

        static func tokens(_ text: String) throws -> [Token] {
            var out: [Token] = []
            let c = Array(text)
            var i = 0
            while i < c.count {
                let ch = c[i]
                if ch.isWhitespace { i += 1; continue }
                if ch == "\"" {
                    var s = ""
                    i += 1
                    while i < c.count && c[i] != "\"" {
                        if c[i] == "\\" && i + 1 < c.count {
                            switch c[i + 1] {
                            case "\"": s.append("\"")
                            case "\\": s.append("\\")
                            case "n": s.append("\n")
                            default: s.append(c[i]); s.append(c[i + 1])
                            }
                            i += 2
                        } else {
                            s.append(c[i]); i += 1
                        }
                    }
                    guard i < c.count else { throw DOTError.unterminated }
                    i += 1
                    out.append(.string(s.replacingOccurrences(of: "&amp;", with: "&")))
                } else if ch == "<" {
                    var depth = 0, s = ""
                    repeat {
                        if c[i] == "<" { depth += 1 } else if c[i] == ">" { depth -= 1 }
                        s.append(c[i]); i += 1
                    } while depth > 0 && i < c.count
                    guard depth == 0 else { throw DOTError.unterminated }
                    out.append(.html(s))
                } else if ch == "-" && i + 1 < c.count && c[i + 1] == ">" {
                    out.append(.punct(">")); i += 2
                } else if ch.isLetter || ch.isNumber || ch == "_" || ch == "." || ch == "-" {
                    var s = ""
                    while i < c.count && (c[i].isLetter || c[i].isNumber || c[i] == "_" || c[i] == "." || c[i] == "-") {
                        if c[i] == "-" && i + 1 < c.count && c[i + 1] == ">" { break }
                        s.append(c[i]); i += 1
                    }
                    out.append(.id(s))
                } else {
                    out.append(.punct(ch)); i += 1
                }
            }
            return out
        }

        enum DOTError: Error { case unterminated, syntax(String) }

        init(_ text: String) throws {
            let t = try Self.tokens(text)
            guard t.count >= 4, t[0] == .id("digraph"), t[2] == .punct("{"), t.last == .punct("}") else { throw DOTError.syntax("header") }
            var i = 3
            func name(_ token: Token) -> String? {
                switch token {
                case .id(let s), .string(let s): return s
                default: return nil
                }
            }
            func attributes() throws -> [String: String] {
                var a: [String: String] = [:]
                guard i < t.count, t[i] == .punct("[") else { return a }
                i += 1
                while t[i] != .punct("]") {
                    guard let key = name(t[i]), t[i + 1] == .punct("=") else { throw DOTError.syntax("attribute at \(i)") }
                    switch t[i + 2] {
                    case .id(let v), .string(let v), .html(let v): a[key] = v
                    default: throw DOTError.syntax("value of \(key)")
                    }
                    i += 3
                    if t[i] == .punct(",") || t[i] == .punct(";") { i += 1 }
                }
                i += 1
                return a
            }
            while i < t.count - 1 {
                if t[i] == .punct(";") { i += 1; continue }
                guard let first = name(t[i]) else { throw DOTError.syntax("statement at \(i): \(t[i])") }
                i += 1
                if ["graph", "node", "edge"].contains(first), case .id = t[i - 1], i < t.count, t[i] == .punct("[") {
                    _ = try attributes()
                } else if i < t.count, t[i] == .punct("=") {
                    i += 2  // graph attribute `a=b`
                } else if i < t.count, t[i] == .punct(">") {
                    guard let second = name(t[i + 1]) else { throw DOTError.syntax("edge target") }
                    i += 2
                    edges.append((first, second, try attributes()))
                } else {
                    nodes[first, default: [:]].merge(try attributes()) { $1 }
                }
            }
        }
    }

    @Test func dotRoundTripsTheExampleGraphs() throws {
        let batch = try Self.batch(try JSONLReader.read(path: Self.example))
        for g in 0..<batch.graph.groupCount {
            let picture = try GroupPicture(batch, groupIndex: g)
            let dot = try DOTGraph(DOTWriter.render(picture))
            #expect(dot.nodes.count == batch.graph.nodeCount(ofGroup: g))
            #expect(dot.edges.count == batch.graph.edgeStart[batch.graph.groupNodeStart[g + 1]] - batch.graph.edgeStart[batch.graph.groupNodeStart[g]])
            for (k, node) in picture.nodes.enumerated() {
                #expect(dot.nodes["n\(k)"]?["tooltip"]?.hasPrefix(node.state + "\nV = ") == true)
            }
            // Edge list equal to the CSR's.
            let base = batch.graph.groupNodeStart[g]
            var csr: [String] = []
            for u in base..<batch.graph.groupNodeStart[g + 1] {
                for e in batch.graph.edgeStart[u]..<batch.graph.edgeStart[u + 1] { csr.append("n\(u - base)->n\(Int(batch.graph.edgeTarget[e]) - base)") }
            }
            #expect(dot.edges.map { "\($0.0)->\($0.1)" } == csr)
            if let canon = Self.dotCanon(DOTWriter.render(picture)) {
                let parsed = try DOTGraph(canon)
                #expect(parsed.nodes.count == batch.graph.nodeCount(ofGroup: g) && parsed.edges.count == csr.count)
            }
        }
    }

    /// `dot -Tcanon` of `text`, or nil when Graphviz is not installed.
    static func dotCanon(_ text: String) -> String? {
        let candidates = ["/usr/bin/dot", "/usr/local/bin/dot"]
        guard let path = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-Tcanon"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        (process.standardInput, process.standardOutput, process.standardError) = (input, output, errors)
        guard (try? process.run()) != nil else { return nil }
        input.fileHandleForWriting.write(Data(text.utf8))
        try? input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0 && !problems.contains("Error"), "dot -Tcanon: \(problems)")
        return String(decoding: data, as: UTF8.self)
    }

    static let awkward = ["say \"hi\" \\ back\\n", "<b>&amp; & 'x'</b>", "café ☕ 日本語 — Ünïcödé", "two\nlines\tand\u{1}ctl"]

    @Test func dotEscapesAwkwardText() throws {
        var rows = StepRows()
        for (k, s) in Self.awkward.enumerated() {
            try rows.append(group: "g \"q\" <&>", trajectory: "t", step: k, state: s, action: "act \"\\ <>", reward: k == 3 ? 1 : 0, active: true)
        }
        let batch = try Self.batch(rows)
        let picture = try GroupPicture(batch, group: "g \"q\" <&>", trajectory: "t")
        let text = DOTWriter.render(picture)
        let dot = try DOTGraph(text)
        #expect(dot.nodes.count == 4 && dot.edges.count == 3)
        for (k, s) in Self.awkward.enumerated() {
            let expected = s.replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\u{1}", with: " ")
            #expect(dot.nodes["n\(k)"]?["tooltip"]?.hasPrefix(expected + "\nV = ") == true, "\(String(describing: dot.nodes["n\(k)"]?["tooltip"]))")
        }
        #expect(dot.edges.allSatisfy { $0.2["label"] == "act \"\\ <>" })
        #expect(text.contains("日本語") && !text.contains("\u{1}"))
        // Labels are shortened by characters, never inside a grapheme.
        #expect(Palette.shorten("日本語テキスト", 3) == "日本語…" && Palette.shorten("e\u{301}e\u{301}", 1) == "e\u{301}…")
        if let canon = Self.dotCanon(text) {
            #expect(try DOTGraph(canon).nodes.count == 4)
            #expect(canon.contains("日本語"))
        }
    }

    @Test func trajectoryHighlightAndUnknownNames() throws {
        let batch = try Self.batch(try Self.smallBatch())
        let picture = try GroupPicture(batch, group: "g1", trajectory: "t0")
        #expect(picture.nodes.map(\.onPath) == [true, true, true, false, false])  // A B C D E
        #expect(picture.edges.filter(\.onPath).count == 2)
        #expect(picture.nodes.map(\.isStart) == [true, false, false, false, false])
        #expect(picture.nodes.map(\.isGoal) == [false, false, true, false, false])
        #expect(thrownError { _ = try GroupPicture(batch, group: "nope") } == .invalidParameter(name: "group", message: "no group named 'nope' in the batch (2 groups)"))
        #expect(thrownError { _ = try GroupPicture(batch, group: "g1", trajectory: "t9") } != nil)
    }

    // MARK: - HTML

    /// Tags that must nest, checked with a stack (void and `/>` tags skipped; script and style
    /// bodies skipped).
    static func checkNesting(_ html: String) -> String? {
        var stack: [String] = []
        var rest = Substring(html)
        while let open = rest.firstIndex(of: "<") {
            rest = rest[open...]
            guard let close = rest.firstIndex(of: ">") else { return "unclosed tag" }
            let tag = rest[rest.index(after: rest.startIndex)..<close]
            rest = rest[rest.index(after: close)...]
            if tag.hasPrefix("!") { continue }
            let name = String(tag.prefix { !$0.isWhitespace && $0 != "/" && $0 != ">" }.lowercased())
            if tag.hasPrefix("/") {
                let closing = String(tag.dropFirst()).lowercased()
                guard stack.last == closing else { return "</\(closing)> closes <\(stack.last ?? "nothing")>" }
                stack.removeLast()
            } else if tag.hasSuffix("/") || ["meta", "br", "hr", "img", "input", "link"].contains(name) {
                continue
            } else if name == "script" || name == "style" {
                guard let end = rest.range(of: "</\(name)>") else { return "unclosed \(name)" }
                rest = rest[end.upperBound...]
            } else {
                stack.append(name)
            }
        }
        return stack.isEmpty ? nil : "unclosed <\(stack.joined(separator: "><"))>"
    }

    static func matches(_ pattern: String, in text: String) throws -> [String] {
        let regex = try NSRegularExpression(pattern: pattern)
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap {
            Range($0.range(at: 1), in: text).map { String(text[$0]) }
        }
    }

    @Test func reportIsSelfContainedAndLinked() throws {
        var rows = try JSONLReader.read(path: Self.example)
        try rows.append(group: "<script>alert('x')</script> & ☕", trajectory: "t", step: 0, state: "\"quoted\" <b>", reward: 0)
        try rows.append(group: "<script>alert('x')</script> & ☕", trajectory: "t", step: 1, state: "next", reward: 1)
        let batch = try Self.batch(rows)
        let other = try Scorer(options: { var o = batch.options; o.propagation = .trajectoryReturn; return o }()).score(rows)
        var report = HTMLReport(batch: batch, comparison: .init(scoring: "trajectory-return", credit: HTMLReport.credit(other)))
        report.maxGraphs = 5
        let html = try report.render()
        #expect(Self.checkNesting(html) == nil, "\(Self.checkNesting(html) ?? "")")
        // No external resources: no URL schemes, no src/href outside the page, no @import.
        for needle in ["http:", "https:", "//cdn", "src=", "@import", "<link"] { #expect(!html.contains(needle), "\(needle)") }
        let ids = Set(try Self.matches(" id=\"([^\"]+)\"", in: html))
        let links = try Self.matches("href=\"([^\"]*)\"", in: html)
        #expect(links.count == 5)
        for link in links { #expect(link.hasPrefix("#") && ids.contains(String(link.dropFirst())), "\(link)") }
        for k in 0..<5 { #expect(ids.contains("graph-\(k)")) }
        #expect(!ids.contains("graph-5"))
        #expect(ids.isSuperset(of: ["batch", "histograms", "hist-value", "hist-step-reward", "hist-advantage", "compare", "scatter", "group-table"]))
        // One table row per group, with a link for the drawn ones only.
        let body = try #require(html.range(of: "<table id=\"group-table\">").map { html[$0.upperBound...] })
        let table = body[..<(body.range(of: "</table>")?.lowerBound ?? body.endIndex)]
        #expect(table.components(separatedBy: "<tr><td>").count - 1 == 9)
        #expect(html.contains("first 5 of 9 groups"))
        // The hostile group name is text, never markup.
        #expect(!html.contains("<script>alert") && html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; ☕"))
        // Each drawn graph has one circle per node (plus a ring per goal).
        let svgCount = html.components(separatedBy: "<svg").count - 1
        #expect(svgCount == 5 + 3 + 2)  // graphs, three histograms, scatter + B histogram
    }

    // MARK: - CLI

    static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = CLITests.executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test func cliCommands() throws {
        let (status, out, _) = try Self.run(["stats", Self.example, "--json", "--gamma", "0.95"])
        #expect(status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]
        #expect(object?["scoring"] as? String == "max-decay gamma 0.95, advantage mean_norm")
        let table = try Self.run(["stats", Self.example])
        #expect(table.0 == 0 && table.1.contains("step-group size") && table.1.contains("g000000"))

        let dot = try Self.run(["graph", Self.example, "--group", "g000001", "--trajectory", "g000001-r03"])
        #expect(dot.0 == 0)
        #expect(try DOTGraph(dot.1).nodes.count == 44)

        #expect(try Self.run(["graph", Self.example]).0 == 2)
        let missing = try Self.run(["graph", Self.example, "--group", "nope"])
        #expect(missing.0 == 2 && missing.2.contains("no group named 'nope'"))
        #expect(try Self.run(["graph", Self.example, "--group", "g000001", "-o", "/tmp/x.pdf"]).0 == 2)
        #expect(try Self.run(["stats", Self.example, "--bogus"]).0 == 2)
        #expect(try Self.run(["report", Self.example, "--compare", "nope", "-o", "/tmp/x.html"]).0 == 2)
        #expect(try Self.run(["report", Self.example]).0 == 2)

        // Without Graphviz on PATH, SVG/PNG fail naming the package and leave no file.
        let png = CLITests.temporary("graph.png")
        defer { try? FileManager.default.removeItem(atPath: png) }
        let noDot = try Self.run(["graph", Self.example, "--group", "g000001", "-o", png], environment: ["PATH": "/nonexistent"])
        #expect(noDot.0 == 1 && noDot.2.contains("apt-get install graphviz"))

        // With a stand-in `dot` on PATH: it gets the DOT text on its standard input and the
        // format and file as arguments; its failure is exit 1 with its status.
        let bin = CLITests.temporary("fake-dot")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: bin) }
        let script = "#!/bin/sh\n[ \"$1\" = -Tsvg ] || exit 4\nfor last; do :; done\ncat > \"$last\"\n"
        try script.write(toFile: bin + "/dot", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin + "/dot")
        let svg = CLITests.temporary("graph.svg")
        defer { try? FileManager.default.removeItem(atPath: svg) }
        let drawn = try Self.run(["graph", Self.example, "--group", "g000001", "--trajectory", "g000001-r03", "-o", svg], environment: ["PATH": bin + ":/usr/bin:/bin"])
        #expect(drawn.0 == 0, "\(drawn.2)")
        #expect(FileManager.default.contents(atPath: svg).map { String(decoding: $0, as: UTF8.self) } == dot.1)
        let refused = try Self.run(["graph", Self.example, "--group", "g000001", "-o", png], environment: ["PATH": bin + ":/usr/bin:/bin"])
        #expect(refused.0 == 1 && refused.2.contains("dot -Tpng failed (status 4)"), "\(refused.2)")
        #expect(!FileManager.default.fileExists(atPath: png))

        let html = CLITests.temporary("report.html")
        defer { try? FileManager.default.removeItem(atPath: html) }
        let report = try Self.run(["report", Self.example, "-o", html, "--compare", "trajectory-return", "--max-graphs", "2"])
        #expect(report.0 == 0)
        let text = try String(contentsOfFile: html, encoding: .utf8)
        #expect(text.contains("id=\"graph-1\"") && !text.contains("id=\"graph-2\"") && text.contains("id=\"compare\""))
    }
}
