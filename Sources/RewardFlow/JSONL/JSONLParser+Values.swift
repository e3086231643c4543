import Glibc

// Scalar values and field names of the JSONL scanner.

extension JSONLParser {
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

    mutating func stringValue(_ field: JSONLField) throws(RewardFlowError) -> UnsafeRawBufferPointer {
        guard cursor < end, cursor.pointee == 0x22 else { throw fail(field.name, "expected a string, got \(typeName())") }
        return try parseString(field: field.name)
    }

    mutating func boolValue(_ field: JSONLField) throws(RewardFlowError) -> Bool {
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

    mutating func numberValue(_ field: JSONLField) throws(RewardFlowError) -> Double {
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

    mutating func integerValue(_ field: JSONLField) throws(RewardFlowError) -> Int {
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

    mutating func unsignedValue(_ field: JSONLField) throws(RewardFlowError) -> UInt64 {
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
    mutating func knownKey() -> JSONLField? {
        guard end - cursor >= 9 else { return nil }
        let p = UnsafeRawPointer(cursor + 1)
        let w = p.loadUnaligned(as: UInt64.self)
        @inline(__always) func take(_ field: JSONLField, _ length: Int) -> JSONLField {
            cursor += length + 2  // the quotes and the name
            return field
        }
        // Little-endian: the name's first byte is the lowest; masks keep name + quote.
        switch w & 0xFF_FFFF_FFFF {  // 4 letters + quote
        case JSONLParser.key("step\""): return take(.step, 4)
        case JSONLParser.key("noop\""): return take(.noop, 4)
        default: break
        }
        switch w & 0xFFFF_FFFF_FFFF {  // 5 letters + quote
        case JSONLParser.key("group\""): return take(.group, 5)
        case JSONLParser.key("state\""): return take(.state, 5)
        default: break
        }
        switch w & 0xFF_FFFF_FFFF_FFFF {  // 6 letters + quote
        case JSONLParser.key("reward\""): return take(.reward, 6)
        case JSONLParser.key("active\""): return take(.active, 6)
        case JSONLParser.key("action\""): return take(.action, 6)
        default: break
        }
        guard end - cursor >= 17 else { return nil }
        let v = p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        if w == JSONLParser.key("trajecto") && v & 0xFF_FFFF == JSONLParser.key("ry\"") { return take(.trajectory, 10) }
        if w == JSONLParser.key("state_ke") && v & 0xFFFF == JSONLParser.key("y\"") { return take(.stateKey, 9) }
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

    /// Parses a JSON number already checked by the scanner.
    ///
    /// Clinger's fast path: when the decimal significand fits in 53 bits and the exponent in
    /// ±22, one multiplication or division of exact doubles is correctly rounded. Anything else
    /// goes to `strtod`, which glibc rounds correctly.
    static func parseDouble(_ start: UnsafePointer<UInt8>, _ length: Int) -> Double {
        var p = 0
        var negative = false
        if start[0] == 0x2D { negative = true; p = 1 }
        var significand: UInt64 = 0
        var digits = 0
        var exponent = 0
        var leading = true
        while p < length, start[p] >= 0x30, start[p] <= 0x39 {
            let d = UInt64(start[p] - 0x30)
            if !(leading && d == 0) { digits += 1; leading = false }
            significand = significand &* 10 &+ d
            p += 1
        }
        if p < length, start[p] == 0x2E {
            p += 1
            while p < length, start[p] >= 0x30, start[p] <= 0x39 {
                let d = UInt64(start[p] - 0x30)
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
            if start[p] == 0x2D { expNegative = true; p += 1 } else if start[p] == 0x2B { p += 1 }
            var e = 0
            while p < length, e < 10_000 {
                e = e * 10 + Int(start[p] - 0x30)
                p += 1
            }
            exponent += expNegative ? -e : e
        } else if p < length || digits > 15 || significand >= (1 << 53) {
            return slowPath(start, length)
        }
        guard digits <= 15, significand < (1 << 53), exponent >= -22, exponent <= 22 else {
            return slowPath(start, length)
        }
        var value = Double(significand)
        value = exponent < 0 ? value / exactPowersOfTen[-exponent] : value * exactPowersOfTen[exponent]
        return negative ? -value : value
    }

    private static func slowPath(_ start: UnsafePointer<UInt8>, _ length: Int) -> Double {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { buffer in
            let base = buffer.baseAddress!
            UnsafeMutableRawPointer(base).copyMemory(from: start, byteCount: length)
            base[length] = 0
            return strtod(base, nil)
        }
    }
}
