import Glibc
import SystemPackage

/// What kind of observation an invalid action produces.
public enum InvalidObservation: String, Sendable, CaseIterable {
    /// The observation repeats (a self-loop in the state graph).
    case same
    /// The text "Nothing happens." shared by the whole group (ALFWorld's answer).
    case nothing
}

/// Parameters of `RolloutSynthesizer` (the defaults give an ALFWorld-like batch).
public struct SynthesisOptions: Sendable {
    /// Prompt groups.
    public var groups = 16
    /// Rollouts per group.
    public var rollouts = 8
    /// Observations per trajectory at most (so at most `maxSteps − 1` actions).
    public var maxSteps = 50
    /// Latent states per group's hidden environment.
    public var states = 200
    /// Actions per latent state.
    public var branching = 4
    /// Layers of the environment (0: `round(√states / 1.5)`, at least 3).
    public var depth = 0
    /// Goal states (terminal, rewarded) in the last layer.
    public var goals = 3
    /// Fraction of latent states that are dead ends (they only lead to dead ends).
    public var deadFraction = 0.03
    /// Relative weights of forward, lateral, back (cycles) and skip moves.
    public var moveWeights: (forward: Double, lateral: Double, back: Double, skip: Double) = (0.5, 0.2, 0.2, 0.1)
    /// Scale of the shared policy's logits (larger: rollouts agree more).
    public var beta = 1.5
    /// Logit bonus of forward and skip moves.
    public var forwardBias = 2.0
    /// Probability that a step is an invalid action (the latent state does not change).
    public var invalidProbability = 0.08
    /// What an invalid action shows.
    public var invalidObservation = InvalidObservation.same
    /// Reward `−P` of an invalid action (0: none).
    public var negativePenalty = 0.0
    /// Terminal reward of a goal.
    public var goalReward = 10.0
    /// Goal `i` gets `goalReward · U(1 − spread, 1)` (rounded to 6 decimals).
    public var goalSpread = 0.0
    /// Goal observations are the shared text "You Won!".
    public var wonObservation = false
    /// Short observation texts (same graph, fewer bytes).
    public var shortObservations = false
    /// Rows of invalid actions carry `noop: true`.
    public var markNoop = false
    /// The seed: equal options give byte-identical batches.
    public var seed: UInt64 = 0
    /// Fraction in [0, 1] of rows whose observation text is perturbed (seeded per row): a
    /// counter changed, two listed items swapped, a word dropped, or an accent added, so that
    /// near-duplicate texts exercise similarity merging (SPEC §2.1). 0: none.
    public var perturbFraction = 0.0
    /// Threads generating and rendering groups (nil: `Execution.threadCount`). The batch never
    /// depends on it.
    public var threads: Int?

    /// The defaults: 16 groups × 8 rollouts × 50 steps (the paper's batch).
    public init() {}

    /// The most latent states of a group's world (and of states × branching): 2^22.
    public static let maxStates = 1 << 22
    /// The most actions per latent state.
    public static let maxBranching = 1024

    func validate() throws(RewardFlowError) {
        func check(_ ok: Bool, _ name: String, _ message: String) throws(RewardFlowError) {
            if !ok { throw .invalidParameter(name: name, message: message) }
        }
        func range(_ value: Int, _ bounds: ClosedRange<Int>, _ name: String) throws(RewardFlowError) {
            try check(bounds.contains(value), name, "must be in \(bounds.lowerBound)...\(bounds.upperBound), got \(value)")
        }
        // Upper bounds: what one scoring batch holds (2^31 − 2 rows, steps below 2^31) and a
        // group's hidden world in memory (states × branching ≤ 2^22 targets per thread).
        let maxRows = StepRows.maxRows
        if let threads { try check(threads >= 1, "threads", "must be an integer >= 1, got \(threads)") }
        try range(groups, 1...maxRows, "groups")
        try range(rollouts, 1...maxRows, "rollouts")
        try range(maxSteps, 1...maxRows, "max-steps")
        try range(states, 2...Self.maxStates, "states")
        try range(branching, 1...Self.maxBranching, "branching")
        try check(states * branching <= Self.maxStates, "branching",
                  "must be at most \(Self.maxStates / states) with \(states) states (states × branching ≤ \(Self.maxStates)), got \(branching)")
        try range(depth, 0...states, "depth")
        try range(goals, 0...states, "goals")
        let (perGroup, o1) = rollouts.multipliedReportingOverflow(by: maxSteps)
        let (total, o2) = groups.multipliedReportingOverflow(by: perGroup)
        try check(!o1 && !o2 && total <= maxRows, "groups",
                  "must be such that groups × rollouts × max-steps ≤ \(maxRows) (one scoring batch)")
        try check(deadFraction >= 0 && deadFraction <= 1, "dead-frac", "must be in [0, 1]")
        let w = moveWeights
        try check([w.forward, w.lateral, w.back, w.skip].allSatisfy { $0 >= 0 && $0.isFinite }
                  && w.forward + w.lateral + w.back + w.skip > 0, "p-forward", "move weights must be non-negative with a positive sum")
        try check(beta.isFinite && forwardBias.isFinite, "beta", "must be finite")
        try check(invalidProbability >= 0 && invalidProbability <= 1, "invalid-prob", "must be in [0, 1]")
        try check(negativePenalty.isFinite, "neg-penalty", "must be finite")
        try check(goalReward.isFinite, "goal-reward", "must be finite")
        try check(goalSpread >= 0 && goalSpread <= 1, "goal-spread", "must be in [0, 1]")
        try check(perturbFraction >= 0 && perturbFraction <= 1, "perturb", "must be in [0, 1]")
    }
}

/// What a synthesis produced.
public struct SynthesisSummary: Sendable {
    /// Rows written.
    public var rows = 0
    /// Trajectories.
    public var trajectories = 0
    /// Trajectories that reached a goal.
    public var successes = 0
    /// Distinct observations, summed over groups.
    public var uniqueObservations = 0
}

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
            block.withUnsafeMutableBufferPointer { out in
                let output = SendableBuffer(out)
                Parallel.forEachChunk(threads: Parallel.threads(options.threads), count: hi - lo) { range in
                    for i in range { output[i] = walkGroup(lo + i) }
                }
            }
            body(block.map { $0! })
            lo = hi
        }
    }

    func renderBlock(_ block: [GroupWalks]) -> [[UInt8]] {
        var parts = [[UInt8]](repeating: [], count: block.count)
        parts.withUnsafeMutableBufferPointer { out in
            let output = SendableBuffer(out)
            Parallel.forEachChunk(threads: Parallel.threads(options.threads), count: block.count) { range in
                for i in range { output[i] = block[i].renderJSONL(markNoop: options.markNoop) }
            }
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

// MARK: - The hidden environment of one group

/// One group's hidden environment and shared policy.
struct World: Sendable {
    let states: Int, branching: Int
    /// Per (state, action): the target state.
    var target: [Int32]
    /// Per (state, action): the policy's cumulative distribution.
    var cumulative: [Double]
    var isGoal: [Bool]
    var goalReward: [Double]
    var receptacle: [Int32], receptacleNumber: [Int32], objectCount: [Int32]
    var objects: [Int32], objectNumbers: [Int32], inventory: [Int32], opened: [Bool]
    var verb: [Int32]
    var house: Int
    let won: Bool, short: Bool

    init(_ o: SynthesisOptions, group g: Int) {
        var rng = SeededRandom(o.seed, UInt64(g), 0x5EED)
        let K = o.states, b = o.branching
        states = K
        branching = b
        won = o.wonObservation
        short = o.shortObservations
        let D = o.depth > 0 ? o.depth : max(3, Int((Double(K).squareRoot() / 1.5).rounded()))
        var layer = [Int](repeating: 0, count: K)
        var rest = (1..<K).map { _ in 1 + rng.below(max(1, D - 1)) }
        rest.sort()
        for i in 1..<K { layer[i] = min(rest[i - 1], D - 1) }
        layer[K - 1] = D - 1
        var layerStart = [Int](repeating: 0, count: D + 1)
        for l in layer { layerStart[l + 1] += 1 }
        let layerCount = Array(layerStart.dropFirst())
        for l in 0..<D { layerStart[l + 1] += layerStart[l] }

        // Goals: distinct states of the last layer.
        var last = (0..<K).filter { layer[$0] == D - 1 }
        var goal = [Bool](repeating: false, count: K)
        for i in 0..<min(o.goals, last.count) {
            let j = i + rng.below(last.count - i)
            last.swapAt(i, j)
            goal[last[i]] = true
        }
        isGoal = goal
        // Dead ends: a trap that only leads to itself.
        var candidates = (1..<K).filter { !goal[$0] }
        let deadCount = min(candidates.count, Int((o.deadFraction * Double(K)).rounded()))
        var dead: [Int] = []
        for i in 0..<deadCount {
            let j = i + rng.below(candidates.count - i)
            candidates.swapAt(i, j)
            dead.append(candidates[i])
        }
        var isDead = [Bool](repeating: false, count: K)
        for d in dead { isDead[d] = true }

        // Action targets.
        let w = o.moveWeights
        let total = w.forward + w.lateral + w.back + w.skip
        let c0 = w.forward / total, c1 = (w.forward + w.lateral) / total, c2 = (w.forward + w.lateral + w.back) / total
        target = [Int32](repeating: 0, count: K * b)
        var forwardKind = [Bool](repeating: false, count: K * b)
        for s in 0..<K {
            let l = layer[s]
            for a in 0..<b {
                let u = rng.unit()
                let kind = u < c0 ? 0 : u < c1 ? 1 : u < c2 ? 2 : 3
                forwardKind[s * b + a] = kind == 0 || kind == 3
                var tl: Int
                switch kind {
                case 0: tl = l + 1
                case 1: tl = l
                case 2: tl = rng.below(max(l, 1))
                default: tl = l + 2
                }
                tl = min(max(tl, 0), D - 1)
                var t = layerCount[tl] > 0 ? layerStart[tl] + rng.below(layerCount[tl]) : rng.below(K)
                if t == s {
                    // Valid moves never self-loop: go forward instead.
                    let fl = min(l + 1, D - 1)
                    t = layerCount[fl] > 0 ? layerStart[fl] + rng.below(layerCount[fl]) : rng.below(K)
                    if t == s { t = (t + 1) % K }
                }
                if isDead[s] {
                    t = rng.unit() < 0.3 ? s : dead[rng.below(dead.count)]
                }
                target[s * b + a] = Int32(t)
            }
        }
        // The shared policy: softmax of normal logits plus a forward bias.
        cumulative = [Double](repeating: 0, count: K * b)
        var logits = [Double](repeating: 0, count: b)
        for s in 0..<K {
            var top = -Double.infinity
            for a in 0..<b {
                logits[a] = rng.normal() * o.beta + (forwardKind[s * b + a] ? o.forwardBias : 0)
                top = max(top, logits[a])
            }
            var sum = 0.0
            for a in 0..<b {
                logits[a] = _exp(logits[a] - top)
                sum += logits[a]
            }
            var running = 0.0
            for a in 0..<b {
                running += logits[a] / sum
                cumulative[s * b + a] = running
            }
            cumulative[s * b + b - 1] = 1
        }
        goalReward = (0..<K).map { _ in
            let x = o.goalReward * (1 - o.goalSpread * rng.unit())
            return (x * 1e6).rounded() / 1e6
        }
        // Observation ingredients.
        receptacle = (0..<K).map { _ in Int32(rng.below(Vocabulary.receptacles.count)) }
        receptacleNumber = (0..<K).map { _ in Int32(1 + rng.below(6)) }
        objectCount = (0..<K).map { _ in Int32(rng.below(16)) }
        objects = (0..<(K * 15)).map { _ in Int32(rng.below(Vocabulary.objects.count)) }
        objectNumbers = (0..<(K * 15)).map { _ in Int32(1 + rng.below(3)) }
        inventory = (0..<K).map { _ in Int32(rng.below(Vocabulary.objects.count + 1)) - 1 }
        opened = (0..<K).map { _ in rng.below(2) == 1 }
        verb = (0..<(K * b)).map { _ in Int32(rng.below(Vocabulary.verbs.count)) }
        house = rng.below(1000)
    }

    /// The action the policy takes in state `s` for the uniform draw `u`.
    func pickAction(_ s: Int, _ u: Double) -> Int {
        let base = s * branching
        for a in 0..<branching where u < cumulative[base + a] { return a }
        return branching - 1
    }

    /// The observation text of latent state `s` (`-1`: "Nothing happens.").
    func observation(_ s: Int) -> String {
        if s < 0 { return "Nothing happens." }
        let location = "\(Vocabulary.receptacles[Int(receptacle[s])]) \(receptacleNumber[s])"
        if isGoal[s] && won { return "You Won!" }
        if short { return "room \(s) of house \(house), at \(location)" }
        if isGoal[s] {
            let object = Vocabulary.objects[Int(objects[s * 15])]
            return "You are in room \(s) of house \(house). You put the \(object) \(objectNumbers[s * 15]) in/on the \(location). Task complete: put a \(object) in \(location)."
        }
        let n = Int(objectCount[s])
        let items = (0..<n).map { "a \(Vocabulary.objects[Int(objects[s * 15 + $0])]) \(objectNumbers[s * 15 + $0])" }
        let seen: String
        switch n {
        case 0: seen = "you see nothing"
        case 1: seen = "you see " + items[0]
        default: seen = "you see " + items.dropLast().joined(separator: ", ") + ", and " + items[n - 1]
        }
        let carrying = inventory[s] < 0 ? "nothing" : "a \(Vocabulary.objects[Int(inventory[s])]) 1"
        return "You are in room \(s) of house \(house). You arrive at \(location). The \(location) is \(opened[s] ? "open" : "closed"). On the \(location), \(seen). You are carrying: \(carrying)."
    }

    /// The label of action `code` (see `GroupWalks`).
    func actionLabel(_ code: Int32) -> String {
        if code == GroupWalks.noAction { return "" }
        if code < 0 {
            let s = Int(-code - 2)
            let into = Vocabulary.receptacles[(Int(receptacle[s]) + 3) % Vocabulary.receptacles.count]
            return "put \(Vocabulary.objects[Int(objects[s * 15 + 1])]) \(objectNumbers[s * 15 + 1]) in \(into) 9"
        }
        let t = Int(target[Int(code)])
        return "\(Vocabulary.verbs[Int(verb[Int(code)])]) \(Vocabulary.receptacles[Int(receptacle[t])]) \(receptacleNumber[t])"
    }
}

/// The walks of one group, compactly: latent ids, rendered into text only when written.
struct GroupWalks: Sendable {
    /// One step row. `observation` is a latent state (`-1`: "Nothing happens."); `action` is
    /// `state · branching + a`, `noAction` for "", or `-(state + 2)` for an invalid action.
    struct Row: Sendable {
        var rollout: Int32, step: Int32, observation: Int32, action: Int32
        var reward: Double
        var active: Bool, noop: Bool
    }

    static let noAction = Int32(-1)
    static func invalidAction(_ s: Int) -> Int32 { Int32(-(s + 2)) }

    let world: World
    let group: Int
    var perturbFraction = 0.0
    var seed: UInt64 = 0
    var rows: [Row] = []
    var trajectories = 0
    var successes = 0

    init(world: World, group: Int) {
        self.world = world
        self.group = group
    }

    var groupName: String { "g" + RolloutSynthesizer.padded(group, 6) }
    func trajectoryName(_ r: Int32) -> String { groupName + "-r" + RolloutSynthesizer.padded(Int(r), 2) }

    /// A 64-bit key of an observation, unique per (group, observation).
    func stateKey(_ observation: Int32) -> UInt64 {
        SeededRandom.splitMix(UInt64(group) << 32 | UInt64(UInt32(bitPattern: observation + 1)))
    }

    func append(to batch: inout StepRows, identity: StateIdentity) {
        var name = groupName
        let g = name.withUTF8 { batch.internGroup(UnsafeRawBufferPointer($0)) }
        var textIDs: [Int32: Int32] = [:]
        var actionIDs: [Int32: Int32] = [:]
        var trajectory: Int32 = -1
        var currentRollout: Int32 = -1
        for row in rows {
            if row.rollout != currentRollout {
                currentRollout = row.rollout
                var t = trajectoryName(row.rollout)
                trajectory = t.withUTF8 { batch.internTrajectory(UnsafeRawBufferPointer($0)) }
            }
            let state: Int32
            if identity == .key {
                state = batch.internStateKey(stateKey(row.observation))
            } else if var perturbed = perturbedText(row) {
                state = perturbed.withUTF8 { batch.internState(UnsafeRawBufferPointer($0)) }
            } else if let id = textIDs[row.observation] {
                state = id
            } else {
                var text = world.observation(Int(row.observation))
                state = text.withUTF8 { batch.internState(UnsafeRawBufferPointer($0)) }
                textIDs[row.observation] = state
            }
            let action: Int32
            if let id = actionIDs[row.action] {
                action = id
            } else {
                var label = world.actionLabel(row.action)
                action = label.withUTF8 { batch.internAction(UnsafeRawBufferPointer($0)) }
                actionIDs[row.action] = action
            }
            batch.appendTrusted(
                group: g, trajectory: trajectory, step: row.step, state: state, action: action,
                reward: row.reward, active: row.active, noop: row.noop)
        }
    }

    /// The perturbed text of `row` (nil: the row shows its observation unchanged). Drawn from
    /// `(seed, group, rollout, step)`, so it never depends on the order rows are rendered in.
    func perturbedText(_ row: Row) -> String? {
        guard perturbFraction > 0 else { return nil }
        var rng = SeededRandom(seed, UInt64(group), UInt64(UInt32(bitPattern: row.rollout)) << 32 | UInt64(UInt32(bitPattern: row.step)), 0x9E27)
        guard rng.unit() < perturbFraction else { return nil }
        var words = world.observation(Int(row.observation)).split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard words.count > 2 else { return words.joined(separator: " ") + " ." }
        switch rng.below(4) {
        case 0:  // a counter
            let counters = words.indices.filter { words[$0].first?.isNumber == true }
            if !counters.isEmpty {
                let i = counters[rng.below(counters.count)]
                words[i] = String(rng.below(100)) + String(words[i].drop { $0.isNumber })
            } else {
                words.append(String(rng.below(100)))
            }
        case 1:  // two items swapped
            let i = rng.below(words.count), j = rng.below(words.count)
            words.swapAt(i, j)
        case 2:  // a word dropped
            words.remove(at: rng.below(words.count))
        default:  // an accent
            let i = rng.below(words.count)
            words[i] = String(words[i].map { $0 == "e" ? "é" : $0 })
        }
        return words.joined(separator: " ")
    }

    /// The rows as JSONL in the format of `../shared/tools/gen_trajectories.py --format rows`.
    func renderJSONL(markNoop: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(rows.count * 380)
        var texts: [Int32: [UInt8]] = [:]
        var labels: [Int32: [UInt8]] = [:]
        var trajectoryText: [UInt8] = []
        var currentRollout: Int32 = -1
        let groupText = JSONText.quoted(groupName)
        for row in rows {
            if row.rollout != currentRollout {
                currentRollout = row.rollout
                trajectoryText = JSONText.quoted(trajectoryName(row.rollout))
            }
            out.append(contentsOf: #"{"group": "#.utf8)
            out.append(contentsOf: groupText)
            out.append(contentsOf: #", "trajectory": "#.utf8)
            out.append(contentsOf: trajectoryText)
            out.append(contentsOf: #", "step": "#.utf8)
            DoubleFormatter.appendInteger(Int(row.step), to: &out)
            out.append(contentsOf: #", "state": "#.utf8)
            if let perturbed = perturbedText(row) {
                out.append(contentsOf: JSONText.quoted(perturbed))
            } else if let text = texts[row.observation] {
                out.append(contentsOf: text)
            } else {
                let text = JSONText.quoted(world.observation(Int(row.observation)))
                texts[row.observation] = text
                out.append(contentsOf: text)
            }
            out.append(contentsOf: #", "action": "#.utf8)
            if let label = labels[row.action] {
                out.append(contentsOf: label)
            } else {
                let label = JSONText.quoted(world.actionLabel(row.action))
                labels[row.action] = label
                out.append(contentsOf: label)
            }
            out.append(contentsOf: #", "reward": "#.utf8)
            DoubleFormatter.append(row.reward, to: &out)
            out.append(contentsOf: row.active ? #", "active": true"#.utf8 : #", "active": false"#.utf8)
            if markNoop && row.noop { out.append(contentsOf: #", "noop": true"#.utf8) }
            out.append(contentsOf: "}\n".utf8)
        }
        return out
    }
}

extension RolloutSynthesizer {
    /// `value` in decimal, zero-padded to at least `width` digits.
    static func padded(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

/// The words observations and actions are made of (ALFWorld's vocabulary).
enum Vocabulary {
    static let receptacles = [
        "cabinet", "drawer", "countertop", "shelf", "fridge", "microwave", "sinkbasin",
        "stoveburner", "toaster", "diningtable", "sidetable", "garbagecan", "coffeemachine",
        "desk", "bed", "dresser", "safe", "armchair", "sofa", "laundryhamper", "cart",
        "bathtubbasin", "toilet", "ottoman", "coffeetable", "handtowelholder",
    ]
    static let objects = [
        "apple", "mug", "knife", "spoon", "bowl", "pan", "plate", "lettuce", "tomato", "bread",
        "egg", "potato", "cup", "fork", "spatula", "book", "pen", "pencil", "keychain",
        "cellphone", "creditcard", "cd", "alarmclock", "desklamp", "pillow", "remotecontrol",
        "vase", "statue", "watch", "box", "soapbar", "towel", "candle", "saltshaker",
        "peppershaker", "dishsponge", "butterknife", "ladle", "winebottle", "newspaper",
    ]
    static let verbs = ["go to", "open", "close", "take", "put", "use", "heat", "cool", "clean", "examine"]
}
