import CBLAS
import Synchronization

/// BLAS level-1 vector kernels (OpenBLAS) over contiguous `Double` storage: `y ← a·x + y`,
/// `y ← x`, `Σ|x_i|`, `xᵀy`, `max |x_i|`.
///
/// The only place that hands Swift buffers to CBLAS. Lengths are passed as CBLAS's 32-bit
/// `blasint`; callers keep vectors below `Int32.max` elements (checked in `count(_:)`).
enum BLAS {
    /// CBLAS's length type for `n` (a vector is never longer than `Int32.max`).
    @inline(__always)
    static func count(_ n: Int) -> Int32 {
        precondition(n >= 0 && n <= Int(Int32.max), "vector too long for 32-bit BLAS")
        return Int32(n)
    }

    /// `y ← a·x + y` over `x.count` elements.
    static func axpy(_ a: Double, _ x: UnsafeBufferPointer<Double>, _ y: UnsafeMutableBufferPointer<Double>) {
        guard let xp = x.baseAddress, let yp = y.baseAddress, x.count > 0 else { return }
        assert(y.count >= x.count)
        cblas_daxpy(count(x.count), a, xp, 1, yp, 1)
    }

    /// `y ← x`.
    static func copy(_ x: UnsafeBufferPointer<Double>, _ y: UnsafeMutableBufferPointer<Double>) {
        guard let xp = x.baseAddress, let yp = y.baseAddress, x.count > 0 else { return }
        assert(y.count >= x.count)
        cblas_dcopy(count(x.count), xp, 1, yp, 1)
    }

    /// `Σ |x_i|` (the 1-norm).
    static func asum(_ x: UnsafeBufferPointer<Double>) -> Double {
        guard let xp = x.baseAddress, x.count > 0 else { return 0 }
        return cblas_dasum(count(x.count), xp, 1)
    }

    /// `xᵀy`.
    static func dot(_ x: UnsafeBufferPointer<Double>, _ y: UnsafeBufferPointer<Double>) -> Double {
        guard let xp = x.baseAddress, let yp = y.baseAddress, x.count > 0 else { return 0 }
        assert(y.count >= x.count)
        return cblas_ddot(count(x.count), xp, 1, yp, 1)
    }

    /// `max_i |x_i|` (the ∞-norm; 0 for an empty vector).
    static func maxAbs(_ x: UnsafeBufferPointer<Double>) -> Double {
        guard let xp = x.baseAddress, x.count > 0 else { return 0 }
        let i = Int(cblas_idamax(count(x.count), xp, 1))
        return abs(x[min(max(i, 0), x.count - 1)])
    }

    /// The OpenBLAS kernel family in use (for benchmark output), e.g. `"Prescott"`.
    static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }
}

/// Keeps OpenBLAS single-threaded while the engine runs its own parallel loops over groups
/// (threads = cores × OpenBLAS threads would oversubscribe the machine).
///
/// Nested and concurrent users are counted: the first one in saves the thread count and sets 1,
/// the last one out restores it. Only performance depends on it, never results.
enum BLASThreads {
    private static let state = Mutex<(users: Int, saved: Int32)>((0, 0))

    /// Runs `body` with OpenBLAS limited to one thread.
    static func singleThreaded<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        state.withLock { s in
            if s.users == 0 {
                s.saved = openblas_get_num_threads()
                if s.saved != 1 { openblas_set_num_threads(1) }
            }
            s.users += 1
        }
        defer {
            state.withLock { s in
                s.users -= 1
                if s.users == 0 && s.saved != 1 { openblas_set_num_threads(s.saved) }
            }
        }
        return try body()
    }
}
