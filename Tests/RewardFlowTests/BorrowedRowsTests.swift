import Testing
@testable import RewardFlow

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
    static func borrowed(_ rows: [(String, String, Int, String, String, Double)], views: Bool, into batch: inout StepRows) throws {
        let texts = rows.map { [$0.0, $0.1, $0.3, $0.4] }
        var bases: [UnsafeMutableRawPointer] = [], offsets: [UnsafeMutablePointer<Int64>] = []
        var viewTables: [UnsafeMutablePointer<UInt64>] = []
        defer { (bases.map { UnsafeRawPointer($0) } + offsets.map { UnsafeRawPointer($0) } + viewTables.map { UnsafeRawPointer($0) }).forEach { $0.deallocate() } }
        for k in 0..<4 {
            let total = texts.reduce(0) { $0 + $1[k].utf8.count }
            let base = UnsafeMutableRawPointer.allocate(byteCount: max(1, total), alignment: 8)
            let offset = UnsafeMutablePointer<Int64>.allocate(capacity: rows.count + 1)
            let view = UnsafeMutablePointer<UInt64>.allocate(capacity: 2 * rows.count)
            offset[0] = 0
            for i in rows.indices {
                let bytes = Array(texts[i][k].utf8)
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
                    active: nil, noop: nil))
            }
        }
    }

    static func expectEqual(_ a: StepRows, _ b: StepRows) {
        #expect(a.group == b.group && a.trajectory == b.trajectory && a.state == b.state && a.action == b.action)
        #expect(a.step == b.step && a.reward == b.reward && a.active == b.active && a.noop == b.noop)
        #expect(a.stateTexts.count == b.stateTexts.count && a.groupNames.count == b.groupNames.count)
        for id in 0..<Int32(a.stateTexts.count) { #expect(a.stateTexts.string(of: id) == b.stateTexts.string(of: id)) }
    }

    /// At the default thread count (`append(borrowing:)` takes no thread count yet; 60K rows
    /// split whenever `Execution.threadCount > 1`).
    @Test func equalsRowByRowAppend() throws {
        let rows = Self.rows(count: 60_000, seed: 5)
        let oracle = try Self.oneByOne(rows)
        for views in [true, false] {
            var batch = StepRows()
            try Self.borrowed(rows, views: views, into: &batch)
            Self.expectEqual(batch, oracle)
            // A second append interns into the tables the first one filled.
            var twice = StepRows()
            try Self.borrowed(Array(rows[..<35_000]), views: views, into: &twice)
            try Self.borrowed(Array(rows[35_000...]), views: !views, into: &twice)
            Self.expectEqual(twice, oracle)
        }
    }

    @Test func firstBadRowInRowOrderIsReported() throws {
        var rows = Self.rows(count: 100_000, seed: 9)
        rows[90_000].5 = .nan   // in the second part
        rows[30_000].2 = -1      // in the first part: this one is reported
        var batch = StepRows()
        let error = thrownError { try Self.borrowed(rows, views: true, into: &batch) }
        #expect(error == .invalidInput(location: .row(30_000), field: "step", message: "must be a non-negative integer, got -1"))
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
