/// Greedy first-match clustering of texts (SPEC §2.1 and the step-group similarity of §5):
/// each new text joins the first cluster, in order of creation, whose representative `r` has
/// `ratio(text, r) >= T`, else it founds a new cluster and is its representative.
///
/// `ratio >= T` is decided exactly as `M >= M_T`, `M_T` the smallest match count whose
/// `2·M/(la + lb)` (the same double expression as difflib's) reaches `T`; a representative is
/// skipped when an upper bound of `M` is below `M_T`: `min(la, lb)` (`real_quick_ratio`, as a
/// window of feasible lengths per text), then the multiset intersection over a folded alphabet
/// (ASCII exact, other scalars in 16 classes: at least `quick_ratio`'s intersection; 16-bit
/// counts, so only between texts of at most `Int16.max` scalars); the
/// matching itself stops once the answer is known. Texts are numbered over the group's
/// alphabet (ASCII as itself, other scalars from 128 on), so a representative's `b2j` index
/// is built over those numbers, once, the first time a full matching needs it.
///
/// Safe Swift: arrays are read and written through bounds-checked `Span`s and `MutableSpan`s.
struct GreedyClusterer {
    /// The threshold `T` in (0, 1].
    let threshold: Double
    /// Histogram buckets: 128 ASCII scalars, then 16 classes of the others; one text's counts
    /// while it loads, then stored in vectors of 8.
    typealias BucketCounts = InlineArray<144, Int16>
    static let buckets = BucketCounts.count
    static let vectorsPerHistogram = buckets / 8
    typealias Counts = SIMD8<Int16>

    /// The group's non-ASCII scalars and their symbols (128 on).
    private var symbolOf: [UInt32: Int32] = [:]
    /// The text being assigned: symbols and bucket counts.
    private var current: [Int32] = []
    private var currentHistogram = [Counts](repeating: Counts(), count: GreedyClusterer.vectorsPerHistogram)
    /// Representatives in order of creation: symbols `repSymbols[repStart[c]..<repStart[c+1]]`,
    /// bucket counts `histograms[c·V ..< (c+1)·V]` (`V = vectorsPerHistogram`; bucket `k` is
    /// lane `k % 8` of vector `k / 8`).
    private var repStart: [Int] = [0]
    private var repSymbols: [Int32] = []
    private var lengths: [Int32] = []
    private var histograms: [Counts] = []
    /// Per representative: its `b2j` index in `indexData[0..<indexUsed]`, or nil until needed.
    private var index: [IndexSpan?] = []
    private var indexData: [Int32] = []
    private var indexUsed = 0
    private var counts: [Int32] = []
    /// `neededMatches(L, threshold)` by `L` (filled on demand, up to `neededCap`).
    private var needed: [Int32] = []
    /// The longest representative.
    private var maxLength = 0
    private var matcher = MatchCore()

    /// Where a representative's index lies in `indexData`: seeds (its length), then
    /// `keys + 1` starts, then positions.
    private struct IndexSpan {
        var seeds: Int
        var keys: Int
        var start: Int
        var positions: Int
        var end: Int
    }

    init(threshold: Double) {
        self.threshold = threshold
    }

    /// The number of clusters.
    var count: Int { lengths.count }

    /// Forgets every cluster (keeps the scratch).
    mutating func removeAll() {
        symbolOf.removeAll(keepingCapacity: true)
        repStart.removeAll(keepingCapacity: true)
        repStart.append(0)
        repSymbols.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        histograms.removeAll(keepingCapacity: true)
        index.removeAll(keepingCapacity: true)
        indexUsed = 0
        maxLength = 0
    }

    /// The smallest `M` with `2.0*M/length >= T`, or `length + 1` when there is none.
    static func neededMatches(_ length: Int, _ threshold: Double) -> Int {
        if length == 0 { return 0 }
        var m = min(length + 1, max(0, Int((threshold * Double(length) / 2).rounded(.up))))
        while m > 0 && SequenceMatcher.calculateRatio(m - 1, length) >= threshold { m -= 1 }
        while m <= length && SequenceMatcher.calculateRatio(m, length) < threshold { m += 1 }
        return m
    }

    /// The lengths `lb` a text of length `la` can match (`2·min(la, lb)/(la + lb) >= T`, the
    /// double as computed): an interval around `la`, since the bound rises to 1 at `lb = la`
    /// and the rounded quotient is monotone on each side.
    static func lengthWindow(_ la: Int, _ t: Double) -> ClosedRange<Int> {
        func fits(_ lb: Int) -> Bool { SequenceMatcher.calculateRatio(min(la, lb), la + lb) >= t }
        let cap = Int(Int32.max)
        var hi = Int(min(Double(cap), max(Double(la), (Double(la) * (2 - t) / t).rounded(.down))))
        while hi > la && !fits(hi) { hi -= 1 }
        while hi < cap && fits(hi + 1) { hi += 1 }
        var lo = max(0, min(la, Int((Double(la) * t / (2 - t)).rounded(.up))))
        while lo < la && !fits(lo) { lo += 1 }
        while lo > 0 && fits(lo - 1) { lo -= 1 }
        return lo...hi
    }

    /// `|a ∩ b|` of two bucket histograms (an upper bound of the scalar multisets'
    /// intersection); both texts at most `Int16.max` long, so no sum overflows.
    @inline(__always)
    static func intersection(_ x: Span<Counts>, _ y: Span<Counts>) -> Int {
        var sum = Counts()
        for k in 0..<vectorsPerHistogram {
            let a = x[k], b = y[k]
            sum &+= a.replacing(with: b, where: b .< a)
        }
        return Int(sum.wrappedSum())
    }

    /// Numbers the scalars of UTF-8 `bytes` over the group's `alphabet` (non-ASCII scalars met
    /// first are added) into `symbols[0..<length]` (grown as needed) and counts them into
    /// `histogram`; returns `length`.
    private static func load(
        _ bytes: Span<UInt8>, alphabet: inout [UInt32: Int32], symbols: inout [Int32], histogram: inout [Counts]
    ) -> Int {
        let n = bytes.count
        if symbols.count < n { symbols = [Int32](repeating: 0, count: max(n, 2 * symbols.count)) }
        var out = symbols.mutableSpan
        var h = BucketCounts(repeating: 0)
        defer {
            var vectors = histogram.mutableSpan
            for v in vectors.indices {
                var x = Counts()
                for lane in 0..<8 { x[lane] = h[8 &* v &+ lane] }
                vectors[v] = x
            }
        }
        var length = 0
        var i = 0
        while i < n {
            if i &+ 8 <= n && length <= out.count &- 8 {  // (always: length <= i, n <= out.count)
                // Eight ASCII bytes at once.
                let eight = bytes.extracting(i ..< i &+ 8)
                var any: UInt8 = 0
                for k in 0..<8 { any |= eight[k] }
                if any < 0x80 {
                    for k in 0..<8 {
                        let b = Int(eight[k] & 0x7F)
                        out[length &+ k] = Int32(truncatingIfNeeded: b)
                        h[b] &+= 1
                    }
                    length += 8
                    i += 8
                    continue
                }
            }
            let b0 = UInt32(bytes[i])
            if b0 < 0x80 {
                out[length] = Int32(b0)
                h[Int(b0 & 0x7F)] &+= 1
                length += 1
                i += 1
                continue
            }
            let c: UInt32
            if b0 < 0xE0, i + 1 < n {
                c = (b0 & 0x1F) << 6 | UInt32(bytes[i + 1]) & 0x3F; i += 2
            } else if b0 < 0xF0, i + 2 < n {
                c = (b0 & 0x0F) << 12 | (UInt32(bytes[i + 1]) & 0x3F) << 6 | UInt32(bytes[i + 2]) & 0x3F; i += 3
            } else if i + 3 < n {
                c = (b0 & 0x07) << 18 | (UInt32(bytes[i + 1]) & 0x3F) << 12
                    | (UInt32(bytes[i + 2]) & 0x3F) << 6 | UInt32(bytes[i + 3]) & 0x3F
                i += 4
            } else {
                c = 0xFFFD; i += 1  // a truncated sequence (never in validated input)
            }
            let s: Int32
            let bucket: Int
            if c < 128 {
                s = Int32(c)  // an over-long encoding (never in validated input)
                bucket = Int(c & 0x7F)
            } else {
                if let known = alphabet[c] {
                    s = known
                } else {
                    s = Int32(truncatingIfNeeded: 128 + alphabet.count)
                    alphabet[c] = s
                }
                bucket = 128 | Int(s & 15)
            }
            h[bucket] &+= 1
            out[length] = s
            length += 1
        }
        return length
    }

    /// `needed[L]` for every `L` up to `min(limit, neededCap)`.
    private mutating func prepareNeeded(upTo limit: Int) {
        let top = min(limit, Self.neededCap)
        while needed.count <= top { needed.append(Int32(Self.neededMatches(needed.count, threshold))) }
    }

    /// Tables of `neededMatches` stop at this total length (longer pairs compute it).
    static let neededCap = 1 << 16

    /// The first representative from `c` on that passes the length and multiset bounds, with
    /// its `M_T`, or nil.
    private func candidate(from c: Int, length la: Int, window: ClosedRange<Int>) -> (Int, Int)? {
        let len = lengths.span, hist = histograms.span, h = currentHistogram.span, table = needed.span
        let lo = window.lowerBound, hi = window.upperBound
        let v = Self.vectorsPerHistogram
        var c = c
        while c < len.count {
            let lb = Int(len[c])
            if lb >= lo && lb <= hi {
                let total = la + lb
                let m = total < table.count ? Int(table[total]) : Self.neededMatches(total, threshold)
                if m == 0 || la > Int(Int16.max) || lb > Int(Int16.max)
                    || Self.intersection(h, hist.extracting(c * v ..< (c + 1) * v)) >= m {
                    return (c, m)
                }
            }
            c += 1
        }
        return nil
    }

    /// The cluster of the UTF-8 text `bytes` (an index in order of creation); a new one when
    /// none matches.
    mutating func assign(utf8 bytes: ArraySlice<UInt8>) -> Int {
        let la = Self.load(bytes.span, alphabet: &symbolOf, symbols: &current, histogram: &currentHistogram)
        let window = Self.lengthWindow(la, threshold)
        prepareNeeded(upTo: la + min(window.upperBound, maxLength))
        var from = 0
        while let (c, m) = candidate(from: from, length: la, window: window) {
            if m == 0 || matches(c, length: la, atLeast: m) >= m { return c }
            from = c + 1
        }
        repSymbols.append(contentsOf: current[0..<la])
        repStart.append(repSymbols.count)
        lengths.append(Int32(truncatingIfNeeded: la))
        maxLength = max(maxLength, la)
        histograms.append(contentsOf: currentHistogram)
        index.append(nil)
        return lengths.count - 1
    }

    /// `M` of (`current`, representative `c`), stopped once `M >= needed` is decided.
    private mutating func matches(_ c: Int, length la: Int, atLeast needed: Int) -> Int {
        let span = index[c] ?? buildIndex(c)
        let b = repStart[c]..<repStart[c + 1]
        let view = MatchView(
            aKey: current[0..<la],
            bKey: repSymbols[b],
            bSeed: indexData[span.seeds..<span.seeds + b.count],
            start: indexData[span.start...(span.start + span.keys)],
            positions: indexData[span.positions..<span.end])
        return matcher.matches(view, atLeast: needed)
    }

    /// Builds representative `c`'s `b2j` index over the symbols known now (later symbols are
    /// absent from it, which they are).
    private mutating func buildIndex(_ c: Int) -> IndexSpan {
        let b = repStart[c]..<repStart[c + 1]
        let keys = 128 + symbolOf.count
        if counts.count < keys { counts = [Int32](repeating: 0, count: max(keys, 2 * counts.count)) }
        let seeds = indexUsed
        let start = seeds + b.count
        let positions = start + keys + 1
        // Room for every position; trimmed to the non-popular ones below.
        let room = positions + b.count
        if indexData.count < room {
            indexData.append(contentsOf: repeatElement(0, count: max(room, 2 * indexData.count) - indexData.count))
        }
        let end = Self.writeIndex(of: repSymbols[b], keys: keys, seeds: seeds, start: start, positions: positions,
                                  counts: &counts, into: &indexData)
        indexUsed = end
        let span = IndexSpan(seeds: seeds, keys: keys, start: start, positions: positions, end: end)
        index[c] = span
        return span
    }

    /// Writes the `b2j` index of `symbolSlice` (keys in `0..<keys`) into `data`: the seeds at
    /// `seeds`, the `keys + 1` starts at `start`, the non-popular positions from `positions` on;
    /// returns the end of the positions. `counts` is scratch of at least `keys` entries.
    private static func writeIndex(
        of symbolSlice: ArraySlice<Int32>, keys: Int, seeds: Int, start: Int, positions: Int,
        counts: inout [Int32], into data: inout [Int32]
    ) -> Int {
        let symbols = symbolSlice.span
        let limit = MatchView.popularLimit(symbols.count)
        var n = counts.mutableSpan
        var out = data.mutableSpan
        for k in 0..<keys { n[k] = 0 }
        for j in symbols.indices { n[Int(symbols[j])] &+= 1 }
        var total: Int32 = 0
        for k in 0..<keys {
            out[start &+ k] = total
            let m = n[k]
            // From now on: key k's next position slot, or -1 when it is popular.
            n[k] = m <= limit ? total : -1
            if m <= limit { total &+= m }
        }
        out[start &+ keys] = total
        for j in symbols.indices {
            let s = symbols[j]
            let q = n[Int(s)]
            if q < 0 {
                out[seeds &+ j] = MatchView.popular
            } else {
                out[seeds &+ j] = s
                out[positions &+ Int(q)] = Int32(truncatingIfNeeded: j)
                n[Int(s)] = q &+ 1
            }
        }
        return positions + Int(total)
    }
}
