// The C API of include/rewardflow.h, and all of its pointer code. Each function is
// `@c @implementation`, so the compiler checks it against the header's declaration. Every
// fallible entry point funnels through `status { ... }` (Failure.swift), which turns a thrown
// `Failure` into an `rf_status` plus a thread-local message: no input reaches a trap.
// Invariants of the pointer code: caller memory is read or written only after the checks of
// `StringColumn.borrow` (offsets and views), `OutputColumn` (arrays of the batch's row count)
// and `ScoringOptions.init(_: UnsafePointer<rf_options>?)` (whole fields inside `struct_size`);
// a handle is a `Batch` retained by `rf_batch_create` and released by `rf_batch_destroy`;
// `StaticCString`s are never freed, `LastError`'s strings are freed when replaced or when their
// thread exits.
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
        try library { () throws(RewardFlowError) in try box.rows.append(borrowing: rows, workspace: box.appendWorkspace) }
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
        // Concurrent scores of one batch are allowed: the one that finds the workspace taken
        // scores in fresh memory.
        let workspace = box.scoringWorkspace.tryAcquire() ? box.scoringWorkspace : nil
        defer { workspace?.release() }
        var scored = try library { () throws(RewardFlowError) in
            var explain = SolveExplanation()
            return try Scorer(options: scoring).score(rows, explain: &explain, workspace: workspace)
        }
        let (n, threads) = (rows.count, Parallel.threads(scoring.threads))
        OutputColumn(pointer: out.value).write(scored.rewards.value, count: n, threads: threads)
        OutputColumn(pointer: out.step_reward).write(scored.rewards.stepReward, count: n, threads: threads)
        OutputColumn(pointer: out.step_reward_abs).write(scored.rewards.stepRewardAbs, count: n, threads: threads)
        OutputColumn(pointer: out.episode_advantage).write(scored.advantages?.episode, count: n, threads: threads)
        OutputColumn(pointer: out.step_advantage).write(scored.advantages?.step, count: n, threads: threads)
        OutputColumn(pointer: out.advantage).write(scored.advantages?.combined, count: n, threads: threads)
        workspace?.keep(&scored)
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

// MARK: - Support of the entry points

/// The per-thread message behind `rf_last_error()`: a `malloc`ed C string in a pthread key,
/// freed when replaced or when its thread exits.
enum LastError {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        _ = pthread_key_create(&key) { free($0) }
        return key
    }()

    /// "" for threads that have not failed yet (static storage).
    private static let empty = StaticCString("")

    /// Replaces the calling thread's message.
    static func set(_ message: String) {
        free(pthread_getspecific(key))
        _ = pthread_setspecific(key, message.withCString { strdup($0) })
    }

    /// The calling thread's message.
    static var current: UnsafePointer<CChar> {
        guard let raw = pthread_getspecific(key) else { return empty.pointer }
        return UnsafePointer(raw.assumingMemoryBound(to: CChar.self))
    }
}

/// A C string allocated once and never freed, for functions that return static storage.
struct StaticCString: @unchecked Sendable {
    /// The NUL-terminated bytes (immutable after `init`).
    let pointer: UnsafePointer<CChar>

    init(_ text: String) {
        let bytes = text.utf8CString
        let storage = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
        bytes.withUnsafeBufferPointer { storage.initialize(from: $0.baseAddress!, count: $0.count) }
        pointer = UnsafePointer(storage)
    }
}

/// What an `rf_batch *` points to: the rows appended so far.
final class Batch {
    /// The rows, in append order.
    var rows = StepRows()
    /// Set when an append failed part-way: the message `rf_score` refuses the batch with.
    var broken: String?
    /// The appends' per-thread string tables, kept (cleared) from one append to the next.
    let appendWorkspace = AppendWorkspace()
    /// The scores' large per-row arrays (index, row nodes, outputs), kept from one score to
    /// the next: a trainer scoring a batch of about the same size every step reuses them.
    let scoringWorkspace = ScoringWorkspace()

    /// The batch behind a handle (not retained), or a failure for NULL.
    static func from(_ handle: OpaquePointer?) throws(Failure) -> Batch {
        guard let handle else { throw .argument("batch: NULL handle") }
        return Unmanaged<Batch>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }
}

/// The checks of an `rf_string_column` before the engine reads it.
///
/// This and `OutputColumn` are the only places that read or write caller memory by offset; the
/// engine then reads exactly the strings these checks covered.
enum StringColumn {
    /// The column as borrowed strings (nil for RF_STRINGS_NONE), after checking that offsets
    /// are `count + 1` non-negative, non-decreasing entries with `data` present when a string
    /// is non-empty, or that each of `count` views has a non-negative length and a pointer.
    static func borrow(_ column: rf_string_column, count: Int, name: String) throws(Failure) -> BorrowedStrings? {
        switch UInt32(bitPattern: column.layout) {
        case RF_STRINGS_NONE.rawValue:
            return nil
        case RF_STRINGS_OFFSETS.rawValue:
            guard let offsets = column.offsets else { throw .argument("\(name): offsets are NULL") }
            guard offsets[0] >= 0 else { throw .argument("\(name): offsets[0] is negative (\(offsets[0]))") }
            for i in 0..<count where offsets[i + 1] < offsets[i] {
                throw .argument("\(name): offsets decrease at index \(i + 1) (\(offsets[i]) then \(offsets[i + 1]))")
            }
            guard column.data != nil || offsets[count] == offsets[0] else {
                throw .argument("\(name): data is NULL but the strings are not all empty")
            }
            return BorrowedStrings(.offsets(base: column.data.map { UnsafeRawPointer($0) }, offsets: offsets))
        case RF_STRINGS_VIEWS.rawValue:
            guard let views = column.views else { throw .argument("\(name): views are NULL") }
            for i in 0..<count {
                let view = views[i]
                guard view.length >= 0 else { throw .argument("\(name): view \(i) has a negative length (\(view.length))") }
                guard view.data != nil || view.length == 0 else {
                    throw .argument("\(name): view \(i) has a NULL pointer and length \(view.length)")
                }
            }
            return BorrowedStrings(.views(UnsafeRawPointer(views)))
        default:
            throw .argument("\(name): unknown layout \(column.layout)")
        }
    }
}

/// A caller-owned output array of at least the batch's row count (NULL: not written).
struct OutputColumn {
    let pointer: UnsafeMutablePointer<Double>?

    /// Copies `values` (or zeros when `values` is nil) into the array, in contiguous chunks on
    /// up to `threads` threads: a caller's fresh array is faulted in by all of them, not by
    /// one serial copy.
    func write(_ values: [Double]?, count: Int, threads: Int) {
        guard let pointer, count > 0 else { return }
        guard let values else {
            Parallel.forEachChunk(threads: threads, count: count, minimumChunk: 1 << 16, work: count) { range in
                (pointer + range.lowerBound).update(repeating: 0, count: range.count)
            }
            return
        }
        let n = min(count, values.count)
        values.withUnsafeBufferPointer { source in
            guard let start = source.baseAddress else { return }
            Parallel.forEachChunk(threads: threads, count: n, minimumChunk: 1 << 16, work: n) { range in
                (pointer + range.lowerBound).update(from: start + range.lowerBound, count: range.count)
            }
        }
    }
}

extension ScoringOptions {
    /// Options from a C `rf_options` (NULL: defaults). Only whole fields that lie inside the
    /// caller's `struct_size` bytes are read; every other field keeps its default, so callers
    /// compiled against an older, shorter struct keep working and a size that ends inside a
    /// field never yields half of a pointer. A field appended to `rf_options` needs one more
    /// `copy` line below.
    init(_ pointer: UnsafePointer<rf_options>?) throws(Failure) {
        self.init()
        guard let pointer else { return }
        let source = UnsafeRawPointer(pointer)
        // The one field every caller has: read alone, not as part of a whole struct.
        let given = source.load(as: Int.self)
        guard given >= MemoryLayout<Int>.size else {
            throw .argument("options: struct_size is \(given); initialise options with rf_options_init")
        }
        var c = defaultOptions()
        /// Takes the caller's `field` if its bytes lie wholly within the first `given` bytes.
        func copy<T>(_ field: WritableKeyPath<rf_options, T>) {
            guard let offset = MemoryLayout<rf_options>.offset(of: field),
                  offset + MemoryLayout<T>.size <= given else { return }
            c[keyPath: field] = source.load(fromByteOffset: offset, as: T.self)
        }
        copy(\.operator_name)
        copy(\.gamma)
        copy(\.alpha)
        copy(\.solver)
        copy(\.tolerance)
        copy(\.max_iterations)
        copy(\.node_reward)
        copy(\.advantage)
        copy(\.step_weight)
        copy(\.similarity)
        copy(\.step_group_similarity)
        copy(\.goal_reward)
        copy(\.step_reward)
        copy(\.episode_weighting)
        copy(\.episode_weight)
        copy(\.step_group_history)

        if let name = try Self.text(c.operator_name, "operator") {
            guard let op = PropagationOperator(rawValue: name) else {
                throw Self.unknown("operator", name, PropagationOperator.allCases.map(\.rawValue))
            }
            propagation = op
        }
        if let name = try Self.text(c.solver, "solver") {
            guard let solver = LinearSolver(rawValue: name) else {
                throw Self.unknown("solver", name, LinearSolver.allCases.map(\.rawValue))
            }
            self.solver = solver
        }
        if let name = try Self.text(c.node_reward, "node_reward") {
            guard let policy = NodeRewardPolicy(rawValue: name) else {
                throw Self.unknown("node_reward", name, NodeRewardPolicy.allCases.map(\.rawValue))
            }
            nodeReward = policy
        }
        if let name = try Self.text(c.advantage, "advantage"), !name.isEmpty, name != "none" {
            guard let mode = AdvantageMode(rawValue: name) else {
                throw Self.unknown("advantage", name, ["none"] + AdvantageMode.allCases.map(\.rawValue))
            }
            advantage = mode
        }
        guard c.max_iterations > 0 else {
            throw Failure(.invalidParameter(name: "max_iterations", message: "must be positive, got \(c.max_iterations)"))
        }
        guard c.tolerance.isFinite, c.tolerance > 0 else {
            throw Failure(.invalidParameter(name: "tolerance", message: "must be a positive number, got \(c.tolerance)"))
        }
        gamma = c.gamma
        alpha = c.alpha
        tolerance = c.tolerance
        maxIterations = Int(c.max_iterations)
        stepWeight = c.step_weight
        // 0 is off; anything else is checked by `Scorer` (NaN and values outside (0, 1] refused).
        similarity = c.similarity == 0 ? nil : c.similarity
        stepGroupSimilarity = c.step_group_similarity == 0 ? nil : c.step_group_similarity
        try readCreditOptions(c)
    }

    /// The fields after `step_group_similarity` (goal reward, step-reward mode, episode
    /// weighting and weight, step-group history); 0 / NULL / "" mean the default.
    private mutating func readCreditOptions(_ c: rf_options) throws(Failure) {
        if c.goal_reward != 0 { goalReward = c.goal_reward }
        if let name = try Self.text(c.step_reward, "step_reward"), !name.isEmpty {
            guard let mode = StepRewardMode(rawValue: name) else {
                throw Self.unknown("step_reward", name, StepRewardMode.allCases.map(\.rawValue))
            }
            stepReward = mode
        }
        if let name = try Self.text(c.episode_weighting, "episode_weighting"), !name.isEmpty {
            guard let weighting = EpisodeWeighting(rawValue: name) else {
                throw Self.unknown("episode_weighting", name, EpisodeWeighting.allCases.map(\.rawValue))
            }
            episodeWeighting = weighting
        }
        episodeWeight = c.episode_weight
        guard c.step_group_history >= 0, c.step_group_history <= Int64(Int32.max) else {
            throw Failure(.invalidParameter(name: "step_group_history", message: "must be an integer >= 0, got \(c.step_group_history)"))
        }
        stepGroupHistory = Int(c.step_group_history)
    }

    /// A C string option as Swift text (nil for NULL).
    private static func text(_ pointer: UnsafePointer<CChar>?, _ name: String) throws(Failure) -> String? {
        guard let pointer else { return nil }
        guard let text = String(validatingCString: pointer) else {
            throw Failure(.invalidParameter(name: name, message: "not valid UTF-8"))
        }
        return text
    }

    /// The error for a name outside `choices`.
    private static func unknown(_ name: String, _ value: String, _ choices: [String]) -> Failure {
        Failure(.invalidParameter(name: name, message: "unknown value '\(value)' (choose \(choices.joined(separator: ", ")))"))
    }
}
