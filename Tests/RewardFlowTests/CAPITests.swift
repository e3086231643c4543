import CRewardFlowAPI
import Dispatch
import Glibc
import RewardFlow
import RewardFlowSynthesis
import Synchronization
import Testing

// The C entry points of Sources/RewardFlowC called as a C caller calls them: through the
// declarations of include/rewardflow.h (module CRewardFlowAPI), on caller-owned arrays, with the
// results checked against `Scorer` on the same rows.

/// Caller-owned C arrays of one batch in the `rf_rows` layout (strings as bytes + offsets), freed
/// on deinit; `rows` points into them.
final class CBatchArrays {
    private var allocations: [UnsafeMutableRawPointer] = []
    /// The batch as `rf_batch_append` takes it.
    private(set) var rows = rf_rows()

    /// The C columns of `source` (text states; names read back from its intern tables).
    init(_ source: StepRows) {
        let n = source.count
        rows.count = n
        rows.group = strings((0..<n).map { source.groupNames.string(of: source.group[$0]) })
        rows.trajectory = strings((0..<n).map { source.trajectoryNames.string(of: source.trajectory[$0]) })
        rows.state = strings((0..<n).map { source.stateTexts.string(of: source.state[$0]) })
        rows.action = strings((0..<n).map { source.actionNames.string(of: source.action[$0]) })
        rows.step = UnsafePointer(array(source.step.map(Int64.init)))
        rows.reward = UnsafePointer(array(source.reward))
        rows.active = UnsafePointer(array(source.active.map { $0 ? UInt8(1) : 0 }))
        rows.noop = UnsafePointer(array(source.noop.map { $0 ? UInt8(1) : 0 }))
    }

    /// A copy of `values` in memory this object owns.
    func array<T>(_ values: [T]) -> UnsafeMutablePointer<T> {
        let pointer = UnsafeMutablePointer<T>.allocate(capacity: max(1, values.count))
        pointer.initialize(from: values, count: values.count)
        allocations.append(UnsafeMutableRawPointer(pointer))
        return pointer
    }

    /// `values` back to back with `count + 1` offsets.
    func strings(_ values: [String]) -> rf_strings {
        var bytes: [CChar] = []
        var offsets: [Int64] = [0]
        for v in values {
            bytes += v.utf8.map { CChar(bitPattern: $0) }
            offsets.append(Int64(bytes.count))
        }
        return rf_strings(data: UnsafePointer(array(bytes)), offsets: UnsafePointer(array(offsets)))
    }

    /// A C string this object owns.
    func cString(_ text: String) -> UnsafePointer<CChar> {
        UnsafePointer(array(Array(text.utf8CString)))
    }

    deinit { for a in allocations { a.deallocate() } }
}

/// `rf_last_error()` as Swift text.
private func lastError() -> String { rf_last_error().map { String(cString: $0) } ?? "" }

/// The first index where `got` and `want` hold different doubles (bit patterns, so −0 and 0
/// differ), or nil when all `want.count` agree.
private func firstDifference(_ got: UnsafePointer<Double>, _ want: [Double]) -> Int? {
    want.indices.first { got[$0].bitPattern != want[$0].bitPattern }
}

@Suite struct CAPITests {
    /// A small synthetic batch with inactive rows, noop transitions and revisited states.
    static func rows() throws -> StepRows {
        var o = SynthesisOptions()
        o.groups = 5
        o.rollouts = 4
        o.maxSteps = 12
        o.states = 20
        o.markNoop = true
        o.seed = 11
        return try RolloutSynthesizer(o).rows(identity: .text)
    }

    /// A batch handle holding `arrays`' rows (appended through `rf_batch_append`).
    static func batch(_ arrays: CBatchArrays) throws -> OpaquePointer {
        var handle: OpaquePointer?
        #expect(rf_batch_create(&handle) == RF_OK)
        let batch = try #require(handle)
        var rows = arrays.rows
        #expect(rf_batch_append(batch, &rows) == RF_OK, "\(lastError())")
        return batch
    }

    @Test(arguments: PropagationOperator.allCases)
    func scoreMatchesScorer(_ op: PropagationOperator) throws {
        let rows = try Self.rows()
        let arrays = CBatchArrays(rows)
        let batch = try Self.batch(arrays)
        defer { rf_batch_destroy(batch) }
        #expect(rf_batch_count(batch) == rows.count)

        var options = rf_options()
        rf_options_init_sized(&options, MemoryLayout<rf_options>.size)
        options.operator_name = arrays.cString(op.rawValue)
        options.advantage = arrays.cString("mean_norm")
        let n = rows.count
        let columns = (0..<6).map { _ in arrays.array([Double](repeating: .nan, count: n)) }
        var outputs = rf_outputs(
            capacity: n, value: columns[0], step_reward: columns[1], step_reward_abs: columns[2],
            episode_advantage: columns[3], step_advantage: columns[4], advantage: columns[5])
        #expect(rf_score(batch, &options, &outputs) == RF_OK, "\(lastError())")

        var swift = ScoringOptions()
        swift.propagation = op
        swift.advantage = .meanNorm
        let expected = try Scorer(options: swift).score(rows)
        let advantages = try #require(expected.advantages)
        let want = [("value", expected.rewards.value), ("step_reward", expected.rewards.stepReward),
                    ("step_reward_abs", expected.rewards.stepRewardAbs), ("episode_advantage", advantages.episode),
                    ("step_advantage", advantages.step), ("advantage", advantages.combined)]
        for (got, (name, column)) in zip(columns, want) {
            let row = firstDifference(got, column)
            #expect(row == nil, "\(name) differs at row \(row ?? -1)")
        }
    }

    /// The six output columns of `rf_score` on `batch` (`mean_norm` advantages), as Swift arrays.
    static func scoreColumns(_ batch: OpaquePointer, _ arrays: CBatchArrays) throws -> [[Double]] {
        var options = rf_options()
        rf_options_init_sized(&options, MemoryLayout<rf_options>.size)
        options.advantage = arrays.cString("mean_norm")
        let n = rf_batch_count(batch)
        let columns = (0..<6).map { _ in arrays.array([Double](repeating: .nan, count: n)) }
        var outputs = rf_outputs(
            capacity: n, value: columns[0], step_reward: columns[1], step_reward_abs: columns[2],
            episode_advantage: columns[3], step_advantage: columns[4], advantage: columns[5])
        #expect(rf_score(batch, &options, &outputs) == RF_OK, "\(lastError())")
        return columns.map { Array(UnsafeBufferPointer(start: $0, count: n)) }
    }

    /// `rf_batch_clear` keeps the batch's storage: refilled, it scores exactly (bit for bit) as
    /// a fresh batch of the same rows, whether the new rows are fewer or more, other strings or
    /// the same, and after an append it refused.
    @Test func aClearedBatchRefilledScoresAsAFreshOne() throws {
        var o = SynthesisOptions()
        o.groups = 2
        o.rollouts = 3
        o.maxSteps = 9
        o.states = 7
        o.seed = 23
        let large = CBatchArrays(try Self.rows())
        let small = CBatchArrays(try RolloutSynthesizer(o).rows(identity: .text))
        func fresh(_ arrays: CBatchArrays) throws -> [[Double]] {
            let batch = try Self.batch(arrays)
            defer { rf_batch_destroy(batch) }
            return try Self.scoreColumns(batch, arrays)
        }
        let wantLarge = try fresh(large), wantSmall = try fresh(small)
        #expect(wantLarge[0].count > wantSmall[0].count)

        let batch = try Self.batch(large)
        defer { rf_batch_destroy(batch) }
        _ = try Self.scoreColumns(batch, large)
        func refill(_ arrays: CBatchArrays) {
            #expect(rf_batch_clear(batch) == RF_OK, "\(lastError())")
            #expect(rf_batch_count(batch) == 0)
            var rows = arrays.rows
            #expect(rf_batch_append(batch, &rows) == RF_OK, "\(lastError())")
        }
        func bits(_ columns: [[Double]]) -> [[UInt64]] { columns.map { $0.map(\.bitPattern) } }
        refill(small)
        #expect(bits(try Self.scoreColumns(batch, small)) == bits(wantSmall))
        refill(large)
        #expect(bits(try Self.scoreColumns(batch, large)) == bits(wantLarge))

        // A refused append leaves the batch unscorable until cleared; cleared, it is as new.
        var bad = small.rows
        bad.step = UnsafePointer(small.array([Int64](repeating: -1, count: bad.count)))
        #expect(rf_batch_append(batch, &bad) == RF_ERR_INVALID_INPUT)
        var outputs = rf_outputs()
        outputs.capacity = rf_batch_count(batch)
        outputs.value = small.array([Double](repeating: .nan, count: max(1, outputs.capacity)))
        #expect(rf_score(batch, nil, &outputs) != RF_OK)
        refill(small)
        #expect(bits(try Self.scoreColumns(batch, small)) == bits(wantSmall))
    }

    /// A batch large enough for its scores' per-row arrays to be kept (`ScoringWorkspace`),
    /// scored again and again, and from four threads at once (one holds the kept arrays, the
    /// others score in fresh memory): every call writes the Swift scorer's outputs, bit for bit.
    @Test func repeatedAndConcurrentScoresOfALargeBatchAgree() throws {
        var o = SynthesisOptions()
        o.groups = 300
        o.seed = 29
        o.markNoop = true
        let rows = try RolloutSynthesizer(o).rows(identity: .text)
        #expect(rows.count >= ScoringWorkspace.minimumCount)
        let arrays = CBatchArrays(rows)
        let batch = try Self.batch(arrays)
        defer { rf_batch_destroy(batch) }
        var swift = ScoringOptions()
        swift.advantage = .meanNorm
        let expected = try Scorer(options: swift).score(rows)
        let advantages = try #require(expected.advantages)
        let want = [expected.rewards.value, expected.rewards.stepReward, expected.rewards.stepRewardAbs,
                    advantages.episode, advantages.step, advantages.combined].map { $0.map(\.bitPattern) }
        for _ in 0..<3 {
            let same = try Self.scoreColumns(batch, arrays).map { $0.map(\.bitPattern) } == want
            #expect(same)
        }
        // The option text and the handle cross into the threads as addresses (C pointers are not Sendable).
        let advantage = UInt(bitPattern: arrays.cString("mean_norm")), handle = UInt(bitPattern: batch), n = rows.count
        let agreed = Mutex([Bool]())
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            var options = rf_options()
            rf_options_init_sized(&options, MemoryLayout<rf_options>.size)
            options.advantage = UnsafePointer(bitPattern: advantage)
            let batch = OpaquePointer(bitPattern: handle)
            let columns = (0..<6).map { _ in UnsafeMutablePointer<Double>.allocate(capacity: n) }
            defer { columns.forEach { $0.deallocate() } }
            for _ in 0..<2 {
                var outputs = rf_outputs(
                    capacity: n, value: columns[0], step_reward: columns[1], step_reward_abs: columns[2],
                    episode_advantage: columns[3], step_advantage: columns[4], advantage: columns[5])
                let ok = rf_score(batch, &options, &outputs) == RF_OK
                let same = ok && zip(columns, want).allSatisfy { got, column in
                    column.indices.allSatisfy { got[$0].bitPattern == column[$0] }
                }
                agreed.withLock { $0.append(same) }
            }
        }
        #expect(agreed.withLock { $0 } == [Bool](repeating: true, count: 8))
    }

    @Test func statisticsMatchScorer() throws {
        let rows = try Self.rows()
        let arrays = CBatchArrays(rows)
        let batch = try Self.batch(arrays)
        defer { rf_batch_destroy(batch) }
        var json: UnsafeMutablePointer<CChar>?
        // NULL options: the defaults of `ScoringOptions`.
        #expect(rf_statistics_json(batch, nil, &json) == RF_OK, "\(lastError())")
        let text = try #require(json)
        defer { rf_free(text) }
        #expect(String(cString: text) == (try Scorer().statistics(rows).json))
    }

    @Test func optionsInitWritesTheDefaults() {
        let defaults = ScoringOptions()
        var full = rf_options()
        rf_options_init_sized(&full, MemoryLayout<rf_options>.size)
        #expect(full.struct_size == MemoryLayout<rf_options>.size)
        #expect(full.operator_name.map { String(cString: $0) } == defaults.propagation.rawValue)
        #expect(full.solver.map { String(cString: $0) } == defaults.solver.rawValue)
        #expect(full.node_reward.map { String(cString: $0) } == defaults.nodeReward.rawValue)
        #expect(full.advantage == nil)
        #expect(full.gamma == defaults.gamma && full.alpha == defaults.alpha && full.tolerance == defaults.tolerance)
        #expect(full.max_iterations == Int64(defaults.maxIterations) && full.goal_reward == defaults.goalReward)
        #expect(full.episode_weight == defaults.episodeWeight && full.step_group_history == 0)

        // The 0.1 entry point writes the 80 bytes of its layout (through step_weight) only.
        var old = rf_options()
        old.similarity = -7
        old.goal_reward = -7
        rf_options_init(&old)
        #expect(old.struct_size == 80)
        #expect(old.step_weight == defaults.stepWeight && old.gamma == defaults.gamma)
        #expect(old.similarity == -7 && old.goal_reward == -7)
    }

    @Test func refusesANullHandle() {
        var outputs = rf_outputs()
        #expect(rf_score(nil, nil, &outputs) == RF_ERR_INVALID_ARGUMENT)
        #expect(lastError() == "batch: NULL handle")
        #expect(rf_batch_count(nil) == 0)
        #expect(rf_batch_clear(nil) == RF_ERR_INVALID_ARGUMENT)
        #expect(lastError() == "batch: NULL handle")
    }

    @Test func refusesDecreasingOffsetsAndLeavesTheBatchAsItWas() throws {
        let rows = try Self.rows()
        let arrays = CBatchArrays(rows)
        let batch = try Self.batch(arrays)
        defer { rf_batch_destroy(batch) }
        var bad = arrays.rows
        bad.count = 3
        bad.group = rf_strings(data: arrays.cString("abc"), offsets: UnsafePointer(arrays.array([Int64(0), 2, 1, 3])))
        #expect(rf_batch_append(batch, &bad) == RF_ERR_INVALID_ARGUMENT)
        #expect(lastError() == "group: offsets decrease at index 2 (2 then 1)")
        #expect(rf_batch_count(batch) == rows.count)

        // Misuse leaves the batch usable: it still scores, as `Scorer` does.
        let n = rows.count
        let value = arrays.array([Double](repeating: .nan, count: n))
        var outputs = rf_outputs()
        outputs.capacity = n
        outputs.value = value
        #expect(rf_score(batch, nil, &outputs) == RF_OK, "\(lastError())")
        #expect(firstDifference(value, try Scorer().score(rows).rewards.value) == nil)
    }

    @Test func refusesAnUnknownOperatorAndAShortOutput() throws {
        let rows = try Self.rows()
        let arrays = CBatchArrays(rows)
        let batch = try Self.batch(arrays)
        defer { rf_batch_destroy(batch) }
        var options = rf_options()
        rf_options_init_sized(&options, MemoryLayout<rf_options>.size)
        options.operator_name = arrays.cString("max_decay")
        var outputs = rf_outputs()
        outputs.capacity = rows.count
        #expect(rf_score(batch, &options, &outputs) == RF_ERR_INVALID_PARAMETER)
        let names = PropagationOperator.allCases.map(\.rawValue).joined(separator: ", ")
        #expect(lastError() == "operator: unknown value 'max_decay' (choose \(names))")

        outputs.capacity = rows.count - 1
        #expect(rf_score(batch, nil, &outputs) == RF_ERR_INVALID_ARGUMENT)
        #expect(lastError() == "outputs: capacity \(rows.count - 1) is less than the batch's \(rows.count) rows")
    }
}
