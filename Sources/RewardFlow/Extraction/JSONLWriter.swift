#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes scored rows as JSON Lines, one line per input row in input order:
/// `group, trajectory, step, value, step_reward, step_reward_abs`
/// (+ `episode_advantage, step_advantage, advantage`).
///
/// Doubles are written in their shortest round-trip form; `-0.0` is written `0.0`.
public enum JSONLWriter {
    /// Renders the output into bytes.
    public static func render(_ rows: StepRows, _ scored: ScoredRows) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(rows.count * (scored.advantages == nil ? 120 : 200))
        for r in 0..<rows.count { appendLine(r, rows, scored, &out) }
        return out
    }

    /// Writes the output to `path` atomically: a temporary file beside it, then `rename(2)`.
    /// `"-"` writes to standard output. On failure no file is left behind.
    public static func write(_ rows: StepRows, _ scored: ScoredRows, to path: String) throws(RewardFlowError) {
        if path == "-" {
            try writeAll(fd: 1, rows, scored, path: "<stdout>")
            return
        }
        var template = Array((path + ".tmp.XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw .io(path: path, message: String(cString: strerror(errno))) }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        do throws(RewardFlowError) {
            try writeAll(fd: fd, rows, scored, path: path)
            fchmod(fd, 0o644)
            guard close(fd) == 0 else { throw .io(path: path, message: String(cString: strerror(errno))) }
            guard rename(temporary, path) == 0 else { throw .io(path: path, message: String(cString: strerror(errno))) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
    }

    private static func writeAll(fd: Int32, _ rows: StepRows, _ scored: ScoredRows, path: String) throws(RewardFlowError) {
        var buffer = [UInt8]()
        let flushAt = 1 << 20
        buffer.reserveCapacity(flushAt + 4096)
        for r in 0..<rows.count {
            appendLine(r, rows, scored, &buffer)
            if buffer.count >= flushAt || r == rows.count - 1 {
                try flush(fd, &buffer, path: path)
            }
        }
    }

    private static func flush(_ fd: Int32, _ buffer: inout [UInt8], path: String) throws(RewardFlowError) {
        var offset = 0
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, message: String(cString: strerror(errno)))
            }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
    }

    static func appendLine(_ r: Int, _ rows: StepRows, _ scored: ScoredRows, _ out: inout [UInt8]) {
        out.append(contentsOf: #"{"group": "#.utf8)
        appendString(rows.groupNames, rows.group[r], &out)
        out.append(contentsOf: #", "trajectory": "#.utf8)
        appendString(rows.trajectoryNames, rows.trajectory[r], &out)
        out.append(contentsOf: #", "step": "#.utf8)
        out.append(contentsOf: String(rows.step[r]).utf8)
        appendField("value", scored.rewards.value[r], &out)
        appendField("step_reward", scored.rewards.stepReward[r], &out)
        appendField("step_reward_abs", scored.rewards.stepRewardAbs[r], &out)
        if let a = scored.advantages {
            appendField("episode_advantage", a.episode[r], &out)
            appendField("step_advantage", a.step[r], &out)
            appendField("advantage", a.combined[r], &out)
        }
        out.append(contentsOf: "}\n".utf8)
    }

    static func appendField(_ name: StaticString, _ value: Double, _ out: inout [UInt8]) {
        out.append(contentsOf: #", ""#.utf8)
        out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        out.append(contentsOf: #"": "#.utf8)
        out.append(contentsOf: (value + 0.0).description.utf8)
    }

    /// Appends an interned string as a JSON string literal.
    static func appendString(_ table: InternTable, _ id: Int32, _ out: inout [UInt8]) {
        out.append(0x22)
        for byte in table.bytes(of: id) {
            switch byte {
            case 0x22: out.append(contentsOf: #"\""#.utf8)
            case 0x5C: out.append(contentsOf: #"\\"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(0x22)
    }
}
