import Glibc
import CRewardFlowAPI
import RewardFlow

/// A failed C call: the status it returns and the message `rf_last_error()` gives.
struct Failure: Error {
    var status: rf_status
    var message: String

    /// API misuse (`RF_ERR_INVALID_ARGUMENT`).
    static func argument(_ message: String) -> Failure {
        Failure(status: RF_ERR_INVALID_ARGUMENT, message: message)
    }

    /// The library's error, with the status of its kind.
    init(_ error: RewardFlowError) {
        switch error {
        case .invalidInput: status = RF_ERR_INVALID_INPUT
        case .invalidParameter: status = RF_ERR_INVALID_PARAMETER
        case .numerical: status = RF_ERR_NUMERICAL
        case .io: status = RF_ERR_INTERNAL
        }
        message = error.description
    }

    init(status: rf_status, message: String) {
        self.status = status
        self.message = message
    }
}

/// Runs `body`, turning the library's typed error into a `Failure`.
func library<T>(_ body: () throws(RewardFlowError) -> T) throws(Failure) -> T {
    do throws(RewardFlowError) {
        return try body()
    } catch {
        throw Failure(error)
    }
}

/// The body of every fallible C entry point: `RF_OK`, or the failure's status with its message
/// stored for `rf_last_error()`.
func status(_ body: () throws(Failure) -> Void) -> rf_status {
    do throws(Failure) {
        try body()
        return RF_OK
    } catch {
        LastError.set(error.message)
        return error.status
    }
}

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

    /// Copies `values` (or zeros when `values` is nil) into the array.
    func write(_ values: [Double]?, count: Int) {
        guard let pointer, count > 0 else { return }
        if let values {
            values.withUnsafeBufferPointer { source in
                guard let start = source.baseAddress else { return }
                pointer.update(from: start, count: min(count, source.count))
            }
        } else {
            pointer.update(repeating: 0, count: count)
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
