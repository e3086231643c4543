// libFuzzer target over the JSONL path: the byte-level reader, row validation (ordering into
// trajectories) and scoring of whatever parses, with options chosen by the first input byte.
// Every outcome but a typed `RewardFlowError` or a result is a finding (a trap, an ASan
// report, a leak). Built by scripts/fuzz against the instrumented RewardFlow module.

import RewardFlow

/// The options the first byte selects: operator, advantage mode, node-reward policy, γ.
private func options(_ selector: UInt8) -> ScoringOptions {
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

@_cdecl("LLVMFuzzerTestOneInput")
public func rewardFlowFuzzJSONL(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    var bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    do throws(RewardFlowError) {
        let rows = try JSONLReader.parse(bytes: &bytes)
        _ = try TrajectoryIndex(rows)
        let scored = try Scorer(options: options(data[0])).score(rows)
        // Rendering must cover every row (a wrong count would be a finding).
        let text = JSONLWriter.render(rows, scored)
        if rows.count > 0 && text.isEmpty { fatalError("no output for \(rows.count) rows") }
    } catch {
        // A refusal is a correct outcome; its message must name a place.
        _ = error.description
    }
    return 0
}
