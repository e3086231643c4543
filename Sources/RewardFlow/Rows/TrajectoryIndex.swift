/// The order SPEC §2 reads a batch in: groups by first appearance, their trajectories by first
/// appearance, each trajectory's rows by step.
///
/// Building it validates what needs the whole batch: steps `0..<L` with no gap or duplicate,
/// and no row active again after an inactive one. O(rows): one pass when the rows already lie
/// in this order, else a counting sort.
package struct TrajectoryIndex: Sendable {
    /// Number of groups.
    package let groupCount: Int
    /// Trajectories of group `g` are `groupTrajectoryStart[g]..<groupTrajectoryStart[g+1]`.
    package let groupTrajectoryStart: [Int]
    /// Rows of trajectory `t` (in this index's order) are
    /// `orderedRows[trajectoryRowStart[t]..<trajectoryRowStart[t+1]]`, by step.
    package let trajectoryRowStart: [Int]
    /// Row indices, group-major, then trajectory, then step.
    package private(set) var orderedRows: [Int32]
    /// Per trajectory: the number of leading active rows (`m` of SPEC §4; `L` when all are active).
    package let activePrefix: [Int32]

    /// The number of trajectories.
    package var trajectoryCount: Int { trajectoryRowStart.count - 1 }

    /// Gives `orderedRows`' storage to `workspace`; the index is spent (its order is empty).
    mutating func recycle(into workspace: ScoringWorkspace) { workspace.keep(&orderedRows) }

    /// Orders and validates `rows`; `threads` (nil: `Execution.threadCount`) write the order
    /// of a batch already in it, into an array from `workspace` when it has one. The index
    /// never depends on `threads` or `workspace`.
    package init(_ rows: StepRows, threads: Int? = nil, workspace: ScoringWorkspace? = nil) throws(RewardFlowError) {
        guard rows.count > 0 else {
            throw .invalidInput(location: .input, field: "rows", message: "empty input: there are no step rows")
        }
        let order: (groupStart: [Int], rowStart: [Int], ordered: [Int32])
        if let inOrder = Self.inOrder(rows, threads: Parallel.threads(threads), workspace: workspace) {
            order = inOrder
        } else {
            order = try Self.sorted(rows)
        }
        let (groupStart, rowStart, ordered) = order

        // Active rows form a prefix of each trajectory.
        let trajectories = rowStart.count - 1
        var activePrefix = [Int32](repeating: 0, count: trajectories)
        for t in 0..<trajectories {
            var m = -1
            for j in rowStart[t]..<rowStart[t + 1] {
                let r = Int(ordered[j])
                if rows.active[r] {
                    if m >= 0 {
                        throw .invalidInput(
                            location: rows.location(ofRow: r), field: "active",
                            message: "step \(rows.step[r]) is active after inactive step \(m) of the same trajectory")
                    }
                } else if m < 0 {
                    m = j - rowStart[t]
                }
            }
            activePrefix[t] = Int32(m < 0 ? rowStart[t + 1] - rowStart[t] : m)
        }

        self.groupCount = groupStart.count - 1
        self.groupTrajectoryStart = groupStart
        self.trajectoryRowStart = rowStart
        self.orderedRows = ordered
        self.activePrefix = activePrefix
    }

    /// The order of a batch whose rows already lie in it (the usual case: a trainer or `synth`
    /// writes each trajectory's steps `0, 1, 2, …` in turn, group after group, groups in the
    /// order of their ids): `orderedRows` is `0..<n`. Nil at the first row out of place (which
    /// `sorted` then orders, or names in its error); O(rows), one pass, no hashing.
    static func inOrder(
        _ rows: StepRows, threads: Int, workspace: ScoringWorkspace? = nil
    ) -> (groupStart: [Int], rowStart: [Int], ordered: [Int32])? {
        let n = rows.count
        // The last group in which each trajectory name started a run of rows.
        var runGroup = [Int32](repeating: -1, count: rows.trajectoryNames.count)
        var groupStart: [Int] = [], rowStart: [Int] = []
        var group: Int32 = -1, trajectory: Int32 = -1, nextStep: Int32 = 0
        for r in 0..<n {
            if rows.group[r] == group && rows.trajectory[r] == trajectory {
                guard rows.step[r] == nextStep else { return nil }
                nextStep += 1
                continue
            }
            // A new trajectory: at step 0, in the current group or the next one, and not
            // met before in its group.
            guard rows.step[r] == 0 else { return nil }
            if rows.group[r] != group {
                guard rows.group[r] == group &+ 1 else { return nil }
                group += 1
                groupStart.append(rowStart.count)
            }
            trajectory = rows.trajectory[r]
            guard runGroup[Int(trajectory)] != group else { return nil }
            runGroup[Int(trajectory)] = group
            rowStart.append(r)
            nextStep = 1
        }
        guard Int(group) + 1 == rows.groupNames.count else { return nil }
        groupStart.append(rowStart.count)
        rowStart.append(n)
        let identity = [Int32].makeParallel(count: n, threads: threads, minimumChunk: 1 << 15, work: n, workspace: workspace) { range, out in
            for r in range { out[r] = Int32(truncatingIfNeeded: r) }
        }
        return (groupStart, rowStart, identity)
    }

    /// The order of any batch, by counting sort; refuses a gap or a duplicate in a
    /// trajectory's steps.
    static func sorted(_ rows: StepRows) throws(RewardFlowError) -> (groupStart: [Int], rowStart: [Int], ordered: [Int32]) {
        let n = rows.count
        // 1. Trajectories in first-appearance order, keyed by (group, name).
        var ids = KeyInternTable(capacity: 1024)
        var firstSeen = [Int32](repeating: 0, count: n)
        var groupOfFirstSeen: [Int32] = []
        var lastKey = UInt64.max, lastID: Int32 = -1
        for r in 0..<n {
            let key = UInt64(UInt32(bitPattern: rows.group[r])) << 32 | UInt64(UInt32(bitPattern: rows.trajectory[r]))
            // Rows of a trajectory usually arrive together: skip the hash for a repeat.
            let t: Int32
            if key == lastKey {
                t = lastID
            } else {
                t = ids.intern(key)
                lastKey = key
                lastID = t
            }
            if Int(t) == groupOfFirstSeen.count { groupOfFirstSeen.append(rows.group[r]) }
            firstSeen[r] = t
        }
        let trajectories = groupOfFirstSeen.count
        let groups = rows.groupNames.count

        // 2. Stable counting sort of trajectories by group.
        var groupStart = [Int](repeating: 0, count: groups + 1)
        for g in groupOfFirstSeen { groupStart[Int(g) + 1] += 1 }
        for g in 0..<groups { groupStart[g + 1] += groupStart[g] }
        var orderOf = [Int32](repeating: 0, count: trajectories)  // first-seen id → ordered id
        var fill = groupStart
        for t in 0..<trajectories {
            let g = Int(groupOfFirstSeen[t])
            orderOf[t] = Int32(fill[g])
            fill[g] += 1
        }

        // 3. Rows by step inside each trajectory.
        var trajectoryOfRow = [Int32](repeating: 0, count: n)
        var rowStart = [Int](repeating: 0, count: trajectories + 1)
        for r in 0..<n {
            let t = orderOf[Int(firstSeen[r])]
            trajectoryOfRow[r] = t
            rowStart[Int(t) + 1] += 1
        }
        for t in 0..<trajectories { rowStart[t + 1] += rowStart[t] }
        var ordered = [Int32](repeating: -1, count: n)
        for r in 0..<n {
            let t = Int(trajectoryOfRow[r])
            let length = rowStart[t + 1] - rowStart[t]
            let s = Int(rows.step[r])
            guard s < length else {
                throw .invalidInput(
                    location: rows.location(ofRow: r), field: "step",
                    message: "step \(s) leaves a gap: trajectory '\(rows.trajectoryNames.string(of: rows.trajectory[r]))' of group '\(rows.groupNames.string(of: rows.group[r]))' has \(length) rows, so its steps must be 0...\(length - 1)")
            }
            let slot = rowStart[t] + s
            guard ordered[slot] < 0 else {
                throw .invalidInput(
                    location: rows.location(ofRow: r), field: "step",
                    message: "duplicate step \(s) in trajectory '\(rows.trajectoryNames.string(of: rows.trajectory[r]))' of group '\(rows.groupNames.string(of: rows.group[r]))' (first at \(rows.location(ofRow: Int(ordered[slot]))))")
            }
            ordered[slot] = Int32(r)
        }

        return (groupStart, rowStart, ordered)
    }

    /// The group of ordered trajectory `t`.
    package func group(ofTrajectory t: Int) -> Int {
        var lo = 0, hi = groupCount
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if groupTrajectoryStart[mid] <= t { lo = mid } else { hi = mid }
        }
        return lo
    }
}
