import SystemPackage

/// Writes a text (DOT, HTML, JSON) to a file atomically, or to standard output for `"-"`.
package enum TextOutput {
    /// Writes `text` to `path` through `OutputFile`, as the JSONL writer does (no named
    /// temporary file can outlive the process, a symbolic link is written through, an existing
    /// file keeps its mode); `"-"` is standard output, a device or FIFO is written in place.
    /// On failure no file is left behind.
    package static func write(_ text: String, to path: String) throws(RewardFlowError) {
        let bytes = Array(text.utf8)
        try OutputFile.write(to: path) { (fd, _, name) throws(RewardFlowError) in try FileIO.writeAll(fd, bytes, path: name) }
    }
}
