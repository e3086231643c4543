import Foundation
import Testing
@testable import RewardFlow

/// Every case of `../shared/conformance/` through the library, compared field by field at the
/// tolerances its README states.
@Suite struct ConformanceTests {
    @Test func fixturesArePresent() {
        #expect(Fixtures.names.count >= 30, "conformance fixtures not found at \(Fixtures.directory.path)")
    }

    /// Every case, whatever its operator (an unknown operator is a failure, not a skip), and
    /// the cases of `options/` whose options exist (similarity: SPEC §2.1, §5; goal distance
    /// and step-reward modes: §3, §4; episode weighting, episode weight, step-group history: §5).
    static var cases: [String] {
        Fixtures.names + Fixtures.optionNames.filter { Self.implementedOptionCase($0) }.map { "options/\($0)" }
    }

    static func implementedOptionCase(_ name: String) -> Bool {
        name.hasPrefix("similar_states") || name == "step_group_similarity" || name.hasPrefix("goal_distance_")
            || name.hasPrefix("step_group_history_") || name == "absolute_trajectories_weights"
    }

    @Test func optionFixturesArePresent() {
        #expect(Self.cases.filter { $0.hasPrefix("options/") }.count == 9)
    }

    @Test(arguments: cases)
    func conformance(_ name: String) throws {
        let params = try Fixtures.params(name)
        let operatorName = params["operator"] as! String
        guard let op = PropagationOperator(rawValue: operatorName) else {
            Issue.record("operator \(operatorName) of case \(name) is not implemented")
            return
        }
        var options = ScoringOptions()
        options.propagation = op
        options.gamma = params["gamma"] as? Double ?? options.gamma
        options.alpha = params["alpha"] as? Double ?? options.alpha
        // Iterative solvers well below the fixtures' 1e-9 (README "Comparing").
        options.tolerance = 1e-13
        options.nodeReward = NodeRewardPolicy(rawValue: params["node_reward"] as? String ?? "firstSeen")!
        options.advantage = AdvantageMode(rawValue: params["advantage"] as? String ?? "")
        options.stepWeight = params["step_weight"] as? Double ?? 1
        options.similarity = params["similarity"] as? Double
        options.stepGroupSimilarity = params["step_group_similarity"] as? Double
        options.goalReward = params["goal_reward"] as? Double ?? options.goalReward
        options.stepReward = try #require(StepRewardMode(rawValue: params["step_reward"] as? String ?? "difference"))
        options.episodeWeighting = try #require(EpisodeWeighting(rawValue: params["episode_weighting"] as? String ?? "rows"))
        options.episodeWeight = params["episode_weight"] as? Double ?? 1
        options.stepGroupHistory = params["step_group_history"] as? Int ?? 0
        let tolerance = params["tolerance"] as? Double
            ?? (["max-decay", "trajectory-return", "goal-distance"].contains(operatorName) ? 1e-12 : 1e-9)
        let advantageTolerance = params["advantage_tolerance"] as? Double ?? tolerance

        let rows = try JSONLReader.read(path: Fixtures.url(name, "input.jsonl").path)
        let scored = try Scorer(options: options).score(rows)
        let expected = try Fixtures.jsonLines(Fixtures.url(name, "expected.jsonl"))
        try #require(expected.count == rows.count)

        var mismatches = 0
        for (r, line) in expected.enumerated() {
            #expect(line["group"] as? String == rows.groupNames.string(of: rows.group[r]))
            #expect(line["trajectory"] as? String == rows.trajectoryNames.string(of: rows.trajectory[r]))
            #expect(line["step"] as? Int == Int(rows.step[r]))
            var fields: [(String, Double, Double)] = [
                ("value", scored.rewards.value[r], tolerance),
                ("step_reward", scored.rewards.stepReward[r], tolerance),
                ("step_reward_abs", scored.rewards.stepRewardAbs[r], tolerance),
            ]
            if let a = scored.advantages {
                fields += [
                    ("episode_advantage", a.episode[r], advantageTolerance),
                    ("step_advantage", a.step[r], advantageTolerance),
                    ("advantage", a.combined[r], advantageTolerance),
                ]
            }
            for (field, got, tol) in fields {
                let want = try #require(line[field] as? Double, "\(name) line \(r + 1) lacks \(field)")
                if abs(got - want) > tol {
                    mismatches += 1
                    if mismatches <= 5 { Issue.record("\(name) row \(r) \(field): got \(got), want \(want)") }
                }
            }
        }
        #expect(mismatches == 0)
    }
}
