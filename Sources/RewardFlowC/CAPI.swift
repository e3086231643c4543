// The C API of include/rewardflow.h. Each function is `@c @implementation`, so the compiler
// checks it against the header's declaration. Every fallible entry point funnels through
// `status { ... }`, which turns a thrown `Failure` into an `rf_status` plus a thread-local
// message: no input reaches a trap.
#if canImport(Glibc)
import Glibc
#endif
import CRewardFlowAPI
import RewardFlow

private let version = StaticCString("\(RF_VERSION_MAJOR).\(RF_VERSION_MINOR).\(RF_VERSION_PATCH)")
private let operators = StaticCString(PropagationOperator.allCases.map(\.rawValue).joined(separator: ","))
private let defaultOperator = StaticCString(PropagationOperator.maxDecay.rawValue)
private let defaultSolver = StaticCString(LinearSolver.auto.rawValue)
private let defaultNodeReward = StaticCString(NodeRewardPolicy.firstSeen.rawValue)

/// The library's version, "MAJOR.MINOR.PATCH".
@c @implementation
public func rf_version() -> UnsafePointer<CChar>? { version.pointer }

/// The library's ABI version (`RF_ABI_VERSION` of the header it was built with).
@c @implementation
public func rf_abi_version() -> Int32 { RF_ABI_VERSION }

/// The operators this build implements, comma-separated, from `PropagationOperator.allCases`.
@c @implementation
public func rf_operators() -> UnsafePointer<CChar>? { operators.pointer }

/// The calling thread's last error message.
@c @implementation
public func rf_last_error() -> UnsafePointer<CChar>? { LastError.current }

/// The defaults of `ScoringOptions` as a full `rf_options` of this library's layout.
func defaultOptions() -> rf_options {
    let defaults = ScoringOptions()
    return rf_options(
        struct_size: MemoryLayout<rf_options>.size,
        operator_name: defaultOperator.pointer, gamma: defaults.gamma, alpha: defaults.alpha,
        solver: defaultSolver.pointer, tolerance: defaults.tolerance,
        max_iterations: Int64(defaults.maxIterations), node_reward: defaultNodeReward.pointer,
        advantage: nil, step_weight: defaults.stepWeight, similarity: 0, step_group_similarity: 0,
        goal_reward: defaults.goalReward, step_reward: nil, episode_weighting: nil,
        episode_weight: defaults.episodeWeight, step_group_history: Int64(defaults.stepGroupHistory))
}

/// The size of `rf_options` in the 0.1 header (through `step_weight`), which `rf_options_init`
/// callers built against it allocate.
private let firstLayoutSize = 80

/// Writes the first `min(size, sizeof(rf_options))` bytes of the defaults into `options`.
@c @implementation
public func rf_options_init_sized(_ options: UnsafeMutablePointer<rf_options>?, _ size: Int) {
    guard let options, size >= MemoryLayout<Int>.size else { return }
    var defaults = defaultOptions()
    let written = min(size, MemoryLayout<rf_options>.size)
    defaults.struct_size = written
    withUnsafeBytes(of: &defaults) { source in
        UnsafeMutableRawPointer(options).copyMemory(from: source.baseAddress!, byteCount: written)
    }
}

/// Writes the defaults of the 0.1 layout only: the symbol callers built against that header call.
@c @implementation
public func rf_options_init(_ options: UnsafeMutablePointer<rf_options>?) {
    rf_options_init_sized(options, firstLayoutSize)
}

/// Creates an empty batch; the handle holds one retain of a `Batch`.
@c @implementation
public func rf_batch_create(_ out: UnsafeMutablePointer<OpaquePointer?>?) -> rf_status {
    status { () throws(Failure) in
        guard let out else { throw .argument("out: NULL pointer") }
        out.pointee = OpaquePointer(Unmanaged.passRetained(Batch()).toOpaque())
    }
}

/// Releases the handle's retain.
@c @implementation
public func rf_batch_destroy(_ batch: OpaquePointer?) {
    guard let batch else { return }
    Unmanaged<Batch>.fromOpaque(UnsafeRawPointer(batch)).release()
}

/// The number of rows appended so far.
@c @implementation
public func rf_batch_count(_ batch: OpaquePointer?) -> Int {
    (try? Batch.from(batch).rows.count) ?? 0
}

/// Empties the batch and forgets a failed append; the columns and string tables keep their
/// storage for the next appends.
@c @implementation
public func rf_batch_clear(_ batch: OpaquePointer?) -> rf_status {
    status { () throws(Failure) in
        let box = try Batch.from(batch)
        box.rows.removeAll(keepingCapacity: true)
        box.broken = nil
    }
}

/// Appends `rf_rows` (strings as bytes + offsets) through the same path as `rf_columns`.
@c @implementation
public func rf_batch_append(_ batch: OpaquePointer?, _ rows: UnsafePointer<rf_rows>?) -> rf_status {
    status { () throws(Failure) in
        _ = try Batch.from(batch)
        guard let rows else { throw .argument("rows: NULL pointer") }
        let c = rows.pointee
        func column(_ strings: rf_strings) -> rf_string_column {
            rf_string_column(
                layout: Int32(strings.offsets == nil ? RF_STRINGS_NONE.rawValue : RF_STRINGS_OFFSETS.rawValue),
                data: strings.data, offsets: strings.offsets, views: nil)
        }
        var columns = rf_columns(
            count: c.count, group: column(c.group), trajectory: column(c.trajectory), state: column(c.state),
            action: column(c.action), state_key: c.state_key, step: c.step, reward: c.reward,
            active: c.active, noop: c.noop)
        try append(columns: &columns, to: batch)
    }
}

/// Appends `rf_columns`, strings read where they lie.
@c @implementation
public func rf_batch_append_columns(_ batch: OpaquePointer?, _ columns: UnsafePointer<rf_columns>?) -> rf_status {
    status { () throws(Failure) in
        _ = try Batch.from(batch)
        guard let columns else { throw .argument("columns: NULL pointer") }
        var c = columns.pointee
        try append(columns: &c, to: batch)
    }
}

/// Checks every pointer, offset and length of `c` (so misuse leaves the batch as it was),
/// then appends through `StepRows.append(borrowing:)`; a refused row marks the batch broken.
private func append(columns c: inout rf_columns, to batch: OpaquePointer?) throws(Failure) {
    let box = try Batch.from(batch)
    // `size_t` arrives as `Int`: read its bits unsigned, so SIZE_MAX or 2^63 is a huge count
    // (refused), never a negative one.
    let requested = UInt(bitPattern: c.count)
    let base = box.rows.count
    let limit = StepRows.maxRows
    guard requested <= UInt(limit - base) else {
        throw .argument("rows: count \(requested) is too large: a batch holds at most \(limit) rows (has \(base))")
    }
    let count = Int(requested)
    guard count > 0 else { return }
    guard let group = try StringColumn.borrow(c.group, count: count, name: "group") else {
        throw .argument("group: the column is absent")
    }
    guard let trajectory = try StringColumn.borrow(c.trajectory, count: count, name: "trajectory") else {
        throw .argument("trajectory: the column is absent")
    }
    let action = try StringColumn.borrow(c.action, count: count, name: "action")
    guard let step = c.step else { throw .argument("step: NULL pointer") }
    guard let reward = c.reward else { throw .argument("reward: NULL pointer") }
    let state = try StringColumn.borrow(c.state, count: count, name: "state")
    switch (state != nil, c.state_key != nil) {
    case (true, true): throw .argument("rows: set either state or state_key, not both")
    case (false, false): throw .argument("rows: neither state nor state_key is set")
    default: break
    }
    let identity: StateIdentity = state == nil ? .key : .text
    if let existing = box.rows.identity, existing != identity {
        throw .argument("rows: this batch names states by \(existing == .text ? "state" : "state_key"); an append may not switch")
    }
    if let message = box.broken { throw .argument("batch: unusable after a failed append (\(message)); clear it") }
    let rows = BorrowedRows(
        count: count, group: group, trajectory: trajectory, step: step, state: state,
        stateKey: c.state_key, action: action, reward: reward, active: c.active, noop: c.noop)
    do throws(Failure) {
        try library { () throws(RewardFlowError) in try box.rows.append(borrowing: rows) }
    } catch {
        box.broken = error.message
        throw error
    }
}

/// Scores the batch with the given options into the caller's arrays.
@c @implementation
public func rf_score(
    _ batch: OpaquePointer?, _ options: UnsafePointer<rf_options>?, _ outputs: UnsafePointer<rf_outputs>?
) -> rf_status {
    status { () throws(Failure) in
        let box = try Batch.from(batch)
        guard let outputs else { throw .argument("outputs: NULL pointer") }
        if let message = box.broken { throw .argument("batch: unusable after a failed append (\(message)); clear it") }
        let out = outputs.pointee
        let rows = box.rows
        let capacity = UInt(bitPattern: out.capacity)
        guard capacity >= UInt(rows.count) else {
            throw .argument("outputs: capacity \(capacity) is less than the batch's \(rows.count) rows")
        }
        let scoring = try ScoringOptions(options)
        let scored = try library { () throws(RewardFlowError) in try Scorer(options: scoring).score(rows) }
        let n = rows.count
        OutputColumn(pointer: out.value).write(scored.rewards.value, count: n)
        OutputColumn(pointer: out.step_reward).write(scored.rewards.stepReward, count: n)
        OutputColumn(pointer: out.step_reward_abs).write(scored.rewards.stepRewardAbs, count: n)
        OutputColumn(pointer: out.episode_advantage).write(scored.advantages?.episode, count: n)
        OutputColumn(pointer: out.step_advantage).write(scored.advantages?.step, count: n)
        OutputColumn(pointer: out.advantage).write(scored.advantages?.combined, count: n)
    }
}

/// The batch's statistics as JSON text in `json`, allocated with `malloc` (freed by `rf_free`).
@c @implementation
public func rf_statistics_json(
    _ batch: OpaquePointer?, _ options: UnsafePointer<rf_options>?, _ json: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> rf_status {
    json?.pointee = nil
    return status { () throws(Failure) in
        let box = try Batch.from(batch)
        guard let json else { throw .argument("json: NULL pointer") }
        if let message = box.broken { throw .argument("batch: unusable after a failed append (\(message)); clear it") }
        let scoring = try ScoringOptions(options)
        let text = try library { () throws(RewardFlowError) in try Scorer(options: scoring).statistics(box.rows).json }
        guard let copy = strdup(text) else { throw Failure(status: RF_ERR_INTERNAL, message: "out of memory") }
        json.pointee = copy
    }
}

/// Frees what the library allocated for the caller.
@c @implementation
public func rf_free(_ pointer: UnsafeMutableRawPointer?) { free(pointer) }
