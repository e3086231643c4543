/// The JSONL scanner of one part of the input: scans lines into `rows`, interning strings and
/// parsing numbers in place (values: `JSONLParser+Values.swift`; strings and skipped values:
/// `JSONLParser+Strings.swift`).
///
/// Safe code throughout: every function reads the current line as a `Span<UInt8>` (passed as
/// `bytes`) at integer positions (`cursor`), so each byte read is bounds-checked by the span;
/// the reads of more than a byte at a time (`ByteSpans.firstIndex`, `word`, `paddedWord`,
/// `skipPlainJSON`) check their ranges in the toolkit.
struct JSONLParser {
    var rows = StepRows()
    var line = 0
    /// Lines longer than this many bytes (newline not counted) are refused.
    var maxLineBytes = Int.max
    /// Decoded bytes of the current string when it holds escapes.
    var scratch: [UInt8] = []
    /// Ids of the previous row's group and trajectory: consecutive rows usually repeat them.
    var lastGroup: Int32 = -1, lastTrajectory: Int32 = -1
    /// Where the scan is in the current line: an index into its bytes.
    var cursor = 0

    init() {
        rows.reserveCapacity(1 << 12)
        scratch.reserveCapacity(256)
    }

    /// Back to an empty batch at line 0, keeping allocated capacity.
    mutating func reset() {
        rows.removeAll(keepingCapacity: true)
        line = 0
        lastGroup = -1
        lastTrajectory = -1
    }

    /// Parses the complete lines of `lines` (the last one may lack its newline).
    mutating func parseLines(_ lines: Span<UInt8>) throws(RewardFlowError) {
        let count = lines.count
        var start = 0
        while start < count {
            // memchr is vectorised: the line's end is found at memory speed.
            let nl = ByteSpans.firstIndex(of: 0x0A, in: lines.extracting(start..<count)).map { start + $0 } ?? count
            line += 1
            if nl - start > maxLineBytes { throw JSONLReader.lineTooLong(line: line, limit: maxLineBytes) }
            try parseLine(lines.extracting(start..<nl))
            start = nl + 1
        }
    }

    func fail(_ field: String, _ message: String) -> RewardFlowError {
        .invalidInput(location: .line(line), field: field, message: message)
    }

    /// Whether the byte at `cursor` is `byte`.
    @inline(__always)
    func at(_ byte: UInt8, _ bytes: Span<UInt8>) -> Bool {
        cursor < bytes.count && bytes[cursor] == byte
    }

    mutating func skipSpace(_ bytes: Span<UInt8>) {
        var p = cursor
        while p < bytes.count {
            let c = bytes[p]
            if c == 0x20 || c == 0x09 || c == 0x0D { p += 1 } else { break }
        }
        cursor = p
    }

    mutating func expect(_ byte: UInt8, _ what: String, _ bytes: Span<UInt8>) throws(RewardFlowError) {
        skipSpace(bytes)
        guard at(byte, bytes) else { throw fail("json", "expected \(what) \(found(bytes))") }
        cursor += 1
    }

    func found(_ bytes: Span<UInt8>) -> String {
        guard cursor < bytes.count else { return "at the end of the line" }
        let c = bytes[cursor]
        if c >= 0x20 && c < 0x7F { return "but found '\(Character(Unicode.Scalar(c)))'" }
        return "but found byte 0x\(String(c, radix: 16))"
    }

    /// Runs `intern` on the bytes of string `text` of the line `bytes`, handing it the batch's rows.
    @inline(__always)
    mutating func intern(
        _ text: StringBytes, _ bytes: Span<UInt8>, _ intern: (inout StepRows, Span<UInt8>) -> Int32
    ) -> Int32 {
        switch text {
        case .line(let range): return intern(&rows, bytes.extracting(range))
        case .decoded:
            let decoded = scratch  // a reference to the same storage: no copy
            return intern(&rows, decoded.span)
        }
    }

    mutating func parseLine(_ bytes: Span<UInt8>) throws(RewardFlowError) {
        cursor = 0
        skipSpace(bytes)
        if cursor == bytes.count { return }  // blank line
        if at(0x7B, bytes) { cursor += 1 } else { try expect(0x7B, "'{' (each line must be one JSON object)", bytes) }

        var seen: UInt16 = 0  // bit `field.rawValue`: the field was present
        var group: Int32 = 0, trajectory: Int32 = 0, state: Int32 = 0, action: Int32 = -1
        var step = 0, reward = 0.0, active = true, noop = false
        var stateKey: UInt64 = 0

        skipSpace(bytes)
        if at(0x7D, bytes) {
            cursor += 1
        } else {
            while true {
                skipSpace(bytes)
                guard at(0x22, bytes) else { throw fail("json", "expected a field name in quotes \(found(bytes))") }
                let keyStart = cursor
                let field: JSONLField?
                if let known = knownKey(bytes) {
                    field = known
                } else {
                    let key: StringBytes
                    if let quick = quickKey(bytes) { key = .line(quick) } else { key = try parseString(bytes, field: "json") }
                    switch key {
                    case .line(let range): field = JSONLField.match(bytes.extracting(range))
                    case .decoded: field = JSONLField.match(scratch.span)
                    }
                }
                if at(0x3A, bytes) { cursor += 1 } else { try expect(0x3A, "':' after a field name", bytes) }
                skipSpace(bytes)
                if let field {
                    let bit: UInt16 = 1 << UInt16(field.rawValue)
                    if seen & bit != 0 { throw fail(field.name, "the field appears twice") }
                    seen |= bit
                    switch field {
                    case .group:
                        let hint = lastGroup
                        lastGroup = intern(try stringValue(field, bytes), bytes) { $0.internGroup($1, hint: hint) }
                        group = lastGroup
                    case .trajectory:
                        let hint = lastTrajectory
                        lastTrajectory = intern(try stringValue(field, bytes), bytes) { $0.internTrajectory($1, hint: hint) }
                        trajectory = lastTrajectory
                    case .state: state = intern(try stringValue(field, bytes), bytes) { $0.internState($1) }
                    case .action: action = intern(try stringValue(field, bytes), bytes) { $0.internAction($1) }
                    case .step: step = try integerValue(field, bytes)
                    case .stateKey: stateKey = try unsignedValue(field, bytes)
                    case .reward: reward = try numberValue(field, bytes)
                    case .active: active = try boolValue(field, bytes)
                    case .noop: noop = try boolValue(field, bytes)
                    }
                } else {
                    try skipValue(bytes, depth: 0, key: keyStart)
                }
                skipSpace(bytes)
                guard cursor < bytes.count else { throw fail("json", "the object is not closed with '}'") }
                if bytes[cursor] == 0x2C { cursor += 1; continue }
                if bytes[cursor] == 0x7D { cursor += 1; break }
                throw fail("json", "expected ',' or '}' \(found(bytes))")
            }
        }
        skipSpace(bytes)
        guard cursor == bytes.count else { throw fail("json", "unexpected text after the object \(found(bytes))") }

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
        if action < 0 { action = rows.internAction("") }
        try rows.appendColumns(
            group: group, trajectory: trajectory, step: step, state: state, action: action,
            reward: reward, active: active, noop: noop, location: location, line: line)
    }
}

/// Where the bytes of a parsed JSON string are: a range of the line (no escapes), or
/// `JSONLParser.scratch` (escapes decoded; valid until the next string is parsed).
enum StringBytes {
    case line(Range<Int>)
    case decoded
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

    /// The field named by `key` (its UTF-8 bytes), or nil.
    static func match(_ key: Span<UInt8>) -> JSONLField? {
        guard key.count >= 4 && key.count <= 10 else { return nil }
        search: for field in allCases {
            let name = field.name.utf8
            guard name.count == key.count else { continue }
            for (i, byte) in name.enumerated() where key[i] != byte { continue search }
            return field
        }
        return nil
    }
}
