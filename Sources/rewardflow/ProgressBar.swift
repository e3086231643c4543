// A one-line progress bar on stderr for long CLI runs.
import Glibc
import RewardFlow

/// A progress bar on standard error: `label [#####.....] done/total unit  elapsed`.
///
/// It stays silent for the first second (short runs print nothing), redraws at most ten times
/// a second, and is off entirely when stderr is not a terminal or when disabled (`--quiet`).
/// Used from one thread at a time.
final class ProgressBar {
    private var label: String
    private var total: Int
    private var unit: String
    private let enabled: Bool
    private let started: Double
    private var lastDraw = 0.0
    private var drawn = false

    /// A bar for `total` units (0: unknown total, no bar, just the count).
    init(label: String, total: Int, unit: String, enabled: Bool = true) {
        self.label = label
        self.total = total
        self.unit = unit
        self.enabled = enabled && isatty(2) == 1
        self.started = ProgressBar.now()
    }

    /// Switches to the next stage of the run, keeping the clock.
    func stage(_ label: String, total: Int, unit: String) {
        self.label = label
        self.total = total
        self.unit = unit
        lastDraw = 0
    }

    /// Reports `done` units so far.
    func update(_ done: Int) {
        guard enabled else { return }
        let t = ProgressBar.now()
        guard t - started >= 1.0, t - lastDraw >= 0.1 || done >= total && total > 0 else { return }
        lastDraw = t
        drawn = true
        var line = "\r\(label) "
        if total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let width = 30
            let filled = Int(fraction * Double(width))
            line += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            line += "\(done)/\(total) \(unit) (\(Int(fraction * 100))%)"
        } else {
            line += "\(done) \(unit)"
        }
        line += "  \(Int(t - started))s\u{1B}[K"
        ProgressBar.writeStderr(line)
    }

    /// Ends the bar's line (if it was ever drawn).
    func finish() {
        guard drawn else { return }
        drawn = false
        ProgressBar.writeStderr("\r\u{1B}[K")
    }

    /// The instant `now()` counts from.
    private static let origin = ContinuousClock.now

    /// Monotonic seconds.
    static func now() -> Double {
        let d = ContinuousClock.now - origin
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// Writes `text` to stderr unbuffered.
    static func writeStderr(_ text: String) { FileIO.writeStandardError(text) }
}

extension ProgressBar {
    /// Clears a bar line that may be on the terminal (before an error message).
    static func clearLine() {
        if isatty(2) == 1 { writeStderr("\r\u{1B}[K") }
    }
}

/// The stages of `rewardflow score` on one bar: rows read, groups solved, rows written.
final class ScoreProgress {
    private let bar: ProgressBar

    init(enabled: Bool) {
        bar = ProgressBar(label: "read", total: 0, unit: "rows", enabled: enabled)
    }

    /// Rows parsed so far.
    func read(_ rows: Int) { bar.update(rows) }

    /// Scoring starts: the batch's groups are solved (in parallel, all at once).
    func scoring(_ rows: StepRows) {
        bar.stage("solve", total: rows.groupNames.count, unit: "groups")
        bar.update(0)
    }

    /// Scoring is done; output starts.
    func writing(_ rows: StepRows) {
        bar.update(rows.groupNames.count)
        bar.stage("write", total: rows.count, unit: "rows")
    }

    /// Rows written so far.
    func written(_ rows: Int) { bar.update(rows) }

    /// Ends the bar's line.
    func finish() { bar.finish() }
}
