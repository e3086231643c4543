/// How the rows of a batch name their states (SPEC §1): by text or by a 64-bit key, never mixed.
public enum StateIdentity: Sendable, Hashable {
    /// States are byte strings (`state`); equal bytes are the same state.
    case text
    /// States are unsigned 64-bit keys (`state_key`) chosen by the embedder.
    case key
}

/// A batch of step rows (SPEC §1) in compact columnar storage.
///
/// Strings are interned (`InternTable`), numbers live in flat arrays: one row costs a few dozen
/// bytes whatever its text. Rows keep their input order; `TrajectoryIndex` orders them.
public struct StepRows: Sendable {
    /// Group names, interned in order of first appearance (so id order is trajectory order).
    package internal(set) var groupNames = InternTable()
    /// Trajectory names (shared table; a trajectory is identified by its group and its name).
    package internal(set) var trajectoryNames = InternTable()
    /// State texts (for `.text` identity).
    package internal(set) var stateTexts = InternTable()
    /// State keys (for `.key` identity).
    package internal(set) var stateKeys = KeyInternTable()
    /// Action labels.
    package internal(set) var actionNames = InternTable()

    /// Per row: group id (index into `groupNames`).
    public private(set) var group: [Int32] = []
    /// Per row: trajectory name id (index into `trajectoryNames`).
    public private(set) var trajectory: [Int32] = []
    /// Per row: step number.
    public internal(set) var step: [Int32] = []
    /// Per row: state id (index into `stateTexts` or `stateKeys`).
    public private(set) var state: [Int32] = []
    /// Per row: action id (index into `actionNames`).
    public private(set) var action: [Int32] = []
    /// Per row: environment reward of the action taken at this step.
    public internal(set) var reward: [Double] = []
    /// Per row: `active` mask.
    public internal(set) var active: [Bool] = []
    /// Per row: the transition out of this row is not a real move.
    public internal(set) var noop: [Bool] = []
    /// Per row: 1-based source line when read from JSONL (empty for in-memory batches).
    public private(set) var sourceLine: [Int32] = []

    /// How states are named; fixed by the first row.
    public private(set) var identity: StateIdentity?

    /// Creates an empty batch.
    public init() {}

    /// The largest step number a row may carry (steps are stored as `Int32`): 2^31 − 1.
    public static let maxStep = Int(Int32.max)
    /// The most rows one batch holds (row indices are `Int32`): 2^31 − 2.
    public static let maxRows = Int(Int32.max) - 1

    /// The message for a step above `maxStep`, `text` being the step as given.
    static func stepTooLarge(_ text: String) -> String {
        "must be at most \(maxStep) (2^31 − 1), got \(text)"
    }

    /// The number of rows.
    public var count: Int { group.count }

    /// The number of distinct states (texts or keys).
    public var stateCount: Int { identity == .key ? stateKeys.count : stateTexts.count }

    /// Where row `index` came from, for error messages.
    public func location(ofRow index: Int) -> InputLocation {
        sourceLine.isEmpty ? .row(index) : .line(Int(sourceLine[index]))
    }

    /// Appends a row whose state is text.
    public mutating func append(
        group: String, trajectory: String, step: Int, state: String, action: String = "",
        reward: Double, active: Bool = true, noop: Bool = false
    ) throws(RewardFlowError) {
        let location = InputLocation.row(count)
        try setIdentity(.text, at: location)
        let stateID = stateTexts.intern(state)
        try appendColumns(
            group: groupNames.intern(group), trajectory: trajectoryNames.intern(trajectory),
            step: step, state: stateID, action: actionNames.intern(action), reward: reward,
            active: active, noop: noop, location: location, line: nil)
    }

    /// Appends a row whose state is a 64-bit key.
    public mutating func append(
        group: String, trajectory: String, step: Int, stateKey: UInt64, action: String = "",
        reward: Double, active: Bool = true, noop: Bool = false
    ) throws(RewardFlowError) {
        let location = InputLocation.row(count)
        try setIdentity(.key, at: location)
        let stateID = stateKeys.intern(stateKey)
        try appendColumns(
            group: groupNames.intern(group), trajectory: trajectoryNames.intern(trajectory),
            step: step, state: stateID, action: actionNames.intern(action), reward: reward,
            active: active, noop: noop, location: location, line: nil)
    }

    // MARK: - Used by the readers (already-interned fields)

    mutating func setIdentity(_ kind: StateIdentity, at location: InputLocation) throws(RewardFlowError) {
        if let identity, identity != kind {
            let field = kind == .text ? "state" : "state_key"
            throw .invalidInput(
                location: location, field: field,
                message: "the batch names states by \(identity == .text ? "`state`" : "`state_key`"); a row may not use `\(field)`")
        }
        identity = kind
    }

    /// The id of state key `key`.
    package mutating func internStateKey(_ key: UInt64) -> Int32 { stateKeys.intern(key) }
    /// The id of group name `name` (its UTF-8 bytes; interned on first sight).
    package mutating func internGroup(_ name: String) -> Int32 { groupNames.intern(name) }
    /// The id of trajectory name `name`.
    package mutating func internTrajectory(_ name: String) -> Int32 { trajectoryNames.intern(name) }
    /// The id of state text `text`.
    package mutating func internState(_ text: String) -> Int32 { stateTexts.intern(text) }
    /// The id of action label `label`.
    package mutating func internAction(_ label: String) -> Int32 { actionNames.intern(label) }

    /// Interns group name `bytes` (UTF-8), checking first whether it is string `hint` (the
    /// previous row's group, or -1).
    mutating func internGroup(_ bytes: Span<UInt8>, hint: Int32) -> Int32 {
        hint >= 0 && groupNames.holds(hint, bytes) ? hint : groupNames.intern(bytes)
    }
    /// Interns trajectory name `bytes`, checking first whether it is string `hint`.
    mutating func internTrajectory(_ bytes: Span<UInt8>, hint: Int32) -> Int32 {
        hint >= 0 && trajectoryNames.holds(hint, bytes) ? hint : trajectoryNames.intern(bytes)
    }
    /// The id of state text `bytes`.
    mutating func internState(_ bytes: Span<UInt8>) -> Int32 { stateTexts.intern(bytes) }
    /// The id of action label `bytes`.
    mutating func internAction(_ bytes: Span<UInt8>) -> Int32 { actionNames.intern(bytes) }

    /// Reserves room for the rows of a JSONL input of `bytes` bytes (rows ≤ bytes / 64, state
    /// text ≤ bytes / 4 before doubling takes over).
    mutating func reserve(forInputBytes bytes: Int) {
        reserveCapacity(count + bytes / 64)
        sourceLine.reserveCapacity(count + bytes / 64)
        stateTexts.reserveBytes(bytes / 4)
    }

    /// Reserves room for `count` more bytes of state text.
    mutating func reserveStateBytes(_ count: Int) { stateTexts.reserveBytes(stateTexts.byteCount + count) }

    mutating func reserveCapacity(_ n: Int) {
        group.reserveCapacity(n); trajectory.reserveCapacity(n); step.reserveCapacity(n)
        state.reserveCapacity(n); action.reserveCapacity(n); reward.reserveCapacity(n)
        active.reserveCapacity(n); noop.reserveCapacity(n)
    }

    /// Appends the rows of `other` (parsed from the lines after this batch's), interning its
    /// strings into this batch's tables in their order of first appearance in `other`.
    mutating func append(contentsOf other: StepRows, lineOffset: Int) throws(RewardFlowError) {
        guard other.count > 0 else { return }
        if let kind = other.identity {
            try setIdentity(kind, at: other.sourceLine.isEmpty ? .row(count) : .line(lineOffset + Int(other.sourceLine[0])))
        }
        let groupMap = groupNames.absorb(other.groupNames)
        let trajectoryMap = trajectoryNames.absorb(other.trajectoryNames)
        let stateMap = identity == .key ? stateKeys.absorb(other.stateKeys) : stateTexts.absorb(other.stateTexts)
        let actionMap = actionNames.absorb(other.actionNames)
        reserveCapacity(count + other.count)
        StepRows.appendMapped(other.group, groupMap, to: &group)
        StepRows.appendMapped(other.trajectory, trajectoryMap, to: &trajectory)
        StepRows.appendMapped(other.state, stateMap, to: &state)
        StepRows.appendMapped(other.action, actionMap, to: &action)
        step.append(contentsOf: other.step)
        reward.append(contentsOf: other.reward)
        active.append(contentsOf: other.active)
        noop.append(contentsOf: other.noop)
        if !other.sourceLine.isEmpty {
            let shift = Int32(truncatingIfNeeded: lineOffset)
            sourceLine.append(contentsOf: other.sourceLine.lazy.map { $0 &+ shift })
        }
    }

    /// Removes every row and string, keeping the storage for reuse.
    package mutating func removeAll(keepingCapacity: Bool) {
        groupNames.removeAll(keepingCapacity: keepingCapacity)
        trajectoryNames.removeAll(keepingCapacity: keepingCapacity)
        stateTexts.removeAll(keepingCapacity: keepingCapacity)
        stateKeys.removeAll(keepingCapacity: keepingCapacity)
        actionNames.removeAll(keepingCapacity: keepingCapacity)
        group.removeAll(keepingCapacity: keepingCapacity)
        trajectory.removeAll(keepingCapacity: keepingCapacity)
        step.removeAll(keepingCapacity: keepingCapacity)
        state.removeAll(keepingCapacity: keepingCapacity)
        action.removeAll(keepingCapacity: keepingCapacity)
        reward.removeAll(keepingCapacity: keepingCapacity)
        active.removeAll(keepingCapacity: keepingCapacity)
        noop.removeAll(keepingCapacity: keepingCapacity)
        sourceLine.removeAll(keepingCapacity: keepingCapacity)
        identity = nil
    }

    /// Appends `map[id]` for every id of `ids` (one bulk append, no per-element checks).
    private static func appendMapped(_ ids: [Int32], _ map: [Int32], to column: inout [Int32]) {
        ids.withUncheckedView { source in
            map.withUncheckedView { m in
                column.append(contentsOf: (0..<source.count).lazy.map { m[Int(source[$0])] })
            }
        }
    }

    /// Sets how states are named (synthesised batches, which fix it up front).
    package mutating func fixIdentity(_ kind: StateIdentity) { identity = kind }

    /// Appends a row whose fields are known to be valid (the synthesizer's rows).
    package mutating func appendTrusted(
        group g: Int32, trajectory t: Int32, step s: Int32, state st: Int32, action a: Int32,
        reward r: Double, active act: Bool, noop n: Bool
    ) {
        group.append(g); trajectory.append(t); step.append(s); state.append(st)
        action.append(a); reward.append(r); active.append(act); noop.append(n)
    }

    /// The id columns (group, trajectory, state, action), moved out of the batch for a caller
    /// that fills them in place; `restoreIDColumns` puts them back. In between the batch's
    /// row count reads 0 and its rows must not be read.
    mutating func takeIDColumns() -> [[Int32]] {
        defer { (group, trajectory, state, action) = ([], [], [], []) }
        return [group, trajectory, state, action]
    }

    /// Puts back the id columns taken by `takeIDColumns`, all of one length.
    mutating func restoreIDColumns(_ columns: [[Int32]]) {
        (group, trajectory, state, action) = (columns[0], columns[1], columns[2], columns[3])
    }

    /// Interns every string (or key) of `part`'s tables into this batch's, in id order; returns
    /// the maps from `part`'s ids to this batch's: group, trajectory, state, action.
    mutating func absorbTables(of part: StepRows) -> [[Int32]] {
        [groupNames.absorb(part.groupNames), trajectoryNames.absorb(part.trajectoryNames),
         identity == .key ? stateKeys.absorb(part.stateKeys) : stateTexts.absorb(part.stateTexts),
         actionNames.absorb(part.actionNames)]
    }

    mutating func appendColumns(
        group g: Int32, trajectory t: Int32, step s: Int, state st: Int32, action a: Int32,
        reward r: Double, active act: Bool, noop n: Bool, location: InputLocation, line: Int?
    ) throws(RewardFlowError) {
        guard r.isFinite else {
            throw .invalidInput(location: location, field: "reward", message: "not a finite number (NaN and infinities are refused)")
        }
        guard s >= 0 else {
            throw .invalidInput(location: location, field: "step", message: "must be a non-negative integer, got \(s)")
        }
        guard s <= StepRows.maxStep else {
            throw .invalidInput(location: location, field: "step", message: StepRows.stepTooLarge("\(s)"))
        }
        group.append(g); trajectory.append(t); step.append(Int32(s)); state.append(st)
        action.append(a); reward.append(r); active.append(act); noop.append(n)
        if let line { sourceLine.append(Int32(truncatingIfNeeded: line)) }
    }
}
