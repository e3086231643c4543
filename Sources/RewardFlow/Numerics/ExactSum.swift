/// An exactly rounded running sum (Shewchuk's algorithm, as Python's `math.fsum`).
///
/// Keeps a list of non-overlapping partial sums whose exact total is the sum of everything
/// added; `value` rounds that total once. Deterministic whatever the order of accumulation
/// (the exact total does not depend on it).
package struct ExactSum: Sendable {
    private var accumulator = ExactAccumulator()

    /// An empty sum.
    package init() {}

    /// Clears the sum.
    package mutating func reset() { accumulator.reset() }

    /// Adds `x` exactly.
    package mutating func add(_ x: Double) { accumulator.add(x) }

    /// The correctly rounded value of the exact sum.
    package var value: Double {
        var copy = accumulator
        return copy.value
    }

    /// The exactly rounded sum of `values`.
    package static func of<S: Sequence>(_ values: S) -> Double where S.Element == Double {
        var sum = ExactSum()
        for v in values { sum.add(v) }
        return sum.value
    }
}

/// The engine of `ExactSum`, for hot loops: Shewchuk's non-overlapping partials (as
/// `math.fsum`) on a fixed inline store. Doubles admit at most about 40
/// non-overlapping partials (2098 exponent bits / 53), so 64 slots never overflow.
struct ExactAccumulator: Sendable {
    private var partials = ExactAccumulator.Storage()
    private var count = 0
    /// Non-finite inputs and the inputs that overflowed the running total (0 when none).
    private var overflow = 0.0

    /// 64 doubles, inline.
    struct Storage {
        var words: (SIMD32<Double>, SIMD32<Double>) = (.zero, .zero)
    }

    /// Clears the sum.
    @inline(__always)
    mutating func reset() {
        count = 0
        overflow = 0
    }

    /// Adds `x` exactly.
    @inline(__always)
    mutating func add(_ value: Double) {
        if count == 0 && overflow == 0 && value.isFinite {
            partials.words.0[0] = value
            count = 1
            return
        }
        guard value.isFinite else {
            overflow += value
            return
        }
        // ±0 onto one partial p: the loop below would store p + (±0) and no low part (sparse
        // rewards are mostly zeros; the sum keeps IEEE's sign of zero).
        if value == 0 && count == 1 {
            partials.words.0[0] += value
            return
        }
        withSlots(of: &partials, as: Double.self) { p in
            var x = value
            var kept = 0
            for i in 0..<count {
                var y = p[i]
                if abs(x) < abs(y) { swap(&x, &y) }
                let high = x + y
                let low = y - (high - x)
                if low != 0 {
                    p[kept] = low
                    kept += 1
                }
                x = high
            }
            if x.isFinite {
                p[kept] = x
                count = kept + 1
            } else {
                // The running total left the double range (as math.fsum's "intermediate
                // overflow"): the sum is reported as non-finite, never stored as a partial.
                overflow += value
                count = 0
            }
        }
    }

    /// Adds `a · b` exactly (its rounded product and the rounding error, by fused multiply-add).
    @inline(__always)
    mutating func addProduct(_ a: Double, _ b: Double) {
        let product = a * b
        let error = (-product).addingProduct(a, b)  // a·b − fl(a·b), exact
        add(product)
        if error != 0 { add(error) }
    }

    /// The correctly rounded value of the exact sum (round half to even across the partials,
    /// as `math.fsum`).
    var value: Double {
        mutating get {
            if overflow != 0 {  // also NaN
                return overflow.isFinite ? (overflow > 0 ? .infinity : -.infinity) : overflow
            }
            if count <= 1 { return count == 0 ? 0 : partials.words.0[0] }
            let count = self.count
            return withSlots(of: &partials, as: Double.self) { p -> Double in
                var n = count - 1
                var high = p[n]
                var low = 0.0
                while n > 0 {
                    let x = high
                    n -= 1
                    let y = p[n]
                    high = x + y
                    low = y - (high - x)
                    if low != 0 { break }
                }
                if n > 0 && ((low < 0 && p[n - 1] < 0) || (low > 0 && p[n - 1] > 0)) {
                    let y = low * 2
                    let x = high + y
                    if y == x - high { high = x }
                }
                return high
            }
        }
    }
}
