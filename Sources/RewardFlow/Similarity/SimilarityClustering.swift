import Dispatch
import Synchronization

/// The state ids the graph and the step groups see under similarity (SPEC §2.1, §5): per row,
/// the state id of its cluster's representative. Groups are clustered independently, in
/// parallel; byte-equal texts (one state id) are clustered once per group and share a cluster.
enum SimilarStates {
    /// Per row, the representative state of its graph cluster (threshold `T`): occurrences
    /// walked in trajectory order then position over the SPEC §2 sequences; rows after a cut
    /// take the cluster of a byte-equal text in a sequence, else keep their own state (no node).
    /// Groups run in parallel on up to `threads` threads (the result never depends on it),
    /// claimed in blocks (`forEachGroupBlock`).
    static func graphStates(_ rows: StepRows, index: TrajectoryIndex, threshold: Double, threads: Int) -> [Int32] {
        var out = rows.state
        out.withSendableBuffer { result in
            forEachGroupBlock(threads: threads, count: index.groupCount, work: rows.count * 64) { next in
                let memo = StampedMap(count: rows.stateCount)
                var clusterer = GreedyClusterer(threshold: threshold)
                var repState: [Int32] = []
                while let groups = next() { for g in groups {
                    memo.clear()
                    clusterer.removeAll()
                    repState.removeAll(keepingCapacity: true)
                    let trajectories = index.groupTrajectoryStart[g]..<index.groupTrajectoryStart[g + 1]
                    for t in trajectories {
                        let first = index.trajectoryRowStart[t]
                        for j in 0..<GraphBuilder.sequenceLength(index, t) {
                            let r = Int(index.orderedRows[first + j])
                            let s = rows.state[r]
                            var rep = memo.value(Int(s))
                            if rep < 0 {
                                let c = assign(&clusterer, rows, s)
                                if c == repState.count { repState.append(s) }
                                rep = repState[c]
                                memo.set(Int(s), rep)
                            }
                            result[r] = rep
                        }
                    }
                    for t in trajectories {
                        let first = index.trajectoryRowStart[t]
                        let length = index.trajectoryRowStart[t + 1] - first
                        for j in GraphBuilder.sequenceLength(index, t)..<length {
                            let r = Int(index.orderedRows[first + j])
                            let rep = memo.value(Int(rows.state[r]))
                            if rep >= 0 { result[r] = rep }
                        }
                    }
                } }
            }
        }
        return out
    }

    /// Per active row, the representative state of its step group (threshold `T_s`): the active
    /// rows of each group in input order, greedy first match. Inactive rows keep their state.
    /// Groups run in parallel on up to `threads` threads (the result never depends on it),
    /// claimed in blocks (`forEachGroupBlock`).
    static func stepGroupStates(_ rows: StepRows, index: TrajectoryIndex, threshold: Double, threads: Int) -> [Int32] {
        var out = rows.state
        out.withSendableBuffer { result in
            forEachGroupBlock(threads: threads, count: index.groupCount, work: rows.count * 64) { next in
                let memo = StampedMap(count: rows.stateCount)
                var clusterer = GreedyClusterer(threshold: threshold)
                var repState: [Int32] = []
                var active: [Int32] = []
                while let groups = next() { for g in groups {
                    memo.clear()
                    clusterer.removeAll()
                    repState.removeAll(keepingCapacity: true)
                    active.removeAll(keepingCapacity: true)
                    for t in index.groupTrajectoryStart[g]..<index.groupTrajectoryStart[g + 1] {
                        let first = index.trajectoryRowStart[t]
                        for j in 0..<Int(index.activePrefix[t]) { active.append(index.orderedRows[first + j]) }
                    }
                    active.sort()  // input order
                    for r in active {
                        let s = rows.state[Int(r)]
                        var rep = memo.value(Int(s))
                        if rep < 0 {
                            let c = assign(&clusterer, rows, s)
                            if c == repState.count { repState.append(s) }
                            rep = repState[c]
                            memo.set(Int(s), rep)
                        }
                        result[Int(r)] = rep
                    }
                } }
            }
        }
        return out
    }

    /// Calls `worker` on up to `threads` threads (one when `work` is below
    /// `Parallel.serialWork`); each call claims blocks of consecutive groups from `next` until
    /// none is left (about `16·threads` blocks in all), so a slow or descheduled thread holds
    /// back at most one block. Each group writes only its own rows: the output never depends
    /// on the schedule.
    static func forEachGroupBlock(
        threads: Int, count: Int, work: Int, _ worker: (_ next: () -> Range<Int>?) -> Void
    ) {
        let workers = work < Parallel.serialWork ? 1 : min(threads, count)
        if workers <= 1 {
            var done = count == 0
            worker {
                if done { return nil }
                done = true
                return 0..<count
            }
            return
        }
        let blocks = min(count, workers * 16)
        let cursor = BlockCursor()
        withoutActuallyEscaping(worker) { worker in
            let box = UncheckedSendable(worker)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                box.value {
                    let b = cursor.next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard b < blocks else { return nil }
                    return count * b / blocks ..< count * (b + 1) / blocks
                }
            }
        }
    }

    /// The cluster state `s`'s text joins.
    @inline(__always)
    static func assign(_ clusterer: inout GreedyClusterer, _ rows: StepRows, _ s: Int32) -> Int {
        clusterer.assign(utf8: rows.stateTexts.bytes(of: s))
    }
}

/// The next block to claim (shared by the workers of `SimilarStates.forEachGroupBlock`).
final class BlockCursor: Sendable {
    let next = Atomic<Int>(0)
}
