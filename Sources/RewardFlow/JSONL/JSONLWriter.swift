import Dispatch
import Glibc
import SystemPackage

/// Writes scored rows as JSON Lines, one line per input row in input order:
/// `group, trajectory, step, value, step_reward, step_reward_abs`
/// (+ `episode_advantage, step_advantage, advantage`).
///
/// Doubles are written in their shortest round-trip form (`DoubleFormatter`, the same text as
/// `Double.description`); `-0.0` is written `0.0`. Blocks of rows are rendered in parallel into
/// reusable buffers and written in order by a writer thread while the next blocks render, so
/// the bytes never depend on the thread count. Safe code: rows render through bounds-checked
/// `OutputSpan`s of the toolkit's `ByteBuffer`.
public enum JSONLWriter {
    /// Rows per rendered block.
    static let blockRows = 16_384

    /// Renders the output into bytes, on `threads` threads (nil: `Execution.threadCount`); the
    /// bytes never depend on it.
    public static func render(_ rows: StepRows, _ scored: ScoredRows, threads: Int? = nil) -> [UInt8] {
        let threads = Parallel.threads(threads)
        let names = EscapedNames(rows)
        let perRow = scored.advantages == nil ? 140 : 240
        let parts = max(1, min(threads * 4, rows.count / blockRows))
        let buffers = (0..<parts).map { _ in ByteBuffer(capacity: (rows.count / parts + 1) * perRow) }
        Parallel.forEachChunk(threads: threads, count: parts) { range in
            for b in range {
                renderRows((rows.count * b / parts)..<(rows.count * (b + 1) / parts), rows, scored, names, buffers[b])
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(buffers.reduce(0) { $0 + $1.count })
        for buffer in buffers { buffer.append(to: &bytes) }
        return bytes
    }

    /// Writes the output to `path` atomically through `OutputFile` (an unnamed file that gets
    /// its name when complete; a symbolic link is written through; an existing file's mode is
    /// kept, a new one honours the umask).
    /// `"-"` writes to standard output; an existing path that is not a regular file (a device
    /// such as `/dev/null`, a FIFO) is opened and written in place, never replaced. On failure
    /// no file is left behind. `progress` is called (from the calling thread) with the number
    /// of rows rendered so far. Blocks render on `threads` threads (nil: `Execution.threadCount`);
    /// the bytes never depend on it.
    public static func write(
        _ rows: StepRows, _ scored: ScoredRows, to path: String, threads: Int? = nil,
        progress: ((Int) -> Void)? = nil
    ) throws(RewardFlowError) {
        let threads = Parallel.threads(threads)
        try OutputFile.write(to: path) { (fd, regularFile, name) throws(RewardFlowError) in
            try writeAll(fd: fd, rows, scored, path: name, direct: regularFile, threads: threads, progress: progress)
        }
    }

    /// Renders blocks of rows in parallel (one block per thread per round) and hands each round
    /// to a serial writer queue, at most two rounds in flight.
    private static func writeAll(
        fd: FileDescriptor, _ rows: StepRows, _ scored: ScoredRows, path: String, direct: Bool,
        threads: Int, progress: ((Int) -> Void)?
    ) throws(RewardFlowError) {
        let names = EscapedNames(rows)
        let perBlock = scored.advantages == nil ? 140 : 240
        let rounds = [0, 1].map { _ in (0..<threads).map { _ in ByteBuffer(capacity: blockRows * perBlock) } }
        let sink = FileSink(fd: fd, path: path, direct: direct)
        let queue = DispatchQueue(label: "rewardflow.jsonl-writer")
        let inFlight = DispatchSemaphore(value: 2)
        var start = 0
        var round = 0
        while start < rows.count {
            inFlight.wait()
            let buffers = rounds[round & 1]
            let first = start
            let blocks = min(threads, (rows.count - first + blockRows - 1) / blockRows)
            Parallel.forEachChunk(threads: threads, count: blocks) { range in
                for b in range {
                    let lo = first + b * blockRows, hi = min(rows.count, lo + blockRows)
                    buffers[b].removeAll()
                    renderRows(lo..<hi, rows, scored, names, buffers[b])
                }
            }
            start = min(rows.count, first + blocks * blockRows)
            round += 1
            let ready = UncheckedSendable(Array(buffers[0..<blocks]))
            queue.async {
                for buffer in ready.value { sink.write(buffer) }
                inFlight.signal()
            }
            progress?(start)
        }
        // After an I/O error the sink skips further writes; the error surfaces here.
        let failure = queue.sync { () -> RewardFlowError? in
            sink.finish()
            return sink.error
        }
        if let failure { throw failure }
    }

    // MARK: - Rendering

    /// The JSON string literals (quotes included) of every group and trajectory name.
    struct EscapedNames {
        var bytes: [UInt8] = []
        var groupStart: [Int] = [0]
        var trajectoryStart: [Int] = [0]
        let trajectoryOffset: Int

        init(_ rows: StepRows) {
            for g in 0..<rows.groupNames.count {
                bytes.append(0x22)
                JSONText.appendEscaped(rows.groupNames.bytes(of: Int32(g)), to: &bytes)
                bytes.append(0x22)
                groupStart.append(bytes.count)
            }
            trajectoryOffset = bytes.count
            for t in 0..<rows.trajectoryNames.count {
                bytes.append(0x22)
                JSONText.appendEscaped(rows.trajectoryNames.bytes(of: Int32(t)), to: &bytes)
                bytes.append(0x22)
                trajectoryStart.append(bytes.count - trajectoryOffset)
            }
        }
    }

    /// Renders `range` of the rows at the end of `buffer`.
    static func renderRows(
        _ range: Range<Int>, _ rows: StepRows, _ scored: ScoredRows, _ names: EscapedNames, _ buffer: ByteBuffer
    ) {
        let advantages = scored.advantages
        let r = scored.rewards
        let nameBytes = names.bytes.span
        for i in range {
            let g = Int(rows.group[i]), t = Int(rows.trajectory[i])
            let group = nameBytes.extracting(names.groupStart[g] ..< names.groupStart[g + 1])
            let trajectory = nameBytes.extracting(
                names.trajectoryOffset + names.trajectoryStart[t] ..< names.trajectoryOffset + names.trajectoryStart[t + 1])
            buffer.append(reserving: group.count + trajectory.count + 64 + 7 * 48) { out in
                out.append(#"{"group": "#, group)
                out.append(#", "trajectory": "#, trajectory)
                DoubleFormatter.writeInteger(#", "step": "#, Int(rows.step[i]), to: &out)
                DoubleFormatter.write(#", "value": "#, r.value[i] + 0.0, to: &out)
                DoubleFormatter.write(#", "step_reward": "#, r.stepReward[i] + 0.0, to: &out)
                DoubleFormatter.write(#", "step_reward_abs": "#, r.stepRewardAbs[i] + 0.0, to: &out)
                if let a = advantages {
                    DoubleFormatter.write(#", "episode_advantage": "#, a.episode[i] + 0.0, to: &out)
                    DoubleFormatter.write(#", "step_advantage": "#, a.step[i] + 0.0, to: &out)
                    DoubleFormatter.write(#", "advantage": "#, a.combined[i] + 0.0, to: &out)
                }
                out.append(0x7D)
                out.append(0x0A)
            }
        }
    }
}

/// The writing end of `JSONLWriter`: used from its serial queue only.
///
/// For a regular file it asks for `O_DIRECT` (no page-cache copy: on this kind of machine a
/// fresh file's buffered writes cost more CPU than rendering the text), stages bytes in a
/// page-aligned buffer, writes whole 1 MiB multiples, and writes the tail with `O_DIRECT` off.
/// Where the file system refuses `O_DIRECT` it falls back to ordinary writes.
final class FileSink: @unchecked Sendable {
    let fd: FileDescriptor
    let path: String
    private(set) var error: RewardFlowError?
    private var direct = false
    private let staging: ByteBuffer
    static let alignment = 1 << 20

    /// `O_DIRECT` (Glibc hides it behind `_GNU_SOURCE`): 0o40000 on x86-64, 0o200000 on arm64.
    #if arch(x86_64) || arch(i386)
    static let oDirect: Int32 = 0o40000
    #elseif arch(arm64) || arch(arm)
    static let oDirect: Int32 = 0o200000
    #else
    static let oDirect: Int32 = 0
    #endif

    init(fd: FileDescriptor, path: String, direct: Bool) {
        self.fd = fd
        self.path = path
        staging = ByteBuffer(capacity: direct ? 8 << 20 : 0)
        if direct {
            if FileIO.regularFileSize(fd) != nil {
                let flags = fcntl(fd.rawValue, F_GETFL)
                self.direct = FileSink.oDirect != 0 && flags >= 0 && fcntl(fd.rawValue, F_SETFL, flags | FileSink.oDirect) == 0
            }
        }
    }

    func write(_ buffer: ByteBuffer) {
        guard error == nil else { return }
        guard direct else {
            emit(buffer, 0..<buffer.count)
            return
        }
        var offset = 0
        while offset < buffer.count && error == nil {
            let room = 8 << 20 - staging.count
            let n = min(room, buffer.count - offset)
            staging.append(buffer, offset ..< offset + n)
            offset += n
            let whole = staging.count / FileSink.alignment * FileSink.alignment
            if whole > 0 && staging.count >= 8 << 20 {
                emit(staging, 0..<whole)
                staging.removeFirst(whole)
            }
        }
    }

    /// Writes what is staged (the unaligned tail with `O_DIRECT` switched off).
    func finish() {
        guard direct, error == nil else { return }
        let whole = staging.count / FileSink.alignment * FileSink.alignment
        if whole > 0 { emit(staging, 0..<whole) }
        switchOffDirect()
        emit(staging, whole..<staging.count)
        staging.removeAll()
    }

    /// Writes `buffer`'s bytes `range`, unless an earlier write failed.
    private func emit(_ buffer: ByteBuffer, _ range: Range<Int>) {
        guard error == nil, !range.isEmpty else { return }
        do throws(RewardFlowError) {
            try buffer.withBytes(range) { (bytes) throws(RewardFlowError) in
                try FileIO.writeAll(fd, bytes, path: path) { errno in
                    // The file system takes no direct I/O after all: continue buffered.
                    guard errno == .invalidArgument && direct else { return false }
                    switchOffDirect()
                    return true
                }
            }
        } catch {
            self.error = error
        }
    }

    /// Clears `O_DIRECT` (writes of any size and alignment from here on).
    private func switchOffDirect() {
        let flags = fcntl(fd.rawValue, F_GETFL)
        _ = fcntl(fd.rawValue, F_SETFL, flags & ~FileSink.oDirect)
        direct = false
    }
}
