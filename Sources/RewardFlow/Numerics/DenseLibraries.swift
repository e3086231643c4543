/// The dense C libraries (OpenBLAS's CBLAS, LAPACKE): the only place that hands Swift
/// storage to them.
///
/// Invariants: lengths and orders go to the libraries as 32-bit integers, checked (`BLAS.count`,
/// `DenseLAPACK.maxOrder`); every pointer passed is the base of a live Swift buffer (an
/// array's `with…` scope, or a `SendableBuffer` inside its fork-join) of at least the length
/// passed, read or written only for the call's duration; the routines are reentrant, so
/// parallel chunks may call them on disjoint buffers, with OpenBLAS at one thread
/// (`BLASThreads`). These libraries own no resource that outlives a call.
import CBLAS
import CLAPACKE
import Synchronization

/// BLAS level-1 vector kernels (OpenBLAS) over contiguous `Double` storage: `y ← a·x + y`,
/// `y ← x`, `Σ|x_i|`, `xᵀy`, `max |x_i|`.
///
/// Lengths are passed as CBLAS's 32-bit
/// `blasint`; callers keep vectors below `Int32.max` elements (checked in `count(_:)`).
enum BLAS {
    /// CBLAS's length type for `n` (a vector is never longer than `Int32.max`).
    @inline(__always)
    static func count(_ n: Int) -> Int32 {
        precondition(n >= 0 && n <= Int(Int32.max), "vector too long for 32-bit BLAS")
        return Int32(n)
    }

    /// `y ← a·x + y` over `x.count` elements.
    static func axpy(_ a: Double, _ x: ArraySlice<Double>, _ y: SendableBuffer<Double>) {
        x.withUnsafeBufferPointer { axpy(a, $0, y.base) }
    }

    /// `y ← a·x + y` over `x.count` elements.
    static func axpy(_ a: Double, _ x: [Double], _ y: inout [Double]) {
        x.withUnsafeBufferPointer { x in y.withUnsafeMutableBufferPointer { axpy(a, x, $0) } }
    }

    /// `y ← x`.
    static func copy(_ x: SendableBuffer<Double>, _ y: SendableBuffer<Double>) {
        copy(UnsafeBufferPointer(x.base), y.base)
    }

    /// `y ← x`.
    static func copy(_ x: [Double], _ y: inout [Double]) {
        x.withUnsafeBufferPointer { x in y.withUnsafeMutableBufferPointer { copy(x, $0) } }
    }

    /// `Σ |x_i|` (the 1-norm).
    static func asum(_ x: SendableBuffer<Double>) -> Double {
        guard let xp = x.base.baseAddress, x.count > 0 else { return 0 }
        return cblas_dasum(count(x.count), xp, 1)
    }

    /// `xᵀy`.
    static func dot(_ x: ArraySlice<Double>, _ y: ArraySlice<Double>) -> Double {
        x.withUnsafeBufferPointer { x in
            y.withUnsafeBufferPointer { y in
                guard let xp = x.baseAddress, let yp = y.baseAddress, x.count > 0 else { return 0 }
                assert(y.count >= x.count)
                return cblas_ddot(count(x.count), xp, 1, yp, 1)
            }
        }
    }

    /// `max_i |x_i|` (the ∞-norm; 0 for an empty vector).
    static func maxAbs(_ x: [Double]) -> Double {
        x.withUnsafeBufferPointer { x in
            guard let xp = x.baseAddress, x.count > 0 else { return 0 }
            let i = Int(cblas_idamax(count(x.count), xp, 1))
            return abs(x[min(max(i, 0), x.count - 1)])
        }
    }

    private static func axpy(_ a: Double, _ x: UnsafeBufferPointer<Double>, _ y: UnsafeMutableBufferPointer<Double>) {
        guard let xp = x.baseAddress, let yp = y.baseAddress, x.count > 0 else { return }
        assert(y.count >= x.count)
        cblas_daxpy(count(x.count), a, xp, 1, yp, 1)
    }

    private static func copy(_ x: UnsafeBufferPointer<Double>, _ y: UnsafeMutableBufferPointer<Double>) {
        guard let xp = x.baseAddress, let yp = y.baseAddress, x.count > 0 else { return }
        assert(y.count >= x.count)
        cblas_dcopy(count(x.count), xp, 1, yp, 1)
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

/// Dense LAPACK solves of one small system `A·x = b` in place (column-major `A`, `lda = n`):
/// LU with partial pivoting (`dgesv`) and Cholesky `A = LLᵀ` (`dposv`).
///
/// `a` is overwritten by the factors and `b` by the solution; the calls are reentrant, so
/// several threads may solve different systems at once (each with its own arrays).
enum DenseLAPACK {
    /// Largest `n` the dense paths accept (an `n × n` matrix of 8192² doubles is 512 MiB).
    static let maxOrder = 8192

    /// Solves `A·x = b` by LU with partial pivoting (`dgesv`); `pivots` is scratch of ≥ n.
    static func solveGeneral(
        order n: Int, _ a: inout [Double], _ b: inout [Double], pivots: inout [Int32]
    ) throws(RewardFlowError) {
        guard n > 0 else { return }
        try checkOrder(n)
        if pivots.count < n { pivots = [Int32](repeating: 0, count: n) }
        let n32 = Int32(n)
        let info = LAPACKE_dgesv(LAPACK_COL_MAJOR, n32, 1, &a, n32, &pivots, &b, n32)
        if info > 0 {
            throw .numerical(message: "dgesv: the matrix is singular (U(\(info),\(info)) = 0) in a system of order \(n)")
        }
        if info < 0 { throw .numerical(message: "dgesv: argument \(-info) is invalid (order \(n))") }
    }

    /// Solves `A·x = b` for symmetric positive definite `A` by Cholesky (`dposv`, upper
    /// triangle used); a matrix that is not positive definite is an error.
    static func solveSPD(order n: Int, _ a: inout [Double], _ b: inout [Double]) throws(RewardFlowError) {
        guard n > 0 else { return }
        try checkOrder(n)
        let n32 = Int32(n)
        let info = LAPACKE_dposv(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "U")), n32, 1, &a, n32, &b, n32)
        if info > 0 {
            throw .numerical(message: "dposv: the matrix is not positive definite (leading minor \(info) of \(n))")
        }
        if info < 0 { throw .numerical(message: "dposv: argument \(-info) is invalid (order \(n))") }
    }

    private static func checkOrder(_ n: Int) throws(RewardFlowError) {
        guard n <= maxOrder else {
            throw .invalidParameter(
                name: "solver",
                message: "dense: a group of \(n) nodes exceeds the dense limit of \(maxOrder) nodes; use auto, direct or iterative")
        }
    }
}
