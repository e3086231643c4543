// `rewardflow report`: one self-contained HTML file (statistics, histograms, groups, graphs).
import Glibc
import RewardFlow

struct ReportCommand {
    static let usage = """
        usage: rewardflow report INPUT -o REPORT.html [score options] [--compare OPERATOR] [--max-graphs N]

          Scores INPUT like `rewardflow score` (advantage mean_norm unless --advantage is given) and
          writes one HTML file with no external resources: batch statistics, histograms of value,
          step reward and advantage, a sortable table of groups, the graphs of the first N groups
          (default 12), and with --compare an A/B panel of the same rows' advantages under OPERATOR.
        """

    let score: ScoreCommand
    var compare: PropagationOperator?
    var maxGraphs = 12

    init(arguments: [String]) {
        ScoredInput.help(arguments, Self.usage)
        var compare: PropagationOperator?, maxGraphs = 12
        score = ScoreCommand(arguments: arguments, options: ScoredInput.defaults) { flag, value in
            switch flag {
            case "--compare":
                let text = value()
                guard let op = PropagationOperator(rawValue: text) else {
                    fail("--compare: unknown operator '\(text)' (choose \(PropagationOperator.allCases.map(\.rawValue).joined(separator: ", ")))", status: 2)
                }
                compare = op
            case "--max-graphs":
                let text = value()
                guard let n = Int(text), n >= 0 else { fail("--max-graphs: expected a non-negative integer, got '\(text)'", status: 2) }
                maxGraphs = n
            default: return false
            }
            return true
        }
        self.compare = compare
        self.maxGraphs = maxGraphs
    }

    func run() {
        guard score.output != "-" else { fail("-o REPORT.html: missing (the report is one HTML file)\n\(Self.usage)", status: 2) }
        let batch = ScoredInput.load(score, usage: Self.usage)
        ScoredInput.run { () throws(RewardFlowError) in
            var comparison: HTMLReport.Comparison?
            if let compare {
                var options = batch.options
                options.propagation = compare
                let other = try Scorer(options: options).score(batch.rows)
                comparison = HTMLReport.Comparison(scoring: options.summary, credit: HTMLReport.credit(other))
            }
            var report = HTMLReport(batch: batch, comparison: comparison)
            report.maxGraphs = maxGraphs
            try TextOutput.write(try report.render(), to: score.output)
        }
    }
}
