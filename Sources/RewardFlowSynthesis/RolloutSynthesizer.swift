import RewardFlow
import Glibc
import SystemPackage

/// A seeded generator of realistic rollout batches (SPEC §1 step rows).
///
/// Each group has its own hidden environment: latent states in layers, a few actions per state
/// whose targets move forward, sideways, back (cycles) or skip a layer, goal states with a
/// terminal reward in the last layer, and a trap of dead-end states. The group's rollouts share
/// one stochastic policy (same prompt, same model), so they revisit many of the same states.
/// An invalid action leaves the state unchanged (a self-loop, or the shared text
/// "Nothing happens."), optionally with a negative reward and a `noop` mark.
///
/// A walk ends on reaching a goal (then one more row, inactive, holds the goal observation) or
/// after `maxSteps` observations. Groups are generated independently from `(seed, group)`, so
/// the output is the same whatever the thread count.
public struct RolloutSynthesizer: Sendable {
    /// The parameters.
    public let options: SynthesisOptions

    /// Creates a synthesizer; refuses parameters outside their domains.
    public init(_ options: SynthesisOptions) throws(RewardFlowError) {
        try options.validate()
        self.options = options
    }

    /// The batch as in-memory rows, with text states (`.text`) or 64-bit state keys (`.key`).
    public func rows(identity: StateIdentity = .text) -> StepRows {
        var batch = StepRows()
        batch.fixIdentity(identity)
        var summary = SynthesisSummary()
        forEachBlock { block in
            for walks in block {
                summary.add(walks)
                walks.append(to: &batch, identity: identity)
            }
        }
        return batch
    }

    /// The batch as JSONL bytes (the format `rewardflow synth` writes).
    public func jsonl() -> [UInt8] {
        var out: [UInt8] = []
        forEachBlock { block in
            for part in renderBlock(block) { out.append(contentsOf: part) }
        }
        return out
    }

    /// Writes the batch as JSONL to the file descriptor `fd`; `progress` gets the rows so far.
    public func writeJSONL(
        to fd: Int32, path: String = "<output>", progress: ((Int) -> Void)? = nil
    ) throws(RewardFlowError) -> SynthesisSummary {
        var summary = SynthesisSummary()
        var failure: RewardFlowError?
        forEachBlock { block in
            guard failure == nil else { return }
            for walks in block { summary.add(walks) }
            for part in renderBlock(block) {
                do throws(RewardFlowError) {
                    try FileIO.writeAll(FileDescriptor(rawValue: fd), part, path: path)
                } catch {
                    failure = error
                    return
                }
            }
            progress?(summary.rows)
        }
        if let failure { throw failure }
        return summary
    }

    // MARK: - Blocks of groups, generated in parallel

    static let blockSize = 64

    /// Generates groups in blocks (in parallel inside a block) and hands each block over in order.
    func forEachBlock(_ body: ([GroupWalks]) -> Void) {
        var lo = 0
        while lo < options.groups {
            let hi = min(options.groups, lo + RolloutSynthesizer.blockSize)
            var block = [GroupWalks?](repeating: nil, count: hi - lo)
            Parallel.forEachChunk(threads: Parallel.threads(options.threads), count: hi - lo, writing: &block) { range, output in
                for i in range { output[i] = walkGroup(lo + i) }
            }
            body(block.map { $0! })
            lo = hi
        }
    }

    func renderBlock(_ block: [GroupWalks]) -> [[UInt8]] {
        var parts = [[UInt8]](repeating: [], count: block.count)
        Parallel.forEachChunk(threads: Parallel.threads(options.threads), count: block.count, writing: &parts) { range, output in
            for i in range { output[i] = block[i].renderJSONL(markNoop: options.markNoop) }
        }
        return parts
    }

    // MARK: - One group

    func walkGroup(_ g: Int) -> GroupWalks {
        let world = World(options, group: g)
        var rng = SeededRandom(options.seed, UInt64(g), 0x57A1_C0DE)
        var walks = GroupWalks(world: world, group: g)
        walks.perturbFraction = options.perturbFraction
        walks.seed = options.seed
        let o = options
        let nothingState = Int32(-1)
        var observations: [Int32] = []
        var arrivalReward: [Double] = []
        var actions: [Int32] = []
        var invalid: [Bool] = []
        for r in 0..<o.rollouts {
            var s = 0
            var observation = Int32(0)
            var reward = 0.0
            var goal = false
            observations.removeAll(keepingCapacity: true)
            arrivalReward.removeAll(keepingCapacity: true)
            actions.removeAll(keepingCapacity: true)
            invalid.removeAll(keepingCapacity: true)
            for t in 0..<o.maxSteps {
                observations.append(observation)
                arrivalReward.append(reward)
                if goal || t == o.maxSteps - 1 { break }
                if rng.unit() < o.invalidProbability {
                    actions.append(GroupWalks.invalidAction(s))
                    invalid.append(true)
                    reward = o.negativePenalty != 0 ? -o.negativePenalty : 0
                    observation = o.invalidObservation == .nothing ? nothingState : Int32(s)
                } else {
                    let a = world.pickAction(s, rng.unit())
                    actions.append(Int32(s * o.branching + a))
                    invalid.append(false)
                    s = Int(world.target[s * o.branching + a])
                    observation = Int32(s)
                    if world.isGoal[s] {
                        reward = world.goalReward[s]
                        goal = true
                    } else {
                        reward = 0
                    }
                }
            }
            let length = observations.count
            actions.append(GroupWalks.noAction)
            invalid.append(false)
            for t in 0..<length {
                walks.rows.append(GroupWalks.Row(
                    rollout: Int32(r), step: Int32(t), observation: observations[t], action: actions[t],
                    reward: t + 1 < length ? arrivalReward[t + 1] : 0,
                    active: !(goal && t == length - 1), noop: invalid[t]))
            }
            walks.trajectories += 1
            if goal { walks.successes += 1 }
        }
        return walks
    }
}

extension SynthesisSummary {
    mutating func add(_ walks: GroupWalks) {
        rows += walks.rows.count
        trajectories += walks.trajectories
        successes += walks.successes
        var seen = Set<Int32>()
        for row in walks.rows { seen.insert(row.observation) }
        uniqueObservations += seen.count
    }
}


extension RolloutSynthesizer {
    /// `value` in decimal, zero-padded to at least `width` digits.
    static func padded(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
