import Glibc

/// A small, fast, seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64).
///
/// Every stream is a pure function of its seed words, so synthetic batches are reproducible
/// on any machine and independent of the thread count that generates them.
package struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A generator whose stream is determined by `seeds` (mixed in order).
    package init(_ seeds: UInt64...) {
        var x: UInt64 = 0x6A09_E667_F3BC_C908
        for seed in seeds { x = SeededRandom.splitMix(x ^ seed) }
        var state = x
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            return SeededRandom.splitMix(state)
        }
        s0 = next(); s1 = next(); s2 = next(); s3 = next()
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    /// SplitMix64's finaliser: a bijective 64-bit mix.
    package static func splitMix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The next 64 random bits.
    package mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// A uniform double in [0, 1) with 53 random bits.
    package mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform integer in `0..<bound` (`bound > 0`), by Lemire's multiply-shift (with rejection).
    package mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0)
        let b = UInt64(bound)
        var m = next().multipliedFullWidth(by: b)
        if m.low < b {
            let threshold = (0 &- b) % b
            while m.low < threshold { m = next().multipliedFullWidth(by: b) }
        }
        return Int(m.high)
    }

    /// A standard normal deviate (Box–Muller; one of the pair is discarded for simplicity).
    package mutating func normal() -> Double {
        var u = unit()
        while u == 0 { u = unit() }
        let v = unit()
        return (-2 * _log(u)).squareRoot() * _cos(2 * Double.pi * v)
    }
}

@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
@inline(__always) func _exp(_ x: Double) -> Double { Glibc.exp(x) }
