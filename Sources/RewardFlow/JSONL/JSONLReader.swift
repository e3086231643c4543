import SystemPackage

/// Reads SPEC §1 step rows from JSON Lines: a byte-level scanner, streaming in fixed-size chunks.
///
/// No Foundation JSON and no per-row dictionary: each line is scanned once, its strings are
/// validated as UTF-8 and interned straight from the input buffer, numbers are parsed in place.
/// Errors name the 1-based line and the field. Blank lines are skipped; unknown fields are
/// checked for JSON syntax and ignored. Safe code: the bytes are handed around as `Span`s (the
/// mapping and `read(2)` are `FileIO`'s and `MappedFile`'s, the scanner's pointers the parser's).
public enum JSONLReader {
    /// Bytes read from the file per `read(2)` call.
    static let chunkSize = 16 << 20
    /// Below this many bytes a chunk is parsed on one thread.
    static let parallelThreshold = 1 << 20

    /// The longest line `read(path:)` accepts by default, in bytes (256 MiB, newline not
    /// counted): input without newlines (`/dev/zero`) is refused instead of filling memory.
    public static let defaultMaxLineBytes = 256 << 20

    /// Reads the rows of the file at `path` (`"-"` reads standard input). A line longer than
    /// `maxLineBytes` is refused (`line N: json: line longer than ...`) before more of it is read.
    /// Large chunks are parsed on `threads` threads (nil: `Execution.threadCount`); rows, ids and
    /// errors never depend on it.
    ///
    /// A regular file is mapped (`mmap`, `MADV_SEQUENTIAL`) and parsed where it lies, so no
    /// `read(2)` copies it; pipes, devices and `"-"` are read in chunks. Both give the same rows
    /// and errors. (As with any mapped reader, a file truncated by another process while it is
    /// being parsed ends the process with `SIGBUS`.)
    public static func read(
        path: String, maxLineBytes: Int = defaultMaxLineBytes, threads: Int? = nil,
        progress: ((Int) -> Void)? = nil
    ) throws(RewardFlowError) -> StepRows {
        try read(path: path, maxLineBytes: maxLineBytes, threads: threads, mapping: true, chunkBytes: chunkSize, progress: progress)
    }

    /// `read(path:maxLineBytes:threads:progress:)`, with the choice between mapping a regular
    /// file and reading it in chunks (`mapping: false`), and the chunk size (the tests compare
    /// both ways at several sizes).
    static func read(
        path: String, maxLineBytes: Int, threads: Int?, mapping: Bool, chunkBytes: Int, progress: ((Int) -> Void)?
    ) throws(RewardFlowError) -> StepRows {
        let threads = Parallel.threads(threads)
        guard maxLineBytes > 0 else {
            throw .invalidParameter(name: "max-line-bytes", message: "must be positive, got \(maxLineBytes)")
        }
        let fd = path == "-" ? FileDescriptor.standardInput : try FileIO.open(path, .readOnly)
        defer { if fd != .standardInput { try? fd.close() } }
        var parser = JSONLParser()
        parser.maxLineBytes = maxLineBytes
        if let size = FileIO.regularFileSize(fd) {
            // Reserve (address space only: untouched pages cost nothing) so the columns and
            // the state text grow without copying: a line is at least ~64 bytes.
            parser.rows.reserve(forInputBytes: size)
            if mapping, size > 0, let file = MappedFile(fd, count: size) {
                try parseMapped(file, &parser, chunkBytes: max(1, chunkBytes), threads: threads, progress: progress)
                return parser.rows
            }
        }
        var parts: [JSONLParser] = []
        var buffer = [UInt8](repeating: 0, count: max(1, chunkBytes))
        var filled = 0
        while true {
            if filled == buffer.count {
                // The tail holds no newline (it is parsed otherwise): grow up to one byte past the limit.
                let grown = min(buffer.count * 2, maxLineBytes + 1)
                buffer.append(contentsOf: repeatElement(0, count: max(grown - buffer.count, 1)))
            }
            let got = try FileIO.read(fd, into: &buffer, from: filled, path: path)
            let atEnd = got == 0
            filled += got
            // Parse every complete line; keep the tail for the next read.
            var consumed = filled
            if !atEnd { consumed = lastNewline(buffer.span.extracting(0..<filled)).map { $0 + 1 } ?? 0 }
            if consumed > 0 {
                try parseParallel(&parser, &parts, buffer.span.extracting(0..<consumed), threads: threads)
                // The tail (the start of one line) moves to the front.
                let tail = Array(buffer[consumed..<filled])
                buffer.replaceSubrange(0..<tail.count, with: tail)
                filled -= consumed
                progress?(parser.rows.count)
            }
            if atEnd { break }
            // `buffer[0..<filled]` is the start of one line, without its newline.
            if filled > maxLineBytes { throw Self.lineTooLong(line: parser.line + 1, limit: maxLineBytes) }
        }
        return parser.rows
    }

    /// Parses a mapped file in steps of about `chunkBytes` bytes cut after a newline, exactly as
    /// the chunked reader cuts them: a line longer than `maxLineBytes` is refused as soon as the
    /// bytes after its start hold no newline within the limit.
    private static func parseMapped(
        _ file: MappedFile, _ parser: inout JSONLParser, chunkBytes: Int, threads: Int, progress: ((Int) -> Void)?
    ) throws(RewardFlowError) {
        var parts: [JSONLParser] = []
        try file.withBytes { (bytes) throws(RewardFlowError) in
            let count = bytes.count
            var start = 0
            while start < count {
                var end = count
                if count - start > chunkBytes {
                    if let nl = lastNewline(bytes.extracting(start ..< start + chunkBytes)) {
                        end = start + nl + 1
                    } else {
                        // The line at `start` is longer than a chunk: its newline, within the limit.
                        let reach = min(count - start, parser.maxLineBytes == Int.max ? Int.max : parser.maxLineBytes + 1)
                        if let nl = ByteSpans.firstIndex(of: 0x0A, in: bytes.extracting(start ..< start + reach)) {
                            end = start + nl + 1
                        } else if reach < count - start {
                            throw lineTooLong(line: parser.line + 1, limit: parser.maxLineBytes)
                        }
                    }
                }
                try parseParallel(&parser, &parts, bytes.extracting(start..<end), threads: threads)
                start = end
                file.release(upTo: start)  // parsed bytes leave the resident set (they stay cached)
                progress?(parser.rows.count)
            }
        }
    }

    /// The error for a line longer than `limit` bytes.
    static func lineTooLong(line: Int, limit: Int) -> RewardFlowError {
        .invalidInput(location: .line(line), field: "json",
                      message: "line longer than \(limit) bytes (the limit; rewardflow score --max-line-bytes raises it)")
    }

    /// Parses rows from JSONL text held in memory (on `threads` threads when large; nil:
    /// `Execution.threadCount`).
    public static func parse(_ text: String, threads: Int? = nil) throws(RewardFlowError) -> StepRows {
        var bytes = Array(text.utf8)
        return try parse(bytes: &bytes, threads: threads)
    }

    /// Parses rows from JSONL bytes held in memory (on `threads` threads when large; nil:
    /// `Execution.threadCount`).
    public static func parse(bytes: inout [UInt8], threads: Int? = nil) throws(RewardFlowError) -> StepRows {
        let threads = Parallel.threads(threads)
        var parser = JSONLParser()
        var parts: [JSONLParser] = []
        try parseParallel(&parser, &parts, bytes.span, threads: threads)
        return parser.rows
    }

    /// Parses the complete lines `lines` into `parser`, split at line boundaries into one part
    /// per thread (`threads` of them). Part 0 goes straight into `parser`; every other part into
    /// a fresh parser whose rows are then appended in order, interning their strings into the
    /// batch's tables in their order of first appearance. So ids, rows and errors are exactly
    /// those of a sequential parse, whatever the thread count.
    /// `parts` holds the parts' parsers, kept from chunk to chunk (emptied, capacity kept, so
    /// their buffers are not mapped afresh for every chunk); `parser` is swapped into slot 0
    /// for the parallel parse (a swap, so its tables are never copied).
    private static func parseParallel(
        _ parser: inout JSONLParser, _ parts: inout [JSONLParser], _ lines: Span<UInt8>, threads: Int
    ) throws(RewardFlowError) {
        let count = lines.count
        guard threads > 1, count >= parallelThreshold else {
            try parser.parseLines(lines)
            return
        }
        // Part 0 interns into the batch's large tables (more cache misses) while the others
        // fill small ones and are then merged on this thread: give part 0 ~12% less (measured).
        var cuts = [0]
        for k in 1..<threads {
            let from = max(cuts[k - 1], count * (k * 100 - 12) / (threads * 100))
            let nl = ByteSpans.firstIndex(of: 0x0A, in: lines.extracting(from..<count))
            cuts.append(nl.map { from + $0 + 1 } ?? count)
        }
        cuts.append(count)
        while parts.count < threads { parts.append(JSONLParser()) }
        for k in 1..<threads {
            parts[k].reset()
            parts[k].maxLineBytes = parser.maxLineBytes
        }
        swap(&parser, &parts[0])
        var errors = [RewardFlowError?](repeating: nil, count: threads)
        Parallel.forEachChunk(threads: threads, count: threads, writing: &parts, &errors) { chunk, parsers, errorOut in
            for k in chunk {
                do throws(RewardFlowError) {
                    try parsers.modify(k) { (part) throws(RewardFlowError) in
                        try part.parseLines(lines.extracting(cuts[k]..<cuts[k + 1]))
                    }
                } catch {
                    errorOut[k] = error
                }
            }
        }
        swap(&parser, &parts[0])
        if let error = errors[0] { throw error }
        for k in 1..<threads {
            let shard = parts[k]
            let offset = parser.line
            if let error = errors[k] {
                // A state/state_key conflict at the part's first row comes before its own error.
                if shard.rows.count > 0, let kind = shard.rows.identity {
                    try parser.rows.setIdentity(kind, at: .line(offset + Int(shard.rows.sourceLine[0])))
                }
                throw error.shiftingLines(by: offset)
            }
            try parser.rows.append(contentsOf: shard.rows, lineOffset: offset)
            parser.line += shard.line
        }
        parser.lastGroup = -1
        parser.lastTrajectory = -1
    }

    /// The index of the last newline of `bytes`, or nil.
    private static func lastNewline(_ bytes: Span<UInt8>) -> Int? {
        var i = bytes.count - 1
        while i >= 0 {
            if bytes[i] == 0x0A { return i }
            i -= 1
        }
        return nil
    }
}
