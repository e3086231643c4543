import Foundation
import RewardFlow

/// Test helpers: locating the shared conformance fixtures and reading JSON files.
enum Fixtures {
    /// `../shared/conformance` beside the repository (or `$REWARDFLOW_CONFORMANCE`).
    static var directory: URL {
        if let path = ProcessInfo.processInfo.environment["REWARDFLOW_CONFORMANCE"] {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/conformance")
    }

    /// Every case name (from `NAME.params.json`). A missing or empty fixture folder gives the
    /// one name `missing`, whose files do not exist: every test over the cases then fails
    /// reading them (an empty argument list would pass without running).
    static var names: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let names = files.filter { $0.hasSuffix(".params.json") }
            .map { String($0.dropLast(".params.json".count)) }.sorted()
        return names.isEmpty ? [missing] : names
    }

    /// The stand-in case name when no fixture is found.
    static let missing = "missing-conformance-fixtures"

    /// The case names of the `options/` folder.
    static var optionNames: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("options").path)) ?? []
        return files.filter { $0.hasSuffix(".params.json") }
            .map { String($0.dropLast(".params.json".count)) }.sorted()
    }

    static func url(_ name: String, _ suffix: String) -> URL {
        directory.appendingPathComponent("\(name).\(suffix)")
    }

    static func params(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: url(name, "params.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static func jsonLines(_ url: URL) throws -> [[String: Any]] {
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }
}

/// Builds a batch from compact tuples `(group, trajectory, step, state, reward, active)`.
func makeRows(
    _ rows: [(String, String, Int, String, Double, Bool)], noop: Set<Int> = []
) throws -> StepRows {
    var batch = StepRows()
    for (i, r) in rows.enumerated() {
        try batch.append(
            group: r.0, trajectory: r.1, step: r.2, state: r.3, action: "a", reward: r.4,
            active: r.5, noop: noop.contains(i))
    }
    return batch
}

/// The error `body` throws, or nil when it does not throw. (Every library error is a
/// `RewardFlowError`; anything else is reported as a test failure through the message.)
func thrownError(_ body: () throws -> Void) -> RewardFlowError? {
    do {
        try body()
        return nil
    } catch let error as RewardFlowError {
        return error
    } catch {
        return .numerical(message: "unexpected error type: \(error)")
    }
}
