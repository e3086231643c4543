import Glibc
import SystemPackage

/// Reads SPEC §1 step rows from JSON Lines: a byte-level scanner, streaming in fixed-size chunks.
///
/// No Foundation JSON and no per-row dictionary: each line is scanned once, its strings are
/// validated as UTF-8 and interned straight from the input buffer, numbers are parsed in place.
/// Errors name the 1-based line and the field. Blank lines are skipped; unknown fields are
/// checked for JSON syntax and ignored.
public enum JSONLReader {
    /// Bytes read from the file per `read(2)` call.
    static let chunkSize = 16 << 20
    /// Below this many bytes a chunk is parsed on one thread.
    static let parallelThreshold = 1 << 20

    /// The longest line `read(path:)` accepts by default, in bytes (256 MiB, newline not
    /// counted): input without newlines (`/dev/zero`) is refused instead of filling memory.
    public static let defaultMaxLineBytes = 256 << 20

    /// Reads the rows of the file at `path` (`"-"` reads standard input). A line longer than
    /// `maxLineBytes` is refused (`line N: json: line longer than ...`) before more of it is read.
    /// Large chunks are parsed on `threads` threads (nil: `Execution.threadCount`); rows, ids and
    /// errors never depend on it.
    public static func read(
        path: String, maxLineBytes: Int = defaultMaxLineBytes, threads: Int? = nil,
        progress: ((Int) -> Void)? = nil
    ) throws(RewardFlowError) -> StepRows {
        let threads = Parallel.threads(threads)
        guard maxLineBytes > 0 else {
            throw .invalidParameter(name: "max-line-bytes", message: "must be positive, got \(maxLineBytes)")
        }
        let fd = path == "-" ? FileDescriptor.standardInput : try FileIO.open(path, .readOnly)
        defer { if fd != .standardInput { try? fd.close() } }
        var parser = Parser()
        parser.maxLineBytes = maxLineBytes
        var info = stat()
        if fstat(fd.rawValue, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
            // Reserve (address space only: untouched pages cost nothing) so the columns and
            // the state text grow without copying: a line is at least ~64 bytes.
            parser.rows.reserve(forInputBytes: Int(info.st_size))
        }
        var shards: [Parser] = []
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var filled = 0
        while true {
            if filled == buffer.count {
                // The tail holds no newline (it is parsed otherwise): grow up to one byte past the limit.
                let grown = min(buffer.count * 2, maxLineBytes + 1)
                buffer.append(contentsOf: repeatElement(0, count: max(grown - buffer.count, 1)))
            }
            let got = try buffer.withUnsafeMutableBytes { raw -> Result<Int, RewardFlowError> in
                do throws(RewardFlowError) {
                    return .success(try FileIO.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]), path: path))
                } catch {
                    return .failure(error)
                }
            }.get()
            let atEnd = got == 0
            filled += got
            // Parse every complete line; keep the tail for the next read.
            let consumed = try buffer.withUnsafeBytes { raw -> Result<Int, RewardFlowError> in
                let base = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
                var end = filled
                if !atEnd {
                    guard let nl = lastNewline(base, filled) else { return .success(0) }
                    end = nl + 1
                }
                do throws(RewardFlowError) {
                    try parseParallel(&parser, &shards, base, end, threads: threads)
                } catch {
                    return .failure(error)
                }
                return .success(end)
            }.get()
            if consumed > 0 {
                buffer.withUnsafeMutableBytes { raw in
                    let base = raw.baseAddress!
                    memmove(base, base + consumed, filled - consumed)
                }
                filled -= consumed
                progress?(parser.rows.count)
            }
            if atEnd { break }
            // `buffer[0..<filled]` is the start of one line, without its newline.
            if filled > maxLineBytes { throw Self.lineTooLong(line: parser.line + 1, limit: maxLineBytes) }
        }
        return parser.rows
    }

    /// The error for a line longer than `limit` bytes.
    static func lineTooLong(line: Int, limit: Int) -> RewardFlowError {
        .invalidInput(location: .line(line), field: "json",
                      message: "line longer than \(limit) bytes (the limit; rewardflow score --max-line-bytes raises it)")
    }

    /// Parses rows from JSONL text held in memory (on `threads` threads when large; nil:
    /// `Execution.threadCount`).
    public static func parse(_ text: String, threads: Int? = nil) throws(RewardFlowError) -> StepRows {
        var bytes = Array(text.utf8)
        return try parse(bytes: &bytes, threads: threads)
    }

    /// Parses rows from JSONL bytes held in memory (on `threads` threads when large; nil:
    /// `Execution.threadCount`).
    public static func parse(bytes: inout [UInt8], threads: Int? = nil) throws(RewardFlowError) -> StepRows {
        let threads = Parallel.threads(threads)
        var parser = Parser()
        try bytes.withUnsafeBytes { raw -> Result<Void, RewardFlowError> in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return .success(()) }
            do throws(RewardFlowError) {
                var shards: [Parser] = []
                try parseParallel(&parser, &shards, base, raw.count, threads: threads)
            } catch {
                return .failure(error)
            }
            return .success(())
        }.get()
        return parser.rows
    }

    /// Parses the complete lines `base[0..<count]` into `parser`, split at line boundaries
    /// into one part per thread (`threads` of them). Part 0 goes straight into `parser`; every other part into a
    /// fresh parser whose rows are then appended in order, interning their strings into the
    /// batch's tables in their order of first appearance. So ids, rows and errors are exactly
    /// those of a sequential parse, whatever the thread count.
    /// `shards` are the other parts' parsers, kept from chunk to chunk (emptied, capacity kept,
    /// so their buffers are not mapped afresh for every chunk).
    private static func parseParallel(
        _ parser: inout Parser, _ shards: inout [Parser], _ base: UnsafePointer<UInt8>, _ count: Int,
        threads: Int
    ) throws(RewardFlowError) {
        guard threads > 1, count >= parallelThreshold else {
            try parser.parseLines(base, count)
            return
        }
        // Part 0 interns into the batch's large tables (more cache misses) while the others
        // fill small ones and are then merged on this thread: give part 0 ~12% less (measured).
        var cuts = [0]
        for k in 1..<threads {
            let from = max(cuts[k - 1], count * (k * 100 - 12) / (threads * 100))
            let nl = from < count ? memchr(base + from, 0x0A, count - from) : nil
            cuts.append(nl.map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) - base + 1 } ?? count)
        }
        cuts.append(count)
        while shards.count < threads - 1 { shards.append(Parser()) }
        for k in shards.indices {
            shards[k].reset()
            shards[k].maxLineBytes = parser.maxLineBytes
        }
        var errors = [RewardFlowError?](repeating: nil, count: threads)
        withUnsafeMutablePointer(to: &parser) { first in
            shards.withUnsafeMutableBufferPointer { shardBuffer in
                errors.withUnsafeMutableBufferPointer { errorBuffer in
                    let (first, shardOut, errorOut) = (UncheckedSendable(first), SendableBuffer(shardBuffer), SendableBuffer(errorBuffer))
                    Parallel.forEachChunk(threads: threads, count: threads) { parts in
                        for k in parts {
                            do throws(RewardFlowError) {
                                if k == 0 {
                                    try first.value.pointee.parseLines(base, cuts[1])
                                } else {
                                    try shardOut.base[k - 1].parseLines(base + cuts[k], cuts[k + 1] - cuts[k])
                                }
                            } catch {
                                errorOut[k] = error
                            }
                        }
                    }
                }
            }
        }
        if let error = errors[0] { throw error }
        for k in 1..<threads {
            let shard = shards[k - 1]
            let offset = parser.line
            if let error = errors[k] {
                // A state/state_key conflict at the part's first row comes before its own error.
                if shard.rows.count > 0, let kind = shard.rows.identity {
                    try parser.rows.setIdentity(kind, at: .line(offset + Int(shard.rows.sourceLine[0])))
                }
                throw error.shiftingLines(by: offset)
            }
            try parser.rows.append(contentsOf: shard.rows, lineOffset: offset)
            parser.line += shard.line
        }
        parser.lastGroup = -1
        parser.lastTrajectory = -1
    }

    private static func lastNewline(_ base: UnsafePointer<UInt8>, _ count: Int) -> Int? {
        var i = count - 1
        while i >= 0 {
            if base[i] == 0x0A { return i }
            i -= 1
        }
        return nil
    }
}

// MARK: - The scanner

/// The fields SPEC §1 knows.
private enum Field: Int, CaseIterable {
    case group, trajectory, step, state, stateKey, action, reward, active, noop

    var name: String {
        switch self {
        case .group: return "group"
        case .trajectory: return "trajectory"
        case .step: return "step"
        case .state: return "state"
        case .stateKey: return "state_key"
        case .action: return "action"
        case .reward: return "reward"
        case .active: return "active"
        case .noop: return "noop"
        }
    }

    /// The field named by `p`, by comparing its first eight bytes as one integer.
    static func match(_ p: UnsafeRawBufferPointer) -> Field? {
        let n = p.count
        guard n >= 4 && n <= 10 else { return nil }
        let head = word(p.baseAddress!, min(n, 8))
        switch n {
        case 4:
            if head == word("step") { return .step }
            if head == word("noop") { return .noop }
        case 5:
            if head == word("group") { return .group }
            if head == word("state") { return .state }
        case 6:
            if head == word("action") { return .action }
            if head == word("reward") { return .reward }
            if head == word("active") { return .active }
        case 9:
            if head == word("state_ke") && p[8] == UInt8(ascii: "y") { return .stateKey }
        case 10:
            if head == word("trajecto") && p[8] == UInt8(ascii: "r") && p[9] == UInt8(ascii: "y") { return .trajectory }
        default: break
        }
        return nil
    }

    /// Up to eight bytes as a little-endian integer (zero-padded).
    @inline(__always)
    private static func word(_ p: UnsafeRawPointer, _ n: Int) -> UInt64 {
        var w: UInt64 = 0
        for i in 0..<n { w |= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(i)) }
        return w
    }

    @inline(__always)
    private static func word(_ s: StaticString) -> UInt64 {
        word(UnsafeRawPointer(s.utf8Start), min(s.utf8CodeUnitCount, 8))
    }
}

private struct Parser {
    var rows = StepRows()
    var line = 0
    /// Lines longer than this many bytes (newline not counted) are refused.
    var maxLineBytes = Int.max
    /// Decoded bytes of the current string when it holds escapes.
    let scratch = ScratchBuffer()
    /// Ids of the previous row's group and trajectory: consecutive rows usually repeat them.
    var lastGroup: Int32 = -1, lastTrajectory: Int32 = -1
    var cursor: UnsafePointer<UInt8> = UnsafePointer(bitPattern: 1)!
    var end: UnsafePointer<UInt8> = UnsafePointer(bitPattern: 1)!

    init() { rows.reserveCapacity(1 << 12) }

    /// Back to an empty batch at line 0, keeping allocated capacity.
    mutating func reset() {
        rows.removeAll(keepingCapacity: true)
        line = 0
        lastGroup = -1
        lastTrajectory = -1
    }

    mutating func parseLines(_ base: UnsafePointer<UInt8>, _ count: Int) throws(RewardFlowError) {
        var start = base
        let stop = base + count
        while start < stop {
            // memchr is vectorised: the line's end is found at memory speed.
            let nl = memchr(start, 0x0A, stop - start).map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) } ?? stop
            line += 1
            if nl - start > maxLineBytes { throw JSONLReader.lineTooLong(line: line, limit: maxLineBytes) }
            try parseLine(start, nl)
            start = nl + 1
        }
    }

    func fail(_ field: String, _ message: String) -> RewardFlowError {
        .invalidInput(location: .line(line), field: field, message: message)
    }

    mutating func skipSpace() {
        while cursor < end {
            let c = cursor.pointee
            if c == 0x20 || c == 0x09 || c == 0x0D { cursor += 1 } else { break }
        }
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(RewardFlowError) {
        skipSpace()
        guard cursor < end, cursor.pointee == byte else {
            throw fail("json", "expected \(what) \(found())")
        }
        cursor += 1
    }

    func found() -> String {
        guard cursor < end else { return "at the end of the line" }
        let c = cursor.pointee
        if c >= 0x20 && c < 0x7F { return "but found '\(Character(Unicode.Scalar(c)))'" }
        return "but found byte 0x\(String(c, radix: 16))"
    }

    mutating func parseLine(_ start: UnsafePointer<UInt8>, _ stop: UnsafePointer<UInt8>) throws(RewardFlowError) {
        cursor = start
        end = stop
        skipSpace()
        if cursor == end { return }  // blank line
        try expect(0x7B, "'{' (each line must be one JSON object)")

        var seen: UInt16 = 0  // bit `field.rawValue`: the field was present
        var group: Int32 = 0, trajectory: Int32 = 0, state: Int32 = 0, action: Int32 = -1
        var step = 0, reward = 0.0, active = true, noop = false
        var stateKey: UInt64 = 0

        skipSpace()
        if cursor < end && cursor.pointee == 0x7D {
            cursor += 1
        } else {
            while true {
                skipSpace()
                guard cursor < end, cursor.pointee == 0x22 else { throw fail("json", "expected a field name in quotes \(found())") }
                let keyStart = cursor
                let field: Field?
                if let known = knownKey() {
                    field = known
                } else {
                    let key: UnsafeRawBufferPointer
                    if let quick = quickKey() { key = quick } else { key = try parseString(field: "json") }
                    field = Field.match(key)
                }
                try expect(0x3A, "':' after a field name")
                skipSpace()
                if let field {
                    let bit: UInt16 = 1 << UInt16(field.rawValue)
                    if seen & bit != 0 { throw fail(field.name, "the field appears twice") }
                    seen |= bit
                    switch field {
                    case .group:
                        lastGroup = rows.internGroup(try stringValue(field), hint: lastGroup)
                        group = lastGroup
                    case .trajectory:
                        lastTrajectory = rows.internTrajectory(try stringValue(field), hint: lastTrajectory)
                        trajectory = lastTrajectory
                    case .state: state = rows.internState(try stringValue(field))
                    case .action: action = rows.internAction(try stringValue(field))
                    case .step: step = try integerValue(field)
                    case .stateKey: stateKey = try unsignedValue(field)
                    case .reward: reward = try numberValue(field)
                    case .active: active = try boolValue(field)
                    case .noop: noop = try boolValue(field)
                    }
                } else {
                    try skipValue(depth: 0, key: keyStart)
                }
                skipSpace()
                guard cursor < end else { throw fail("json", "the object is not closed with '}'") }
                if cursor.pointee == 0x2C { cursor += 1; continue }
                if cursor.pointee == 0x7D { cursor += 1; break }
                throw fail("json", "expected ',' or '}' \(found())")
            }
        }
        skipSpace()
        guard cursor == end else { throw fail("json", "unexpected text after the object \(found())") }

        let required: UInt16 = 1 << UInt16(Field.group.rawValue) | 1 << UInt16(Field.trajectory.rawValue)
            | 1 << UInt16(Field.step.rawValue) | 1 << UInt16(Field.reward.rawValue)
        if seen & required != required {
            for field in [Field.group, .trajectory, .step, .reward] where seen & (1 << UInt16(field.rawValue)) == 0 {
                throw fail(field.name, "missing field")
            }
        }
        let location = InputLocation.line(line)
        switch (seen & (1 << UInt16(Field.state.rawValue)) != 0, seen & (1 << UInt16(Field.stateKey.rawValue)) != 0) {
        case (true, true): throw fail("state", "a row has `state` or `state_key`, not both")
        case (false, false): throw fail("state", "missing field (give `state` or `state_key`)")
        case (true, false): try rows.setIdentity(.text, at: location)
        case (false, true):
            try rows.setIdentity(.key, at: location)
            state = rows.internStateKey(stateKey)
        }
        if action < 0 { action = rows.internAction(UnsafeRawBufferPointer(start: nil, count: 0)) }
        try rows.appendColumns(
            group: group, trajectory: trajectory, step: step, state: state, action: action,
            reward: reward, active: active, noop: noop, location: location, line: line)
    }

    // MARK: Values

    func typeName() -> String {
        guard cursor < end else { return "nothing" }
        switch cursor.pointee {
        case 0x22: return "a string"
        case 0x74, 0x66: return "a boolean"
        case 0x6E: return "null"
        case 0x7B: return "an object"
        case 0x5B: return "an array"
        case 0x2D, 0x30...0x39: return "a number"
        default: return "invalid JSON"
        }
    }

    mutating func stringValue(_ field: Field) throws(RewardFlowError) -> UnsafeRawBufferPointer {
        guard cursor < end, cursor.pointee == 0x22 else { throw fail(field.name, "expected a string, got \(typeName())") }
        return try parseString(field: field.name)
    }

    mutating func boolValue(_ field: Field) throws(RewardFlowError) -> Bool {
        if matchLiteral("true") { return true }
        if matchLiteral("false") { return false }
        throw fail(field.name, "expected true or false, got \(typeName())")
    }

    mutating func matchLiteral(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard end - cursor >= n, memcmp(cursor, word.utf8Start, n) == 0 else { return false }
        let after = cursor + n
        if after < end, isIdentifierByte(after.pointee) { return false }
        cursor = after
        return true
    }

    func isIdentifierByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
    }

    /// Scans a JSON number; returns its extent and whether it has a fraction or exponent.
    mutating func scanNumber(_ field: String) throws(RewardFlowError) -> (UnsafePointer<UInt8>, Int, Bool) {
        let start = cursor
        var p = cursor
        func digit(_ p: UnsafePointer<UInt8>) -> Bool { p < end && p.pointee >= 0x30 && p.pointee <= 0x39 }
        if p < end && p.pointee == 0x2D { p += 1 }
        guard digit(p) else { throw fail(field, "expected a number, got \(typeName())") }
        if p.pointee == 0x30 {
            p += 1
            if digit(p) { throw fail(field, "invalid number: leading zeros are not JSON") }
        } else {
            while digit(p) { p += 1 }
        }
        var isInteger = true
        if p < end && p.pointee == 0x2E {
            p += 1
            guard digit(p) else { throw fail(field, "invalid number: a digit must follow '.'") }
            while digit(p) { p += 1 }
            isInteger = false
        }
        if p < end && (p.pointee == 0x65 || p.pointee == 0x45) {
            p += 1
            if p < end && (p.pointee == 0x2B || p.pointee == 0x2D) { p += 1 }
            guard digit(p) else { throw fail(field, "invalid number: a digit must follow the exponent") }
            while digit(p) { p += 1 }
            isInteger = false
        }
        if p < end && isIdentifierByte(p.pointee) { throw fail(field, "invalid number") }
        cursor = p
        return (start, p - start, isInteger)
    }

    mutating func numberValue(_ field: Field) throws(RewardFlowError) -> Double {
        if cursor < end {
            let c = cursor.pointee
            if c == 0x4E || c == 0x49 || (c == 0x2D && cursor + 1 < end && cursor[1] == 0x49) {
                throw fail(field.name, "not a finite number (NaN and infinities are refused)")
            }
        }
        guard cursor < end, cursor.pointee == 0x2D || (cursor.pointee >= 0x30 && cursor.pointee <= 0x39) else {
            throw fail(field.name, "expected a number, got \(typeName())")
        }
        let (start, length, _) = try scanNumber(field.name)
        let value = NumberParsing.parseDouble(start, length)
        guard value.isFinite else { throw fail(field.name, "not a finite number (it overflows a double)") }
        return value
    }

    mutating func integerValue(_ field: Field) throws(RewardFlowError) -> Int {
        guard cursor < end, cursor.pointee == 0x2D || (cursor.pointee >= 0x30 && cursor.pointee <= 0x39) else {
            throw fail(field.name, "expected an integer, got \(typeName())")
        }
        let (start, length, isInteger) = try scanNumber(field.name)
        guard isInteger else { throw fail(field.name, "expected an integer, got a non-integer number") }
        if start.pointee == 0x2D { throw fail(field.name, "must be a non-negative integer") }
        let digits = { String(decoding: UnsafeBufferPointer(start: start, count: min(length, 40)), as: UTF8.self) + (length > 40 ? "..." : "") }
        guard length <= 10 else { throw fail(field.name, StepRows.stepTooLarge(digits())) }
        var value = 0
        for i in 0..<length { value = value * 10 + Int(start[i] - 0x30) }
        guard value <= StepRows.maxStep else { throw fail(field.name, StepRows.stepTooLarge(digits())) }
        return value
    }

    mutating func unsignedValue(_ field: Field) throws(RewardFlowError) -> UInt64 {
        guard cursor < end, cursor.pointee == 0x2D || (cursor.pointee >= 0x30 && cursor.pointee <= 0x39) else {
            throw fail(field.name, "expected an unsigned 64-bit integer, got \(typeName())")
        }
        let (start, length, isInteger) = try scanNumber(field.name)
        guard isInteger, start.pointee != 0x2D else { throw fail(field.name, "expected an unsigned 64-bit integer") }
        var value: UInt64 = 0
        for i in 0..<length {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(start[i] - 0x30))
            if o1 || o2 { throw fail(field.name, "does not fit in an unsigned 64-bit integer") }
            value = sum
        }
        return value
    }

    /// One of SPEC §1's field names, exactly and with its closing quote, at `cursor` (the
    /// opening quote): recognised from one 8-byte load (two for the longer names) and skipped.
    /// Nil (cursor unmoved) for anything else, which the general path then scans.
    @inline(__always)
    mutating func knownKey() -> Field? {
        guard end - cursor >= 9 else { return nil }
        let p = UnsafeRawPointer(cursor + 1)
        let w = p.loadUnaligned(as: UInt64.self)
        @inline(__always) func take(_ field: Field, _ length: Int) -> Field {
            cursor += length + 2  // the quotes and the name
            return field
        }
        // Little-endian: the name's first byte is the lowest; masks keep name + quote.
        switch w & 0xFF_FFFF_FFFF {  // 4 letters + quote
        case Parser.key("step\""): return take(.step, 4)
        case Parser.key("noop\""): return take(.noop, 4)
        default: break
        }
        switch w & 0xFFFF_FFFF_FFFF {  // 5 letters + quote
        case Parser.key("group\""): return take(.group, 5)
        case Parser.key("state\""): return take(.state, 5)
        default: break
        }
        switch w & 0xFF_FFFF_FFFF_FFFF {  // 6 letters + quote
        case Parser.key("reward\""): return take(.reward, 6)
        case Parser.key("active\""): return take(.active, 6)
        case Parser.key("action\""): return take(.action, 6)
        default: break
        }
        guard end - cursor >= 17 else { return nil }
        let v = p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        if w == Parser.key("trajecto") && v & 0xFF_FFFF == Parser.key("ry\"") { return take(.trajectory, 10) }
        if w == Parser.key("state_ke") && v & 0xFFFF == Parser.key("y\"") { return take(.stateKey, 9) }
        return nil
    }

    /// Up to eight ASCII bytes as a little-endian integer (zero-padded).
    @inline(__always)
    static func key(_ s: StaticString) -> UInt64 {
        var w: UInt64 = 0
        for i in 0..<min(s.utf8CodeUnitCount, 8) { w |= UInt64(s.utf8Start[i]) << (8 * UInt64(i)) }
        return w
    }

    /// A field name at `cursor` (the opening quote) made of plain printable ASCII: scanned
    /// without the general string machinery. Nil (cursor unmoved) for anything else.
    @inline(__always)
    mutating func quickKey() -> UnsafeRawBufferPointer? {
        let start = cursor + 1
        var p = start
        while p < end {
            let c = p.pointee
            if c == 0x22 {
                cursor = p + 1
                return UnsafeRawBufferPointer(start: start, count: p - start)
            }
            if c < 0x20 || c >= 0x7F || c == 0x5C || p - start >= 32 { return nil }
            p += 1
        }
        return nil
    }

    /// Parses a JSON string at `cursor` (which is at the opening quote); validates UTF-8 and
    /// decodes escapes. The result points into the input or into `scratch`, valid until the
    /// next call.
    mutating func parseString(field: String) throws(RewardFlowError) -> UnsafeRawBufferPointer {
        cursor += 1
        let start = cursor
        var p = cursor
        // Fast path: no escapes. Eight bytes at a time while none is a quote, a backslash, a
        // control character or non-ASCII; the byte loop below handles those one by one.
        while p < end {
            while end - p >= 8 {
                let w = UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)
                let flags = Parser.attention(w)
                if flags != 0 {
                    p += flags.trailingZeroBitCount >> 3  // the first byte that needs attention
                    break
                }
                p += 8
            }
            guard p < end else { break }
            let c = p.pointee
            if c == 0x22 {
                cursor = p + 1
                return UnsafeRawBufferPointer(start: start, count: p - start)
            }
            if c == 0x5C { break }
            if c < 0x20 { throw fail(field, "control character 0x\(String(c, radix: 16)) inside a string must be escaped") }
            if c < 0x80 { p += 1; continue }
            p = try validateMultibyte(p, field)
        }
        guard p < end else { throw fail(field, "the string is not closed with '\"'") }
        // Slow path: copy into scratch, decoding escapes.
        scratch.removeAll()
        scratch.append(contentsOf: UnsafeBufferPointer(start: start, count: p - start))
        while p < end {
            let c = p.pointee
            if c == 0x22 {
                cursor = p + 1
                return scratch.bytes  // valid until the next string is parsed
            }
            if c == 0x5C {
                p += 1
                guard p < end else { break }
                switch p.pointee {
                case 0x22: scratch.append(0x22)
                case 0x5C: scratch.append(0x5C)
                case 0x2F: scratch.append(0x2F)
                case 0x62: scratch.append(0x08)
                case 0x66: scratch.append(0x0C)
                case 0x6E: scratch.append(0x0A)
                case 0x72: scratch.append(0x0D)
                case 0x74: scratch.append(0x09)
                case 0x75:
                    var scalar = try hex4(p + 1, field)
                    p += 4
                    if scalar >= 0xD800 && scalar < 0xDC00 {
                        guard end - p > 6, p[1] == 0x5C, p[2] == 0x75 else {
                            throw fail(field, "invalid \\u escape: a lone surrogate is not text")
                        }
                        let low = try hex4(p + 3, field)
                        guard low >= 0xDC00 && low < 0xE000 else {
                            throw fail(field, "invalid \\u escape: a lone surrogate is not text")
                        }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        p += 6
                    } else if scalar >= 0xDC00 && scalar < 0xE000 {
                        throw fail(field, "invalid \\u escape: a lone surrogate is not text")
                    }
                    appendUTF8(scalar)
                default:
                    throw fail(field, "invalid escape '\\\(Character(Unicode.Scalar(p.pointee)))'")
                }
                p += 1
                continue
            }
            if c < 0x20 { throw fail(field, "control character 0x\(String(c, radix: 16)) inside a string must be escaped") }
            if c < 0x80 {
                scratch.append(c)
                p += 1
                continue
            }
            let next = try validateMultibyte(p, field)
            scratch.append(contentsOf: UnsafeBufferPointer(start: p, count: next - p))
            p = next
        }
        throw fail(field, "the string is not closed with '\"'")
    }

    /// The bytes of `w` (little-endian) that are a '"', a '\\', below 0x20 or from 0x80: bit 7
    /// of each such byte set (SWAR: a byte equal to `b` is a zero byte of `w ^ b·0x0101…`).
    /// A borrow can also flag a byte above a flagged one, never below it, so the lowest set bit
    /// marks exactly the first byte that needs attention; 0 when none does.
    @inline(__always)
    static func attention(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let quote = w ^ (0x22 &* ones), backslash = w ^ (0x5C &* ones)
        let zeroQuote = (quote &- ones) & ~quote
        let zeroBackslash = (backslash &- ones) & ~backslash
        let control = (w &- 0x20 &* ones) & ~w
        return ((zeroQuote | zeroBackslash | control) & highs) | (w & highs)
    }

    func hex4(_ p: UnsafePointer<UInt8>, _ field: String) throws(RewardFlowError) -> UInt32 {
        guard end - p >= 4 else { throw fail(field, "invalid \\u escape: four hex digits expected") }
        var value: UInt32 = 0
        for i in 0..<4 {
            let c = p[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail(field, "invalid \\u escape: four hex digits expected")
            }
            value = value << 4 | d
        }
        return value
    }

    func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80: scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | (scalar >> 6)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | (scalar >> 12)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            scratch.append(UInt8(0xF0 | (scalar >> 18)))
            scratch.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }

    /// Validates one multi-byte UTF-8 sequence at `p` (RFC 3629: no overlongs, no surrogates,
    /// nothing above U+10FFFF); returns the byte after it.
    func validateMultibyte(_ p: UnsafePointer<UInt8>, _ field: String) throws(RewardFlowError) -> UnsafePointer<UInt8> {
        let b0 = p.pointee
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: throw fail(field, "not valid UTF-8 (byte 0x\(String(b0, radix: 16)))")
        }
        guard end - p >= length else { throw fail(field, "not valid UTF-8 (truncated sequence)") }
        let b1 = p[1]
        guard b1 >= low && b1 <= high else { throw fail(field, "not valid UTF-8 (byte 0x\(String(b1, radix: 16)))") }
        for i in 2..<max(2, length) where p[i] & 0xC0 != 0x80 {
            throw fail(field, "not valid UTF-8 (byte 0x\(String(p[i], radix: 16)))")
        }
        return p + length
    }

    /// The name of the unknown field whose key (its opening quote) is at `key`, for errors.
    mutating func fieldName(at key: UnsafePointer<UInt8>) -> String {
        let saved = cursor
        defer { cursor = saved }
        cursor = key
        guard let name = try? parseString(field: "json") else { return "json" }
        return String(decoding: name, as: UTF8.self)
    }

    /// Checks and skips any JSON value (for fields this engine does not use); `key` is where the
    /// unknown field's name starts, to name it when its value holds a NaN or Infinity literal.
    mutating func skipValue(depth: Int, key: UnsafePointer<UInt8>) throws(RewardFlowError) {
        guard depth < 64 else { throw fail("json", "nesting deeper than 64 levels") }
        skipSpace()
        guard cursor < end else { throw fail("json", "expected a value at the end of the line") }
        switch cursor.pointee {
        case 0x22: _ = try parseString(field: "json")
        case 0x7B, 0x5B:
            let close: UInt8 = cursor.pointee == 0x7B ? 0x7D : 0x5D
            let isObject = close == 0x7D
            cursor += 1
            skipSpace()
            if cursor < end && cursor.pointee == close { cursor += 1; return }
            while true {
                if isObject {
                    skipSpace()
                    guard cursor < end, cursor.pointee == 0x22 else { throw fail("json", "expected a field name \(found())") }
                    _ = try parseString(field: "json")
                    try expect(0x3A, "':'")
                }
                try skipValue(depth: depth + 1, key: key)
                skipSpace()
                guard cursor < end else { throw fail("json", "unclosed \(isObject ? "object" : "array")") }
                if cursor.pointee == 0x2C { cursor += 1; continue }
                if cursor.pointee == close { cursor += 1; return }
                throw fail("json", "expected ',' \(found())")
            }
        default:
            if matchLiteral("true") || matchLiteral("false") || matchLiteral("null") { return }
            if matchLiteral("NaN") || matchLiteral("Infinity") || matchLiteral("-Infinity") || matchLiteral("-NaN") {
                throw fail(fieldName(at: key), "NaN and Infinity are not JSON (unknown fields must be valid JSON too)")
            }
            _ = try scanNumber("json")
        }
    }
}

/// A growable byte buffer with a stable address between appends: the one place the scanner
/// hands out a pointer to bytes it owns. Freed in `deinit`.
private final class ScratchBuffer {
    private var storage: UnsafeMutablePointer<UInt8>
    private var capacity = 256
    private var count = 0

    init() { storage = .allocate(capacity: 256) }
    deinit { storage.deallocate() }

    /// The bytes appended since the last `removeAll()`.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage, count: count) }

    func removeAll() { count = 0 }

    func append(_ byte: UInt8) {
        reserve(1)
        storage[count] = byte
        count += 1
    }

    func append(contentsOf source: UnsafeBufferPointer<UInt8>) {
        guard let base = source.baseAddress, source.count > 0 else { return }
        reserve(source.count)
        (storage + count).update(from: base, count: source.count)
        count += source.count
    }

    private func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        var newCapacity = capacity * 2
        while newCapacity < count + extra { newCapacity *= 2 }
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        grown.update(from: storage, count: count)
        storage.deallocate()
        storage = grown
        capacity = newCapacity
    }
}
