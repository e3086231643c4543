#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import CBLAS

/// Fork-join over index ranges. Work is split into contiguous chunks whose results land in
/// caller-indexed slots, so the output never depends on the thread count or the schedule.
package enum Parallel {
    /// The thread count used when none is given: `$REWARDFLOW_THREADS` when set to a positive
    /// integer, else the active processor count. Read once, at first use; never changes after.
    static let defaultThreadCount: Int = {
        if let text = ProcessQueries.environmentValue("REWARDFLOW_THREADS"), let n = Int(text), n > 0 { return n }
        #if canImport(Glibc)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        return 1
        #endif
    }()

    /// `requested` (at least 1) when given, else `defaultThreadCount`.
    package static func threads(_ requested: Int?) -> Int {
        guard let requested else { return defaultThreadCount }
        return max(1, requested)
    }

    /// Below this much work (rows, or nodes + edges) a loop is not split across threads.
    static let serialWork = 24_576

    /// Calls `body` on disjoint contiguous sub-ranges covering `0..<count`, concurrently: one
    /// chunk per thread, so per-chunk scratch space is allocated once per thread.
    ///
    /// `work` estimates the total work (rows, nodes + edges); below `serialWork` waking other
    /// threads costs more than it saves, so the loop runs on the calling thread.
    /// At most `threads` chunks run; the output never depends on `threads`.
    package static func forEachChunk(
        threads: Int, count: Int, minimumChunk: Int = 1, work: Int = .max, _ body: (Range<Int>) -> Void
    ) {
        let workers = work < serialWork ? 1 : min(threads, max(1, count / max(1, minimumChunk)))
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

/// Engine-wide execution settings (threads of the parallel loops; the BLAS in use).
///
/// Output never depends on these: every parallel loop writes results to fixed slots and every
/// reduction is exactly rounded or in a fixed order (SPEC §6).
package enum Execution {
    /// Threads the engine's own parallel loops use when a run names no count
    /// (`ScoringOptions.threads` and the like nil): `$REWARDFLOW_THREADS` when set to a positive
    /// integer, else the processor count, read once. Read-only: a run chooses its own count
    /// through its options, so no setting is shared between runs.
    package static var threadCount: Int { Parallel.defaultThreadCount }

    /// OpenBLAS's kernel family (`openblas_get_corename()`), e.g. `"Prescott"` or `"SkylakeX"`.
    package static var blasCoreName: String { BLAS.coreName }

    /// OpenBLAS's own thread count (`openblas_get_num_threads()`); the engine sets it to 1
    /// inside its parallel loops.
    package static var blasThreadCount: Int { Int(openblas_get_num_threads()) }
}

/// Wraps a value the compiler cannot prove `Sendable` but that is used race-free by design
/// (disjoint writes, read-only sharing). Every use is a fork-join in `Parallel`.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

extension Parallel {
    /// `body(k)` for the parts `k` in `0..<parts`, concurrently on at most `threads` threads (as
    /// `forEachChunk` splits them), and the results in part order; `body` writes nothing
    /// shared but through its own part's result.
    static func map<Result>(threads: Int, parts: Int, _ body: (Int) -> Result) -> [Result] {
        var results = [Result?](repeating: nil, count: parts)
        forEachChunk(threads: threads, count: parts, writing: &results) { chunk, slots in
            for k in chunk { slots[k] = body(k) }
        }
        return results.map { $0! }
    }
}

extension Array where Element: BitwiseCopyable {
    /// `count` copies of `value`, written by every thread in contiguous chunks: a large array's
    /// fresh pages are faulted in (and zeroed by the kernel) on all threads at once instead of
    /// by one serial fill.
    /// (`workspace`: as `makeParallel`'s.)
    static func filledParallel(repeating value: Element, count: Int, threads: Int, workspace: ScoringWorkspace? = nil) -> [Element] {
        makeParallel(count: count, threads: threads, minimumChunk: 1 << 15, work: count, workspace: workspace) { range, out in
            for i in range { out[i] = value }
        }
    }

    /// A copy of `source` written as `filledParallel` writes (a serial copy-on-write copy
    /// would fault every page on one thread).
    static func copiedParallel(_ source: [Element], threads: Int, workspace: ScoringWorkspace? = nil) -> [Element] {
        makeParallel(count: source.count, threads: threads, minimumChunk: 1 << 15, work: source.count, workspace: workspace) { range, out in
            for i in range { out[i] = source[i] }
        }
    }
}
