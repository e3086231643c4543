import Foundation
import Testing
@testable import RewardFlow

/// Output files of `score -o` and `synth -o`: written through symbolic links, modes kept or
/// taken from the umask, and no temporary file left behind by a process killed at any moment.
@Suite(.serialized) struct OutputFileTests {
    static let rows = """
        {"group": "g", "trajectory": "t", "step": 0, "state": "A", "reward": 10}
        {"group": "g", "trajectory": "t", "step": 1, "state": "B", "reward": 0, "active": false}

        """

    /// A fresh directory for one test.
    static func directory(_ name: String) throws -> String {
        let path = CLITests.temporary("out-\(name)")
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    /// Runs `command` through /bin/sh (for umask), returning the exit status.
    static func shell(_ command: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    @Test func writesThroughASymlinkKeepingIt() throws {
        let dir = try Self.directory("symlink")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/in.jsonl", target = dir + "/real.jsonl", link = dir + "/link.jsonl"
        try Self.rows.write(toFile: input, atomically: false, encoding: .utf8)
        try "old\n".write(toFile: target, atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "real.jsonl")
        for command in [["score", input, "-o", link], ["synth", "--groups", "1", "--quiet", "-o", link]] {
            let result = try CLITests.run(command)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "real.jsonl")
            let text = try String(contentsOfFile: target, encoding: .utf8)
            #expect(text.hasPrefix(#"{"group": "#), "\(text.prefix(40))")
        }
        // A dangling link: its target is created.
        try FileManager.default.removeItem(atPath: target)
        #expect(try CLITests.run(["score", input, "-o", link]).status == 0)
        #expect(FileManager.default.fileExists(atPath: target))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["in.jsonl", "link.jsonl", "real.jsonl"])
    }

    @Test func keepsAnExistingModeAndHonoursTheUmask() throws {
        let dir = try Self.directory("mode")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/in.jsonl", output = dir + "/out.jsonl"
        try Self.rows.write(toFile: input, atomically: false, encoding: .utf8)
        let exe = CLITests.executable.path
        for sub in ["score '\(input)'", "synth --groups 1 --quiet"] {
            try? FileManager.default.removeItem(atPath: output)
            #expect(try Self.shell("umask 077 && exec '\(exe)' \(sub) -o '\(output)'") == 0)
            #expect(try Self.mode(output) == 0o600, "\(sub), new file under umask 077")
            try? FileManager.default.removeItem(atPath: output)
            #expect(try Self.shell("umask 022 && exec '\(exe)' \(sub) -o '\(output)'") == 0)
            #expect(try Self.mode(output) == 0o644, "\(sub), new file under umask 022")
            chmod(output, 0o640)
            #expect(try Self.shell("umask 022 && exec '\(exe)' \(sub) -o '\(output)'") == 0)
            #expect(try Self.mode(output) == 0o640, "\(sub), existing 0640 file")
        }
    }

    /// The fallback without O_TMPFILE: a named temporary beside the target while writing,
    /// renamed on commit, removed when abandoned; the mode rules are the same.
    @Test func namedFallbackIsRenamedOrRemoved() throws {
        let dir = try Self.directory("fallback")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = dir + "/out.jsonl"
        try "old\n".write(toFile: target, atomically: false, encoding: .utf8)
        chmod(target, 0o640)
        do {
            let file = try OutputFile(path: target, unnamed: false)
            let names = try FileManager.default.contentsOfDirectory(atPath: dir)
            #expect(names.count == 2 && names.contains { $0.hasPrefix("out.jsonl.tmp.") }, "\(names)")
            _ = "new\n".withCString { write(file.fd, $0, 4) }
            try file.commit()
        }
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "new\n")
        #expect(try Self.mode(target) == 0o640)
        do {
            let file = try OutputFile(path: target, unnamed: false)
            _ = "lost".withCString { write(file.fd, $0, 4) }
        }  // abandoned
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["out.jsonl"])
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "new\n")
    }

    /// SIGKILL (and SIGINT, SIGHUP, SIGTERM) at random moments of `score -o` and `synth -o`:
    /// never a file beside the output, and the output is the old file or the complete new one.
    @Test func killedAtRandomMomentsLeavesNoTemporaryFile() throws {
        let dir = try Self.directory("kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/in.jsonl", output = dir + "/out.jsonl"
        let synth = ["synth", "--groups", "80", "--quiet"]
        #expect(try CLITests.run(synth + ["-o", input]).status == 0)
        let commands = [["score", input, "-o", output, "--quiet"], synth + ["-o", output]]
        var expected: [String] = []
        var durations: [Double] = []
        for command in commands {
            try? FileManager.default.removeItem(atPath: output)
            let started = Date()
            #expect(try CLITests.run(command).status == 0)
            durations.append(Date().timeIntervalSince(started))
            expected.append(try String(contentsOfFile: output, encoding: .utf8))
        }
        var generator = SystemRandomNumberGenerator()
        let signals: [Int32] = [SIGKILL, SIGKILL, SIGKILL, SIGINT, SIGHUP, SIGTERM]
        for round in 0..<24 {
            let which = round % 2
            try "old\n".write(toFile: output, atomically: false, encoding: .utf8)
            let process = Process()
            process.executableURL = CLITests.executable
            process.arguments = commands[which]
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(Double.random(in: 0...1.2, using: &generator) * durations[which] * 1e6))
            kill(process.processIdentifier, signals[round % signals.count])
            process.waitUntilExit()
            let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
            #expect(names == ["in.jsonl", "out.jsonl"], "round \(round): \(names)")
            let text = try String(contentsOfFile: output, encoding: .utf8)
            #expect(text == "old\n" || text == expected[which], "round \(round): a partial output (\(text.utf8.count) bytes)")
        }
    }

    /// `FileIO.run` feeds its input to the program's standard input and reports how it ended:
    /// the bytes arrive whole, an exit code comes back in `waitpid`'s form, a program that reads
    /// nothing ends the write (not this process), and a missing program is `notFound`.
    @Test func runFeedsAProgramAndReportsItsEnd() throws {
        let folder = try Self.directory("run")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let copy = folder + "/copy"
        let input = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }  // past a pipe's buffer
        #expect(FileIO.run(["sh", "-c", "cat > \"$0\"", copy], standardInput: input) == .exited(status: 0))
        #expect(FileManager.default.contents(atPath: copy) == Data(input))

        guard case .exited(let status) = FileIO.run(["sh", "-c", "exit 3"], standardInput: []) else {
            Issue.record("sh did not run")
            return
        }
        #expect(status >> 8 == 3)
        #expect(FileIO.run(["true"], standardInput: input) == .exited(status: 0))
        #expect(FileIO.run(["rf-no-such-program-\(getpid())"], standardInput: input) == .notFound)
    }
}
