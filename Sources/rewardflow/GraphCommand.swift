// `rewardflow graph`: one group's state graph as Graphviz DOT (SVG/PNG through `dot`).
import ArgumentParser
import RewardFlow

/// `rewardflow graph`: one group's state graph as Graphviz DOT, SVG or PNG.
struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Draw one group's state graph (Graphviz DOT; .svg and .png through `dot`).",
        discussion: """
            Scores INPUT like `rewardflow score` (advantage mean_norm unless --advantage is given) \
            and draws group G's state graph: node fill = value, box = start state, red double \
            ring = goal, edge width = w, edge colour = mean step advantage, edge label = action; \
            --trajectory highlights one rollout and greys the rest. DOT goes to standard output \
            without -o; -o FILE.dot|.svg|.png picks the format, and .svg and .png run Graphviz's \
            `dot` (apt-get install graphviz).
            """)

    @OptionGroup var score: ScoreOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("The group to draw.", valueName: "G"))
    var group: String

    @Option(parsing: .unconditional, help: ArgumentHelp("A trajectory of the group to highlight.", valueName: "T"))
    var trajectory: String?

    func run() {
        let group = group, trajectory = trajectory
        let output = score.output
        let format = output == "-" ? "dot" : String(output.split(separator: ".", omittingEmptySubsequences: false).last ?? "").lowercased()
        guard ["dot", "gv", "svg", "png"].contains(format) else {
            fail("-o: '\(output)': expected a .dot, .svg or .png file", status: 2)
        }
        let batch = ScoredInput.load(score)
        let dot = ScoredInput.run { () throws(RewardFlowError) in
            DOTWriter.render(try GroupPicture(batch, group: group, trajectory: trajectory))
        }
        if format == "dot" || format == "gv" {
            ScoredInput.run { () throws(RewardFlowError) in try TextOutput.write(dot, to: output) }
            return
        }
        Self.runDot(dot, format: format, output: output)
    }

    /// Pipes `dot` into `dot -T<format> -o <output>`; a missing program is exit 1 naming the
    /// apt package.
    static func runDot(_ dot: String, format: String, output: String) {
        // PNG: at most 14 × 9 inches at 96 dpi (dot shrinks larger graphs to fit); SVG: full size.
        let argv = ["dot", "-T\(format)"] + (format == "png" ? ["-Gsize=14,9"] : []) + ["-o", output]
        switch FileIO.run(argv, standardInput: Array(dot.utf8)) {
        case .exited(status: 0):
            return
        case .exited(let status):
            fail("dot -T\(format) failed (status \(status >> 8)); the DOT text is what `-o FILE.dot` writes", status: 1)
        case .notFound:
            fail("writing \(format.uppercased()) needs Graphviz's 'dot' program, which is not on PATH: install it (apt-get install graphviz) or write DOT with -o FILE.dot", status: 1)
        case .failed(let call, let message):
            fail("\(call): \(message)", status: 1)
        }
    }
}
