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
