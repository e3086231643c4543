import Foundation
import Testing

/// The `rewardflow` executable: output format, atomic writes, exit codes and error lines.
@Suite struct CLITests {
    /// The CLI next to the test bundle in the build products folder.
    static var executable: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("rewardflow").path) && dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("rewardflow")
    }

    static func run(_ arguments: [String], stdin: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    static func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("rf-cli-\(getpid())-\(name)").path
    }

    @Test func similarityFlags() throws {
        let rows = """
        {"group":"g","trajectory":"t","step":0,"state":"room 1: a table","reward":0}
        {"group":"g","trajectory":"t","step":1,"state":"room 2: a table","reward":1}
        {"group":"g","trajectory":"t","step":2,"state":"done","reward":0}
        """
        let ok = try Self.run(["score", "-", "--similarity", "0.9", "--step-group-similarity", "0.9", "--advantage", "mean_norm"], stdin: rows)
        #expect(ok.status == 0)
        // "room 1: a table" and "room 2: a table" merge (ratio 14/15 >= 0.9): one self-loop.
        #expect(ok.stdout.split(separator: "\n").count == 3)
        for bad in ["0", "1.5", "nan", "x"] {
            let r = try Self.run(["score", "-", "--similarity", bad], stdin: rows)
            #expect(r.status == 2)
            #expect(r.stderr.contains("error: The value '\(bad)' is invalid for '--similarity <T>': expected a similarity threshold in (0, 1]"), "\(r.stderr)")
        }
        let keyed = try Self.run(["score", "-", "--step-group-similarity", "0.9", "--advantage", "mean_norm"],
                                 stdin: #"{"group":"g","trajectory":"t","step":0,"state_key":3,"reward":0}"#)
        #expect(keyed.status == 2)
        #expect(keyed.stderr.contains("step_group_similarity: compares state texts"))
    }

    @Test func scoresTheExampleToAFile() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Examples/alfworld_8x8x30.jsonl").path
        let output = Self.temporary("example.jsonl")
        defer { try? FileManager.default.removeItem(atPath: output) }
        let result = try Self.run(["score", example, "-o", output, "--advantage", "mean_std_norm"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
        let inputLines = try String(contentsOfFile: example, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == inputLines.count)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        #expect(Set(first.keys) == ["group", "trajectory", "step", "value", "step_reward", "step_reward_abs",
                                    "episode_advantage", "step_advantage", "advantage"])
        // No temporary file is left beside the output.
        let siblings = try FileManager.default.contentsOfDirectory(atPath: FileManager.default.temporaryDirectory.path)
        #expect(!siblings.contains { $0.hasPrefix("rf-cli-\(getpid())-example.jsonl.tmp") })
    }

    @Test func readsStandardInput() throws {
        let rows = """
            {"group": "g", "trajectory": "t", "step": 0, "state": "A", "reward": 10}
            {"group": "g", "trajectory": "t", "step": 1, "state": "B", "reward": 0, "active": false}
            """
        let result = try Self.run(["score", "-", "--gamma", "0.5"], stdin: rows)
        #expect(result.status == 0)
        #expect(result.stdout == """
            {"group": "g", "trajectory": "t", "step": 0, "value": 5.0, "step_reward": 5.0, "step_reward_abs": 10.0}
            {"group": "g", "trajectory": "t", "step": 1, "value": 10.0, "step_reward": 0.0, "step_reward_abs": 0.0}

            """)
    }

    @Test func devicesAreWrittenInPlaceNotReplaced() throws {
        // `-o /dev/null` must not rename a regular file over the device.
        let rows = #"{"group": "g", "trajectory": "t", "step": 0, "state": "A", "reward": 1}"#
        let result = try Self.run(["score", "-", "-o", "/dev/null"], stdin: rows)
        #expect(result.status == 0, "\(result.stderr)")
        var status = stat()
        #expect(stat("/dev/null", &status) == 0)
        #expect(status.st_mode & S_IFMT == S_IFCHR)
    }

    @Test func badInputExitsTwoWithLineAndFieldAndWritesNothing() throws {
        let input = Self.temporary("bad.jsonl"), output = Self.temporary("bad-out.jsonl")
        try """
            {"group": "g", "trajectory": "t", "step": 0, "state": "A", "reward": 0}
            {"group": "g", "trajectory": "t", "step": 1, "state": "B", "reward": NaN}
            """.write(toFile: input, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: input) }
        let result = try Self.run(["score", input, "-o", output])
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("error: line 2: reward: "), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    /// Input without newlines is refused at the line limit with exit 2, never read to the end
    /// of memory; the limit is an option.
    @Test func inputWithoutNewlinesHitsTheLineLimit() throws {
        let result = try Self.run(["score", "/dev/zero", "--max-line-bytes", "1000000", "--quiet"])
        #expect(result.status == 2)
        #expect(result.stderr == "error: line 1: json: line longer than 1000000 bytes (the limit; rewardflow score --max-line-bytes raises it)\n")
        let good = #"{"group": "g", "trajectory": "t", "step": 0, "state": "A", "reward": 1}"#
        let long = #"{"group": "g", "trajectory": "t", "step": 1, "state": "\#(String(repeating: "x", count: 300))", "reward": 1}"#
        let path = Self.temporary("long-line.jsonl")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "\(good)\n\(long)\n".write(toFile: path, atomically: false, encoding: .utf8)
        let refused = try Self.run(["score", path, "--max-line-bytes", "200", "--quiet"])
        #expect(refused.status == 2)
        #expect(refused.stderr.hasPrefix("error: line 2: json: line longer than 200 bytes"), "\(refused.stderr)")
        let accepted = try Self.run(["score", path, "--max-line-bytes", "\(long.utf8.count)", "--quiet"])
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(try Self.run(["score", path, "--max-line-bytes", "0"]).status == 2)
    }

    @Test func badOptionsExitTwo() throws {
        for arguments in [["score", "x.jsonl", "--gamma", "1.5"], ["score", "x.jsonl", "--operator", "magic"],
                          ["score", "x.jsonl", "--advantage", "zscore"], ["score"], ["frobnicate"]] {
            let result = try Self.run(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.hasPrefix("error: "), "\(arguments): \(result.stderr)")
        }
    }

    @Test func missingFileExitsOne() throws {
        let result = try Self.run(["score", Self.temporary("does-not-exist.jsonl")])
        #expect(result.status == 1)
        #expect(result.stderr.contains("No such file"))
    }

    @Test func creditFlags() throws {
        let rows = """
        {"group":"g","trajectory":"t","step":0,"state":"a","reward":1}
        {"group":"g","trajectory":"t","step":1,"state":"b","reward":0}
        {"group":"g","trajectory":"u","step":0,"state":"a","reward":0}
        {"group":"g","trajectory":"u","step":1,"state":"c","reward":0}
        """
        let ok = try Self.run(["score", "-", "--operator", "goal-distance", "--gamma", "0.1", "--goal-reward", "10",
                               "--step-reward", "progress", "--episode-weighting", "trajectories",
                               "--episode-weight", "0.5", "--step-group-history", "1", "--advantage", "mean_norm"], stdin: rows)
        #expect(ok.status == 0, "\(ok.stderr)")
        // a: d 1, V 1; b: goal, V 10; a→b progress 10·0.1^0 = 10.
        #expect(ok.stdout.split(separator: "\n").first?.contains("\"step_reward\": 10") == true, "\(ok.stdout)")
        for (flags, message) in [
            (["--step-reward", "progress"], "goal-distance"),
            (["--step-reward", "sideways"], "The value 'sideways' is invalid for '--step-reward <M>'"),
            (["--episode-weighting", "all"], "The value 'all' is invalid for '--episode-weighting <E>'"),
            (["--step-group-history", "-1"], "'--step-group-history <K>': expected an integer >= 0"),
            (["--step-group-history", "2", "--step-group-similarity", "0.9"], "step_group_similarity"),
            (["--operator", "goal-distance", "--goal-reward", "0"], "goal_reward"),
            (["--episode-weight", "x"], "'--episode-weight <W>': expected a number"),
        ] {
            let r = try Self.run(["score", "-"] + flags, stdin: rows)
            #expect(r.status == 2, "\(flags)")
            #expect(r.stderr.contains(message), "\(flags): \(r.stderr)")
        }
    }

    /// Usage (swift-argument-parser): no arguments print the help on stderr and exit 2; usage
    /// errors exit 2 with `error: ` and the usage line; a misspelt option gets a suggestion;
    /// `--help` exits 0 with the help on stdout.
    @Test func usageErrorsAndHelp() throws {
        let bare = try Self.run([])
        #expect(bare.status == 2 && bare.stdout.isEmpty)
        #expect(bare.stderr.contains("USAGE: rewardflow <subcommand>") && bare.stderr.contains("score"))
        let typo = try Self.run(["score", "x.jsonl", "--gama", "0.5"])
        #expect(typo.status == 2)
        #expect(typo.stderr.hasPrefix("error: Unknown option '--gama'. Did you mean '--gamma'?"), "\(typo.stderr)")
        #expect(typo.stderr.contains("Usage: rewardflow score [<options>] <INPUT>"))
        for command in ["score", "synth", "time", "stats", "graph", "report"] {
            let help = try Self.run([command, "--help"])
            #expect(help.status == 0 && help.stdout.contains("USAGE: rewardflow \(command)"), "\(command)")
        }
        let help = try Self.run(["score", "--help"])
        #expect(help.stdout.contains("--gamma <G>") && help.stdout.contains("(default: 0.9)"))
        // Values that look like options are taken as values.
        let negative = try Self.run(["score", "-", "--gamma", "-0.5", "--quiet"], stdin: "")
        #expect(negative.status == 2 && negative.stderr.hasPrefix("error: gamma"), "\(negative.stderr)")
    }
}
