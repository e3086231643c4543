#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a text (DOT, HTML, JSON) to a file atomically, or to standard output for `"-"`.
public enum TextOutput {
    /// Writes `text` to `path`: a temporary file beside it, then `rename(2)`; `"-"` is standard
    /// output. On failure no file is left behind.
    public static func write(_ text: String, to path: String) throws(RewardFlowError) {
        let bytes = Array(text.utf8)
        if path == "-" {
            try FileOutput.writeAll(1, bytes, path: "<stdout>")
            return
        }
        var template = Array((path + ".tmp.XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw .io(path: path, message: String(cString: strerror(errno))) }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        do throws(RewardFlowError) {
            try FileOutput.writeAll(fd, bytes, path: path)
            fchmod(fd, 0o644)
            guard close(fd) == 0 else { throw .io(path: path, message: String(cString: strerror(errno))) }
            guard rename(temporary, path) == 0 else { throw .io(path: path, message: String(cString: strerror(errno))) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
    }
}
