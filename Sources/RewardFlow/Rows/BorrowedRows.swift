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
    private mutating func appendRows(_ rows: BorrowedRows, _ range: Range<Int>, firstRow: Int) throws(RewardFlowError) {
        var lastGroup: Int32 = -1, lastTrajectory: Int32 = -1
        var lastGroupBytes = UnsafeRawBufferPointer(start: nil, count: 0)
        var lastTrajectoryBytes = lastGroupBytes
        let emptyAction = rows.action == nil ? internAction(UnsafeRawBufferPointer(start: nil, count: 0)) : 0
        for i in range {
            let row = firstRow + i - range.lowerBound
            let groupBytes = rows.group.bytes(at: i)
            if lastGroup < 0 || !Self.sameView(groupBytes, lastGroupBytes) {
                lastGroup = try internChecked(groupBytes, hint: lastGroup, .group, row)
                lastGroupBytes = groupBytes
            }
            let trajectoryBytes = rows.trajectory.bytes(at: i)
            if lastTrajectory < 0 || !Self.sameView(trajectoryBytes, lastTrajectoryBytes) {
                lastTrajectory = try internChecked(trajectoryBytes, hint: lastTrajectory, .trajectory, row)
                lastTrajectoryBytes = trajectoryBytes
            }
            let state: Int32
            if let text = rows.state {
                state = try internChecked(text.bytes(at: i), .state, row)
            } else if let keys = rows.stateKey {
                state = internStateKey(keys[i])
            } else {
                state = 0
            }
            let action = try rows.action.map { (column) throws(RewardFlowError) in
                try internChecked(column.bytes(at: i), .action, row)
            } ?? emptyAction
            let step = rows.step[i]
            guard step >= 0 else {
                throw .invalidInput(location: .row(row), field: "step", message: "must be a non-negative integer, got \(step)")
            }
            guard step <= Int64(StepRows.maxStep) else {
                throw .invalidInput(location: .row(row), field: "step", message: StepRows.stepTooLarge("\(step)"))
            }
            try appendColumns(
                group: lastGroup, trajectory: lastTrajectory, step: Int(step), state: state, action: action,
                reward: rows.reward[i], active: rows.active.map { $0[i] != 0 } ?? true,
                noop: rows.noop.map { $0[i] != 0 } ?? false, location: .row(row), line: nil)
        }
    }

    /// Same start and length: certainly the same bytes (a repeated Python object or view).
    @inline(__always)
    private static func sameView(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.baseAddress == b.baseAddress && a.count == b.count
    }

    /// The string tables of a batch, named as their input fields.
    private enum Table: String { case group, trajectory, state, action }

    /// Interns `bytes` into `table` (trying string `hint` first); a string new to the table is
    /// checked to be UTF-8, else an input error at `row` naming the table's field.
    @inline(__always)
    private mutating func internChecked(
        _ bytes: UnsafeRawBufferPointer, hint: Int32 = -1, _ table: Table, _ row: Int
    ) throws(RewardFlowError) -> Int32 {
        let before: Int, id: Int32, after: Int
        switch table {
        case .group:
            if hint >= 0 && groupNames.holds(hint, bytes) { return hint }
            before = groupNames.count; id = internGroup(bytes); after = groupNames.count
        case .trajectory:
            if hint >= 0 && trajectoryNames.holds(hint, bytes) { return hint }
            before = trajectoryNames.count; id = internTrajectory(bytes); after = trajectoryNames.count
        case .state:
            before = stateTexts.count; id = internState(bytes); after = stateTexts.count
        case .action:
            before = actionNames.count; id = internAction(bytes); after = actionNames.count
        }
        if after > before && !UTF8Check.isValid(bytes) {
            throw .invalidInput(location: .row(row), field: table.rawValue, message: "not valid UTF-8")
        }
        return id
    }
}

/// UTF-8 validity of a byte string (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
enum UTF8Check {
    /// Whether `bytes` is well-formed UTF-8: ASCII eight bytes at a time, the standard library's
    /// validating decoder from the first non-ASCII byte on.
    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let n = bytes.count
        var i = 0
        while i + 8 <= n {
            if bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { break }
            i += 8
        }
        while i < n && bytes[i] < 0x80 { i += 1 }
        guard i < n else { return true }
        return String(validating: UnsafeRawBufferPointer(rebasing: bytes[i...]).assumingMemoryBound(to: UInt8.self), as: UTF8.self) != nil
    }
}
