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

    /// Prepares valid UTF-8 `bytes` (the engine's interned state texts).
    package init(utf8 bytes: UnsafeRawBufferPointer) {
        self.init(scalars: SimilarityText.decode(bytes))
    }

    /// Prepares a sequence of code points.
    package init(scalars: [UInt32]) {
        self.init(scalars: scalars, indexed: true)
    }

    /// Whether the `b2j` index is built (a text only ever used as the first sequence `a` can
    /// do without it; the second sequence `b` of a matching must have it).
    var isIndexed: Bool { !asciiSlot.isEmpty }

    /// Prepares `scalars`, with or without the `b2j` index.
    init(scalars: [UInt32], indexed: Bool) {
        self.scalars = scalars
        guard indexed else {
            (asciiSlot, otherScalars, otherSlots, fullCount, positionStart, positions) = ([], [], [], [], [], [])
            return
        }
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
        // Autojunk: popular elements keep no positions.
        let n = scalars.count
        let limit = n >= 200 ? Int32(n / 100 + 1) : Int32.max
        var start = [Int32](repeating: 0, count: counts.count + 1)
        for s in 0..<counts.count { start[s + 1] = start[s] + (counts[s] > limit ? 0 : counts[s]) }
        var fill = start
        var positions = [Int32](repeating: 0, count: Int(start[counts.count]))
        for i in 0..<n {
            let s = Int(slotOf[i])
            if counts[s] > limit { continue }
            positions[Int(fill[s])] = Int32(i)
            fill[s] += 1
        }
        asciiSlot = ascii
        otherScalars = others.map { $0.0 }
        otherSlots = others.map { $0.1 }
        fullCount = counts
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
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = UInt32(bytes[i])
            if b0 < 0x80 {
                out.append(b0); i += 1
            } else if b0 < 0xE0, i + 1 < n {
                out.append((b0 & 0x1F) << 6 | UInt32(bytes[i + 1]) & 0x3F); i += 2
            } else if b0 < 0xF0, i + 2 < n {
                out.append((b0 & 0x0F) << 12 | (UInt32(bytes[i + 1]) & 0x3F) << 6 | UInt32(bytes[i + 2]) & 0x3F); i += 3
            } else if i + 3 < n {
                out.append((b0 & 0x07) << 18 | (UInt32(bytes[i + 1]) & 0x3F) << 12
                    | (UInt32(bytes[i + 2]) & 0x3F) << 6 | UInt32(bytes[i + 3]) & 0x3F)
                i += 4
            } else {
                out.append(0xFFFD); i += 1  // truncated sequence (never in validated input)
            }
        }
        return out
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
    private var j2len: [Int32] = []
    private var j2stamp: [Int] = []
    private var stamp = 0
    private var aSlot: [Int32] = []
    private var avail: [Int32] = []
    private var queue: [(Int, Int, Int, Int)] = []

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
        let la = a.count, lb = b.count
        if la == 0 || lb == 0 { return 0 }
        if j2len.count < lb {
            j2len = [Int32](repeating: 0, count: lb)
            j2stamp = [Int](repeating: -1, count: lb)
        }
        aSlot.removeAll(keepingCapacity: true)
        for c in a.scalars { aSlot.append(b.slot(of: c)) }
        queue.removeAll(keepingCapacity: true)
        queue.append((0, la, 0, lb))
        // Upper bound of what the pending sub-problems can still add.
        var pending = needed > 0 ? min(la, lb) : 0
        var total = 0
        while let (alo, ahi, blo, bhi) = queue.popLast() {
            if needed > 0 { pending -= min(ahi - alo, bhi - blo) }
            let (i, j, k) = longestMatch(a, b, alo, ahi, blo, bhi)
            if k > 0 {
                total += k
                if alo < i && blo < j {
                    queue.append((alo, i, blo, j))
                    if needed > 0 { pending += min(i - alo, j - blo) }
                }
                if i + k < ahi && j + k < bhi {
                    queue.append((i + k, ahi, j + k, bhi))
                    if needed > 0 { pending += min(ahi - i - k, bhi - j - k) }
                }
            }
            if needed > 0 && (total >= needed || total + pending < needed) { return total }
        }
        return total
    }

    /// `find_longest_match(alo, ahi, blo, bhi)` (no junk function, so every extension runs in
    /// the first pair of loops; popular elements extend a match but never seed one).
    private mutating func longestMatch(
        _ a: SimilarityText, _ b: SimilarityText, _ alo: Int, _ ahi: Int, _ blo: Int, _ bhi: Int
    ) -> (Int, Int, Int) {
        var besti = alo, bestj = blo, bestsize = 0
        // Row i of difflib's `j2len` lives in `j2len[j]` stamped `base + i`; a row reads the
        // previous row's `j2len[j-1]`. Rows are walked with j descending so one array holds both
        // rows; within a row the best is the smallest j reaching the row's largest k, which is
        // what difflib's ascending scan with `k > bestsize` keeps.
        stamp += 2
        let base = stamp - alo
        stamp += ahi - alo
        j2len.withUnsafeMutableBufferPointer { len in
            j2stamp.withUnsafeMutableBufferPointer { st in
                aSlot.withUnsafeBufferPointer { slots in
                    b.positionStart.withUnsafeBufferPointer { start in
                        b.positions.withUnsafeBufferPointer { pos in
                            for i in alo..<ahi {
                                let s = Int(slots[i])
                                if s < 0 { continue }
                                let lo = Int(start[s]), hi = Int(start[s + 1])
                                if lo == hi { continue }
                                let row = base + i
                                var rowBest = 0, rowJ = 0
                                var p = hi - 1
                                while p >= lo {
                                    let j = Int(pos[p])
                                    p -= 1
                                    if j >= bhi { continue }
                                    if j < blo { break }
                                    var k = 1
                                    if j > 0 && st[j - 1] == row - 1 { k = Int(len[j - 1]) + 1 }
                                    len[j] = Int32(k)
                                    st[j] = row
                                    if k >= rowBest { rowBest = k; rowJ = j }
                                }
                                if rowBest > bestsize {
                                    besti = i - rowBest + 1
                                    bestj = rowJ - rowBest + 1
                                    bestsize = rowBest
                                }
                            }
                        }
                    }
                }
            }
        }
        a.scalars.withUnsafeBufferPointer { x in
            b.scalars.withUnsafeBufferPointer { y in
                while besti > alo && bestj > blo && x[besti - 1] == y[bestj - 1] {
                    besti -= 1; bestj -= 1; bestsize += 1
                }
                while besti + bestsize < ahi && bestj + bestsize < bhi && x[besti + bestsize] == y[bestj + bestsize] {
                    bestsize += 1
                }
            }
        }
        return (besti, bestj, bestsize)
    }
}
