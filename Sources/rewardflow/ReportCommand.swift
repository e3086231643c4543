// `rewardflow report`: one self-contained HTML file (statistics, histograms, groups, graphs).
import ArgumentParser
import RewardFlow

/// `rewardflow report`: one self-contained HTML report of a scored batch.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML report (statistics, histograms, groups, graphs).",
        discussion: """
            Scores INPUT like `rewardflow score` (advantage mean_norm unless --advantage is given) \
            and writes one HTML file (-o REPORT.html, required) with no external resources: \
            batch statistics, histograms of value, step reward and advantage, a sortable table of \
            groups, the graphs of the first N groups, and with --compare an A/B panel of the same \
            rows' advantages under OPERATOR.
            """)

    @OptionGroup var score: ScoreOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("A second operator for the A/B panel.", valueName: "OPERATOR"))
    var compare: PropagationOperator?

    @Option(name: .customLong("max-graphs"), parsing: .unconditional,
            help: ArgumentHelp("Groups drawn.", valueName: "N"), transform: Parse.nonNegative)
    var maxGraphs = 12

    func validate() throws {
        guard score.output != "-" else { throw ValidationError("-o REPORT.html: missing (the report is one HTML file)") }
    }

    func run() {
        let output = score.output, compare = compare, maxGraphs = maxGraphs
        let batch = ScoredInput.load(score)
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
            try TextOutput.write(try report.render(), to: output)
        }
    }
}
