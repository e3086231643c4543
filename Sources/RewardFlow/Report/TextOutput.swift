import Glibc

/// Writes a text (DOT, HTML, JSON) to a file atomically, or to standard output for `"-"`.
public enum TextOutput {
    /// Writes `text` to `path` through `OutputFile`, as the JSONL writer does (no named
    /// temporary file can outlive the process, a symbolic link is written through, an existing
    /// file keeps its mode); `"-"` is standard output, a device or FIFO is written in place.
    /// On failure no file is left behind.
    public static func write(_ text: String, to path: String) throws(RewardFlowError) {
        let bytes = Array(text.utf8)
        if path == "-" {
            try FileOutput.writeAll(1, bytes, path: "<stdout>")
            return
        }
        if OutputFile.isDevice(path) {
            let fd = open(path, O_WRONLY)
            guard fd >= 0 else { throw .io(path: path, message: String(cString: strerror(errno))) }
            defer { close(fd) }
            try FileOutput.writeAll(fd, bytes, path: path)
            return
        }
        let file = try OutputFile(path: path)
        try FileOutput.writeAll(file.fd, bytes, path: path)
        try file.commit()
    }
}
