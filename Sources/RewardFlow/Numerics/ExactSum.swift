/// An exactly rounded running sum (Shewchuk's algorithm, as Python's `math.fsum`).
///
/// Keeps a list of non-overlapping partial sums whose exact total is the sum of everything
/// added; `value` rounds that total once. Deterministic whatever the order of accumulation
/// (the exact total does not depend on it).
public struct ExactSum: Sendable {
    private var partials: [Double] = []

    /// An empty sum.
    public init() {}

    /// Clears the sum, keeping its storage.
    public mutating func reset() { partials.removeAll(keepingCapacity: true) }

    /// Adds `x` exactly.
    public mutating func add(_ x: Double) {
        var x = x
        var kept = 0
        for i in 0..<partials.count {
            var y = partials[i]
            if abs(x) < abs(y) { swap(&x, &y) }
            let high = x + y
            let low = y - (high - x)
            if low != 0 {
                partials[kept] = low
                kept += 1
            }
            x = high
        }
        partials.removeSubrange(kept...)
        partials.append(x)
    }

    /// The correctly rounded value of the exact sum.
    public var value: Double {
        var n = partials.count
        guard n > 0 else { return 0 }
        n -= 1
        var high = partials[n]
        var low = 0.0
        while n > 0 {
            let x = high
            n -= 1
            let y = partials[n]
            high = x + y
            low = y - (high - x)
            if low != 0 { break }
        }
        // Round half to even across the remaining partials (as fsum does).
        if n > 0 && ((low < 0 && partials[n - 1] < 0) || (low > 0 && partials[n - 1] > 0)) {
            let y = low * 2
            let x = high + y
            if y == x - high { high = x }
        }
        return high
    }

    /// The exactly rounded sum of `values`.
    public static func of<S: Sequence>(_ values: S) -> Double where S.Element == Double {
        var sum = ExactSum()
        for v in values { sum.add(v) }
        return sum.value
    }
}
