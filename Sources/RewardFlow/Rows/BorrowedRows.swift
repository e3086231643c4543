import Glibc

/// A column of `count` byte strings that lives in an embedder's memory, borrowed for one append.
///
/// Two layouts, both read where they lie: Arrow-style bytes plus `count + 1` offsets, or an
/// array of 16-byte views `(pointer, Int64 length)` into memory anywhere (Python `str` objects,
/// Arrow string views). The C API checks the layout before it builds one (offsets non-negative
/// and non-decreasing, lengths non-negative, no NULL pointer under a non-empty string); this
/// type trusts that and only ever reads `bytes(at:)` for `0 ..< count`.
package struct BorrowedStrings: @unchecked Sendable {
    /// Where the strings lie.
    package enum Layout {
        /// String `i` is `base[offsets[i] ..< offsets[i + 1]]`.
        case offsets(base: UnsafeRawPointer?, offsets: UnsafePointer<Int64>)
        /// String `i` is the view at `views + 16 i`: a pointer, then an `Int64` length.
        case views(UnsafeRawPointer)
    }

    /// The layout of this column.
    package let layout: Layout

    /// A column of `layout` (checked by the caller).
    package init(_ layout: Layout) { self.layout = layout }

    /// The total length of strings `0 ..< count`.
    package func byteCount(_ count: Int) -> Int {
        switch layout {
        case .offsets(_, let offsets):
            return Int(offsets[count] - offsets[0])
        case .views(let views):
            var total = 0
            for i in 0..<count { total &+= Int(views.load(fromByteOffset: 16 * i + 8, as: Int64.self)) }
            return total
        }
    }

    /// The bytes of string `i` (empty strings may have a nil base).
    @inline(__always)
    package func bytes(at i: Int) -> UnsafeRawBufferPointer {
        switch layout {
        case .offsets(let base, let offsets):
            let start = Int(offsets[i]), end = Int(offsets[i + 1])
            return UnsafeRawBufferPointer(start: start == end ? nil : base.map { $0 + start }, count: end - start)
        case .views(let views):
            let start = views.load(fromByteOffset: 16 * i, as: UnsafeRawPointer?.self)
            let length = Int(views.load(fromByteOffset: 16 * i + 8, as: Int64.self))
            return UnsafeRawBufferPointer(start: length == 0 ? nil : start, count: length)
        }
    }
}

/// `count` step rows (SPEC §1) as columns in an embedder's memory, borrowed for one append.
///
/// Every non-nil pointer holds `count` entries. States are text (`state`) or keys (`stateKey`),
/// exactly one of them; `action == nil` means every action is `""`, `active == nil` every row
/// active, `noop == nil` no noop.
package struct BorrowedRows: @unchecked Sendable {
    /// Number of rows.
    package var count: Int
    /// Group names.
    package var group: BorrowedStrings
    /// Trajectory names.
    package var trajectory: BorrowedStrings
    /// Step numbers.
    package var step: UnsafePointer<Int64>
    /// State texts (nil when states are keys).
    package var state: BorrowedStrings?
    /// State keys (nil when states are texts).
    package var stateKey: UnsafePointer<UInt64>?
    /// Action labels (nil: every action is "").
    package var action: BorrowedStrings?
    /// Environment rewards.
    package var reward: UnsafePointer<Double>
    /// Nonzero = active (nil: every row active).
    package var active: UnsafePointer<UInt8>?
    /// Nonzero = noop transition (nil: none).
    package var noop: UnsafePointer<UInt8>?

    /// Columns as given (the C API has checked them).
    package init(
        count: Int, group: BorrowedStrings, trajectory: BorrowedStrings, step: UnsafePointer<Int64>,
        state: BorrowedStrings?, stateKey: UnsafePointer<UInt64>?, action: BorrowedStrings?,
        reward: UnsafePointer<Double>, active: UnsafePointer<UInt8>?, noop: UnsafePointer<UInt8>?
    ) {
        self.count = count; self.group = group; self.trajectory = trajectory; self.step = step
        self.state = state; self.stateKey = stateKey; self.action = action; self.reward = reward
        self.active = active; self.noop = noop
    }
}

/// Storage `StepRows.append(borrowing:threads:workspace:)` keeps between appends: the string
/// tables of the parts that other threads intern into, cleared before each use. An embedder
/// that appends batches of about the same size (a trainer's every step) holds one per batch.
package final class AppendWorkspace: @unchecked Sendable {
    /// The kept tables; read and replaced only by the append that holds the batch exclusively.
    private var tables: [StepRows] = []

    /// An empty workspace.
    package init() {}

    /// Moves the kept tables out (the workspace is empty until `keepTables`).
    func takeTables() -> [StepRows?] {
        defer { tables = [] }
        return tables
    }

    /// Keeps `kept` for the next append.
    func keepTables(_ kept: [StepRows]) { tables = kept }

    /// Frees the kept tables.
    package func removeAll() { tables = [] }
}

extension StepRows {
    /// Appends the borrowed rows, copying only what the batch keeps: ids, numbers, and the bytes
    /// of each distinct string once.
    ///
    /// The numbers are checked first (a refused step or reward bounds the rows appended), then
    /// the strings are interned column by column straight into the batch's id columns. Large
    /// appends are split into one contiguous part per thread: part 0 interns into the batch's
    /// tables, the others into tables of their own, which are then merged in order (strings
    /// re-interned in first-appearance order) and their rows' ids remapped, so ids and errors
    /// equal a sequential append at any thread count. A string is checked to be UTF-8 when it
    /// first enters a table (equal bytes need no second check). The error thrown is the first in
    /// row order, and within a row in field order (group, trajectory, state, action, step,
    /// reward); the rows before it are appended.
    ///
    /// `threads`: at most this many parts (nil: `$REWARDFLOW_THREADS`, else the processor count);
    /// the result never depends on it. `workspace`: where the other parts' tables are kept
    /// between appends (cleared, their storage reused), so an embedder that appends a batch of
    /// about the same size every call touches no new memory for them; nil: tables made afresh.
    package mutating func append(
        borrowing rows: BorrowedRows, threads: Int? = nil, workspace: AppendWorkspace? = nil
    ) throws(RewardFlowError) {
        guard rows.count > 0 else { return }
        typealias Failure = (index: Int, error: RewardFlowError)
        try setIdentity(rows.state == nil ? .key : .text, at: .row(count))
        let base = count
        let numberError = Self.firstNumberError(rows, 0..<rows.count, firstRow: base)
        let end = numberError?.index ?? rows.count
        // Strings are checked up to and including the row of a number error: a bad string in
        // that row comes first in field order.
        let checked = min(rows.count, end + 1)
        let threads = checked < Parallel.serialWork * 2 ? 1 : Parallel.threads(threads)
        // Part 0 (a little smaller: it interns into the batch's large tables) goes into the
        // batch's tables, the others into tables of their own.
        var cuts = [0]
        for k in stride(from: 1, to: threads, by: 1) {
            cuts.append(max(cuts[k - 1], checked * (k * 100 - 12) / (threads * 100)))
        }
        cuts.append(checked)
        let stateBytes = threads > 1 ? rows.state.map { $0.byteCount(checked) / 4 } : nil
        if let stateBytes { reserveStateBytes(stateBytes) }
        reserveCapacity(base + checked)
        // Part k > 0 takes slot k - 1 (its own index, so the threads never share one).
        var spareTables: [StepRows?] = workspace?.takeTables() ?? []
        spareTables.append(contentsOf: repeatElement(nil, count: max(0, threads - 1 - spareTables.count)))

        // The id columns leave the batch while the parts write them in place (part 0 interns
        // into the batch's tables meanwhile), grown by the checked rows; rows past an error are
        // cut before they go back.
        var idColumns = takeIDColumns()
        for c in idColumns.indices { idColumns[c].append(contentsOf: repeatElement(0, count: checked)) }
        var (g, t, st, a) = (idColumns[0], idColumns[1], idColumns[2], idColumns[3])
        idColumns = []
        var parts = g.withUnsafeMutableBufferPointer { g in
            t.withUnsafeMutableBufferPointer { t in
                st.withUnsafeMutableBufferPointer { st in
                    a.withUnsafeMutableBufferPointer { a in
                        let ids = UncheckedSendable((g.baseAddress! + base, t.baseAddress! + base, st.baseAddress! + base, a.baseAddress! + base))
                        return withUnsafeMutablePointer(to: &self) { batch in
                            spareTables.withUnsafeMutableBufferPointer { spare in
                                let batch = UncheckedSendable(batch), spare = UncheckedSendable(spare)
                                return Parallel.map(threads: threads, parts: threads) { k -> (tables: StepRows?, failure: Failure?) in
                                    let range = cuts[k] ..< cuts[k + 1], lo = range.lowerBound, p = ids.value
                                    let out = (p.0 + lo, p.1 + lo, p.2 + lo, p.3 + lo)
                                    if k == 0 {
                                        return (nil, batch.value.pointee.internStrings(rows, range, firstRow: base + lo, into: out))
                                    }
                                    // Moved out of its slot, so clearing it keeps its storage
                                    // (no second reference forces a copy).
                                    var part = spare.value[k - 1].take() ?? StepRows()
                                    part.removeAll(keepingCapacity: true)
                                    part.fixIdentity(rows.state == nil ? .key : .text)
                                    if let stateBytes { part.reserveStateBytes(stateBytes) }
                                    let failure = part.internStrings(rows, range, firstRow: base + lo, into: out)
                                    return (part, failure)
                                }
                            }
                        }
                    }
                }
            }
        }
        idColumns = [g, t, st, a]
        (g, t, st, a) = ([], [], [], [])
        let stringError = parts.lazy.compactMap(\.failure).first
        let kept = min(end, stringError?.index ?? end)
        // Merge the parts that hold kept rows, in order, and remap their rows' ids.
        for k in stride(from: 1, to: threads, by: 1) where cuts[k] < kept {
            guard let tables = parts[k].tables else { continue }
            let maps = absorbTables(of: tables)
            let range = base + cuts[k] ..< base + min(cuts[k + 1], kept)
            for c in idColumns.indices {
                idColumns[c].withUnsafeMutableBufferPointer { ids in
                    maps[c].withUnsafeBufferPointer { map in
                        for r in range { ids[r] = map[Int(ids[r])] }
                    }
                }
            }
        }
        workspace?.keepTables(parts.compactMap(\.tables) + spareTables.compactMap { $0 })
        parts = []
        for c in idColumns.indices { idColumns[c].removeLast(checked - kept) }
        restoreIDColumns(idColumns)
        idColumns = []
        if kept > 0 {
            appendNumbers(
                step: UnsafeBufferPointer(start: rows.step, count: kept),
                reward: UnsafeBufferPointer(start: rows.reward, count: kept),
                active: rows.active.map { UnsafeBufferPointer(start: $0, count: kept) },
                noop: rows.noop.map { UnsafeBufferPointer(start: $0, count: kept) })
        }
        if let error = stringError?.error ?? numberError?.error { throw error }
    }

    /// The first row of `range` whose step or reward is refused (step first), with its error.
    private static func firstNumberError(
        _ rows: BorrowedRows, _ range: Range<Int>, firstRow: Int
    ) -> (index: Int, error: RewardFlowError)? {
        let maxStep = Int64(StepRows.maxStep)
        for i in range {
            let step = rows.step[i], reward = rows.reward[i]
            if step >= 0 && step <= maxStep && reward.isFinite { continue }
            let location = InputLocation.row(firstRow + i - range.lowerBound)
            if step < 0 {
                return (i, .invalidInput(location: location, field: "step", message: "must be a non-negative integer, got \(step)"))
            }
            if step > maxStep {
                return (i, .invalidInput(location: location, field: "step", message: StepRows.stepTooLarge("\(step)")))
            }
            return (i, .invalidInput(location: location, field: "reward", message: "not a finite number (NaN and infinities are refused)"))
        }
        return nil
    }

    /// Interns the strings of rows `range`, writing the ids of row `range.lowerBound + j` at
    /// `ids.group[j]`, `ids.trajectory[j]`, `ids.state[j]`, `ids.action[j]` (row
    /// `range.lowerBound` is batch row `firstRow`). Returns the first string error in row order,
    /// and within a row in field order, with its row; ids from that row on are unspecified.
    ///
    /// One pass per column, each over the rows before the error found so far (and that row too
    /// for a later field), so a table only takes strings of rows up to the failing one.
    private mutating func internStrings(
        _ rows: BorrowedRows, _ range: Range<Int>, firstRow: Int,
        into ids: (group: UnsafeMutablePointer<Int32>, trajectory: UnsafeMutablePointer<Int32>,
                   state: UnsafeMutablePointer<Int32>, action: UnsafeMutablePointer<Int32>)
    ) -> (index: Int, error: RewardFlowError)? {
        typealias Failure = (index: Int, error: RewardFlowError)
        let n = range.count, base = range.lowerBound
        var error: Failure?
        /// Rows a later field's pass checks: those before the failing row, and that row itself.
        func rest() -> Range<Int> { base ..< (error.map { $0.index + 1 } ?? range.upperBound) }
        /// Keeps the earlier failure in row order (on the same row, the earlier field's).
        func keep(_ failure: Failure?) { if let failure, failure.index < (error?.index ?? .max) { error = failure } }
        keep(Self.intern(rows.group, range, base: base, firstRow: firstRow, field: "group", runs: true, into: &groupNames, ids.group))
        keep(Self.intern(rows.trajectory, rest(), base: base, firstRow: firstRow, field: "trajectory", runs: true,
                         into: &trajectoryNames, ids.trajectory))
        if let text = rows.state {
            keep(Self.intern(text, rest(), base: base, firstRow: firstRow, field: "state", runs: false, into: &stateTexts, ids.state))
        } else if let keys = rows.stateKey {
            for i in rest() { ids.state[i - base] = stateKeys.intern(keys[i]) }
        } else {
            ids.state.update(repeating: 0, count: n)
        }
        if let action = rows.action {
            keep(Self.intern(action, rest(), base: base, firstRow: firstRow, field: "action", runs: false, into: &actionNames, ids.action))
        } else {
            ids.action.update(repeating: actionNames.intern(Span<UInt8>()), count: n)
        }
        return error
    }

    /// Interns strings `range` of `column` into `table`, writing the id of row `i` at
    /// `ids[i - base]`; with `runs`, a row whose bytes equal the previous row's reuses its id
    /// (ids of a group or a trajectory come in runs). A string new to the table must be UTF-8,
    /// else the first such row and its error are returned (row `base` is batch row `firstRow`).
    private static func intern(
        _ column: BorrowedStrings, _ range: Range<Int>, base: Int, firstRow: Int, field: String, runs: Bool,
        into table: inout InternTable, _ ids: UnsafeMutablePointer<Int32>
    ) -> (index: Int, error: RewardFlowError)? {
        @inline(__always)
        func pass(_ bytesAt: (Int) -> UnsafeRawBufferPointer) -> (index: Int, error: RewardFlowError)? {
            if !runs { return pipelinedPass(bytesAt) }
            var last: Int32 = -1
            var lastBytes = UnsafeRawBufferPointer(start: nil, count: 0)
            for i in range {
                let bytes = bytesAt(i)
                if last >= 0 && sameBytes(bytes, lastBytes) {
                    ids[i - base] = last
                    continue
                }
                let before = table.count
                let id = table.intern(Span<UInt8>(_unsafeBytes: bytes))
                if table.count > before && !UTF8Check.isValid(bytes) {
                    return (i, .invalidInput(location: .row(firstRow + i - base), field: field, message: "not valid UTF-8"))
                }
                ids[i - base] = id
                last = id
                lastBytes = bytes
            }
            return nil
        }
        /// The pass for columns without runs (states, actions): each row's hash is taken
        /// `ahead` rows early and its table slot prefetched, and the bytes of the row after
        /// that are prefetched too, so the cache misses of nearby rows overlap. Same ids and
        /// errors as interning row by row.
        @inline(__always)
        func pipelinedPass(_ bytesAt: (Int) -> UnsafeRawBufferPointer) -> (index: Int, error: RewardFlowError)? {
            let ahead = 8, end = range.upperBound
            var hashes = SIMD8<UInt64>()  // row r's hash at r % ahead, for the next `ahead` rows
            func hashAhead(_ r: Int) {
                let h = InternTable.hash(Span<UInt8>(_unsafeBytes: bytesAt(r)))
                hashes[r & (ahead - 1)] = h
                table.prefetch(hash: h)
            }
            for r in range.lowerBound ..< min(end, range.lowerBound + ahead) { hashAhead(r) }
            for i in range {
                let bytes = bytesAt(i), h = hashes[i & (ahead - 1)]
                if i + ahead < end { hashAhead(i + ahead) }
                if i + 2 * ahead < end { CacheHint.prefetch(bytesAt(i + 2 * ahead)) }
                let before = table.count
                let id = table.intern(Span<UInt8>(_unsafeBytes: bytes), hash: h)
                if table.count > before && !UTF8Check.isValid(bytes) {
                    return (i, .invalidInput(location: .row(firstRow + i - base), field: field, message: "not valid UTF-8"))
                }
                ids[i - base] = id
            }
            return nil
        }
        switch column.layout {
        case .offsets(let start, let offsets):
            return pass { i in
                let lo = Int(offsets[i]), hi = Int(offsets[i + 1])
                return UnsafeRawBufferPointer(start: lo == hi ? nil : start.map { $0 + lo }, count: hi - lo)
            }
        case .views(let views):
            return pass { i in
                let start = views.load(fromByteOffset: 16 * i, as: UnsafeRawPointer?.self)
                let length = Int(views.load(fromByteOffset: 16 * i + 8, as: Int64.self))
                return UnsafeRawBufferPointer(start: length == 0 ? nil : start, count: length)
            }
        }
    }

    /// Equal bytes: the same view, or equal lengths and contents (short ids compare in a few
    /// instructions).
    @inline(__always)
    private static func sameBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        if a.baseAddress == b.baseAddress || a.count == 0 { return true }
        return memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
    }

}

/// UTF-8 validity of a byte string (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
enum UTF8Check {
    /// Whether `bytes` is well-formed UTF-8: ASCII 64 and then eight bytes at a time, the
    /// standard library's validating decoder from the first non-ASCII byte on.
    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let n = bytes.count
        var i = 0
        if let base = bytes.baseAddress {
            let high = SIMD8<UInt64>(repeating: 0x8080_8080_8080_8080)
            while i + 64 <= n && base.loadUnaligned(fromByteOffset: i, as: SIMD8<UInt64>.self) & high == .zero { i += 64 }
        }
        while i + 8 <= n {
            if bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { break }
            i += 8
        }
        while i < n && bytes[i] < 0x80 { i += 1 }
        guard i < n else { return true }
        return String(validating: UnsafeRawBufferPointer(rebasing: bytes[i...]).assumingMemoryBound(to: UInt8.self), as: UTF8.self) != nil
    }
}

// MARK: - Bytes and numbers read where they lie

extension StepRows {
    /// Appends the number columns of rows whose id columns are already appended, steps and
    /// rewards checked (steps in `0...maxStep`, rewards finite); `nil` flags: all active, no noop.
    mutating func appendNumbers(
        step s: UnsafeBufferPointer<Int64>, reward r: UnsafeBufferPointer<Double>,
        active act: UnsafeBufferPointer<UInt8>?, noop n: UnsafeBufferPointer<UInt8>?
    ) {
        step.append(contentsOf: s.lazy.map { Int32(truncatingIfNeeded: $0) })
        reward.append(contentsOf: r)
        if let act { active.append(contentsOf: act.lazy.map { $0 != 0 }) } else { active.append(contentsOf: repeatElement(true, count: r.count)) }
        if let n { noop.append(contentsOf: n.lazy.map { $0 != 0 }) } else { noop.append(contentsOf: repeatElement(false, count: r.count)) }
    }
}
