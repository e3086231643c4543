// The file and process calls (read and write, the reader's mapped file, output files, the pipe
// into a program, the environment and CPU time). Invariants of their pointer code: a read or
// write touches only the buffer or span it is handed, within its count; a `MappedFile`'s bytes
// are handed out only inside `withBytes`, while the mapping lives; the strings `run` passes to
// `posix_spawnp` outlive the call and are freed after it; `getenv`'s string is copied at once.
import Glibc
import SystemPackage

/// The library's file-descriptor calls, one wrapper per system call, on swift-system's
/// `FileDescriptor` (which retries `EINTR`). Failures become `RewardFlowError.io` with
/// `strerror`'s text (`x.jsonl: No such file or directory`); `openDescriptor` hands the `Errno`
/// itself to the callers that branch on it (`OutputFile`'s `O_TMPFILE` probe).
package enum FileIO {
    /// `open(2)`, with the `Errno` of a failure.
    static func openDescriptor(
        _ path: String, _ mode: FileDescriptor.AccessMode, options: FileDescriptor.OpenOptions = [],
        permissions: FilePermissions? = nil
    ) throws(Errno) -> FileDescriptor {
        do {
            return try FileDescriptor.open(FilePath(path), mode, options: options, permissions: permissions)
        } catch {
            throw error as? Errno ?? .ioError
        }
    }

    /// `open(2)`.
    static func open(
        _ path: String, _ mode: FileDescriptor.AccessMode, options: FileDescriptor.OpenOptions = [],
        permissions: FilePermissions? = nil
    ) throws(RewardFlowError) -> FileDescriptor {
        do {
            return try openDescriptor(path, mode, options: options, permissions: permissions)
        } catch {
            throw .io(path: path, error)
        }
    }

    /// `read(2)`: at most `buffer.count` bytes; 0 at the end of the file.
    static func read(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, path: String) throws(RewardFlowError) -> Int {
        do {
            return try fd.read(into: buffer)
        } catch {
            throw .io(path: path, error as? Errno ?? .ioError)
        }
    }

    /// `read(2)` into `buffer[offset...]`: at most `buffer.count - offset` bytes; 0 at the end
    /// of the file (or when no byte of `buffer` is left).
    static func read(_ fd: FileDescriptor, into buffer: inout [UInt8], from offset: Int, path: String) throws(RewardFlowError) -> Int {
        precondition(0 <= offset && offset <= buffer.count, "read offset \(offset) outside 0...\(buffer.count)")
        return try buffer.withUnsafeMutableBytes { raw -> Result<Int, RewardFlowError> in
            do throws(RewardFlowError) {
                return .success(try read(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[offset...]), path: path))
            } catch {
                return .failure(error)
            }
        }.get()
    }

    /// The size of `fd` (`fstat(2)`) when it is a regular file, else nil.
    static func regularFileSize(_ fd: FileDescriptor) -> Int? {
        var info = stat()
        guard fstat(fd.rawValue, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    /// `write(2)` until every byte of `bytes` is written. `recover` sees each failure and may
    /// return true to retry (after switching `O_DIRECT` off, say); else the write throws.
    package static func writeAll(
        _ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer, path: String,
        recover: (Errno) -> Bool = { _ in false }
    ) throws(RewardFlowError) {
        var offset = 0
        while offset < bytes.count {
            do {
                offset += try fd.write(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            } catch {
                let errno = error as? Errno ?? .ioError
                if recover(errno) { continue }
                throw .io(path: path, errno)
            }
        }
    }

    /// `write(2)` of every byte of `bytes`; `recover` as in `writeAll(_:_:path:recover:)`.
    static func writeAll(
        _ fd: FileDescriptor, _ bytes: Span<UInt8>, path: String, recover: (Errno) -> Bool = { _ in false }
    ) throws(RewardFlowError) {
        try bytes.withUnsafeBytes { (raw) throws(RewardFlowError) in try writeAll(fd, raw, path: path, recover: recover) }
    }

    /// `write(2)` of every byte of `bytes`.
    package static func writeAll(_ fd: FileDescriptor, _ bytes: [UInt8], path: String) throws(RewardFlowError) {
        try bytes.withUnsafeBytes { raw -> Result<Void, RewardFlowError> in
            do throws(RewardFlowError) {
                try writeAll(fd, raw, path: path)
                return .success(())
            } catch {
                return .failure(error)
            }
        }.get()
    }

    /// `write(2)` of `text`'s UTF-8 to standard error, unbuffered; failures are ignored (a
    /// progress line or a message has nowhere else to go).
    package static func writeStandardError(_ text: String) {
        try? writeAll(.standardError, Array(text.utf8), path: "stderr")
    }

    /// `open(2)` of an existing file (a device, say) for writing; its raw descriptor.
    package static func openForWriting(_ path: String) throws(RewardFlowError) -> Int32 {
        try open(path, .writeOnly).rawValue
    }

    /// `close(2)` of a raw descriptor that `openForWriting` returned.
    package static func close(descriptor: Int32, path: String) throws(RewardFlowError) {
        try close(FileDescriptor(rawValue: descriptor), path: path)
    }

    /// `close(2)`, once per descriptor; a failure (a delayed write error) is reported.
    static func close(_ fd: FileDescriptor, path: String) throws(RewardFlowError) {
        do {
            try fd.close()
        } catch {
            throw .io(path: path, error as? Errno ?? .ioError)
        }
    }

    /// Runs `argv[0]` (looked up on `PATH`, `posix_spawnp`) with `input` on its standard input
    /// and waits for it to end; its standard output and error are this process's. SIGPIPE is
    /// ignored from then on, so a program that exits without reading all of `input` ends the
    /// write, not this process. `argv` must not be empty.
    package static func run(_ argv: [String], standardInput input: [UInt8]) -> ProgramOutcome {
        precondition(!argv.isEmpty, "FileIO.run: argv is empty")
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { return .failed(call: "pipe", message: String(cString: strerror(errno))) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, ends[0], 0)
        posix_spawn_file_actions_addclose(&actions, ends[1])
        var arguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for argument in arguments { free(argument) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, argv[0], &actions, nil, &arguments, environ)
        Glibc.close(ends[0])
        let writeEnd = FileDescriptor(rawValue: ends[1])
        guard status == 0 else {
            try? writeEnd.close()
            return status == ENOENT ? .notFound : .failed(call: argv[0], message: String(cString: strerror(status)))
        }
        signal(SIGPIPE, SIG_IGN)
        try? writeAll(writeEnd, input, path: argv[0])  // EPIPE: the program stopped reading
        try? writeEnd.close()
        var waitStatus: Int32 = 0
        while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
        return .exited(status: waitStatus)
    }

    /// `linkat(AT_FDCWD, source, AT_FDCWD, target, AT_SYMLINK_FOLLOW)`, which swift-system does
    /// not wrap: gives the unnamed `O_TMPFILE` inode behind `/proc/self/fd/N` a name.
    static func link(_ source: String, to target: String) throws(Errno) {
        guard linkat(AT_FDCWD, source, AT_FDCWD, target, AT_SYMLINK_FOLLOW) == 0 else { throw Errno(rawValue: errno) }
    }
}

/// A regular file mapped read-only for one sequential pass; unmapped in `deinit`.
///
/// Invariant: `base[0..<count]` stays readable for the mapping's lifetime (unless another
/// process truncates the file, which `mmap` turns into `SIGBUS`).
final class MappedFile {
    let base: UnsafePointer<UInt8>
    let count: Int

    /// Maps `count` bytes of `fd` (a regular file of at least that size); nil when `mmap` fails
    /// (the caller then reads the file instead).
    init?(_ fd: FileDescriptor, count: Int) {
        guard let address = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd.rawValue, 0), address != MAP_FAILED else { return nil }
        _ = madvise(address, count, MADV_SEQUENTIAL)
        base = UnsafePointer(address.assumingMemoryBound(to: UInt8.self))
        self.count = count
    }

    /// Bytes `[0, released)` have been dropped from the process's resident set.
    private var released = 0

    /// Drops the mapped pages wholly before `offset` from the resident set (`MADV_DONTNEED`;
    /// the page cache keeps them): a pass over the file keeps only the part being parsed
    /// resident. Reading those bytes again would fault them back in.
    func release(upTo offset: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let end = offset / page * page
        guard end > released else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base) + released, end - released, MADV_DONTNEED)
        released = end
    }

    /// Runs `body` with the mapped bytes (`base[0..<count]`, alive for the mapping's lifetime).
    func withBytes<R, Failure: Error>(_ body: (Span<UInt8>) throws(Failure) -> R) throws(Failure) -> R {
        try body(UnsafeBufferPointer(start: base, count: count).span)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), count) }
}

/// How a program that `FileIO.run(_:standardInput:)` started ended.
package enum ProgramOutcome: Equatable, Sendable {
    /// It ran; `status` is `waitpid`'s (0: it exited with status 0; `status >> 8`: its exit code).
    case exited(status: Int32)
    /// `posix_spawnp` found no such program on `PATH`.
    case notFound
    /// `call` (`pipe`, or the program's name for `posix_spawnp`) failed with `strerror`'s `message`.
    case failed(call: String, message: String)
}

extension RewardFlowError {
    /// The I/O error of `errno` at `path`, in `strerror`'s words.
    static func io(path: String, _ errno: Errno) -> RewardFlowError {
        .io(path: path, message: String(cString: strerror(errno.rawValue)))
    }
}

/// A regular file being written in place of `path`, made visible all at once by `commit()`.
///
/// No named temporary file can outlive the process: on Linux the data goes into an unnamed
/// `O_TMPFILE` inode in the target's directory, which the kernel frees if the process dies
/// for any reason (SIGKILL included); `commit()` gives it a name with `linkat` (straight to the
/// target when it does not exist yet, else to a temporary name renamed over the target, the
/// two calls with SIGINT/SIGTERM/SIGHUP/SIGQUIT blocked). Where `O_TMPFILE` is not supported
/// (other kernels, some file systems), a named `path.tmp.XXXXXX` is used and removed by a
/// handler of those signals (`PendingTemporary`); only SIGKILL can then leave it behind.
///
/// A symbolic link at `path` is followed: its target is replaced and the link kept. An
/// existing file keeps its permission bits; a new file gets `0666` minus the umask.
package final class OutputFile {
    /// The descriptor to write to.
    let descriptor: FileDescriptor
    /// The descriptor to write to, as a C file descriptor.
    package var fd: Int32 { descriptor.rawValue }
    /// The file that `commit()` replaces (`path` with symbolic links followed).
    package let target: String
    /// The named temporary file of the fallback (nil with `O_TMPFILE`).
    private let temporary: String?
    private var done = false

    /// Linux's `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`), which Glibc does not export to Swift.
    private static let oTmpfile: Int32 = 0o20_200_000

    /// True when `path` exists and is not a regular file (a device such as `/dev/null`, a
    /// FIFO), which writers open and write in place instead of replacing.
    package static func isDevice(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) != S_IFREG
    }

    /// Writes to `path` through `body(descriptor, regularFile)`: standard output for `"-"`, a
    /// device or FIFO opened and written in place (closed once, also after a failure), else an
    /// `OutputFile` committed over `path` when `body` returns (nothing is left behind when it
    /// throws). `regularFile` says which (a writer may use `O_DIRECT` only on a regular file).
    static func write(
        to path: String, _ body: (FileDescriptor, _ regularFile: Bool, _ name: String) throws(RewardFlowError) -> Void
    ) throws(RewardFlowError) {
        if path == "-" {
            try body(.standardOutput, false, "<stdout>")
            return
        }
        if isDevice(path) {
            let fd = try FileIO.open(path, .writeOnly)
            do {
                try body(fd, false, path)
            } catch {
                try? fd.close()
                throw error
            }
            try FileIO.close(fd, path: path)
            return
        }
        let file = try OutputFile(path: path)
        try body(file.descriptor, true, path)
        try file.commit()
    }

    /// Opens an unnamed (or, as a fallback, named temporary) file beside `path`'s target.
    package convenience init(path: String) throws(RewardFlowError) {
        try self.init(path: path, unnamed: true)
    }

    /// `unnamed: false` takes the fallback (a named temporary file) even where `O_TMPFILE`
    /// works, for tests.
    init(path: String, unnamed: Bool) throws(RewardFlowError) {
        let target = try Self.resolve(path)
        let (fd, temporary) = try Self.create(beside: target, path: path, unnamed: unnamed)
        self.descriptor = fd
        self.target = target
        self.temporary = temporary
    }

    /// The descriptor of the new file and, for the fallback, its name.
    private static func create(beside target: String, path: String, unnamed: Bool) throws(RewardFlowError) -> (FileDescriptor, String?) {
        var status = stat()
        let mode: mode_t? = stat(target, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG ? status.st_mode & 0o7777 : nil
        let directory = directory(of: target)
        if unnamed {
            do {
                let anonymous = try FileIO.openDescriptor(
                    directory, .writeOnly, options: [FileDescriptor.OpenOptions(rawValue: oTmpfile), .closeOnExec],
                    permissions: FilePermissions(rawValue: 0o666))
                // open(2) applied the umask to 0666; an existing file's mode wins.
                if let mode { fchmod(anonymous.rawValue, mode) }
                return (anonymous, nil)
            } catch {
                switch error {
                case .notSupported, .isDirectory, .invalidArgument: break  // no O_TMPFILE on this kernel or file system
                default: throw .io(path: path, error)
                }
            }
        }
        guard let (named, name) = PendingTemporary.begin(template: target + ".tmp.XXXXXX") else {
            throw .io(path: path, message: String(cString: strerror(errno)))
        }
        // mkstemp makes 0600: give the file the mode open(2) would give it.
        fchmod(named, mode ?? (0o666 & ~currentUmask()))
        return (FileDescriptor(rawValue: named), name)
    }

    /// Makes the written data visible at `target` (replacing it atomically) and closes `fd`.
    /// On failure the target is left as it was and nothing is left beside it.
    package func commit() throws(RewardFlowError) {
        try link()
        done = true
        try FileIO.close(descriptor, path: target)
    }

    private func link() throws(RewardFlowError) {
        if let temporary {
            guard rename(temporary, target) == 0 else { throw .io(path: target, message: String(cString: strerror(errno))) }
            PendingTemporary.end()
            return
        }
        let source = "/proc/self/fd/\(fd)"
        do throws(Errno) {
            try FileIO.link(source, to: target)
            return
        } catch {
            guard error == .fileExists else { throw .io(path: target, error) }
        }
        // The target exists: link under a fresh name, then rename over it, with the catchable
        // termination signals held back so that the name never outlives a delivered one.
        var block = sigset_t(), old = sigset_t()
        sigemptyset(&block)
        for signal in PendingTemporary.signals { sigaddset(&block, signal) }
        pthread_sigmask(SIG_BLOCK, &block, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        for attempt in 0..<100 {
            let name = "\(target).tmp.\(getpid()).\(attempt)"
            do throws(Errno) {
                try FileIO.link(source, to: name)
            } catch {
                if error == .fileExists { continue }
                throw .io(path: target, error)
            }
            guard rename(name, target) == 0 else {
                let message = String(cString: strerror(errno))
                unlink(name)
                throw .io(path: target, message: message)
            }
            return
        }
        throw .io(path: target, message: "no free temporary name")
    }

    /// Without `commit()`: discards the data (the target is left as it was).
    deinit {
        guard !done else { return }
        try? descriptor.close()
        if let temporary {
            unlink(temporary)
            PendingTemporary.end()
        }
    }

    /// `path` with every symbolic link of its last component followed (at most 40 levels);
    /// a dangling link resolves to the file it names, which is then created.
    static func resolve(_ path: String) throws(RewardFlowError) -> String {
        var current = path
        for _ in 0..<40 {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(current, &buffer, buffer.count - 1)
            if n < 0 {
                if errno == EINVAL || errno == ENOENT { return current }  // not a link / no file yet
                throw .io(path: path, message: String(cString: strerror(errno)))
            }
            let link = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            current = link.hasPrefix("/") ? link : directory(of: current) + "/" + link
        }
        throw .io(path: path, message: String(cString: strerror(ELOOP)))
    }

    /// The directory part of `path` ("." when it has none).
    static func directory(of path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        let head = String(path[..<slash])
        return head.isEmpty ? "/" : head
    }

    /// The process's umask, read without changing it where `/proc` tells it.
    static func currentUmask() -> mode_t {
        if let file = fopen("/proc/self/status", "r") {
            defer { fclose(file) }
            var line = [CChar](repeating: 0, count: 256)
            while fgets(&line, Int32(line.count), file) != nil {
                let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if text.hasPrefix("Umask:"), let value = mode_t(text.dropFirst(6).trimmingSpaces(), radix: 8) { return value }
            }
        }
        let mask = umask(0o022)
        umask(mask)
        return mask
    }
}

private extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\n" { s = s.dropLast() }
        return s
    }
}

/// The one named temporary file (fallback of `OutputFile`) that a signal handler removes:
/// its path in a fixed C buffer the handler reads (async-signal-safe: `unlink`, `signal`,
/// `raise`). This is the library's only process-wide mutable state, touched only between
/// `begin` and `end`, one output at a time.
enum PendingTemporary {
    /// The signals whose default action would end the process and leave the file behind.
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]
    /// The path, NUL-terminated (empty: nothing pending).
    nonisolated(unsafe) private static let path = UnsafeMutablePointer<CChar>.allocate(capacity: Int(PATH_MAX) + 1)

    /// Creates the file from `template` (`mkstemp`), records it and installs the handlers.
    static func begin(template: String) -> (Int32, String)? {
        var bytes = Array(template.utf8CString)
        guard bytes.count <= Int(PATH_MAX) else { errno = ENAMETOOLONG; return nil }
        var blocked = sigset_t(), old = sigset_t()
        sigemptyset(&blocked)
        for signal in signals { sigaddset(&blocked, signal) }
        pthread_sigmask(SIG_BLOCK, &blocked, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        let fd = bytes.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return nil }
        bytes.withUnsafeBufferPointer { path.update(from: $0.baseAddress!, count: $0.count) }
        for signal in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                if PendingTemporary.path[0] != 0 { unlink(PendingTemporary.path) }
                Glibc.signal(number, SIG_DFL)
                raise(number)
            }
            sigaction(signal, &action, nil)
        }
        return (fd, String(decoding: bytes.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// Forgets the file (renamed or removed).
    static func end() { path[0] = 0 }
}

// MARK: - C library calls that take or return pointers

/// The process's environment and resource usage, read through the C library.
enum ProcessQueries {
    /// The value of environment variable `name` (`getenv`, copied at once), nil when unset.
    static func environmentValue(_ name: String) -> String? {
        guard let text = getenv(name) else { return nil }
        return String(cString: text)
    }

    /// User + system CPU seconds of the process so far, every thread (`getrusage(RUSAGE_SELF)`);
    /// 0 when the call fails.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
