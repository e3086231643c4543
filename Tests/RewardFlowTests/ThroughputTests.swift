import Foundation
import Synchronization
import Testing
@testable import RewardFlow
import RewardFlowSynthesis

/// The hot paths made fast: thread-count independence (SPEC §6), the double formatter, and the
/// byte-level JSONL scanner on tricky input. No timings here (see Benchmarks/).
@Suite struct ThroughputTests {
    /// A batch big enough that every parallel loop (parse, graph, solve, advantages, render)
    /// really splits: ~50K rows, above `Parallel.serialWork` and the 1 MiB parse threshold.
    static let batch: [UInt8] = {
        var o = SynthesisOptions()
        o.groups = 200
        o.seed = 11
        o.negativePenalty = 0.25
        o.markNoop = true
        o.goalSpread = 0.5
        return try! RolloutSynthesizer(o).jsonl()
    }()

    /// Parses, scores and renders `bytes` with `threads` threads, passed in the options of
    /// every stage; checks that the scorer ran with that count.
    func run(_ bytes: [UInt8], threads: Int, options: ScoringOptions) throws -> [UInt8] {
        var input = bytes
        let rows = try JSONLReader.parse(bytes: &input, threads: threads)
        var options = options
        options.threads = threads
        var explain = SolveExplanation()
        let scored = try Scorer(options: options).score(rows, explain: &explain)
        #expect(explain.threads == threads)
        return JSONLWriter.render(rows, scored, threads: threads)
    }

    @Test(arguments: [AdvantageMode.meanNorm, .meanStdNorm])
    func outputIsBitwiseIdenticalAtOneTwoAndThreeThreads(mode: AdvantageMode) throws {
        var options = ScoringOptions()
        options.advantage = mode
        options.gamma = 0.95
        #expect(Self.batch.count > JSONLReader.parallelThreshold)
        let one = try run(Self.batch, threads: 1, options: options)
        let two = try run(Self.batch, threads: 2, options: options)
        let three = try run(Self.batch, threads: 3, options: options)
        #expect(one == two)
        #expect(one == three)
    }

    /// The linear and graph operators' parallel loops (groups, sparse products, residuals) too.
    @Test(arguments: [PropagationOperator.discounted, .diffusion, .pagerank, .goalDistance])
    func everyOperatorIsBitwiseIdenticalAtOneAndThreeThreads(op: PropagationOperator) throws {
        var options = ScoringOptions()
        options.propagation = op
        options.advantage = .meanStdNorm
        let one = try run(Self.batch, threads: 1, options: options)
        let three = try run(Self.batch, threads: 3, options: options)
        #expect(one == three)
    }

    /// The count given is the count a loop splits into (work above `serialWork`), and a count
    /// below 1 is refused by the scorer.
    @Test(arguments: [1, 2, 3, 5])
    func threadCountReachesTheLoop(threads: Int) throws {
        let chunks = Mutex(0)
        Parallel.forEachChunk(threads: threads, count: 1_000) { _ in chunks.withLock { $0 += 1 } }
        #expect(chunks.withLock { $0 } == threads)
        var options = ScoringOptions()
        options.threads = threads
        #expect(try Scorer(options: options).options.threads == threads)
    }

    @Test func threadCountBelowOneIsRefused() {
        var options = ScoringOptions()
        options.threads = 0
        #expect(thrownError { _ = try Scorer(options: options) }
                == .invalidParameter(name: "threads", message: "must be an integer >= 1, got 0"))
    }

    @Test func parallelParseInternsLikeASequentialParse() throws {
        var bytes = Self.batch
        let sequential = try JSONLReader.parse(bytes: &bytes, threads: 1)
        let parallel = try JSONLReader.parse(bytes: &bytes, threads: 2)
        #expect(sequential.group == parallel.group)
        #expect(sequential.trajectory == parallel.trajectory)
        #expect(sequential.state == parallel.state)
        #expect(sequential.action == parallel.action)
        #expect(sequential.sourceLine == parallel.sourceLine)
        #expect(sequential.stateTexts.count == parallel.stateTexts.count)
        for id in 0..<Int32(sequential.stateTexts.count) {
            #expect(sequential.stateTexts.string(of: id) == parallel.stateTexts.string(of: id))
        }
    }

    @Test func parallelWriterMatchesRender() throws {
        var input = Self.batch
        let rows = try JSONLReader.parse(bytes: &input)
        var options = ScoringOptions()
        options.advantage = .meanNorm
        let scored = try Scorer(options: options).score(rows)
        let path = NSTemporaryDirectory() + "rewardflow-writer-\(getpid()).jsonl"
        defer { unlink(path) }
        try JSONLWriter.write(rows, scored, to: path)
        let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(written == JSONLWriter.render(rows, scored))
        #expect(written.last == 0x0A)
    }

    // MARK: - The double formatter

    static let edgeCases: [Double] = [
        0, -0.0, 1, -1, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 100, 1e15, 1e16, 1e17, 1e21, 1e22, 1e23,
        9007199254740992, 18014398509481984, 0.0001, 0.00012,
        0.001, 1e-5, 9.5e-5, 1.5e-4, 2.2250738585072014e-308,
        1.7976931348623157e308, -1.7976931348623157e308, .ulpOfOne, 1 + .ulpOfOne, 1 - .ulpOfOne / 2,
        4.35, 10.0 * 0.9 * 0.9 * 0.9, 3.8742048900000006, 0.43046720999999977, 1e-300,
        Double(Int64.max), 299792458, 6.02214076e23, 1.6e-19, 5e-1, 25, 1e100, 0.9, 0.81,
        .leastNonzeroMagnitude, .leastNormalMagnitude, .leastNormalMagnitude.nextDown,
    ] + ["9007199254740993", "123456789012345678", "1e-323", "1.2345e-310", "2.2250738585072009e-308"].map { Double($0)! }

    @Test func formatterMatchesDescriptionOnEdgeCases() {
        for x in Self.edgeCases + Self.edgeCases.map({ -$0 }) {
            let text = DoubleFormatter.string(x)
            #expect(text == x.description, "\(x.bitPattern)")
            #expect(Double(text)?.bitPattern == x.bitPattern)
        }
        #expect(DoubleFormatter.string(.nan) == "nan")
        #expect(DoubleFormatter.string(.infinity) == "inf")
        #expect(DoubleFormatter.string(-.infinity) == "-inf")
    }

    @Test func formatterRoundTripsRandomDoubles() {
        var rng = SeededRandom(2026)
        var checked = 0
        while checked < 200_000 {
            // Random bit patterns cover every exponent; scaled values cover typical rewards.
            let bits = rng.next()
            let x = checked % 2 == 0 ? Double(bitPattern: bits) : (rng.unit() - 0.3) * 20
            guard x.isFinite else { continue }
            let text = DoubleFormatter.string(x)
            if text != x.description || Double(text)?.bitPattern != x.bitPattern {
                Issue.record("\(x.bitPattern): \(text) vs \(x.description)")
                return
            }
            checked += 1
        }
    }

    @Test func formatterPowersOfTenAndTwo() {
        var x = 1.0
        for _ in 0..<340 {
            for y in [x, x.nextUp, x.nextDown] where y.isFinite && y > 0 {
                #expect(DoubleFormatter.string(y) == y.description)
            }
            x /= 10
        }
        for e in -1074...1023 {
            let y = Double(sign: .plus, exponent: e, significand: 1)
            #expect(DoubleFormatter.string(y) == y.description)
        }
    }

    @Test func integersAreWrittenInDecimal() {
        for n in [0, 1, 9, 10, 99, 100, 12345, -7, Int.max, Int.min + 1] {
            var bytes: [UInt8] = []
            DoubleFormatter.appendInteger(n, to: &bytes)
            #expect(String(decoding: bytes, as: UTF8.self) == String(n))
        }
    }

    // MARK: - The JSONL scanner on tricky input

    func line(_ state: String, step: Int = 0, trajectory: String = "t", extra: String = "") -> String {
        #"{"group": "g", "trajectory": "\#(trajectory)", "step": \#(step), "state": \#(state), "reward": 0.5\#(extra)}"#
    }

    @Test func escapesAndMultibyteAtEveryOffset() throws {
        // Specials at every position relative to the 8-byte scan windows.
        for pad in 0..<20 {
            let prefix = String(repeating: "a", count: pad)
            let cases: [(json: String, text: String)] = [
                ("\"\(prefix)\\\"q\"", "\(prefix)\"q"),
                ("\"\(prefix)\\\\\"", "\(prefix)\\"),
                ("\"\(prefix)\\u00e9\\n\"", "\(prefix)é\n"),
                ("\"\(prefix)\\ud83d\\ude00\"", "\(prefix)😀"),
                ("\"\(prefix)é—😀xyz\"", "\(prefix)é—😀xyz"),
                ("\"\(prefix)\\/\\t\\b\\f\\r\"", "\(prefix)/\t\u{8}\u{C}\r"),
            ]
            for (json, text) in cases {
                let rows = try JSONLReader.parse(line(json))
                #expect(rows.stateTexts.string(of: rows.state[0]) == text, "\(json)")
            }
        }
    }

    @Test func badBytesInsideLongStringsAreFound() {
        for pad in [0, 3, 7, 8, 9, 15, 16, 17, 40] {
            let prefix = String(repeating: "b", count: pad)
            let control = line("\"\(prefix)\u{01}x\"")
            guard case .invalidInput(.line(1), "state", let message)? = thrownError({ _ = try JSONLReader.parse(control) }) else {
                Issue.record("control character at \(pad) not refused")
                continue
            }
            #expect(message.contains("control character"))
            var bytes = Array(line("\"\(prefix)XYZ\"").utf8)
            let at = bytes.firstIndex(of: UInt8(ascii: "X"))!
            bytes[at] = 0xC3  // a lead byte followed by 'Y': not UTF-8
            guard case .invalidInput(.line(1), "state", let utf8)? = thrownError({ _ = try JSONLReader.parse(bytes: &bytes) }) else {
                Issue.record("invalid UTF-8 at \(pad) not refused")
                continue
            }
            #expect(utf8.contains("UTF-8"))
        }
    }

    @Test func whitespaceCRLFBlankLinesAndUnknownFields() throws {
        let text = "\r\n   \n" + #"  { "group" : "g" , "trajectory":"t","step":0,"state":"A","reward":1e0, "meta": {"a": [1, 2.5e-3, null, true, "x\"y"]}, "n": -0.0 }  "# + "\r\n\n"
            + line("\"B\"", step: 1) + "\n"
        let rows = try JSONLReader.parse(text)
        #expect(rows.count == 2)
        #expect(rows.reward == [1, 0.5])
        #expect(rows.sourceLine == [3, 5])
    }

    @Test func errorsInTheSecondHalfOfAParallelParseNameTheGlobalLine() {
        let filler = String(repeating: "s", count: 200)
        var lines: [String] = []
        for i in 0..<12_000 { lines.append(line("\"\(filler)\(i % 50)\"", step: i, trajectory: "t")) }
        lines[9_000] = line("\"ok\"", step: 9_000, extra: #", "active": 3"#)
        let text = lines.joined(separator: "\n") + "\n"
        #expect(text.utf8.count > JSONLReader.parallelThreshold)
        guard case .invalidInput(let location, let field, _)? = thrownError({ _ = try JSONLReader.parse(text, threads: 2) }) else {
            Issue.record("bad line not refused")
            return
        }
        #expect(location == .line(9_001))
        #expect(field == "active")

        // A state_key row after text rows, in the second half: the mix is refused at its line.
        lines[9_000] = #"{"group": "g", "trajectory": "t", "step": 9000, "state_key": 5, "reward": 0}"#
        let mixed = lines.joined(separator: "\n")
        guard case .invalidInput(let where2, let field2, _)? = thrownError({ _ = try JSONLReader.parse(mixed, threads: 2) }) else {
            Issue.record("mixed identities not refused")
            return
        }
        #expect(where2 == .line(9_001))
        #expect(field2 == "state_key")
    }
}
