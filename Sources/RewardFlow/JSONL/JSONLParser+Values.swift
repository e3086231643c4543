// Scalar values and field names of the JSONL scanner (`bytes`: the current line).

extension JSONLParser {
    // MARK: Values

    /// What the value at `cursor` is, for errors ("a string", "a boolean", …); a bare word
    /// that is not exactly `true`, `false` or `null` is "invalid JSON".
    func typeName(_ bytes: Span<UInt8>) -> String {
        guard cursor < bytes.count else { return "nothing" }
        switch bytes[cursor] {
        case 0x22: return "a string"
        case 0x74, 0x66:
            return isLiteral(.true, at: cursor, bytes) || isLiteral(.false, at: cursor, bytes) ? "a boolean" : "invalid JSON"
        case 0x6E: return isLiteral(.null, at: cursor, bytes) ? "null" : "invalid JSON"
        case 0x7B: return "an object"
        case 0x5B: return "an array"
        case 0x2D, 0x30...0x39: return "a number"
        default: return "invalid JSON"
        }
    }

    /// Whether the byte at `cursor` can start a JSON number ('-' or a digit).
    @inline(__always)
    func atNumber(_ bytes: Span<UInt8>) -> Bool {
        guard cursor < bytes.count else { return false }
        let c = bytes[cursor]
        return c == 0x2D || (c >= 0x30 && c <= 0x39)
    }

    mutating func stringValue(_ field: JSONLField, _ bytes: Span<UInt8>) throws(RewardFlowError) -> StringBytes {
        guard at(0x22, bytes) else { throw fail(field.name, "expected a string, got \(typeName(bytes))") }
        return try parseString(bytes, field: field.name)
    }

    mutating func boolValue(_ field: JSONLField, _ bytes: Span<UInt8>) throws(RewardFlowError) -> Bool {
        if matchLiteral(.true, bytes) { return true }
        if matchLiteral(.false, bytes) { return false }
        throw fail(field.name, "expected true or false, got \(typeName(bytes))")
    }

    /// Skips `literal` at `cursor` when it is there and no identifier byte follows it.
    @inline(__always)
    mutating func matchLiteral(_ literal: JSONLiteral, _ bytes: Span<UInt8>) -> Bool {
        guard isLiteral(literal, at: cursor, bytes) else { return false }
        cursor += literal.count
        return true
    }

    /// Whether `literal` is at `bytes[position...]` with no identifier byte after it.
    @inline(__always)
    func isLiteral(_ literal: JSONLiteral, at position: Int, _ bytes: Span<UInt8>) -> Bool {
        let n = literal.count
        guard position >= 0, bytes.count - position >= n,
              ByteSpans.paddedWord(bytes, at: position) & literal.mask == literal.word else { return false }
        return !(position + n < bytes.count && isIdentifierByte(bytes[position + n]))
    }

    func isIdentifierByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
    }

    /// Scans a JSON number; returns its extent and whether it has a fraction or exponent.
    mutating func scanNumber(_ field: String, _ bytes: Span<UInt8>) throws(RewardFlowError) -> (Range<Int>, Bool) {
        let start = cursor
        let end = bytes.count
        var p = cursor
        func digit(_ p: Int) -> Bool { p < end && bytes[p] >= 0x30 && bytes[p] <= 0x39 }
        if p < end && bytes[p] == 0x2D { p += 1 }
        guard digit(p) else { throw fail(field, "expected a number, got \(typeName(bytes))") }
        if bytes[p] == 0x30 {
            p += 1
            if digit(p) { throw fail(field, "invalid number: leading zeros are not JSON") }
        } else {
            while digit(p) { p += 1 }
        }
        var isInteger = true
        if p < end && bytes[p] == 0x2E {
            p += 1
            guard digit(p) else { throw fail(field, "invalid number: a digit must follow '.'") }
            while digit(p) { p += 1 }
            isInteger = false
        }
        if p < end && (bytes[p] == 0x65 || bytes[p] == 0x45) {
            p += 1
            if p < end && (bytes[p] == 0x2B || bytes[p] == 0x2D) { p += 1 }
            guard digit(p) else { throw fail(field, "invalid number: a digit must follow the exponent") }
            while digit(p) { p += 1 }
            isInteger = false
        }
        if p < end && isIdentifierByte(bytes[p]) { throw fail(field, "invalid number") }
        cursor = p
        return (start..<p, isInteger)
    }

    mutating func numberValue(_ field: JSONLField, _ bytes: Span<UInt8>) throws(RewardFlowError) -> Double {
        if cursor < bytes.count {
            let c = bytes[cursor]
            if c == 0x4E || c == 0x49 || (c == 0x2D && cursor + 1 < bytes.count && bytes[cursor + 1] == 0x49) {
                throw fail(field.name, "not a finite number (NaN and infinities are refused)")
            }
        }
        guard atNumber(bytes) else { throw fail(field.name, "expected a number, got \(typeName(bytes))") }
        let (range, _) = try scanNumber(field.name, bytes)
        let value = NumberParsing.parseDouble(bytes.extracting(range))
        guard value.isFinite else { throw fail(field.name, "not a finite number (it overflows a double)") }
        return value
    }

    mutating func integerValue(_ field: JSONLField, _ bytes: Span<UInt8>) throws(RewardFlowError) -> Int {
        guard atNumber(bytes) else { throw fail(field.name, "expected an integer, got \(typeName(bytes))") }
        let (range, isInteger) = try scanNumber(field.name, bytes)
        guard isInteger else { throw fail(field.name, "expected an integer, got a non-integer number") }
        if bytes[range.lowerBound] == 0x2D { throw fail(field.name, "must be a non-negative integer") }
        var value = 0
        if range.count <= 10 {
            for i in range { value = value * 10 + Int(bytes[i] - 0x30) }
        }
        guard range.count <= 10, value <= StepRows.maxStep else {
            let digits = JSONLParser.text(bytes.extracting(range.prefix(40))) + (range.count > 40 ? "..." : "")
            throw fail(field.name, StepRows.stepTooLarge(digits))
        }
        return value
    }

    mutating func unsignedValue(_ field: JSONLField, _ bytes: Span<UInt8>) throws(RewardFlowError) -> UInt64 {
        guard atNumber(bytes) else {
            throw fail(field.name, "expected an unsigned 64-bit integer, got \(typeName(bytes))")
        }
        let (range, isInteger) = try scanNumber(field.name, bytes)
        guard isInteger, bytes[range.lowerBound] != 0x2D else { throw fail(field.name, "expected an unsigned 64-bit integer") }
        var value: UInt64 = 0
        for i in range {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(bytes[i] - 0x30))
            if o1 || o2 { throw fail(field.name, "does not fit in an unsigned 64-bit integer") }
            value = sum
        }
        return value
    }

    /// The bytes of `span` as text (invalid UTF-8 repaired), for messages.
    static func text(_ span: Span<UInt8>) -> String {
        var copy: [UInt8] = []
        ByteSpans.append(span, to: &copy)
        return String(decoding: copy, as: UTF8.self)
    }

    /// One of SPEC §1's field names, exactly and with its closing quote, at `cursor` (the
    /// opening quote): recognised from one 8-byte load (two for the longer names) and skipped.
    /// Nil (cursor unmoved) for anything else, which the general path then scans.
    @inline(__always)
    mutating func knownKey(_ bytes: Span<UInt8>) -> JSONLField? {
        guard bytes.count - cursor >= 9 else { return nil }
        let w = ByteSpans.word(bytes, at: cursor + 1)
        @inline(__always) func take(_ field: JSONLField, _ length: Int) -> JSONLField {
            cursor += length + 2  // the quotes and the name
            return field
        }
        // Little-endian: the name's first byte is the lowest; masks keep name + quote.
        switch w & 0xFF_FFFF_FFFF {  // 4 letters + quote
        case KeyWords.step: return take(.step, 4)
        case KeyWords.noop: return take(.noop, 4)
        default: break
        }
        switch w & 0xFFFF_FFFF_FFFF {  // 5 letters + quote
        case KeyWords.group: return take(.group, 5)
        case KeyWords.state: return take(.state, 5)
        default: break
        }
        switch w & 0xFF_FFFF_FFFF_FFFF {  // 6 letters + quote
        case KeyWords.reward: return take(.reward, 6)
        case KeyWords.active: return take(.active, 6)
        case KeyWords.action: return take(.action, 6)
        default: break
        }
        guard bytes.count - cursor >= 17 else { return nil }
        let v = ByteSpans.word(bytes, at: cursor + 9)
        if w == KeyWords.trajecto && v & 0xFF_FFFF == KeyWords.ryQuote { return take(.trajectory, 10) }
        if w == KeyWords.stateKe && v & 0xFFFF == KeyWords.yQuote { return take(.stateKey, 9) }
        return nil
    }

    /// A field name at `cursor` (the opening quote) made of plain printable ASCII: scanned
    /// without the general string machinery; returns its range. Nil (cursor unmoved) for
    /// anything else.
    @inline(__always)
    mutating func quickKey(_ bytes: Span<UInt8>) -> Range<Int>? {
        let start = cursor + 1
        var p = start
        while p < bytes.count {
            let c = bytes[p]
            if c == 0x22 {
                cursor = p + 1
                return start..<p
            }
            if c < 0x20 || c >= 0x7F || c == 0x5C || p - start >= 32 { return nil }
            p += 1
        }
        return nil
    }
}

/// A bare JSON word (or one of the non-JSON words refused by name) of at most 8 ASCII bytes, as
/// a little-endian word: its first byte is the lowest (`ScannerTests` checks each against its
/// text).
struct JSONLiteral {
    let word: UInt64
    let count: Int
    var mask: UInt64 { count == 8 ? ~0 : (1 << (8 * UInt64(count))) - 1 }

    static let `true` = JSONLiteral(word: 0x65_75_72_74, count: 4)
    static let `false` = JSONLiteral(word: 0x65_73_6C_61_66, count: 5)
    static let null = JSONLiteral(word: 0x6C_6C_75_6E, count: 4)
    static let nan = JSONLiteral(word: 0x4E_61_4E, count: 3)  // NaN
    static let infinity = JSONLiteral(word: 0x79_74_69_6E_69_66_6E_49, count: 8)  // Infinity
}

/// SPEC §1's field names (with their closing quote where it fits) as the little-endian 8-byte
/// words `knownKey` compares: the name's first byte is the lowest (`ScannerTests` checks each
/// against its name).
enum KeyWords {
    static let step: UInt64 = 0x22_70_65_74_73  // step"
    static let noop: UInt64 = 0x22_70_6F_6F_6E  // noop"
    static let group: UInt64 = 0x22_70_75_6F_72_67  // group"
    static let state: UInt64 = 0x22_65_74_61_74_73  // state"
    static let reward: UInt64 = 0x22_64_72_61_77_65_72  // reward"
    static let active: UInt64 = 0x22_65_76_69_74_63_61  // active"
    static let action: UInt64 = 0x22_6E_6F_69_74_63_61  // action"
    static let trajecto: UInt64 = 0x6F_74_63_65_6A_61_72_74  // trajecto
    static let ryQuote: UInt64 = 0x22_79_72  // ry"
    static let stateKe: UInt64 = 0x65_6B_5F_65_74_61_74_73  // state_ke
    static let yQuote: UInt64 = 0x22_79  // y"
}

// MARK: - Numbers

/// Decimal text to `Double`, correctly rounded.
enum NumberParsing {
    /// Exact powers of ten representable in a double (10^0 ... 10^22).
    static let exactPowersOfTen: [Double] = (0...22).map { e in
        var x = 1.0
        for _ in 0..<e { x *= 10 }
        return x
    }

    /// Parses a JSON number already checked by the scanner (`text`: its bytes).
    ///
    /// Clinger's fast path: when the decimal significand fits in 53 bits and the exponent in
    /// ±22, one multiplication or division of exact doubles is correctly rounded. Anything else
    /// goes to the standard library's `Double(_: String)` (glibc's `strtod`, correctly rounded).
    static func parseDouble(_ text: Span<UInt8>) -> Double {
        let length = text.count
        var p = 0
        var negative = false
        if text[0] == 0x2D { negative = true; p = 1 }
        var significand: UInt64 = 0
        var digits = 0
        var exponent = 0
        var leading = true
        while p < length, text[p] >= 0x30, text[p] <= 0x39 {
            let d = UInt64(text[p] - 0x30)
            if !(leading && d == 0) { digits += 1; leading = false }
            significand = significand &* 10 &+ d
            p += 1
        }
        if p < length, text[p] == 0x2E {
            p += 1
            while p < length, text[p] >= 0x30, text[p] <= 0x39 {
                let d = UInt64(text[p] - 0x30)
                if !(leading && d == 0) { digits += 1; leading = false }
                significand = significand &* 10 &+ d
                exponent -= 1
                p += 1
            }
        }
        if p < length, digits <= 15, significand < (1 << 53) {
            // An exponent part follows.
            p += 1
            var expNegative = false
            if text[p] == 0x2D { expNegative = true; p += 1 } else if text[p] == 0x2B { p += 1 }
            var e = 0
            while p < length, e < 10_000 {
                e = e * 10 + Int(text[p] - 0x30)
                p += 1
            }
            exponent += expNegative ? -e : e
        } else if p < length || digits > 15 || significand >= (1 << 53) {
            return slowPath(text)
        }
        guard digits <= 15, significand < (1 << 53), exponent >= -22, exponent <= 22 else {
            return slowPath(text)
        }
        var value = Double(significand)
        value = exponent < 0 ? value / exactPowersOfTen[-exponent] : value * exactPowersOfTen[exponent]
        return negative ? -value : value
    }

    /// `text` (a JSON number) through `Double(_: String)`: ±infinity when it overflows.
    private static func slowPath(_ text: Span<UInt8>) -> Double {
        Double(JSONLParser.text(text)) ?? .nan
    }
}
