import Glibc

/// A column of `count` byte strings that lives in an embedder's memory, borrowed for one append.
///
/// Two layouts, both read where they lie: Arrow-style bytes plus `count + 1` offsets, or an
/// array of 16-byte views `(pointer, Int64 length)` into memory anywhere (Python `str` objects,
/// Arrow string views). The C API checks the layout before it builds one (offsets non-negative
/// and non-decreasing, lengths non-negative, no NULL pointer under a non-empty string); this
/// type trusts that and only ever reads `bytes(at:)` for `0 ..< count`.
package struct BorrowedStrings: @unchecked Sendable {
    package enum Layout {
        /// String `i` is `base[offsets[i] ..< offsets[i + 1]]`.
        case offsets(base: UnsafeRawPointer?, offsets: UnsafePointer<Int64>)
        /// String `i` is the view at `views + 16 i`: a pointer, then an `Int64` length.
        case views(UnsafeRawPointer)
    }

    package let layout: Layout

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
    package var count: Int
    package var group: BorrowedStrings
    package var trajectory: BorrowedStrings
    package var step: UnsafePointer<Int64>
    package var state: BorrowedStrings?
    package var stateKey: UnsafePointer<UInt64>?
    package var action: BorrowedStrings?
    package var reward: UnsafePointer<Double>
    package var active: UnsafePointer<UInt8>?
    package var noop: UnsafePointer<UInt8>?

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

extension StepRows {
    /// Appends the borrowed rows, copying only what the batch keeps: ids, numbers, and the bytes
    /// of each distinct string once.
    ///
    /// Large appends are split into one contiguous part per thread, each interned into tables of
    /// its own and then merged in order (strings re-interned in first-appearance order), so ids
    /// and errors equal a sequential append at any thread count. A string is checked to be UTF-8
    /// when it first enters a table (equal bytes need no second check). The first bad row in
    /// row order is thrown; after an error the batch holds an unspecified prefix of the rows.
    package mutating func append(borrowing rows: BorrowedRows) throws(RewardFlowError) {
        guard rows.count > 0 else { return }
        try setIdentity(rows.state == nil ? .key : .text, at: .row(count))
        let threads = Parallel.threadCount
        if threads <= 1 || rows.count < Parallel.serialWork * 2 {
            reserveCapacity(count + rows.count)
            try appendRows(rows, 0..<rows.count, firstRow: count)
            return
        }
        // Part 0 (a little smaller: it interns into the batch's large tables) goes straight into
        // the batch; the others into tables of their own, then merged in order.
        let base = count
        reserveCapacity(count + rows.count)
        if let state = rows.state { reserveStateBytes(state.byteCount(rows.count) / 4) }
        var cuts = [0]
        for k in 1..<threads { cuts.append(max(cuts[k - 1], rows.count * (k * 100 - 12) / (threads * 100))) }
        cuts.append(rows.count)
        var parts = [StepRows](repeating: StepRows(), count: threads)
        var errors = [RewardFlowError?](repeating: nil, count: threads)
        withUnsafeMutablePointer(to: &self) { first in
            parts.withUnsafeMutableBufferPointer { partBuffer in
                errors.withUnsafeMutableBufferPointer { errorBuffer in
                    let (first, partOut, errorOut) = (UncheckedSendable(first), SendableBuffer(partBuffer), SendableBuffer(errorBuffer))
                    Parallel.forEachChunk(count: threads) { chunk in
                        for k in chunk {
                            let range = cuts[k] ..< cuts[k + 1]
                            do throws(RewardFlowError) {
                                if k == 0 {
                                    try first.value.pointee.appendRows(rows, range, firstRow: base)
                                } else {
                                    var part = StepRows()
                                    part.fixIdentity(rows.state == nil ? .key : .text)
                                    part.reserveCapacity(range.count)
                                    try part.appendRows(rows, range, firstRow: base + range.lowerBound)
                                    partOut[k] = part
                                }
                            } catch {
                                errorOut[k] = error
                            }
                        }
                    }
                }
            }
        }
        if let error = errors.first(where: { $0 != nil }) ?? nil { throw error }
        for k in 1..<threads {
            try append(contentsOf: parts[k], lineOffset: 0)
            parts[k] = StepRows()
        }
    }

    /// Appends rows `range` of `rows` (batch row numbers start at `firstRow`, for messages).
    ///
    /// Column by column: the numbers are checked first (a refused step or reward bounds the rows
    /// appended), then the strings are interned in row order into id columns, then every
    /// column is appended in bulk. The error thrown is the first in row order, and within a row
    /// in field order (group, trajectory, state, action, step, reward), as a row-by-row append
    /// would throw it; the rows before it are appended.
    private mutating func appendRows(_ rows: BorrowedRows, _ range: Range<Int>, firstRow: Int) throws(RewardFlowError) {
        let numberError = Self.firstNumberError(rows, range, firstRow: firstRow)
        let end = numberError?.index ?? range.upperBound
        // Strings are checked up to and including the row of a number error: a bad string in
        // that row comes first in field order.
        let checked = range.lowerBound ..< min(range.upperBound, end + 1)
        let stride = checked.count
        var stringError: (index: Int, error: RewardFlowError)?
        let ids = [Int32](unsafeUninitializedCapacity: 4 * stride) { ids, initialized in
            stringError = internStrings(rows, checked, firstRow: firstRow, into: ids.baseAddress!)
            initialized = 4 * stride  // rows past an error are never read
        }
        let kept = range.lowerBound ..< min(end, stringError?.index ?? end)
        let m = kept.count
        if m > 0 {
            let lo = kept.lowerBound, stride = checked.count
            ids.withUnsafeBufferPointer { ids in
                let column = { (k: Int) in UnsafeBufferPointer(rebasing: ids[k * stride ..< k * stride + m]) }
                appendChecked(
                    group: column(0), trajectory: column(1), state: column(2), action: column(3),
                    step: UnsafeBufferPointer(start: rows.step + lo, count: m),
                    reward: UnsafeBufferPointer(start: rows.reward + lo, count: m),
                    active: rows.active.map { UnsafeBufferPointer(start: $0 + lo, count: m) },
                    noop: rows.noop.map { UnsafeBufferPointer(start: $0 + lo, count: m) })
            }
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
    /// `ids[j]` (group), `ids[n + j]` (trajectory), `ids[2n + j]` (state), `ids[3n + j]`
    /// (action), `n = range.count`. Returns the first string error in row order, and within a
    /// row in field order, with its row; ids of the rows from that row on are unspecified.
    ///
    /// One pass per column, each over the rows before the error found so far (and that row too
    /// for a later field), so a table only takes strings of rows up to the failing one.
    private mutating func internStrings(
        _ rows: BorrowedRows, _ range: Range<Int>, firstRow: Int, into ids: UnsafeMutablePointer<Int32>
    ) -> (index: Int, error: RewardFlowError)? {
        typealias Failure = (index: Int, error: RewardFlowError)
        let n = range.count, base = range.lowerBound
        var error: Failure?
        /// Rows a later field's pass checks: those before the failing row, and that row itself.
        func rest() -> Range<Int> { base ..< (error.map { $0.index + 1 } ?? range.upperBound) }
        /// Keeps the earlier failure in row order (on the same row, the earlier field's).
        func keep(_ failure: Failure?) { if let failure, failure.index < (error?.index ?? .max) { error = failure } }
        keep(Self.intern(rows.group, range, base: base, firstRow: firstRow, field: "group", runs: true, into: &groupNames, ids))
        keep(Self.intern(rows.trajectory, rest(), base: base, firstRow: firstRow, field: "trajectory", runs: true,
                         into: &trajectoryNames, ids + n))
        if let text = rows.state {
            keep(Self.intern(text, rest(), base: base, firstRow: firstRow, field: "state", runs: false, into: &stateTexts, ids + 2 * n))
        } else if let keys = rows.stateKey {
            for i in rest() { ids[2 * n + i - base] = stateKeys.intern(keys[i]) }
        } else {
            (ids + 2 * n).initialize(repeating: 0, count: n)
        }
        if let action = rows.action {
            keep(Self.intern(action, rest(), base: base, firstRow: firstRow, field: "action", runs: false, into: &actionNames, ids + 3 * n))
        } else {
            (ids + 3 * n).initialize(repeating: actionNames.intern(UnsafeRawBufferPointer(start: nil, count: 0)), count: n)
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
            var last: Int32 = -1
            var lastBytes = UnsafeRawBufferPointer(start: nil, count: 0)
            for i in range {
                let bytes = bytesAt(i)
                if runs && last >= 0 && sameBytes(bytes, lastBytes) {
                    ids[i - base] = last
                    continue
                }
                let before = table.count
                let id = table.intern(bytes)
                if table.count > before && !UTF8Check.isValid(bytes) {
                    return (i, .invalidInput(location: .row(firstRow + i - base), field: field, message: "not valid UTF-8"))
                }
                ids[i - base] = id
                last = id
                lastBytes = bytes
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
