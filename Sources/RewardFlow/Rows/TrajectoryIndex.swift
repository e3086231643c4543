/// The order SPEC §2 reads a batch in: groups by first appearance, their trajectories by first
/// appearance, each trajectory's rows by step.
///
/// Building it validates what needs the whole batch: steps `0..<L` with no gap or duplicate,
/// and no row active again after an inactive one. Built by counting sort, O(rows).
package struct TrajectoryIndex: Sendable {
    /// Number of groups.
    package let groupCount: Int
    /// Trajectories of group `g` are `groupTrajectoryStart[g]..<groupTrajectoryStart[g+1]`.
    package let groupTrajectoryStart: [Int]
    /// Rows of trajectory `t` (in this index's order) are
    /// `orderedRows[trajectoryRowStart[t]..<trajectoryRowStart[t+1]]`, by step.
    package let trajectoryRowStart: [Int]
    /// Row indices, group-major, then trajectory, then step.
    package let orderedRows: [Int32]
    /// Per trajectory: the number of leading active rows (`m` of SPEC §4; `L` when all are active).
    package let activePrefix: [Int32]

    /// The number of trajectories.
    package var trajectoryCount: Int { trajectoryRowStart.count - 1 }

    /// Orders and validates `rows`.
    package init(_ rows: StepRows) throws(RewardFlowError) {
        let n = rows.count
        guard n > 0 else {
            throw .invalidInput(location: .input, field: "rows", message: "empty input: there are no step rows")
        }
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

        // 4. Active rows form a prefix of each trajectory.
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

        self.groupCount = groups
        self.groupTrajectoryStart = groupStart
        self.trajectoryRowStart = rowStart
        self.orderedRows = ordered
        self.activePrefix = activePrefix
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
