import Glibc

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
