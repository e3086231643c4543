import Foundation
import Testing
import RewardFlow

/// Replays the JSONL fuzz target's regression corpus (`Fuzz/regressions/fuzz-jsonl`: every
/// crash libFuzzer found, kept once fixed) and its hand-written seeds through the same path
/// as `Fuzz/JSONLFuzz.swift`: parse, validate, score, render. A trap fails the whole run; a
/// refusal must be a typed error naming a line (or the input). The C ABI target's corpus is
/// replayed by ctest (`fuzz_regressions_capi`).
@Suite struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    /// The options the first byte selects, exactly as in Fuzz/JSONLFuzz.swift.
    static func options(_ selector: UInt8) -> ScoringOptions {
        var options = ScoringOptions()
        let operators = PropagationOperator.allCases
        options.propagation = operators[Int(selector) % operators.count]
        let advantages: [AdvantageMode?] = [nil] + AdvantageMode.allCases.map { $0 }
        options.advantage = advantages[Int(selector >> 3) % advantages.count]
        let policies = NodeRewardPolicy.allCases
        options.nodeReward = policies[Int(selector >> 5) % policies.count]
        options.gamma = selector & 0x80 != 0 ? 0.5 : 0.9
        options.solver = selector & 0x40 != 0 ? .iterative : .auto
        options.maxIterations = 200
        return options
    }

    static var inputs: [URL] {
        ["regressions/fuzz-jsonl", "seeds/fuzz-jsonl"].flatMap { folder in
            let dir = root.appendingPathComponent(folder)
            return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
                .filter { !$0.hasPrefix(".") }.sorted().map { dir.appendingPathComponent($0) }
        }
    }

    @Test func corpusIsPresent() {
        #expect(Self.inputs.count >= 4)
    }

    @Test(arguments: inputs) func replays(_ file: URL) throws {
        let data = try Data(contentsOf: file)
        guard let selector = data.first else { return }
        var bytes = [UInt8](data.dropFirst())
        do throws(RewardFlowError) {
            let rows = try JSONLReader.parse(bytes: &bytes)
            _ = try TrajectoryIndex(rows)
            let scored = try Scorer(options: Self.options(selector)).score(rows)
            let text = JSONLWriter.render(rows, scored)
            #expect(text.filter { $0 == 0x0A }.count == rows.count)
        } catch {
            switch error {
            case .invalidInput(let location, _, _): #expect(location.description.hasPrefix("line") || location == .input)
            case .invalidParameter, .numerical: break
            case .io: Issue.record("in-memory parse reported I/O: \(error)")
            }
        }
    }
}
