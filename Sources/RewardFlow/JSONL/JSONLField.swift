// The field table of the JSONL scanner: SPEC §1's field names, matched as 8-byte words.


/// The fields SPEC §1 knows.
enum JSONLField: Int, CaseIterable {
    case group, trajectory, step, state, stateKey, action, reward, active, noop

    var name: String {
        switch self {
        case .group: return "group"
        case .trajectory: return "trajectory"
        case .step: return "step"
        case .state: return "state"
        case .stateKey: return "state_key"
        case .action: return "action"
        case .reward: return "reward"
        case .active: return "active"
        case .noop: return "noop"
        }
    }

    /// The field named by `p`, by comparing its first eight bytes as one integer.
    static func match(_ p: UnsafeRawBufferPointer) -> JSONLField? {
        let n = p.count
        guard n >= 4 && n <= 10 else { return nil }
        let head = word(p.baseAddress!, min(n, 8))
        switch n {
        case 4:
            if head == word("step") { return .step }
            if head == word("noop") { return .noop }
        case 5:
            if head == word("group") { return .group }
            if head == word("state") { return .state }
        case 6:
            if head == word("action") { return .action }
            if head == word("reward") { return .reward }
            if head == word("active") { return .active }
        case 9:
            if head == word("state_ke") && p[8] == UInt8(ascii: "y") { return .stateKey }
        case 10:
            if head == word("trajecto") && p[8] == UInt8(ascii: "r") && p[9] == UInt8(ascii: "y") { return .trajectory }
        default: break
        }
        return nil
    }

    /// Up to eight bytes as a little-endian integer (zero-padded).
    @inline(__always)
    private static func word(_ p: UnsafeRawPointer, _ n: Int) -> UInt64 {
        var w: UInt64 = 0
        for i in 0..<n { w |= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(i)) }
        return w
    }

    @inline(__always)
    private static func word(_ s: StaticString) -> UInt64 {
        word(UnsafeRawPointer(s.utf8Start), min(s.utf8CodeUnitCount, 8))
    }
}
