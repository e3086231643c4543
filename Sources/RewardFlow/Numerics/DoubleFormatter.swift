/// Shortest round-trip formatting of doubles, byte for byte as Swift's `description`
/// (and parsing back, in Swift or Python, to the very same double).
///
/// The digits come from the Schubfach algorithm (R. Giulietti, 2020): the shortest decimal in
/// the rounding interval of the value, the closest one when several have that length, from
/// three 64×128-bit multiplications by a table of 126-bit powers of ten (`Pow10Table.swift`,
/// generated exactly by `scripts/gen_pow10_table.py`). No allocation, no division loop.
///
/// Layout (as `description`): fixed notation from 0.0001 up to 2^53 (`0.0001`, `123.0`,
/// `9007199254740992.0`), otherwise `d.ddde±XX` (`1e-05`, `1.2345678901234568e+17`); `nan`,
/// `inf`, `-inf`. Python's `repr` switches to exponents at 1e16 instead of 2^53; both texts
/// parse back to the same double everywhere.
///
/// Invariants of its pointer code (a measured hot path, kept on raw pointers): the digit
/// writers write only at `p ..< p + maximumLength` (doubles) or `p ..< p + 20` (integers),
/// and every entry point guarantees that room first: the `OutputSpan` ones check the span's
/// free capacity once per field (`precondition`, every build) and write inside its
/// `withUnsafeMutableBufferPointer` scope; the array ones write into a temporary allocation
/// of that size and copy out the count returned.
package enum DoubleFormatter {
    /// Bytes `write` may produce at most.
    package static let maximumLength = 32

    /// Appends the shortest round-trip text of `value` to `out`.
    @inlinable
    package static func append(_ value: Double, to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maximumLength) { buffer in
            let n = write(value, to: buffer.baseAddress!)
            out.append(contentsOf: UnsafeBufferPointer(start: buffer.baseAddress!, count: n))
        }
    }

    /// The shortest round-trip text of `value` as a `String` (equal to `value.description`).
    package static func string(_ value: Double) -> String {
        var bytes: [UInt8] = []
        append(value, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `value` in decimal.
    @inlinable
    package static func appendInteger(_ value: Int, to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { buffer in
            let n = writeInteger(value, to: buffer.baseAddress!)
            out.append(contentsOf: UnsafeBufferPointer(start: buffer.baseAddress!, count: n))
        }
    }

    /// Appends `key`'s UTF-8 and then `value` in decimal to `out` (the room for both is
    /// checked, once).
    @inline(__always)
    static func writeInteger(_ key: StaticString, _ value: Int, to out: inout OutputSpan<UInt8>) {
        let n = key.utf8CodeUnitCount
        precondition(out.freeCapacity >= n + 20, "an integer field needs \(n + 20) bytes, \(out.freeCapacity) free")
        out.withUnsafeMutableBufferPointer { buffer, initialized in
            let p = buffer.baseAddress! + initialized
            p.update(from: key.utf8Start, count: n)
            initialized += n + writeInteger(value, to: p + n)
        }
    }

    /// Appends `key`'s UTF-8 and then the shortest round-trip text of `value` to `out` (the
    /// room for both is checked, once).
    @inline(__always)
    static func write(_ key: StaticString, _ value: Double, to out: inout OutputSpan<UInt8>) {
        let n = key.utf8CodeUnitCount
        precondition(out.freeCapacity >= n + maximumLength, "a double field needs \(n + maximumLength) bytes, \(out.freeCapacity) free")
        out.withUnsafeMutableBufferPointer { buffer, initialized in
            let p = buffer.baseAddress! + initialized
            p.update(from: key.utf8Start, count: n)
            initialized += n + write(value, to: p + n)
        }
    }

    /// Writes `value` in decimal at `p` (room for 20 bytes); returns the byte count.
    @inlinable
    package static func writeInteger(_ value: Int, to p: UnsafeMutablePointer<UInt8>) -> Int {
        var q = p
        var magnitude = UInt64(value.magnitude)
        if value < 0 { q.pointee = 0x2D; q += 1 }
        let pairs = digitPairTable.utf8Start
        let digits = digitCount(UInt64(magnitude))
        var end = q + digits
        let stop = end
        while magnitude >= 100 {
            let pair = Int(magnitude % 100)
            magnitude /= 100
            end -= 2
            end[0] = pairs[2 * pair]
            end[1] = pairs[2 * pair + 1]
        }
        if magnitude >= 10 {
            end[-2] = pairs[2 * Int(magnitude)]
            end[-1] = pairs[2 * Int(magnitude) + 1]
        } else {
            end[-1] = 0x30 + UInt8(magnitude)
        }
        return stop - p
    }

    /// Writes the shortest round-trip text of `value` at `p` (room for `maximumLength` bytes);
    /// returns the byte count.
    @inlinable
    package static func write(_ value: Double, to p: UnsafeMutablePointer<UInt8>) -> Int {
        _write(value, p)
    }

    // MARK: - Schubfach

    @usableFromInline
    static func _write(_ value: Double, _ start: UnsafeMutablePointer<UInt8>) -> Int {
        var p = start
        let bits = value.bitPattern
        let fraction = bits & ((1 << 52) - 1)
        let biased = Int((bits >> 52) & 0x7FF)
        if biased == 0x7FF {
            if fraction != 0 { return copy("nan", start) }
            return copy(bits >> 63 == 0 ? "inf" : "-inf", start)
        }
        if bits >> 63 != 0 { p.pointee = 0x2D; p += 1 }
        let (f, e): (UInt64, Int)
        if biased != 0 {
            let mq = 1075 - biased  // -q, with value = c · 2^q
            let c = (1 << 52) | fraction
            if mq > 0 && mq < 53 && (c >> UInt64(mq)) << UInt64(mq) == c {
                (f, e) = (c >> UInt64(mq), 0)  // an integer below 2^53
            } else {
                (f, e) = decimal(q: -mq, c: c, dk: 0)
            }
        } else if fraction != 0 {
            // Subnormals: their rounding interval is wide enough to hold several shorter
            // candidates, which this Schubfach variant (at least two digits) does not search.
            // They never occur in rewards; `description` formats them.
            return (p - start) + subnormal(value.magnitude, p)
        } else {
            return (p - start) + copy("0.0", p)
        }
        return (p - start) + layout(f, e, p, exponential: value.magnitude > 0x1p53)
    }

    /// Schubfach's core: the shortest `f · 10^e` in the rounding interval of `c · 2^q`.
    @usableFromInline
    static func decimal(q: Int, c: UInt64, dk: Int) -> (UInt64, Int) {
        let out: UInt64 = c & 1
        let cb = c << 2
        let cbr = cb + 2
        let cbl: UInt64
        let k: Int
        if c != 1 << 52 || q == -1074 {
            cbl = cb - 2
            k = (q * 661_971_961_083) >> 41  // floor(q · log10 2)
        } else {
            cbl = cb - 1
            k = (q * 661_971_961_083 - 274_743_187_321) >> 41  // floor(log10(3/4 · 2^q))
        }
        let h = q + ((-k * 913_124_641_741) >> 38) + 2  // q + floor(log2 10^-k) + 2
        let index = (k + 324) << 1
        let g1 = pow10Table[index], g0 = pow10Table[index + 1]
        let vb = roundOdd(g1, g0, cb << UInt64(h))
        let vbl = roundOdd(g1, g0, cbl << UInt64(h))
        let vbr = roundOdd(g1, g0, cbr << UInt64(h))
        let s = vb >> 2
        if s >= 100 {
            let sp10 = 10 * s.multipliedFullWidth(by: 1_844_674_407_370_955_168).high  // 10 · ⌊s/10⌋
            let tp10 = sp10 + 10
            let upin = vbl + out <= sp10 << 2
            let wpin = (tp10 << 2) + out <= vbr
            if upin != wpin { return (upin ? sp10 : tp10, k + dk) }
        }
        let t = s + 1
        let uin = vbl + out <= s << 2
        let win = (t << 2) + out <= vbr
        if uin != win { return (uin ? s : t, k + dk) }
        let doubled = (s + t) << 1
        let pickS = vb < doubled || (vb == doubled && s & 1 == 0)
        return (pickS ? s : t, k + dk)
    }

    /// `cp · g · 2^-127`, rounded to odd (Schubfach's `rop`).
    @inline(__always) @usableFromInline
    static func roundOdd(_ g1: UInt64, _ g0: UInt64, _ cp: UInt64) -> UInt64 {
        let x1 = g0.multipliedFullWidth(by: cp).high
        let y = g1.multipliedFullWidth(by: cp)
        let z = (y.low >> 1) &+ x1
        let vbp = y.high &+ (z >> 63)
        let mask63: UInt64 = (1 << 63) - 1
        return vbp | (((z & mask63) &+ mask63) >> 63)
    }

    /// Writes `f · 10^e` (f > 0) in `description`'s layout; returns the byte count.
    /// Digits are written once, in place (the fixed layout then shifts at most 16 of them left
    /// by one byte to make room for the point).
    @usableFromInline
    static func layout(_ significand: UInt64, _ exponent: Int, _ p: UnsafeMutablePointer<UInt8>, exponential: Bool) -> Int {
        var f = significand, e = exponent
        // Strip trailing zeros (at most 16 of them; 10^8 first for long runs).
        if f % 100_000_000 == 0 && f >= 100_000_000 { f /= 100_000_000; e += 8 }
        while f >= 10 {
            let (quotient, remainder) = f.quotientAndRemainder(dividingBy: 10)
            if remainder != 0 { break }
            f = quotient
            e += 1
        }
        let n = digitCount(f)
        let decimalExponent = e + n - 1
        if decimalExponent >= -4 && !exponential {
            if decimalExponent >= 0 {
                let intDigits = decimalExponent + 1
                if n <= intDigits {
                    writeDigits(f, n, p)
                    for i in n..<intDigits { p[i] = 0x30 }
                    p[intDigits] = 0x2E
                    p[intDigits + 1] = 0x30
                    return intDigits + 2
                }
                writeDigits(f, n, p + 1)
                for i in 0..<intDigits { p[i] = p[i + 1] }
                p[intDigits] = 0x2E
                return n + 1
            }
            let zeros = -decimalExponent - 1
            p[0] = 0x30
            p[1] = 0x2E
            for i in 0..<zeros { p[2 + i] = 0x30 }
            writeDigits(f, n, p + 2 + zeros)
            return 2 + zeros + n
        }
        writeDigits(f, n, p + 1)
        p[0] = p[1]
        var q = p + 1
        if n > 1 {
            q.pointee = 0x2E
            q += n
        }
        q[0] = 0x65
        q[1] = decimalExponent < 0 ? 0x2D : 0x2B
        q += 2
        let magnitude = abs(decimalExponent)
        if magnitude >= 100 {
            q[0] = 0x30 + UInt8(magnitude / 100)
            q += 1
        }
        let pairs = digitPairTable.utf8Start
        let lastTwo = magnitude % 100
        q[0] = pairs[2 * lastTwo]
        q[1] = pairs[2 * lastTwo + 1]
        return q + 2 - p
    }

    /// Writes the `n` decimal digits of `value` at `d` (two at a time, 32-bit arithmetic).
    @inline(__always) @usableFromInline
    static func writeDigits(_ value: UInt64, _ n: Int, _ d: UnsafeMutablePointer<UInt8>) {
        let pairs = digitPairTable.utf8Start
        var i = n
        var f = value
        if f >= 100_000_000 {
            // The low eight digits, exactly.
            var low = UInt32(truncatingIfNeeded: f % 100_000_000)
            f /= 100_000_000
            for _ in 0..<4 {
                let pair = Int(low % 100)
                low /= 100
                i -= 2
                d[i] = pairs[2 * pair]
                d[i + 1] = pairs[2 * pair + 1]
            }
        }
        var rest = UInt32(truncatingIfNeeded: f)  // below 10^9 (a double has at most 17 digits)
        while i >= 2 {
            let pair = Int(rest % 100)
            rest /= 100
            i -= 2
            d[i] = pairs[2 * pair]
            d[i + 1] = pairs[2 * pair + 1]
        }
        if i == 1 { d[0] = 0x30 + UInt8(rest) }
    }

    /// Decimal digits of `x` (1 for 0).
    @inline(__always) @usableFromInline
    static func digitCount(_ x: UInt64) -> Int {
        var n = 1
        var t = x
        if t >= 10_000_000_000_000_000 { n += 16; t /= 10_000_000_000_000_000 }
        if t >= 100_000_000 { n += 8; t /= 100_000_000 }
        if t >= 10_000 { n += 4; t /= 10_000 }
        if t >= 100 { n += 2; t /= 100 }
        if t >= 10 { n += 1 }
        return n
    }

    /// A subnormal magnitude, through `description`.
    @usableFromInline
    static func subnormal(_ magnitude: Double, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        var text = magnitude.description
        return text.withUTF8 { utf8 in
            p.update(from: utf8.baseAddress!, count: utf8.count)
            return utf8.count
        }
    }

    @usableFromInline
    static func copy(_ text: StaticString, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        p.update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        return text.utf8CodeUnitCount
    }

    /// "00", "01", ..., "99" as one static string (no lazy initialisation on the hot path).
    @usableFromInline
    static let digitPairTable: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
}
