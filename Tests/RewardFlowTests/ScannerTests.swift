import Testing
@testable import RewardFlow

/// The JSONL scanner's own pieces: the words it compares field names and literals with, its
/// number parser, and its bounds (every read goes through the line's `Span`, so a cut line is an
/// error, never a read past its end).
@Suite struct ScannerTests {
    /// Up to eight bytes of `text` as a little-endian word (the first byte lowest).
    static func word(_ text: String) -> UInt64 {
        var w: UInt64 = 0
        for (i, byte) in text.utf8.prefix(8).enumerated() { w |= UInt64(byte) << (8 * UInt64(i)) }
        return w
    }

    @Test func keyWordsSpellTheFieldNames() {
        let expected: [(UInt64, String)] = [
            (KeyWords.step, "step\""), (KeyWords.noop, "noop\""), (KeyWords.group, "group\""),
            (KeyWords.state, "state\""), (KeyWords.reward, "reward\""), (KeyWords.active, "active\""),
            (KeyWords.action, "action\""), (KeyWords.trajecto, "trajecto"), (KeyWords.ryQuote, "ry\""),
            (KeyWords.stateKe, "state_ke"), (KeyWords.yQuote, "y\""),
        ]
        for (word, text) in expected { #expect(word == Self.word(text), "\(text)") }
    }

    @Test func literalsSpellTheirWords() {
        let expected: [(JSONLiteral, String)] = [
            (.true, "true"), (.false, "false"), (.null, "null"), (.nan, "NaN"), (.infinity, "Infinity"),
        ]
        for (literal, text) in expected {
            #expect(literal.word == Self.word(text), "\(text)")
            #expect(literal.count == text.utf8.count, "\(text)")
            #expect(literal.word & literal.mask == literal.word, "\(text)")
        }
    }

    /// Field names reach the same field through the 8-byte fast path, the plain-ASCII path (a
    /// space before the colon) and the general path (an escape in the name).
    @Test func fieldNamesMatchOnEveryPath() throws {
        let withNoop = RowsTests.good.replacingOccurrences(of: "}", with: #", "noop": true}"#)
        let withKey = #"{"group": "g", "trajectory": "t", "step": 4, "state_key": 77, "reward": 0.5}"#
        func columns(_ rows: StepRows) -> String {
            "\(rows.groupNames.count) \(rows.trajectoryNames.count) \(rows.step) \(rows.state) \(rows.action) "
                + "\(rows.reward) \(rows.active) \(rows.noop) \(String(describing: rows.identity))"
        }
        for field in JSONLField.allCases {
            #expect(JSONLField.match(Array(field.name.utf8).span) == field)
            let line = field == .noop ? withNoop : field == .stateKey ? withKey : RowsTests.good
            let want = columns(try JSONLReader.parse(line))
            var rest = field.name
            let first = rest.removeFirst()
            let escaped = "\\u00" + String(first.asciiValue!, radix: 16) + rest
            for spelling in ["\"\(escaped)\":", "\"\(field.name)\" :"] {
                let text = line.replacingOccurrences(of: "\"\(field.name)\":", with: spelling)
                #expect(text != line)
                #expect(columns(try JSONLReader.parse(text)) == want, "\(text)")
            }
        }
        for name in ["ste", "steps", "Step", "state_kez", "trajectorz", "groupe", ""] {
            #expect(JSONLField.match(Array(name.utf8).span) == nil, "\(name)")
        }
    }

    /// Every prefix of valid lines (each cut inside a name, a string with escapes or multi-byte
    /// text, a number, a literal, an unknown field's nested value) is refused with an input error
    /// on line 1, and the whole lines parse.
    @Test func everyCutLineIsAnErrorNotATrap() throws {
        let lines = [
            RowsTests.good,
            #"{"group": "g\u00e9", "trajectory": "t\"", "step": 12, "state_key": 18446744073709551615, "reward": -1.25e-3, "noop": false}"#,
            #"{"trajectory": "tr", "group": "grp", "step": 0, "state": "caf\u00e9 ☕ 𝄞", "reward": 0, "extra": {"a": [1, null, true, "x\\y"], "b": {}}, "active": false}"#,
        ]
        for line in lines {
            _ = try JSONLReader.parse(line)
            let bytes = Array(line.utf8)
            for cut in 1..<bytes.count {
                var prefix = Array(bytes[..<cut])
                let failure = thrownError { _ = try JSONLReader.parse(bytes: &prefix) }
                guard case .invalidInput(let location, _, _)? = failure else {
                    Issue.record("cut at \(cut) of \(line): expected an input error, got \(String(describing: failure))")
                    continue
                }
                #expect(location == .line(1))
            }
        }
    }

    /// The scanner's double parser agrees bit for bit with the standard library's correctly
    /// rounded `Double(_: String)` on its fast path (≤ 15 digits, |exponent| ≤ 22) and beyond it.
    @Test func numbersMatchTheStandardLibrary() {
        var random = SystemRandomNumberGenerator()
        var samples = ["0", "-0", "1", "0.5", "1e22", "1e23", "123456789012345", "1234567890123456789",
                       "4.9e-324", "1.7976931348623157e308", "2.225073858507201e-308", "0.1e-22", "1E+2"]
        for _ in 0..<2000 {
            let digits = String(UInt64.random(in: 0...UInt64.max, using: &random)).prefix(Int.random(in: 1...19, using: &random))
            let point = Int.random(in: 0...digits.count, using: &random)
            var text = String(digits.prefix(point)) + (point < digits.count ? "." + digits.dropFirst(point) : "")
            if text.hasPrefix(".") { text = "0" + text }
            if Bool.random(using: &random) { text += "e" + String(Int.random(in: -40...40, using: &random)) }
            samples.append(Bool.random(using: &random) ? "-" + text : text)
        }
        for text in samples {
            let parsed = NumberParsing.parseDouble(Array(text.utf8).span)
            #expect(parsed.bitPattern == Double(text)!.bitPattern, "\(text)")
        }
    }
}
