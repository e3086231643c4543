import Glibc

/// The JSONL scanner of one part of the input: scans lines into `rows`, interning strings and
/// parsing numbers in place (values: `JSONLParser+Values.swift`; strings and skipped values:
/// `JSONLParser+Strings.swift`).
struct JSONLParser {
    var rows = StepRows()
    var line = 0
    /// Lines longer than this many bytes (newline not counted) are refused.
    var maxLineBytes = Int.max
    /// Decoded bytes of the current string when it holds escapes.
    let scratch = ByteBuffer(capacity: 256)
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

    /// Parses the complete lines of `lines` (the last one may lack its newline).
    mutating func parseLines(_ lines: Span<UInt8>) throws(RewardFlowError) {
        try lines.withUnsafeBufferPointer { (bytes) throws(RewardFlowError) in
            guard let base = bytes.baseAddress else { return }
            try parseLines(base, bytes.count)
        }
    }

    /// Parses the complete lines of `base[0..<count]`.
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
                let field: JSONLField?
                if let known = knownKey() {
                    field = known
                } else {
                    let key: UnsafeRawBufferPointer
                    if let quick = quickKey() { key = quick } else { key = try parseString(field: "json") }
                    field = JSONLField.match(key)
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

        let required: UInt16 = 1 << UInt16(JSONLField.group.rawValue) | 1 << UInt16(JSONLField.trajectory.rawValue)
            | 1 << UInt16(JSONLField.step.rawValue) | 1 << UInt16(JSONLField.reward.rawValue)
        if seen & required != required {
            for field in [JSONLField.group, .trajectory, .step, .reward] where seen & (1 << UInt16(field.rawValue)) == 0 {
                throw fail(field.name, "missing field")
            }
        }
        let location = InputLocation.line(line)
        switch (seen & (1 << UInt16(JSONLField.state.rawValue)) != 0, seen & (1 << UInt16(JSONLField.stateKey.rawValue)) != 0) {
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
}

// MARK: - The field table: SPEC §1's field names, matched as 8-byte words

/// The fields SPEC §1 knows.
enum JSONLField: Int, CaseIterable {
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
    static func match(_ p: UnsafeRawBufferPointer) -> JSONLField? {
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
