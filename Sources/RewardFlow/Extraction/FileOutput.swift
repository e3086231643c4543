#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Raw `write(2)` helpers for the writers.
enum FileOutput {
    /// Writes every byte of `bytes` to `fd`, retrying short writes and `EINTR`.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(RewardFlowError) {
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, message: String(cString: strerror(errno)))
            }
            offset += written
        }
    }

    /// Writes every byte of `bytes` to `fd`.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(RewardFlowError) {
        try bytes.withUnsafeBytes { raw -> Result<Void, RewardFlowError> in
            do throws(RewardFlowError) {
                try writeAll(fd, raw, path: path)
                return .success(())
            } catch {
                return .failure(error)
            }
        }.get()
    }
}
