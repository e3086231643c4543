import Foundation
import Testing
@testable import RewardFlow

/// The mapped reader (regular files) and the chunked reader (pipes, devices) give the same
/// rows and the same errors at every chunk size, whatever falls on a chunk boundary.
@Suite struct MappedReadTests {
    /// Every column and table of `rows`, for comparison.
    static func contents(_ rows: StepRows) -> [String] {
        func table(_ t: InternTable) -> [String] { (0..<t.count).map { t.string(of: Int32($0)) } }
        return [
            "\(rows.group)", "\(rows.trajectory)", "\(rows.step)", "\(rows.state)", "\(rows.action)",
            "\(rows.reward.map(\.bitPattern))", "\(rows.active)", "\(rows.noop)", "\(rows.sourceLine)",
            "\(table(rows.groupNames))", "\(table(rows.trajectoryNames))", "\(table(rows.stateTexts))",
            "\(table(rows.actionNames))", "\(rows.stateKeys.count)", "\(String(describing: rows.identity))",
        ]
    }

    /// The rows or the error of reading `text` from a file, mapped or in chunks of `chunk` bytes.
    static func read(_ text: String, mapping: Bool, chunk: Int, maxLineBytes: Int = JSONLReader.defaultMaxLineBytes) throws -> Result<[String], RewardFlowError> {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mapped-\(UUID().uuidString).jsonl").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do throws(RewardFlowError) {
            return .success(contents(try JSONLReader.read(
                path: path, maxLineBytes: maxLineBytes, threads: 1, mapping: mapping, chunkBytes: chunk, progress: nil)))
        } catch {
            return .failure(error)
        }
    }

    static func row(_ g: Int, _ t: Int, _ s: Int, state: String, reward: Double = 0) -> String {
        #"{"group": "g\#(g)", "trajectory": "t\#(g).\#(t)", "step": \#(s), "state": "\#(state)", "action": "a\#(s % 3)", "reward": \#(reward)}"#
    }

    /// A small batch with blank lines, an unknown field, escapes and a long state.
    static let batch: String = {
        var lines: [String] = []
        for g in 0..<3 {
            for t in 0..<3 {
                for s in 0..<4 {
                    let state = s == 2 && t == 1 ? String(repeating: "long state ", count: 30) : "s\(s * t % 3) caf\\u00e9"
                    lines.append(row(g, t, s, state: state, reward: s == 3 ? 1 : 0))
                }
                lines.append("")
            }
        }
        lines.append(#"{"group": "g9", "trajectory": "t9", "step": 0, "state": "x", "extra": [1, {"a": null}], "reward": 0.5}"#)
        return lines.joined(separator: "\n")
    }()

    @Test(arguments: [1, 7, 64, 200, 333, 4096, 1 << 20])
    func sameRowsAtEveryChunkSize(chunk: Int) throws {
        for text in [Self.batch, Self.batch + "\n", "\n\n" + Self.batch + "\n\n"] {
            let want = try Self.read(text, mapping: false, chunk: JSONLReader.chunkSize).get()
            #expect(want[0].split(separator: ",").count == 37)  // every row read
            #expect(try Self.read(text, mapping: true, chunk: chunk).get() == want)
            #expect(try Self.read(text, mapping: false, chunk: chunk).get() == want)
        }
    }

    @Test(arguments: [1, 50, 250, 4096])
    func sameErrorsAtEveryChunkSize(chunk: Int) throws {
        let lines = Self.batch.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // A bad row late in the file, a duplicated field, a truncated last line.
        var bad = lines
        bad[20] = #"{"group": "g", "trajectory": "t", "step": 0, "state": "A", "reward": "x"}"#
        let cases: [(String, Int)] = [
            (bad.joined(separator: "\n"), JSONLReader.defaultMaxLineBytes),
            (Self.batch + "\n" + #"{"group": "g", "group": "h"}"#, JSONLReader.defaultMaxLineBytes),
            (Self.batch + "\n" + #"{"group": "g", "traj"#, JSONLReader.defaultMaxLineBytes),
            // Lines longer than the limit: in the middle (with its newline) and last (without).
            (Self.batch, 200),
            (lines[0] + "\n" + String(repeating: " ", count: 600) + lines[1], 300),
        ]
        for (text, limit) in cases {
            let chunked = try Self.read(text, mapping: false, chunk: chunk, maxLineBytes: limit)
            let mapped = try Self.read(text, mapping: true, chunk: chunk, maxLineBytes: limit)
            guard case .failure(let want) = chunked, case .failure(let got) = mapped else {
                Issue.record("expected both to fail: \(chunked) / \(mapped)")
                continue
            }
            #expect(got == want)
            // And the chunk size never changes the error.
            guard case .failure(let reference) = try Self.read(text, mapping: false, chunk: JSONLReader.chunkSize, maxLineBytes: limit) else {
                Issue.record("expected a failure")
                continue
            }
            #expect(got == reference)
        }
    }

    @Test func longLineWithinTheLimitSpansChunks() throws {
        let long = Self.row(0, 0, 0, state: String(repeating: "z", count: 5000))
        let text = [long, Self.row(0, 0, 1, state: "b"), long].joined(separator: "\n")
        let want = try Self.read(text, mapping: false, chunk: JSONLReader.chunkSize).get()
        #expect(try Self.read(text, mapping: true, chunk: 100).get() == want)
        #expect(try Self.read(text, mapping: false, chunk: 100).get() == want)
    }
}

/// The string scanner's block loops (16 bytes with SSE2, then 8, then one) find every byte
/// that needs attention wherever it falls: an escape, non-ASCII text, a control character, the
/// closing quote, at every offset of strings up to 48 bytes.
@Suite struct StringScanTests {
    /// The state of a one-row line whose state literal is `literal` (JSON, quotes excluded).
    static func state(_ literal: [UInt8]) throws(RewardFlowError) -> String {
        var line = Array(#"{"group": "g", "trajectory": "t", "step": 0, "reward": 0, "state": ""#.utf8)
        line += literal + Array(#""}"#.utf8)
        let rows = try JSONLReader.parse(bytes: &line)
        return rows.stateTexts.string(of: rows.state[0])
    }

    @Test func everyOffsetOfEveryKind() throws {
        for length in 0...48 {
            let plain = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
            #expect(try Self.state(plain) == String(decoding: plain, as: UTF8.self))
            for at in 0...length {
                let (head, tail) = (Array(plain[..<at]), Array(plain[at...]))
                let text = { (s: String) in String(decoding: head, as: UTF8.self) + s + String(decoding: tail, as: UTF8.self) }
                #expect(try Self.state(head + Array(#"\""#.utf8) + tail) == text("\""))
                #expect(try Self.state(head + Array(#"\\"#.utf8) + tail) == text("\\"))
                #expect(try Self.state(head + Array("é".utf8) + tail) == text("é"))
                #expect(try Self.state(head + Array("\u{1F600}".utf8) + tail) == text("\u{1F600}"))
                let control = thrownError { _ = try Self.state(head + [0x09] + tail) }
                guard case .invalidInput(.line(1), "state", let message)? = control else {
                    Issue.record("length \(length) at \(at): \(String(describing: control))")
                    continue
                }
                #expect(message.contains("control character 0x9"))
                let invalid = thrownError { _ = try Self.state(head + [0xFF] + tail) }
                #expect(invalid != nil, "0xFF at \(at) of \(length)")
            }
        }
    }
}
