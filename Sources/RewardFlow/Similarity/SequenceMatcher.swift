// difflib's matching: prepared texts (`SimilarityText`), the ratio's matcher, and its core
// (`MatchView`, `MatchCore`), which reads the prepared arrays through `Span`s: every index is
// bounds-checked, so the code here is safe Swift (no pointer; `scripts/check_unsafe`).
// Invariants the indexing relies on (a violation traps, it never reads out of bounds):
// a-indices lie in `0..<len(a)`, b-indices and `b2j` positions in `0..<len(b)`, and a key of
// `a` (which may lie outside `0..<keyCount` when the element is not in `b`) indexes `start`
// only after that check.

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
        let view = MatchView(aKey: aSlot[...], bKey: b.keys[...], bSeed: b.seeds[...],
                             start: b.positionStart[...], positions: b.positions[...])
        return core.matches(view, atLeast: needed)
    }
}

// MARK: - The matching core

/// The inputs of one matching `(a, b)`, elements numbered by keys of `b`'s index: equal keys
/// are equal elements. Slices of the prepared arrays (no copy), read through their `span`s,
/// indexed from 0.
///
/// - `aKey[i]`: the key of `a[i]`; negative or `>= keyCount` (`start.count - 1`, the number of
///   keys of `b`'s index) when the element is not in `b`.
/// - `bKey[j]`: the key of `b[j]` (in `0..<keyCount`); `bSeed[j]`: the same, or `popular`.
/// - `b2j`: the positions of key `s` are `positions[start[s]..<start[s+1]]`, ascending, empty
///   for popular keys (difflib's autojunk).
struct MatchView {
    let aKey: ArraySlice<Int32>
    let bKey: ArraySlice<Int32>
    let bSeed: ArraySlice<Int32>
    let start: ArraySlice<Int32>
    let positions: ArraySlice<Int32>

    /// The seed of a popular element (never equal to any key of `a`).
    static let popular: Int32 = -2

    /// Elements occurring more than this many times in `b` are popular (autojunk: `len(b) >= 200`
    /// and more than `1 + len(b)//100` occurrences).
    @inline(__always) static func popularLimit(_ lb: Int) -> Int32 {
        lb >= 200 ? Int32(truncatingIfNeeded: lb / 100 + 1) : Int32.max
    }
}

/// `get_matching_blocks` / `find_longest_match` over a `MatchView`, with reusable scratch.
///
/// `find_longest_match` returns, of the longest runs of equal non-popular elements inside the
/// rectangle, the one starting earliest in `a`, then in `b`, extended both ways over equal
/// elements. Two exact ways to find that run: difflib's row dynamic programme over `b2j` (only
/// over the rows of `a` that seed, listed once per pair), or, when some diagonal already holds
/// a run of `K >= 4` (probed on the two diagonals through the rectangle's corners when most of
/// `b` seeds, i.e. autojunk removed little), only rows `alo + K - 1 + m·K`: every run of length
/// `>= K` covers one of them, so extending each of their seeds along its diagonal finds every
/// candidate run, and the longest, earliest in `a` then `b`, is difflib's.
struct MatchCore: Sendable {
    private var j2len: [Int32] = []
    private var j2stamp: [Int] = []
    private var stamp = 0
    private var queue: [(Int, Int, Int, Int)] = []
    /// The rows `i` of `a` whose element seeds in `b` (present, not popular), ascending:
    /// `seedRows[0..<seedCount]` (-1: not listed yet for this pair).
    private var seedRows: [Int32] = []
    private var seedCount = -1
    /// Whether most of `b` seeds (then diagonals are probed for a long run first).
    private var probe = false

    /// Lists the seed rows of `a` into `rows` (grown to `len(a)` at least); returns their count.
    @inline(__always)
    private static func listSeedRows(_ v: MatchView, into rows: inout [Int32]) -> Int {
        let aKey = v.aKey.span, start = v.start.span
        let la = aKey.count
        if rows.count < la { rows = [Int32](repeating: 0, count: max(la, 2 * rows.count)) }
        var out = rows.mutableSpan
        var n = 0
        for i in 0..<la {
            let s = Int(aKey[i])  // a key when `0 <= s < start.count - 1`
            out[n] = Int32(truncatingIfNeeded: i)
            if s >= 0 && s + 1 < start.count { n &+= start[s] < start[s + 1] ? 1 : 0 }
        }
        return n
    }

    /// `M` of `(a, b)`; with `needed > 0`, stops once `M >= needed` is decided (see
    /// `SequenceMatcher.matches(_:_:atLeast:)`).
    mutating func matches(_ v: MatchView, atLeast needed: Int) -> Int {
        let la = v.aKey.count, lb = v.bKey.count
        if la == 0 || lb == 0 { return 0 }
        if j2len.count < lb {
            j2len = [Int32](repeating: 0, count: lb)
            j2stamp = [Int](repeating: -1, count: lb)
        }
        seedCount = -1
        probe = v.positions.count * 2 >= lb
        queue.removeAll(keepingCapacity: true)
        queue.append((0, la, 0, lb))
        // Upper bound of what the pending sub-problems can still add.
        var pending = needed > 0 ? min(la, lb) : 0
        var total = 0
        while let (alo, ahi, blo, bhi) = queue.popLast() {
            if needed > 0 { pending -= min(ahi - alo, bhi - blo) }
            let (i, j, k) = longestMatch(v, alo, ahi, blo, bhi)
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

    /// The longest run of equal non-popular elements on the diagonal segment from `(i, j)` to
    /// `(i + n - 1, j + n - 1)`.
    @inline(__always)
    private static func diagonalRun(_ v: MatchView, _ i: Int, _ j: Int, _ n: Int) -> Int {
        let a = v.aKey.span.extracting(i ..< i + n), b = v.bSeed.span.extracting(j ..< j + n)
        var best = 0, run = 0
        for k in 0..<n {
            run = a[k] == b[k] ? run &+ 1 : 0
            best = max(best, run)
        }
        return best
    }

    /// `find_longest_match(alo, ahi, blo, bhi)` (no junk function, so every extension runs in
    /// the first pair of loops; popular elements extend a match but never seed one).
    private mutating func longestMatch(_ v: MatchView, _ alo: Int, _ ahi: Int, _ blo: Int, _ bhi: Int) -> (Int, Int, Int) {
        var run = 0
        if probe {
            let n = min(ahi - alo, bhi - blo)
            // The diagonals through the top-left and the bottom-right corners.
            run = max(Self.diagonalRun(v, alo, blo, n), Self.diagonalRun(v, ahi - n, bhi - n, n))
        }
        var (besti, bestj, bestsize) = run >= 4
            ? Self.sampledRun(v, alo, ahi, blo, bhi, stride: run)
            : rowProgramme(v, alo, ahi, blo, bhi)
        let x = v.aKey.span, y = v.bKey.span
        while besti > alo && bestj > blo && x[besti - 1] == y[bestj - 1] {
            besti -= 1; bestj -= 1; bestsize += 1
        }
        while besti + bestsize < ahi && bestj + bestsize < bhi && x[besti + bestsize] == y[bestj + bestsize] {
            bestsize += 1
        }
        return (besti, bestj, bestsize)
    }

    /// The longest seed run when one of length `stride` exists: the seeds of rows
    /// `alo + stride - 1 + m·stride`, each extended along its diagonal inside the rectangle;
    /// the longest, then earliest in `a`, then in `b`.
    @inline(__always)
    private static func sampledRun(
        _ v: MatchView, _ alo: Int, _ ahi: Int, _ blo: Int, _ bhi: Int, stride: Int
    ) -> (Int, Int, Int) {
        let aKey = v.aKey.span, bSeed = v.bSeed.span, start = v.start.span, positions = v.positions.span
        var besti = alo, bestj = blo, bestsize = 0
        var r = alo + stride - 1
        while r < ahi {
            let s = Int(aKey[r])
            if s >= 0 && s + 1 < start.count {
                let b2j = positions.extracting(Int(start[s]) ..< Int(start[s + 1]))
                for p in b2j.indices {
                    let j = Int(b2j[p])
                    if j < blo { continue }
                    if j >= bhi { break }
                    // On the best run already (maximal runs of one diagonal are disjoint).
                    if j - r == bestj - besti && r >= besti && r < besti + bestsize { continue }
                    var i0 = r, j0 = j
                    while i0 > alo && j0 > blo && aKey[i0 - 1] == bSeed[j0 - 1] { i0 -= 1; j0 -= 1 }
                    var i1 = r + 1, j1 = j + 1
                    while i1 < ahi && j1 < bhi && aKey[i1] == bSeed[j1] { i1 += 1; j1 += 1 }
                    let k = i1 - i0
                    if k > bestsize || (k == bestsize && (i0 < besti || (i0 == besti && j0 < bestj))) {
                        besti = i0; bestj = j0; bestsize = k
                    }
                }
            }
            r += stride
        }
        return (besti, bestj, bestsize)
    }

    /// difflib's dynamic programme over the seed rows of `alo..<ahi` (listed once per pair).
    private mutating func rowProgramme(
        _ v: MatchView, _ alo: Int, _ ahi: Int, _ blo: Int, _ bhi: Int
    ) -> (Int, Int, Int) {
        if seedCount < 0 { seedCount = Self.listSeedRows(v, into: &seedRows) }
        stamp += 2
        let base = stamp - alo
        stamp += ahi - alo
        return Self.rowProgramme(v, alo, ahi, blo, bhi, seedRows: seedRows[0..<seedCount],
                                 rowStamp: base, lengths: &j2len, stamps: &j2stamp)
    }

    /// The dynamic programme itself: row i of `j2len` (`lengths`) lives in `lengths[j]` stamped
    /// `rowStamp + i`; a row reads the previous row's `lengths[j-1]`. Rows are walked with j
    /// descending so one array holds both rows; within a row the best is the smallest j reaching
    /// the row's largest k, which is what difflib's ascending scan with `k > bestsize` keeps.
    /// Rows without seeds write nothing, so only `seedRows` are walked.
    @inline(__always)
    private static func rowProgramme(
        _ v: MatchView, _ alo: Int, _ ahi: Int, _ blo: Int, _ bhi: Int, seedRows: ArraySlice<Int32>,
        rowStamp base: Int, lengths: inout [Int32], stamps: inout [Int]
    ) -> (Int, Int, Int) {
        let aKey = v.aKey.span, start = v.start.span, positions = v.positions.span
        let rows = seedRows.span
        var len = lengths.mutableSpan, st = stamps.mutableSpan
        precondition(blo >= 0 && bhi <= len.count && bhi <= st.count)  // lets the checks below go
        var besti = alo, bestj = blo, bestsize = 0
        var lower = 0, upper = rows.count
        while lower < upper {
            let mid = (lower + upper) >> 1
            if Int(rows[mid]) < alo { lower = mid + 1 } else { upper = mid }
        }
        for q in lower..<rows.count {
            let i = Int(rows[q])
            if i >= ahi { break }
            let s = Int(aKey[i])
            let b2j = positions.extracting(Int(start[s]) ..< Int(start[s + 1]))
            let row = base + i
            var rowBest = 0, rowJ = 0
            var p = b2j.count - 1
            if b2j.count > 4 && Int(b2j[p]) >= bhi {
                // Skip the positions at or past bhi: p = the last one below bhi, or -1.
                var l = 0, u = b2j.count
                while l < u {
                    let mid = (l + u) >> 1
                    if Int(b2j[mid]) < bhi { l = mid + 1 } else { u = mid }
                }
                p = l - 1
            }
            while p >= 0 {
                let j = Int(b2j[p])
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
        return (besti, bestj, bestsize)
    }
}
