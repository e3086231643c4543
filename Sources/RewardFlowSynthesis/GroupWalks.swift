import RewardFlow
import Glibc

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
        let g = batch.internGroup(groupName)
        var textIDs: [Int32: Int32] = [:]
        var actionIDs: [Int32: Int32] = [:]
        var trajectory: Int32 = -1
        var currentRollout: Int32 = -1
        for row in rows {
            if row.rollout != currentRollout {
                currentRollout = row.rollout
                trajectory = batch.internTrajectory(trajectoryName(row.rollout))
            }
            let state: Int32
            if identity == .key {
                state = batch.internStateKey(stateKey(row.observation))
            } else if let perturbed = perturbedText(row) {
                state = batch.internState(perturbed)
            } else if let id = textIDs[row.observation] {
                state = id
            } else {
                state = batch.internState(world.observation(Int(row.observation)))
                textIDs[row.observation] = state
            }
            let action: Int32
            if let id = actionIDs[row.action] {
                action = id
            } else {
                action = batch.internAction(world.actionLabel(row.action))
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
