import Testing
@testable import RewardFlow
import RewardFlowSynthesis

/// `StepRows.append(borrowing:)`, the C API's and Python's way in: strings read where they lie
/// (offsets or views), interned in parallel parts, equal to a row-by-row append.
@Suite(.serialized) struct BorrowedRowsTests {
    /// Seeded rows big enough for several parts; group and trajectory names repeat in runs,
    /// states repeat across the batch, one string is non-ASCII.
    static func rows(count: Int, seed: UInt64) -> [(String, String, Int, String, String, Double)] {
        var random = SeededRandom(seed)
        var out: [(String, String, Int, String, String, Double)] = []
        var step = 0, trajectory = 0
        for i in 0..<count {
            if step > 0 && random.next() % 9 == 0 { step = 0; trajectory += 1 }
            let state = random.next() % 7 == 0 ? "état \(random.next() % 50)" : "state \(random.next() % 3000)"
            out.append(("g\(trajectory / 8)", "t\(trajectory)", step, state, "a\(i % 5)", Double(random.next() % 3)))
            step += 1
        }
        return out
    }

    /// The same rows appended one at a time, the oracle.
    static func oneByOne(_ rows: [(String, String, Int, String, String, Double)]) throws -> StepRows {
        var batch = StepRows()
        for (g, t, s, state, a, r) in rows {
            try batch.append(group: g, trajectory: t, step: s, state: state, action: a, reward: r)
        }
        return batch
    }

    /// Appends `rows` through borrowed columns: strings as views (`views`) or as offsets.
    /// (`corrupt`: cells `(row, column)`, columns 0–3 = group, trajectory, state, action, whose
    /// bytes get a trailing 0xFF, which is not UTF-8.)
    static func borrowed(
        _ rows: [(String, String, Int, String, String, Double)], views: Bool, corrupt: [(Int, Int)] = [],
        threads: Int? = nil, workspace: AppendWorkspace? = nil, into batch: inout StepRows
    ) throws {
        let texts = rows.map { [$0.0, $0.1, $0.3, $0.4] }
        var bases: [UnsafeMutableRawPointer] = [], offsets: [UnsafeMutablePointer<Int64>] = []
        var viewTables: [UnsafeMutablePointer<UInt64>] = []
        defer { (bases.map { UnsafeRawPointer($0) } + offsets.map { UnsafeRawPointer($0) } + viewTables.map { UnsafeRawPointer($0) }).forEach { $0.deallocate() } }
        for k in 0..<4 {
            let total = texts.reduce(0) { $0 + $1[k].utf8.count } + corrupt.count
            let base = UnsafeMutableRawPointer.allocate(byteCount: max(1, total), alignment: 8)
            let offset = UnsafeMutablePointer<Int64>.allocate(capacity: rows.count + 1)
            let view = UnsafeMutablePointer<UInt64>.allocate(capacity: 2 * rows.count)
            offset[0] = 0
            for i in rows.indices {
                let bytes = Array(texts[i][k].utf8) + (corrupt.contains { $0 == (i, k) } ? [0xFF] : [])
                let start = Int(offset[i])
                base.advanced(by: start).copyMemory(from: bytes, byteCount: bytes.count)
                offset[i + 1] = Int64(start + bytes.count)
                view[2 * i] = UInt64(UInt(bitPattern: base + start))
                view[2 * i + 1] = UInt64(bytes.count)
            }
            bases.append(base); offsets.append(offset); viewTables.append(view)
        }
        func column(_ k: Int) -> BorrowedStrings {
            views ? BorrowedStrings(.views(UnsafeRawPointer(viewTables[k])))
                : BorrowedStrings(.offsets(base: UnsafeRawPointer(bases[k]), offsets: offsets[k]))
        }
        let steps = rows.map { Int64($0.2) }, rewards = rows.map(\.5)
        try steps.withUnsafeBufferPointer { step in
            try rewards.withUnsafeBufferPointer { reward in
                try batch.append(borrowing: BorrowedRows(
                    count: rows.count, group: column(0), trajectory: column(1), step: step.baseAddress!,
                    state: column(2), stateKey: nil, action: column(3), reward: reward.baseAddress!,
                    active: nil, noop: nil), threads: threads, workspace: workspace)
            }
        }
    }

    static func expectEqual(_ a: StepRows, _ b: StepRows) {
        #expect(a.group == b.group && a.trajectory == b.trajectory && a.state == b.state && a.action == b.action)
        #expect(a.step == b.step && a.reward == b.reward && a.active == b.active && a.noop == b.noop)
        #expect(a.stateTexts.count == b.stateTexts.count && a.groupNames.count == b.groupNames.count)
        for id in 0..<Int32(a.stateTexts.count) { #expect(a.stateTexts.string(of: id) == b.stateTexts.string(of: id)) }
    }

    /// At 1, 2 and 3 threads (60K rows are split into that many parts).
    @Test(arguments: [1, 2, 3])
    func equalsRowByRowAppendAtAnyThreadCount(threads: Int) throws {
        let rows = Self.rows(count: 60_000, seed: 5)
        let oracle = try Self.oneByOne(rows)
        for views in [true, false] {
            var batch = StepRows()
            try Self.borrowed(rows, views: views, threads: threads, into: &batch)
            Self.expectEqual(batch, oracle)
            // A second append interns into the tables the first one filled.
            var twice = StepRows()
            try Self.borrowed(Array(rows[..<35_000]), views: views, threads: threads, into: &twice)
            try Self.borrowed(Array(rows[35_000...]), views: !views, threads: threads, into: &twice)
            Self.expectEqual(twice, oracle)
        }
    }

    /// One workspace through a sequence of appends of other sizes, a failed one among them:
    /// each batch equals its row-by-row oracle, as with tables made afresh.
    @Test(arguments: [2, 3])
    func aKeptWorkspaceChangesNoRow(threads: Int) throws {
        let workspace = AppendWorkspace()
        var batch = StepRows()
        for (count, seed, views) in [(60_000, 21, true), (40_000, 22, false), (70_000, 23, true), (50_000, 24, false)] {
            let rows = Self.rows(count: count, seed: UInt64(seed))
            batch.removeAll(keepingCapacity: true)
            try Self.borrowed(rows, views: views, threads: threads, workspace: workspace, into: &batch)
            Self.expectEqual(batch, try Self.oneByOne(rows))
            // A refused append leaves strings of its rows in the kept tables; the next one clears them.
            batch.removeAll(keepingCapacity: true)
            let error = thrownError {
                try Self.borrowed(rows, views: views, corrupt: [(count - 100, 2)], threads: threads, workspace: workspace, into: &batch)
            }
            #expect(error != nil)
        }
        workspace.removeAll()
        batch.removeAll(keepingCapacity: false)
        let rows = Self.rows(count: 30_000, seed: 25)
        try Self.borrowed(rows, views: true, threads: threads, workspace: workspace, into: &batch)
        Self.expectEqual(batch, try Self.oneByOne(rows))
    }

    @Test func firstBadRowInRowOrderIsReported() throws {
        var rows = Self.rows(count: 100_000, seed: 9)
        rows[90_000].5 = .nan   // in the second part
        rows[30_000].2 = -1      // in the first part: this one is reported
        var batch = StepRows()
        let error = thrownError { try Self.borrowed(rows, views: true, threads: 2, into: &batch) }
        #expect(error == .invalidInput(location: .row(30_000), field: "step", message: "must be a non-negative integer, got -1"))
    }

    /// The rows of `prefix` (an oracle of fewer rows) are the first rows of `batch`, with the same
    /// ids and texts (`batch`'s tables may hold strings of the failing row besides).
    static func expectSamePrefix(_ batch: StepRows, _ prefix: StepRows) {
        #expect(batch.count == prefix.count)
        #expect(batch.group == prefix.group && batch.trajectory == prefix.trajectory && batch.state == prefix.state)
        #expect(batch.action == prefix.action && batch.step == prefix.step && batch.reward == prefix.reward)
        #expect(batch.active == prefix.active && batch.noop == prefix.noop)
        #expect(batch.stateTexts.count >= prefix.stateTexts.count)
        for id in 0..<Int32(prefix.stateTexts.count) { #expect(batch.stateTexts.string(of: id) == prefix.stateTexts.string(of: id)) }
    }

    /// Bad cells (fields 0–3: a non-UTF-8 byte in group, trajectory, state, action; 4: step −1;
    /// 5: reward NaN): the error names the first bad row and, within it, the first bad field,
    /// wherever the parts are cut; the batch holds exactly the rows before it.
    @Test(arguments: [1, 2, 3])
    func errorsComeInRowThenFieldOrder(threads: Int) throws {
        let fields = ["group", "trajectory", "state", "action", "step", "reward"]
        let cases: [[(row: Int, field: Int)]] = [
            [(50_000, 5), (50_000, 2)], [(20_000, 4), (20_000, 0), (45_000, 1)], [(40_000, 3)],
            [(10_000, 5), (45_000, 1)], [(59_999, 1)], [(0, 2)], [(33_000, 4), (33_000, 5)], [(58_000, 3), (29_000, 5)],
            // In the last rows of the batch, whose hashes the state and action passes take early.
            [(59_995, 2)], [(59_999, 3)], [(59_993, 3), (59_994, 2)],
        ]
        let clean = Self.rows(count: 60_000, seed: 3)
        for bad in cases {
            var rows = clean
            var corrupt: [(Int, Int)] = []
            for (row, field) in bad {
                switch field {
                case 4: rows[row].2 = -1
                case 5: rows[row].5 = .nan
                default: corrupt.append((row, field))
                }
            }
            let first = bad.min { ($0.row, $0.field) < ($1.row, $1.field) }!
            let prefix = try Self.oneByOne(Array(rows[..<first.row]))
            for views in [true, false] {
                var batch = StepRows()
                let error = thrownError { try Self.borrowed(rows, views: views, corrupt: corrupt, threads: threads, into: &batch) }
                guard case .invalidInput(let location, let field, _)? = error else {
                    Issue.record("\(bad): expected an input error, got \(String(describing: error))")
                    continue
                }
                #expect(location == .row(first.row) && field == fields[first.field], "\(bad), views \(views)")
                Self.expectSamePrefix(batch, prefix)
            }
        }
    }

    @Test func longStringsAreCheckedForUTF8InEveryBlock() {
        // The ASCII check takes 64 bytes at a time, then 8, then 1: a bad byte in any of them.
        for length in [63, 64, 65, 127, 128, 200, 257] {
            let ascii = [UInt8](repeating: 0x61, count: length)
            #expect(ascii.withUnsafeBytes { UTF8Check.isValid($0) })
            for position in Set([0, 7, 8, 63, length / 2, length - 9, length - 1].filter { $0 >= 0 && $0 < length }) {
                var bad = ascii
                bad[position] = 0xFF
                #expect(!bad.withUnsafeBytes { UTF8Check.isValid($0) }, "length \(length), bad byte at \(position)")
                var accented = ascii
                accented.replaceSubrange(position..<position + 1, with: [0xC3, 0xA9])
                #expect(accented.withUnsafeBytes { UTF8Check.isValid($0) }, "length \(length), é at \(position)")
            }
        }
    }

    @Test func internTableMatchesADictionaryPastItsRecentCache() {
        // More distinct strings than the recent-strings cache holds, long and short, repeated
        // near and far: ids in first-appearance order, as a dictionary assigns them.
        var random = SeededRandom(11)
        var table = InternTable(), oracle: [String: Int32] = [:]
        let pad = String(repeating: "x", count: 240)
        for _ in 0..<120_000 {
            let k = random.next() % 3 == 0 ? random.next() % 20_000 : random.next() % 64
            let text = random.next() % 2 == 0 ? "s\(k)" : "\(pad) \(k) é"
            let want = oracle[text] ?? Int32(oracle.count)
            oracle[text] = want
            #expect(table.intern(text) == want)
        }
        #expect(table.count == oracle.count && table.count > InternTable.recentCount)
        for (text, id) in oracle.prefix(500) { #expect(table.string(of: id) == text) }
        var copy = InternTable()
        #expect(copy.absorb(table) == (0..<Int32(table.count)).map { $0 })
    }

    @Test func newStringsAreCheckedForUTF8() {
        #expect(UTF8Check.isValid(UnsafeRawBufferPointer(start: nil, count: 0)))
        for (bytes, valid) in [([0x41], true), ([0xC3, 0xA9], true), ([0xC3, 0x28], false), ([0xED, 0xA0, 0x80], false),
                               ([0xF4, 0x90, 0x80, 0x80], false), ([0xC0, 0x80], false),
                               (Array("0123456789abcdef".utf8) + [0xFF], false), (Array("ok ok ok é ok".utf8), true)] as [([UInt8], Bool)] {
            #expect(bytes.withUnsafeBytes { UTF8Check.isValid($0) } == valid, "\(bytes)")
        }
    }
}
