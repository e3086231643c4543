/// Where a bad input value sits: a 1-based JSONL line, or a 0-based row index of an in-memory batch.
public enum InputLocation: Sendable, Hashable, CustomStringConvertible {
    /// A 1-based line of a JSONL text.
    case line(Int)
    /// A 0-based row index of a batch built in memory.
    case row(Int)
    /// The input as a whole (for example: it holds no rows).
    case input

    /// The location as text: `line N`, `row N` or `input`.
    public var description: String {
        switch self {
        case .line(let n): return "line \(n)"
        case .row(let n): return "row \(n)"
        case .input: return "input"
        }
    }
}

/// The one error type the library throws.
///
/// Every case renders as one line fit for a terminal: `line 7: reward: not a finite number`.
public enum RewardFlowError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Input rows that break SPEC §1; `field` names the offending field (`"json"` for syntax).
    case invalidInput(location: InputLocation, field: String, message: String)
    /// An option outside its domain, for example `gamma = 1.5`.
    case invalidParameter(name: String, message: String)
    /// A numerical method that could not deliver an answer (no convergence, not positive definite).
    case numerical(message: String)
    /// A file that could not be read or written.
    case io(path: String, message: String)

    /// The same error with a `.line` location moved down by `offset` lines.
    func shiftingLines(by offset: Int) -> RewardFlowError {
        if case .invalidInput(.line(let n), let field, let message) = self {
            return .invalidInput(location: .line(n + offset), field: field, message: message)
        }
        return self
    }

    /// One line: the location, field or parameter name, then the message.
    public var description: String {
        switch self {
        case .invalidInput(let location, let field, let message):
            return "\(location): \(field): \(message)"
        case .invalidParameter(let name, let message):
            return "\(name): \(message)"
        case .numerical(let message):
            return "numerical: \(message)"
        case .io(let path, let message):
            return "\(path): \(message)"
        }
    }
}
