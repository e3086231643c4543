/// HGPO-style step-group keys (SPEC §5 step-group history `K`): the key of row j of a
/// trajectory is the sequence of states of its rows `max(0, j−K)...j`.
enum StepGroupHistory {
    /// One step-group key per row, to be passed as `stepStates` to `AdvantageEstimator`:
    /// active rows of a group with equal state sequences share an id (ids are local to the
    /// group, below the group's row count); other rows keep their state id. Groups run in
    /// parallel on up to `threads` threads; the keys never depend on it.
    static func keys(_ rows: StepRows, index: TrajectoryIndex, history k: Int, threads: Int) -> [Int32] {
        var out = rows.state
        Parallel.forEachChunk(threads: threads, count: index.groupCount, work: rows.count * (min(k, 64) + 1), writing: &out) { groups, result in
            var ids: [[Int32]: Int32] = [:]
            var key: [Int32] = []
            for g in groups {
                ids.removeAll(keepingCapacity: true)
                for t in index.groupTrajectoryStart[g]..<index.groupTrajectoryStart[g + 1] {
                    let first = index.trajectoryRowStart[t]
                    for j in 0..<Int(index.activePrefix[t]) {
                        key.removeAll(keepingCapacity: true)
                        for i in max(0, j - k)...j { key.append(rows.state[Int(index.orderedRows[first + i])]) }
                        let id: Int32
                        if let known = ids[key] {
                            id = known
                        } else {
                            id = Int32(ids.count)
                            ids[key] = id
                        }
                        result[Int(index.orderedRows[first + j])] = id
                    }
                }
            }
        }
        return out
    }
}
