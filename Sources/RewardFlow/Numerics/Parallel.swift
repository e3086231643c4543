#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// Fork-join over index ranges. Work is split into contiguous chunks whose results land in
/// caller-indexed slots, so the output never depends on the thread count or the schedule.
enum Parallel {
    /// Threads used by `forEachChunk` (defaults to the active processor count).
    nonisolated(unsafe) static var threadCount: Int = {
        #if canImport(Glibc)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        return 1
        #endif
    }()

    /// Calls `body` on disjoint contiguous sub-ranges covering `0..<count`, concurrently: one
    /// chunk per thread, so per-chunk scratch space is allocated once per thread.
    static func forEachChunk(count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let workers = min(threadCount, max(1, count / max(1, minimumChunk)))
        if workers <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        let chunks = workers
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = count * c / chunks, hi = count * (c + 1) / chunks
                if lo < hi { box.value(lo..<hi) }
            }
        }
    }
}

/// Wraps a value the compiler cannot prove `Sendable` but that is used race-free by design
/// (disjoint writes, read-only sharing). Every use is a fork-join in `Parallel`.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A mutable buffer written at disjoint indices from parallel chunks.
struct SendableBuffer<Element>: @unchecked Sendable {
    let base: UnsafeMutableBufferPointer<Element>
    init(_ base: UnsafeMutableBufferPointer<Element>) { self.base = base }
    subscript(i: Int) -> Element {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }
}
