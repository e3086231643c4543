/// Greedy first-match clustering of texts (SPEC §2.1 and the step-group similarity of §5):
/// each new text joins the first cluster, in order of creation, whose representative `r` has
/// `ratio(text, r) >= T`, else it founds a new cluster and is its representative.
///
/// `ratio >= T` is decided exactly as `M >= M_T`, `M_T` the smallest match count whose
/// `2·M/(la + lb)` (the same double expression as difflib's) reaches `T`; the pair is skipped
/// when an upper bound of `M` is below `M_T`: `min(la, lb)` (`real_quick_ratio`), then the
/// multiset intersection (`quick_ratio`); the full matching stops once the answer is known.
struct GreedyClusterer {
    /// The threshold `T` in (0, 1].
    let threshold: Double
    /// Representatives in order of creation.
    private(set) var representatives: [SimilarityText] = []
    /// Their lengths (a flat array, scanned before touching a representative).
    private var lengths: [Int32] = []
    /// Their scalar counts over the group's alphabet (`quick_ratio`'s multisets, dense).
    private var histograms: [[UInt32]] = []
    /// The group's alphabet: ASCII scalars are symbols 0..<128, others numbered from 128.
    private var symbolOf: [UInt32: Int] = [:]
    private var matcher = SequenceMatcher()

    init(threshold: Double) {
        self.threshold = threshold
    }

    /// Forgets every cluster (keeps the scratch).
    mutating func removeAll() {
        representatives.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        histograms.removeAll(keepingCapacity: true)
        symbolOf.removeAll(keepingCapacity: true)
    }

    /// The scalar counts of `text` over the group's alphabet (new scalars join the alphabet).
    mutating func histogram(_ text: SimilarityText) -> [UInt32] {
        var h = [UInt32](repeating: 0, count: 128 + symbolOf.count)
        for c in text.scalars {
            if c < 128 {
                h[Int(c)] += 1
            } else if let s = symbolOf[c] {
                h[s] += 1
            } else {
                let s = 128 + symbolOf.count
                symbolOf[c] = s
                h.append(1)
                assert(h.count == s + 1)
            }
        }
        return h
    }

    /// `|a ∩ b|` of two multisets over one alphabet (symbols beyond the shorter one count 0).
    static func intersection(_ a: [UInt32], _ b: [UInt32]) -> Int {
        a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in
                var sum: UInt32 = 0
                for i in 0..<min(x.count, y.count) { sum &+= min(x[i], y[i]) }
                return Int(sum)
            }
        }
    }

    /// The smallest `M` with `2.0*M/length >= T`, or `length + 1` when there is none.
    static func neededMatches(_ length: Int, _ threshold: Double) -> Int {
        if length == 0 { return 0 }
        var m = min(length + 1, max(0, Int((threshold * Double(length) / 2).rounded(.up))))
        while m > 0 && SequenceMatcher.calculateRatio(m - 1, length) >= threshold { m -= 1 }
        while m <= length && SequenceMatcher.calculateRatio(m, length) < threshold { m += 1 }
        return m
    }

    /// The cluster `text` joins (an index in order of creation); a new one when none matches.
    /// `text` needs no `b2j` index: one is built when it becomes a representative.
    mutating func assign(_ text: SimilarityText) -> Int {
        let la = text.count
        let h = histogram(text)
        for c in 0..<representatives.count {
            // Bounds in increasing cost: the length bound (`real_quick_ratio`: M <= min(la, lb)),
            // the multiset bound (`quick_ratio`), then the matching itself, stopped once decided.
            let lb = Int(lengths[c])
            let needed = Self.neededMatches(la + lb, threshold)
            if needed > min(la, lb) { continue }
            if needed > 0 {
                if Self.intersection(h, histograms[c]) < needed { continue }
                if matcher.matches(text, representatives[c], atLeast: needed) < needed { continue }
            }
            return c
        }
        representatives.append(text.isIndexed ? text : SimilarityText(scalars: text.scalars, indexed: true))
        lengths.append(Int32(la))
        histograms.append(h)
        return representatives.count - 1
    }
}

/// The state ids the graph and the step groups see under similarity (SPEC §2.1, §5): per row,
/// the state id of its cluster's representative. Groups are clustered independently, in
/// parallel; byte-equal texts (one state id) are clustered once per group and share a cluster.
enum SimilarStates {
    /// Per row, the representative state of its graph cluster (threshold `T`): occurrences
    /// walked in trajectory order then position over the SPEC §2 sequences; rows after a cut
    /// take the cluster of a byte-equal text in a sequence, else keep their own state (no node).
    /// Groups run in parallel on up to `threads` threads (the result never depends on it).
    static func graphStates(_ rows: StepRows, index: TrajectoryIndex, threshold: Double, threads: Int) -> [Int32] {
        var out = rows.state
        out.withUnsafeMutableBufferPointer { buffer in
            let result = SendableBuffer(buffer)
            Parallel.forEachChunk(threads: threads, count: index.groupCount, work: rows.count * 64) { groups in
                let memo = StampedMap(count: rows.stateCount)
                var clusterer = GreedyClusterer(threshold: threshold)
                var repState: [Int32] = []
                for g in groups {
                    memo.clear()
                    clusterer.removeAll()
                    repState.removeAll(keepingCapacity: true)
                    let trajectories = index.groupTrajectoryStart[g]..<index.groupTrajectoryStart[g + 1]
                    for t in trajectories {
                        let first = index.trajectoryRowStart[t]
                        for j in 0..<GraphBuilder.sequenceLength(index, t) {
                            let r = Int(index.orderedRows[first + j])
                            let s = rows.state[r]
                            var rep = memo.value(Int(s))
                            if rep < 0 {
                                let c = clusterer.assign(text(rows, s))
                                if c == repState.count { repState.append(s) }
                                rep = repState[c]
                                memo.set(Int(s), rep)
                            }
                            result[r] = rep
                        }
                    }
                    for t in trajectories {
                        let first = index.trajectoryRowStart[t]
                        let length = index.trajectoryRowStart[t + 1] - first
                        for j in GraphBuilder.sequenceLength(index, t)..<length {
                            let r = Int(index.orderedRows[first + j])
                            let rep = memo.value(Int(rows.state[r]))
                            if rep >= 0 { result[r] = rep }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Per active row, the representative state of its step group (threshold `T_s`): the active
    /// rows of each group in input order, greedy first match. Inactive rows keep their state.
    /// Groups run in parallel on up to `threads` threads (the result never depends on it).
    static func stepGroupStates(_ rows: StepRows, index: TrajectoryIndex, threshold: Double, threads: Int) -> [Int32] {
        var out = rows.state
        out.withUnsafeMutableBufferPointer { buffer in
            let result = SendableBuffer(buffer)
            Parallel.forEachChunk(threads: threads, count: index.groupCount, work: rows.count * 64) { groups in
                let memo = StampedMap(count: rows.stateCount)
                var clusterer = GreedyClusterer(threshold: threshold)
                var repState: [Int32] = []
                var active: [Int32] = []
                for g in groups {
                    memo.clear()
                    clusterer.removeAll()
                    repState.removeAll(keepingCapacity: true)
                    active.removeAll(keepingCapacity: true)
                    for t in index.groupTrajectoryStart[g]..<index.groupTrajectoryStart[g + 1] {
                        let first = index.trajectoryRowStart[t]
                        for j in 0..<Int(index.activePrefix[t]) { active.append(index.orderedRows[first + j]) }
                    }
                    active.sort()  // input order
                    for r in active {
                        let s = rows.state[Int(r)]
                        var rep = memo.value(Int(s))
                        if rep < 0 {
                            let c = clusterer.assign(text(rows, s))
                            if c == repState.count { repState.append(s) }
                            rep = repState[c]
                            memo.set(Int(s), rep)
                        }
                        result[Int(r)] = rep
                    }
                }
            }
        }
        return out
    }

    /// The scalars of state `s` (indexed only if it becomes a representative).
    static func text(_ rows: StepRows, _ s: Int32) -> SimilarityText {
        rows.stateTexts.bytes(of: s).withUnsafeBytes { SimilarityText(scalars: SimilarityText.decode($0), indexed: false) }
    }
}
