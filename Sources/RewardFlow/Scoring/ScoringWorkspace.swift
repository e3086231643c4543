import Synchronization

/// Per-row arrays a scoring run may reuse from an earlier run: an embedder that scores a batch
/// of about the same size every training step (the C API's batch handle holds one) gets its
/// index, row-node and output arrays back instead of fresh memory, whose first touches (page
/// faults, the kernel's zeroing) it would otherwise pay on every call (README, "Speed from
/// Python").
///
/// The workspace only hands arrays back: every array a stage takes from it is written in full
/// before it is read (the stages' `makeParallel` bodies, fills and copies), so results never
/// depend on what a workspace held. Arrays of fewer than `minimumCount` elements are not kept.
/// One scoring run at a time may use a workspace: a caller that may score concurrently takes
/// it with `tryAcquire()` and scores without it when that fails.
package final class ScoringWorkspace: @unchecked Sendable {
    /// Kept arrays by element type, each `[Element]` boxed as `Any`, count ≥ `minimumCount`;
    /// touched only by the holder of `busy` (or by a caller that scores alone).
    private var kept: [ObjectIdentifier: [Any]] = [:]
    /// Set while a run holds the workspace (`tryAcquire` … `release`).
    private let busy = Atomic<Bool>(false)

    /// The smallest array kept (smaller ones come from the heap's free lists anyway).
    package static let minimumCount = 1 << 16
    /// The most arrays kept per element type.
    static let maximumKept = 16

    /// An empty workspace.
    package init() {}

    /// Takes the workspace for one run; false when another run holds it.
    package func tryAcquire() -> Bool {
        busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    }

    /// Gives back the workspace taken by `tryAcquire()`.
    package func release() { busy.store(false, ordering: .releasing) }

    /// A kept array of `count` elements with unspecified contents (the best fit by capacity),
    /// or nil when none is large enough.
    func take<Element: BitwiseCopyable>(count: Int, of type: Element.Type = Element.self) -> [Element]? {
        let key = ObjectIdentifier(type)
        // Out of the dictionary while it is searched, so the array taken is referenced only here.
        guard count >= Self.minimumCount, var arrays = kept.removeValue(forKey: key) else { return nil }
        defer { kept[key] = arrays }
        var best = -1, bestCapacity = Int.max
        for (i, boxed) in arrays.enumerated() {
            guard let capacity = (boxed as? [Element])?.capacity, capacity >= count, capacity < bestCapacity else { continue }
            (best, bestCapacity) = (i, capacity)
        }
        guard best >= 0, var array = arrays.remove(at: best) as? [Element] else { return nil }
        if array.count > count {
            array.removeLast(array.count - count)
        } else if array.count < count {
            array.append(contentsOf: repeatElement(array[0], count: count - array.count))
        }
        return array
    }

    /// Keeps `array` for a later `take` (and leaves it empty); too small an array, one over
    /// `maximumKept`, or storage kept already (outputs that share it, as `trajectory-return`'s
    /// step rewards do) is simply dropped.
    func keep<Element: BitwiseCopyable>(_ array: inout [Element]) {
        let given = array
        array = []
        guard given.count >= Self.minimumCount else { return }
        let key = ObjectIdentifier(Element.self)
        var arrays = kept.removeValue(forKey: key) ?? []
        defer { kept[key] = arrays }
        guard arrays.count < Self.maximumKept,
              !arrays.contains(where: { ($0 as? [Element]).map { $0.sharesStorage(with: given) } ?? false })
        else { return }
        arrays.append(given)
    }

    /// Keeps the output arrays of `scored`.
    package func keep(_ scored: inout ScoredRows) {
        keep(&scored.rewards.value)
        keep(&scored.rewards.stepReward)
        keep(&scored.rewards.stepRewardAbs)
        if var advantages = scored.advantages {
            scored.advantages = nil
            keep(&advantages.episode)
            keep(&advantages.step)
            keep(&advantages.combined)
        }
    }

    /// The number of arrays of `type` kept now.
    func keptCount<Element>(of type: Element.Type) -> Int { kept[ObjectIdentifier(type)]?.count ?? 0 }

    /// Frees every kept array.
    package func removeAll() { kept = [:] }
}
