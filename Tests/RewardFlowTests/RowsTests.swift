import Foundation
import Testing
@testable import RewardFlow
import RewardFlowSynthesis

/// SPEC §1: the JSONL scanner, columnar storage and the validation of the batch.
@Suite struct RowsTests {
    static let good = #"{"group": "g", "trajectory": "t", "step": 0, "state": "A", "action": "x", "reward": 0.0, "active": true}"#

    /// Parses `text` and orders it, returning the error (nil when valid).
    func error(_ text: String) -> RewardFlowError? {
        thrownError {
            let rows = try JSONLReader.parse(text)
            _ = try TrajectoryIndex(rows)
        }
    }

    func expectError(_ text: String, location: InputLocation, field: String, containing fragment: String) {
        guard case .invalidInput(let got, let gotField, let message)? = error(text) else {
            Issue.record("expected an input error for \(text.debugDescription), got \(String(describing: error(text)))")
            return
        }
        #expect(got == location)
        #expect(gotField == field)
        #expect(message.contains(fragment), "message: \(message)")
    }

    @Test func readsColumnsAndInterns() throws {
        let text = """
            {"group": "g0", "trajectory": "t0", "step": 0, "state": "A", "action": "go", "reward": 1.5, "active": true}
            {"group": "g0", "trajectory": "t0", "step": 1, "state": "caf\\u00e9 \\"q\\"", "reward": -2e-3, "noop": true, "extra": {"a": [1, null, "x"]}}

            {"trajectory": "t1", "group": "g1", "step": 0, "state": "A", "reward": 7, "active": false}
            """
        let rows = try JSONLReader.parse(text)
        #expect(rows.count == 3)
        #expect(rows.groupNames.count == 2)
        #expect(rows.stateTexts.count == 2)
        #expect(rows.state[0] == rows.state[2])
        #expect(rows.stateTexts.string(of: rows.state[1]) == "café \"q\"")
        #expect(rows.reward == [1.5, -0.002, 7])
        #expect(rows.active == [true, true, false])
        #expect(rows.noop == [false, true, false])
        #expect(rows.actionNames.string(of: rows.action[1]) == "")
        #expect(rows.sourceLine == [1, 2, 4])
    }

    @Test func numbersRoundCorrectly() throws {
        let samples = ["0.1", "1e-7", "123456789.123456789", "2.2250738585072014e-308", "-0.0",
                       "9007199254740993", "1.7976931348623157e308", "5e-324", "0.30000000000000004", "10"]
        for sample in samples {
            let rows = try JSONLReader.parse(#"{"group": "g", "trajectory": "t", "step": 0, "state": "A", "reward": \#(sample)}"#)
            #expect(rows.reward[0].bitPattern == Double(sample)!.bitPattern, "\(sample)")
        }
    }

    @Test func stateKeysAndTextsDoNotMix() throws {
        let rows = try JSONLReader.parse(#"{"group": "g", "trajectory": "t", "step": 0, "state_key": 18446744073709551615, "reward": 0}"#)
        #expect(rows.identity == .key)
        #expect(rows.stateKeys.key(of: rows.state[0]) == UInt64.max)
        expectError(#"{"group": "g", "trajectory": "t", "step": 0, "state_key": 1, "reward": 0}"# + "\n" + Self.good,
                    location: .line(2), field: "state", containing: "state_key")
        var batch = StepRows()
        try batch.append(group: "g", trajectory: "t", step: 0, stateKey: 3, reward: 0)
        let e = thrownError { try batch.append(group: "g", trajectory: "t", step: 1, state: "A", reward: 0) }
        #expect(e == .invalidInput(location: .row(1), field: "state", message: "the batch names states by `state_key`; a row may not use `state`"))
    }

    @Test func refusesInvalidUTF8() {
        var bytes = Array(Self.good.utf8)
        let at = bytes.firstIndex(of: UInt8(ascii: "A"))!
        bytes[at] = 0xFF
        let e = thrownError { _ = try JSONLReader.parse(bytes: &bytes) }
        guard case .invalidInput(.line(1), "state", let message)? = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(message.contains("UTF-8"))
        // An overlong encoding and a UTF-8-encoded surrogate are refused too.
        for bad: [UInt8] in [[0xC0, 0x80], [0xED, 0xA0, 0x80]] {
            var copy = Array(Self.good.utf8)
            copy.replaceSubrange(at...at, with: bad)
            #expect(thrownError { _ = try JSONLReader.parse(bytes: &copy) } != nil)
        }
    }

    @Test func refusesBadJSON() {
        expectError(Self.good + "\n{\"group\": \"g\",", location: .line(2), field: "json", containing: "field name")
        expectError("[1, 2]", location: .line(1), field: "json", containing: "'{'")
        expectError(Self.good + " x", location: .line(1), field: "json", containing: "after the object")
        expectError(#"{"group": "g" "trajectory": "t"}"#, location: .line(1), field: "json", containing: "','")
        expectError(#"{"group": "g\q", "trajectory": "t", "step": 0, "state": "A", "reward": 0}"#,
                    location: .line(1), field: "group", containing: "escape")
        expectError(#"{"group": "g", "trajectory": "t", "step": 0, "state": "A\ud800", "reward": 0}"#,
                    location: .line(1), field: "state", containing: "surrogate")
        expectError(#"{"group": "g", "trajectory": "t", "step": 01, "state": "A", "reward": 0}"#,
                    location: .line(1), field: "step", containing: "leading zeros")
    }

    @Test func refusesMissingFieldsAndWrongTypes() {
        expectError(#"{"group": "g", "step": 0, "state": "A", "reward": 0}"#, location: .line(1), field: "trajectory", containing: "missing")
        expectError(#"{"group": "g", "trajectory": "t", "step": 0, "reward": 0}"#, location: .line(1), field: "state", containing: "missing")
        expectError(#"{"group": "g", "trajectory": "t", "step": 0, "state": "A"}"#, location: .line(1), field: "reward", containing: "missing")
        expectError(#"{"group": 3, "trajectory": "t", "step": 0, "state": "A", "reward": 0}"#, location: .line(1), field: "group", containing: "expected a string, got a number")
        expectError(#"{"group": "g", "trajectory": "t", "step": "0", "state": "A", "reward": 0}"#, location: .line(1), field: "step", containing: "integer")
        expectError(#"{"group": "g", "trajectory": "t", "step": 1.5, "state": "A", "reward": 0}"#, location: .line(1), field: "step", containing: "integer")
        expectError(#"{"group": "g", "trajectory": "t", "step": -1, "state": "A", "reward": 0}"#, location: .line(1), field: "step", containing: "non-negative")
        expectError(#"{"group": "g", "trajectory": "t", "step": 0, "state": "A", "reward": "1"}"#, location: .line(1), field: "reward", containing: "number")
        expectError(#"{"group": "g", "trajectory": "t", "step": 0, "state": "A", "reward": 0, "active": 1}"#, location: .line(1), field: "active", containing: "true or false")
        expectError(#"{"group": "g", "trajectory": "t", "step": 0, "state": "A", "reward": 0, "noop": null}"#, location: .line(1), field: "noop", containing: "null")
        expectError(#"{"group": "g", "group": "h", "trajectory": "t", "step": 0, "state": "A", "reward": 0}"#, location: .line(1), field: "group", containing: "twice")
        // A misspelt word is named as invalid JSON, not as the type it resembles.
        func row(_ field: String, _ value: String) -> String {
            var fields = [("group", #""g""#), ("trajectory", #""t""#), ("step", "0"), ("state", #""A""#), ("reward", "0")]
            if let i = fields.firstIndex(where: { $0.0 == field }) { fields[i].1 = value } else { fields.append((field, value)) }
            return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
        }
        for (field, value, expected) in [("active", "tru", "true or false, got invalid JSON"), ("noop", "falsey", "true or false, got invalid JSON"),
                                         ("reward", "nul", "number, got invalid JSON"), ("reward", "true", "number, got a boolean"),
                                         ("state", "null", "string, got null"), ("group", "nullx", "string, got invalid JSON")] {
            expectError(row(field, value), location: .line(1), field: field, containing: expected)
        }
    }

    /// Steps up to 2^31 − 1 are read (10 digits included); above that the limit is named.
    @Test func stepLimitIsNamed() throws {
        let at = #"{"group": "g", "trajectory": "t", "step": 2147483647, "state": "A", "reward": 0}"#
        #expect(try JSONLReader.parse(at).step == [Int32.max])
        for step in ["2147483648", "4294967298", "99999999999999999999999"] {
            expectError(#"{"group": "g", "trajectory": "t", "step": \#(step), "state": "A", "reward": 0}"#,
                        location: .line(1), field: "step", containing: "must be at most 2147483647 (2^31 − 1), got \(step)")
        }
    }

    /// NaN / Infinity are not JSON, in unknown fields either (at any depth), named by field.
    @Test func refusesNonFiniteLiteralsInUnknownFields() {
        for (value, field) in [("NaN", "extra"), ("Infinity", "extra"), ("-Infinity", "extra"),
                               (#"{"a": [1, NaN]}"#, "extra"), (#"[{"b": Infinity}]"#, "extra")] {
            expectError(#"{"group": "g", "trajectory": "t", "step": 0, "state": "A", "reward": 0, "extra": \#(value)}"#,
                        location: .line(1), field: field, containing: "NaN and Infinity are not JSON")
        }
        // The name as written, escapes decoded; on the line where it occurs.
        expectError(Self.good + "\n" + #"{"group": "g", "trajectory": "t", "step": 1, "state": "B", "reward": 0, "caf\u00e9": NaN}"#,
                    location: .line(2), field: "café", containing: "not JSON")
        // Strings that merely spell them stay fine.
        #expect(error(#"{"group": "g", "trajectory": "t", "step": 0, "state": "A", "reward": 0, "extra": ["NaN", "Infinity"]}"#) == nil)
    }

    @Test func refusesNonFiniteRewards() {
        for token in ["NaN", "Infinity", "-Infinity", "1e400"] {
            expectError(#"{"group": "g", "trajectory": "t", "step": 0, "state": "A", "reward": \#(token)}"#,
                        location: .line(1), field: "reward", containing: "finite")
        }
        var rows = StepRows()
        let e = thrownError { try rows.append(group: "g", trajectory: "t", step: 0, state: "A", reward: .nan) }
        #expect(e == .invalidInput(location: .row(0), field: "reward", message: "not a finite number (NaN and infinities are refused)"))
    }

    @Test func refusesStepGapsAndDuplicates() {
        let row = { (step: Int) in #"{"group": "g", "trajectory": "t", "step": \#(step), "state": "A", "reward": 0}"# }
        expectError([row(0), row(2)].joined(separator: "\n"), location: .line(2), field: "step", containing: "gap")
        expectError([row(0), row(1), row(1)].joined(separator: "\n"), location: .line(3), field: "step", containing: "duplicate step 1")
        expectError([row(1)].joined(separator: "\n"), location: .line(1), field: "step", containing: "gap")
    }

    @Test func refusesActiveAfterInactive() {
        let text = """
            {"group": "g", "trajectory": "t", "step": 2, "state": "C", "reward": 0, "active": true}
            {"group": "g", "trajectory": "t", "step": 0, "state": "A", "reward": 0, "active": true}
            {"group": "g", "trajectory": "t", "step": 1, "state": "B", "reward": 0, "active": false}
            """
        expectError(text, location: .line(1), field: "active", containing: "active after inactive step 1")
    }

    @Test func refusesEmptyInput() {
        for text in ["", "\n\n  \n"] {
            #expect(error(text) == .invalidInput(location: .input, field: "rows", message: "empty input: there are no step rows"))
        }
    }

    @Test func ordersByFirstAppearance() throws {
        // Rows shuffled: group h appears first, then g; trajectories by first appearance.
        let rows = try makeRows([
            ("h", "b", 1, "X", 0, true), ("g", "z", 0, "A", 0, true), ("h", "a", 0, "Y", 0, true),
            ("h", "b", 0, "W", 0, true), ("g", "z", 1, "B", 0, false),
        ])
        let index = try TrajectoryIndex(rows)
        #expect(index.groupCount == 2)
        #expect(index.groupTrajectoryStart == [0, 2, 3])
        // h: b (rows 3, 0), a (row 2); g: z (rows 1, 4).
        #expect(index.orderedRows == [3, 0, 2, 1, 4])
        #expect(index.activePrefix == [2, 1, 1])
        #expect(index.group(ofTrajectory: 2) == 1)
    }

    @Test func readsFilesInChunks() throws {
        // More lines than one read chunk holds forces line carry-over across reads.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rf-chunks-\(getpid()).jsonl").path
        let line = #"{"group": "g", "trajectory": "t", "step": STEP, "state": "PAD", "reward": 0.25}"#
        let pad = String(repeating: "x", count: 300)
        var text = ""
        let count = JSONLReader.chunkSize / 300 + 500
        for i in 0..<count { text += line.replacingOccurrences(of: "STEP", with: "\(i)").replacingOccurrences(of: "PAD", with: pad + "\(i % 7)") + "\n" }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let rows = try JSONLReader.read(path: path)
        #expect(rows.count == count)
        #expect(rows.stateTexts.count == 7)
        #expect(rows.step.last == Int32(count - 1))
        #expect(thrownError { _ = try JSONLReader.read(path: path + ".missing") } != nil)
    }

    /// A batch already in SPEC §2 order takes the one-pass path, which must give the counting
    /// sort's index; a row out of place (a trajectory split or restarted, groups interleaved,
    /// steps out of order) sends the batch to the counting sort, which orders it.
    @Test func inOrderPassEqualsCountingSort() throws {
        func same(_ rows: StepRows) throws -> Bool? {
            guard let fast = TrajectoryIndex.inOrder(rows, threads: 2) else { return nil }
            let sorted = try TrajectoryIndex.sorted(rows)
            return fast.groupStart == sorted.groupStart && fast.rowStart == sorted.rowStart && fast.ordered == sorted.ordered
        }
        func rows(_ spec: [(String, String, Int)]) throws -> StepRows {
            try makeRows(spec.map { ($0.0, $0.1, $0.2, "S\($0.2)", 0, true) })
        }
        // In order: the one pass applies, also with names reused across groups.
        #expect(try same(rows([("g", "a", 0), ("g", "a", 1), ("g", "b", 0), ("h", "a", 0), ("h", "a", 1)])) == true)
        var options = SynthesisOptions()
        (options.groups, options.seed) = (60, 11)
        for identity in [StateIdentity.key, .text] {
            #expect(try same(RolloutSynthesizer(options).rows(identity: identity)) == true)
        }
        // Out of place: the counting sort.
        for spec in [
            [("g", "a", 0), ("g", "b", 0), ("g", "a", 1)],  // trajectory split
            [("g", "a", 0), ("g", "b", 0), ("g", "a", 0)],  // trajectory restarted (a duplicate step)
            [("g", "a", 0), ("h", "a", 0), ("g", "b", 0)],  // groups interleaved
            [("g", "a", 1), ("g", "a", 0)],  // steps out of order
            [("g", "a", 0), ("g", "a", 2), ("g", "a", 1)],
        ] {
            #expect(try same(rows(spec)) == nil, "\(spec)")
        }
        #expect(thrownError { _ = try TrajectoryIndex(rows([("g", "a", 0), ("g", "b", 0), ("g", "a", 0)])) }
            == .invalidInput(location: .row(2), field: "step", message: "duplicate step 0 in trajectory 'a' of group 'g' (first at row 0)"))
        let split = try TrajectoryIndex(rows([("g", "a", 0), ("g", "b", 0), ("g", "a", 1), ("h", "c", 0)]))
        #expect(split.orderedRows == [0, 2, 1, 3])
        #expect(split.groupTrajectoryStart == [0, 2, 3])
    }
}
