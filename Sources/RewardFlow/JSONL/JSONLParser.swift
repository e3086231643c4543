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
