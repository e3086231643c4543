// Strings (UTF-8 validation, escapes) and skipped values of the JSONL scanner (`bytes`: the
// current line).

extension JSONLParser {
    /// Parses a JSON string at `cursor` (which is at the opening quote); validates UTF-8 and
    /// decodes escapes. Returns where its bytes are: a range of `bytes` when it has no escapes,
    /// else `scratch` (valid until the next call).
    mutating func parseString(_ bytes: Span<UInt8>, field: String) throws(RewardFlowError) -> StringBytes {
        let end = bytes.count
        let start = cursor + 1
        var p = start
        // Fast path: no escapes. Sixteen bytes at a time (SSE2, `ByteSpans.skipPlainJSON`),
        // then eight, while none is a quote, a backslash, a control character or non-ASCII; the
        // byte loop below handles those one by one.
        while p < end {
            p = ByteSpans.skipPlainJSON(bytes, from: p)
            while end - p >= 8 {
                let flags = JSONLParser.attention(ByteSpans.word(bytes, at: p))
                if flags != 0 {
                    p += flags.trailingZeroBitCount >> 3  // the first byte that needs attention
                    break
                }
                p += 8
            }
            guard p < end else { break }
            let c = bytes[p]
            if c == 0x22 {
                cursor = p + 1
                return .line(start..<p)
            }
            if c == 0x5C { break }
            if c < 0x20 { throw fail(field, "control character 0x\(String(c, radix: 16)) inside a string must be escaped") }
            if c < 0x80 { p += 1; continue }
            p = try validateMultibyte(bytes, p, field)
        }
        guard p < end else { throw fail(field, "the string is not closed with '\"'") }
        // Slow path: copy into scratch, decoding escapes.
        scratch.removeAll(keepingCapacity: true)
        ByteSpans.append(bytes.extracting(start..<p), to: &scratch)
        while p < end {
            let c = bytes[p]
            if c == 0x22 {
                cursor = p + 1
                return .decoded
            }
            if c == 0x5C {
                p += 1
                guard p < end else { break }
                switch bytes[p] {
                case 0x22: scratch.append(0x22)
                case 0x5C: scratch.append(0x5C)
                case 0x2F: scratch.append(0x2F)
                case 0x62: scratch.append(0x08)
                case 0x66: scratch.append(0x0C)
                case 0x6E: scratch.append(0x0A)
                case 0x72: scratch.append(0x0D)
                case 0x74: scratch.append(0x09)
                case 0x75:
                    var scalar = try hex4(bytes, p + 1, field)
                    p += 4
                    if scalar >= 0xD800 && scalar < 0xDC00 {
                        guard end - p > 6, bytes[p + 1] == 0x5C, bytes[p + 2] == 0x75 else {
                            throw fail(field, "invalid \\u escape: a lone surrogate is not text")
                        }
                        let low = try hex4(bytes, p + 3, field)
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
                    throw fail(field, "invalid escape '\\\(Character(Unicode.Scalar(bytes[p])))'")
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
            let next = try validateMultibyte(bytes, p, field)
            ByteSpans.append(bytes.extracting(p..<next), to: &scratch)
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

    /// The four hex digits at `bytes[p...]` as a number.
    func hex4(_ bytes: Span<UInt8>, _ p: Int, _ field: String) throws(RewardFlowError) -> UInt32 {
        guard bytes.count - p >= 4 else { throw fail(field, "invalid \\u escape: four hex digits expected") }
        var value: UInt32 = 0
        for i in p..<p + 4 {
            let c = bytes[i]
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

    mutating func appendUTF8(_ scalar: UInt32) {
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
    func validateMultibyte(_ bytes: Span<UInt8>, _ p: Int, _ field: String) throws(RewardFlowError) -> Int {
        let b0 = bytes[p]
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
        guard bytes.count - p >= length else { throw fail(field, "not valid UTF-8 (truncated sequence)") }
        let b1 = bytes[p + 1]
        guard b1 >= low && b1 <= high else { throw fail(field, "not valid UTF-8 (byte 0x\(String(b1, radix: 16)))") }
        for i in p + 2..<p + max(2, length) where bytes[i] & 0xC0 != 0x80 {
            throw fail(field, "not valid UTF-8 (byte 0x\(String(bytes[i], radix: 16)))")
        }
        return p + length
    }

    /// The name of the unknown field whose key (its opening quote) is at `key`, for errors.
    mutating func fieldName(_ bytes: Span<UInt8>, at key: Int) -> String {
        let saved = cursor
        defer { cursor = saved }
        cursor = key
        switch try? parseString(bytes, field: "json") {
        case .line(let range): return JSONLParser.text(bytes.extracting(range))
        case .decoded: return JSONLParser.text(scratch.span)
        case nil: return "json"
        }
    }

    /// Checks and skips any JSON value (for fields this engine does not use); `key` is where the
    /// unknown field's name starts, to name it when its value holds a NaN or Infinity literal.
    mutating func skipValue(_ bytes: Span<UInt8>, depth: Int, key: Int) throws(RewardFlowError) {
        guard depth < 64 else { throw fail("json", "nesting deeper than 64 levels") }
        skipSpace(bytes)
        guard cursor < bytes.count else { throw fail("json", "expected a value at the end of the line") }
        switch bytes[cursor] {
        case 0x22: _ = try parseString(bytes, field: "json")
        case 0x7B, 0x5B:
            let close: UInt8 = bytes[cursor] == 0x7B ? 0x7D : 0x5D
            let isObject = close == 0x7D
            cursor += 1
            skipSpace(bytes)
            if at(close, bytes) { cursor += 1; return }
            while true {
                if isObject {
                    skipSpace(bytes)
                    guard at(0x22, bytes) else { throw fail("json", "expected a field name \(found(bytes))") }
                    _ = try parseString(bytes, field: "json")
                    try expect(0x3A, "':'", bytes)
                }
                try skipValue(bytes, depth: depth + 1, key: key)
                skipSpace(bytes)
                guard cursor < bytes.count else { throw fail("json", "unclosed \(isObject ? "object" : "array")") }
                if bytes[cursor] == 0x2C { cursor += 1; continue }
                if bytes[cursor] == close { cursor += 1; return }
                throw fail("json", "expected ',' \(found(bytes))")
            }
        default:
            if matchLiteral(.true, bytes) || matchLiteral(.false, bytes) || matchLiteral(.null, bytes) { return }
            let sign = at(0x2D, bytes) ? 1 : 0  // "-NaN" and "-Infinity" too
            if isLiteral(.nan, at: cursor + sign, bytes) || isLiteral(.infinity, at: cursor + sign, bytes) {
                throw fail(fieldName(bytes, at: key), "NaN and Infinity are not JSON (unknown fields must be valid JSON too)")
            }
            _ = try scanNumber("json", bytes)
        }
    }
}
