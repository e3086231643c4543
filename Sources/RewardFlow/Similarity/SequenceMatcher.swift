/// A text prepared for `difflib`-style matching: its Unicode scalars and, for use as the second
/// sequence `b`, difflib's `b2j` index with autojunk applied.
///
/// `b2j` maps each element of `b` to its positions; when `len(b) >= 200` the elements occurring
/// more than `1 + len(b)/100` times ("popular") have no positions, so they never seed a match.
/// Elements are numbered densely per text (`slot`); `fullCount` keeps every element's count in
/// `b` (popular ones included) for `quick_ratio`.
package struct SimilarityText: Sendable {
    /// The Unicode scalars (code points) of the text, in order.
    package let scalars: [UInt32]
    /// Slot of each ASCII scalar present in the text (-1: absent).
    let asciiSlot: [Int32]
    /// Non-ASCII scalars present in the text, ascending, and their slots.
    let otherScalars: [UInt32]
    let otherSlots: [Int32]
    /// Per slot: its occurrences in the text (popular elements included).
    let fullCount: [Int32]
    /// Per position: the slot of its scalar (`keys`), and the same or `MatchView.popular` when
    /// the scalar is popular (`seeds`).
    let keys: [Int32]
    let seeds: [Int32]
    /// Per slot: `b2j` positions are `positions[positionStart[s]..<positionStart[s+1]]`
    /// (ascending; empty for popular elements).
    let positionStart: [Int32]
    let positions: [Int32]

    /// The number of scalars (`len()` of the Python string).
    @inline(__always) package var count: Int { scalars.count }

    /// Prepares `text`.
    package init(_ text: String) {
        self.init(scalars: text.unicodeScalars.map { $0.value })
    }

    /// Prepares valid UTF-8 `bytes`.
    package init(utf8 bytes: UnsafeRawBufferPointer) {
        self.init(scalars: SimilarityText.decode(bytes))
    }

    /// Prepares a sequence of code points.
    package init(scalars: [UInt32]) {
        self.scalars = scalars
        var ascii = [Int32](repeating: -1, count: 128)
        var others: [(UInt32, Int32)] = []
        var counts: [Int32] = []
        var slotOf = [Int32](repeating: 0, count: scalars.count)
        var otherIndex: [UInt32: Int32] = [:]
        for (i, c) in scalars.enumerated() {
            var s: Int32
            if c < 128 {
                s = ascii[Int(c)]
                if s < 0 { s = Int32(counts.count); ascii[Int(c)] = s; counts.append(0) }
            } else if let known = otherIndex[c] {
                s = known
            } else {
                s = Int32(counts.count)
                otherIndex[c] = s
                others.append((c, s))
                counts.append(0)
            }
            counts[Int(s)] += 1
            slotOf[i] = s
        }
        others.sort { $0.0 < $1.0 }
        let limit = MatchView.popularLimit(scalars.count)
        var start = [Int32](repeating: 0, count: counts.count + 1)
        for s in 0..<counts.count { start[s + 1] = start[s] + (counts[s] > limit ? 0 : counts[s]) }
        var fill = start
        var positions = [Int32](repeating: 0, count: Int(start[counts.count]))
        var seeds = slotOf
        for i in 0..<scalars.count {
            let s = Int(slotOf[i])
            if counts[s] > limit { seeds[i] = MatchView.popular; continue }
            positions[Int(fill[s])] = Int32(i)
            fill[s] += 1
        }
        asciiSlot = ascii
        otherScalars = others.map { $0.0 }
        otherSlots = others.map { $0.1 }
        fullCount = counts
        keys = slotOf
        self.seeds = seeds
        positionStart = start
        self.positions = positions
    }

    /// The slot of scalar `c` in this text, or -1 when it does not occur.
    @inline(__always) func slot(of c: UInt32) -> Int32 {
        if c < 128 { return asciiSlot[Int(c)] }
        var lo = 0, hi = otherScalars.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if otherScalars[mid] < c { lo = mid + 1 } else { hi = mid }
        }
        return lo < otherScalars.count && otherScalars[lo] == c ? otherSlots[lo] : -1
    }

    /// Decodes valid UTF-8 into code points.
    static func decode(_ bytes: UnsafeRawBufferPointer) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(bytes.count)
        UTF8Scalars.forEach(bytes) { out.append($0) }
        return out
    }
}

/// UTF-8 decoding of the engine's validated texts.
enum UTF8Scalars {
    /// Calls `body` with each code point of valid UTF-8 `bytes`, in order (a truncated sequence,
    /// never in validated input, gives U+FFFD).
    @inline(__always)
    static func forEach(_ bytes: UnsafeRawBufferPointer, _ body: (UInt32) -> Void) {
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = UInt32(bytes[i])
            if b0 < 0x80 {
                body(b0); i += 1
            } else if b0 < 0xE0, i + 1 < n {
                body((b0 & 0x1F) << 6 | UInt32(bytes[i + 1]) & 0x3F); i += 2
            } else if b0 < 0xF0, i + 2 < n {
                body((b0 & 0x0F) << 12 | (UInt32(bytes[i + 1]) & 0x3F) << 6 | UInt32(bytes[i + 2]) & 0x3F); i += 3
            } else if i + 3 < n {
                body((b0 & 0x07) << 18 | (UInt32(bytes[i + 1]) & 0x3F) << 12
                    | (UInt32(bytes[i + 2]) & 0x3F) << 6 | UInt32(bytes[i + 3]) & 0x3F)
                i += 4
            } else {
                body(0xFFFD); i += 1
            }
        }
    }
}

/// Python's `difflib.SequenceMatcher(None, a, b)` (default `autojunk=True`), bit for bit.
///
/// `ratio = 2·M/(len(a) + len(b))` (1 when both are empty), `M` the total size of the matching
/// blocks of `get_matching_blocks`: the longest match of `find_longest_match` (earliest in `a`,
/// then in `b`; seeded by non-popular elements, extended over any equal elements), recursively
/// left and right of it. `quickRatio` (multiset intersection) and `realQuickRatio`
/// (`min(la, lb)`) are difflib's upper bounds. Holds reusable scratch: one per thread.
package struct SequenceMatcher: Sendable {
    var core = MatchCore()
    private var aSlot: [Int32] = []
    private var avail: [Int32] = []

    /// A matcher with empty scratch.
    package init() {}

    /// `SequenceMatcher(None, a, b).ratio()` of two strings (prepares both; for repeated use
    /// prepare `SimilarityText`s once).
    package static func ratio(_ a: String, _ b: String) -> Double {
        var m = SequenceMatcher()
        return m.ratio(SimilarityText(a), SimilarityText(b))
    }

    /// `_calculate_ratio(matches, length)`: `2.0*matches/length`, or 1 when `length` is 0.
    @inline(__always) package static func calculateRatio(_ matches: Int, _ length: Int) -> Double {
        length == 0 ? 1.0 : 2.0 * Double(matches) / Double(length)
    }

    /// `real_quick_ratio()`: `2·min(la, lb)/(la + lb)`, an upper bound of `ratio`.
    package static func realQuickRatio(_ a: SimilarityText, _ b: SimilarityText) -> Double {
        calculateRatio(min(a.count, b.count), a.count + b.count)
    }

    /// `quick_ratio()`: `2·|a ∩ b|/(la + lb)` over multisets, an upper bound of `ratio`.
    package mutating func quickRatio(_ a: SimilarityText, _ b: SimilarityText) -> Double {
        Self.calculateRatio(quickMatches(a, b), a.count + b.count)
    }

    /// `ratio()`.
    package mutating func ratio(_ a: SimilarityText, _ b: SimilarityText) -> Double {
        Self.calculateRatio(matches(a, b, atLeast: 0), a.count + b.count)
    }

    /// The multiset intersection size `|a ∩ b|` (the `M` of `quick_ratio`).
    package mutating func quickMatches(_ a: SimilarityText, _ b: SimilarityText) -> Int {
        avail.removeAll(keepingCapacity: true)
        avail.append(contentsOf: b.fullCount)
        var m = 0
        for c in a.scalars {
            let s = b.slot(of: c)
            if s >= 0 && avail[Int(s)] > 0 {
                avail[Int(s)] -= 1
                m += 1
            }
        }
        return m
    }

    /// `M`, the total size of the matching blocks of `(a, b)`. With `atLeast > 0` the recursion
    /// stops as soon as the outcome of `M >= atLeast` is known (the sizes found so far reach it,
    /// or cannot reach it with every pending sub-problem matched in full): the result is then
    /// `>= atLeast` exactly when `M` is, but only exact for `atLeast = 0`.
    package mutating func matches(_ a: SimilarityText, _ b: SimilarityText, atLeast needed: Int) -> Int {
        aSlot.removeAll(keepingCapacity: true)
        for c in a.scalars { aSlot.append(b.slot(of: c)) }
        return aSlot.withUnsafeBufferPointer { aKey in
            b.keys.withUnsafeBufferPointer { bKey in
                b.seeds.withUnsafeBufferPointer { bSeed in
                    b.positionStart.withUnsafeBufferPointer { start in
                        b.positions.withUnsafeBufferPointer { positions in
                            core.matches(MatchView(aKey: aKey, bKey: bKey, bSeed: bSeed, start: start, positions: positions),
                                         atLeast: needed)
                        }
                    }
                }
            }
        }
    }
}
