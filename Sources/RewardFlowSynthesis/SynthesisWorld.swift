import RewardFlow
import Glibc

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
