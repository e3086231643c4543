// The C numerical libraries: the only place that hands Swift storage to them.
//
// Dense, OpenBLAS's CBLAS and LAPACKE. Invariants: lengths and orders go to the libraries as
// 32-bit integers, checked (`BLAS.count`, `DenseLAPACK.maxOrder`); every pointer passed is the
// base of a live Swift buffer (an array's `with…` scope, or a `SendableBuffer` inside its fork-
// join) of at least the length passed, read or written only for the call's duration; the
// routines are reentrant, so parallel chunks may call them on disjoint buffers, with OpenBLAS at
// one thread (`BLASThreads`). These libraries own no resource that outlives a call.
//
// Sparse, SuiteSparse's CHOLMOD and UMFPACK (the 32-bit `cholmod_*` / `umfpack_di_*` interfaces
// throughout). Invariants: one Swift type owns each C resource and frees it in `deinit`
// (`CholmodContext` the `cholmod_common`, `CholmodSparse` / `CholmodDense` / `CholmodFactor`
// their objects and a reference to the context that must outlive them, `UmfpackSymbolic` /
// `UmfpackNumeric` the opaque handles); indices go in as `Int32`, callers checking the 32-bit
// range first (`LinearSystems.check32Bit`); Swift arrays passed to the libraries are only read,
// for the duration of the call; library printing is off.

import CBLAS
import CLAPACKE
import CSuiteSparse
import Synchronization

// MARK: - Dense: BLAS and LAPACK

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

// MARK: - Sparse: CHOLMOD and UMFPACK

/// One CHOLMOD context (`cholmod_common`, 32-bit `cholmod_*` interface throughout): started in
/// `init`, finished in `deinit`, with console printing off and supernodal `LLᵀ` requested.
///
/// Every CHOLMOD object below keeps its context alive, so the context is finished only after
/// the last object allocated in it has been freed.
final class CholmodContext {
    /// The `cholmod_common` block (allocated and owned here).
    let common: UnsafeMutablePointer<cholmod_common>

    init() {
        common = .allocate(capacity: 1)
        cholmod_start(common)
        common.pointee.print = 0
        common.pointee.supernodal = CHOLMOD_SUPERNODAL
        common.pointee.final_ll = 1
    }

    deinit {
        cholmod_finish(common)
        common.deallocate()
    }

    /// The status of the last call (`CHOLMOD_OK`, `CHOLMOD_NOT_POSDEF`, negative on errors).
    var status: Int32 { common.pointee.status }

    /// Blocks CHOLMOD currently has allocated in this context: its objects plus the context's
    /// own workspace (freed by `freeWorkspace()` or `cholmod_finish`).
    var liveAllocations: Int { Int(common.pointee.malloc_count) }

    /// Releases the context's workspace (`cholmod_free_work`); objects stay valid.
    func freeWorkspace() { cholmod_free_work(common) }
}

/// Owns a `cholmod_sparse` (CHOLMOD-allocated, freed with `cholmod_free_sparse`): a real
/// symmetric matrix stored as its upper triangle in compressed columns (`stype = 1`), which
/// are the compressed rows of its lower triangle.
final class CholmodSparse {
    let context: CholmodContext
    let pointer: UnsafeMutablePointer<cholmod_sparse>

    /// Copies `lower` (the lower triangle in compressed rows: row `j` holds columns `i ≤ j`,
    /// ascending; read by CHOLMOD as the upper triangle by columns) into a CHOLMOD matrix.
    init(lowerRows lower: SparseMatrix, context: CholmodContext) throws(RewardFlowError) {
        let n = lower.rowCount, nnz = lower.nonzeroCount
        guard let a = cholmod_allocate_sparse(
            n, n, max(nnz, 1), 1, 1, 1, Int32(CHOLMOD_REAL), context.common)
        else { throw .numerical(message: "cholmod_allocate_sparse: out of memory (order \(n), \(nnz) entries)") }
        self.context = context
        self.pointer = a
        // Fill CHOLMOD's arrays (int p[n+1], int i[nnz], double x[nnz]) from the Swift ones.
        let p = a.pointee.p.assumingMemoryBound(to: Int32.self)
        let i = a.pointee.i.assumingMemoryBound(to: Int32.self)
        let x = a.pointee.x.assumingMemoryBound(to: Double.self)
        for k in 0...n { p[k] = Int32(truncatingIfNeeded: lower.rowStart[k]) }
        lower.column.withUnsafeBufferPointer { if nnz > 0 { i.update(from: $0.baseAddress!, count: nnz) } }
        lower.value.withUnsafeBufferPointer { if nnz > 0 { x.update(from: $0.baseAddress!, count: nnz) } }
    }

    deinit {
        var a: UnsafeMutablePointer<cholmod_sparse>? = pointer
        cholmod_free_sparse(&a, context.common)
    }
}

/// Owns a `cholmod_dense` column vector (freed with `cholmod_free_dense`).
final class CholmodDense {
    let context: CholmodContext
    let pointer: UnsafeMutablePointer<cholmod_dense>

    /// Takes ownership of a vector CHOLMOD returned (e.g. from `cholmod_solve`).
    init(taking pointer: UnsafeMutablePointer<cholmod_dense>, context: CholmodContext) {
        self.context = context
        self.pointer = pointer
    }

    /// A CHOLMOD copy of `values` (an `n × 1` column).
    convenience init(_ values: [Double], context: CholmodContext) throws(RewardFlowError) {
        guard let b = cholmod_allocate_dense(values.count, 1, max(values.count, 1), Int32(CHOLMOD_REAL), context.common)
        else { throw .numerical(message: "cholmod_allocate_dense: out of memory (\(values.count) rows)") }
        let x = b.pointee.x.assumingMemoryBound(to: Double.self)
        values.withUnsafeBufferPointer { if !$0.isEmpty { x.update(from: $0.baseAddress!, count: $0.count) } }
        self.init(taking: b, context: context)
    }

    /// The column as a Swift array.
    var values: [Double] {
        let n = Int(pointer.pointee.nrow)
        let x = pointer.pointee.x.assumingMemoryBound(to: Double.self)
        return Array(UnsafeBufferPointer(start: x, count: n))
    }

    deinit {
        var b: UnsafeMutablePointer<cholmod_dense>? = pointer
        cholmod_free_dense(&b, context.common)
    }
}

/// Owns a `cholmod_factor` (freed with `cholmod_free_factor`).
final class CholmodFactor {
    let context: CholmodContext
    let pointer: UnsafeMutablePointer<cholmod_factor>

    init(taking pointer: UnsafeMutablePointer<cholmod_factor>, context: CholmodContext) {
        self.context = context
        self.pointer = pointer
    }

    /// True for a supernodal `LLᵀ` factor.
    var isSupernodalLL: Bool { pointer.pointee.is_super != 0 && pointer.pointee.is_ll != 0 }

    deinit {
        var l: UnsafeMutablePointer<cholmod_factor>? = pointer
        cholmod_free_factor(&l, context.common)
    }
}

/// Sparse Cholesky `P·A·Pᵀ = L·Lᵀ` of a symmetric positive definite matrix by CHOLMOD
/// (supernodal): one `cholmod_analyze`, one `cholmod_factorize`, any number of solves.
final class SparseCholesky {
    let context: CholmodContext
    let matrix: CholmodSparse
    let factor: CholmodFactor

    /// Analyses `lower` (the lower triangle of `A` in compressed rows, i.e. its upper
    /// triangle by columns): fill-reducing ordering, supernodes.
    init(analysing lower: SparseMatrix, context: CholmodContext = CholmodContext()) throws(RewardFlowError) {
        let matrix = try CholmodSparse(lowerRows: lower, context: context)
        guard let l = cholmod_analyze(matrix.pointer, context.common), context.status >= CHOLMOD_OK else {
            throw .numerical(message: "cholmod_analyze failed (status \(context.status), order \(lower.rowCount))")
        }
        self.context = context
        self.matrix = matrix
        self.factor = CholmodFactor(taking: l, context: context)
    }

    /// Computes `L`; a matrix that is not positive definite is an error (CHOLMOD returns TRUE
    /// then, with `status == CHOLMOD_NOT_POSDEF` and `L.minor < n`).
    func factorise() throws(RewardFlowError) {
        let ok = cholmod_factorize(matrix.pointer, factor.pointer, context.common)
        let n = Int(factor.pointer.pointee.n), minor = Int(factor.pointer.pointee.minor)
        if context.status == CHOLMOD_NOT_POSDEF || minor < n {
            throw .numerical(message: "cholmod_factorize: the matrix is not positive definite (column \(minor) of \(n))")
        }
        guard ok != 0, context.status >= CHOLMOD_OK else {
            throw .numerical(message: "cholmod_factorize failed (status \(context.status), order \(n))")
        }
    }

    /// Solves `A·x = b` with the factor.
    func solve(_ b: [Double]) throws(RewardFlowError) -> [Double] {
        let rhs = try CholmodDense(b, context: context)
        guard let x = cholmod_solve(Int32(CHOLMOD_A), factor.pointer, rhs.pointer, context.common) else {
            throw .numerical(message: "cholmod_solve failed (status \(context.status))")
        }
        return CholmodDense(taking: x, context: context).values
    }
}

/// Sparse LU `P·R⁻¹·A·Q = L·U` by UMFPACK (32-bit `umfpack_di_*` interface throughout): one
/// symbolic analysis and one numeric factorisation of a whole (block-diagonal) batch matrix,
/// then solves against it.
///
/// `A` comes in compressed rows (`SparseMatrix`); UMFPACK takes compressed columns, so the
/// same arrays are handed over as the columns of `Aᵀ` and solves use `UMFPACK_At`.
///
/// The two UMFPACK objects are owned by `UmfpackSymbolic` and `UmfpackNumeric`, which free
/// them in `deinit`; UMFPACK's own printing stays off (print level 0, no report calls).
final class SparseLU {
    /// `Aᵀ` in UMFPACK's compressed columns (its solve reads it again for iterative refinement).
    let matrix: Columns
    private var control: [Double]
    private let symbolic: UmfpackSymbolic
    private(set) var numeric: UmfpackNumeric?

    /// The 32-bit compressed columns UMFPACK reads: column `j` holds rows
    /// `rowIndex[columnStart[j]..<columnStart[j+1]]` (ascending, no duplicates).
    struct Columns {
        let order: Int
        let columnStart: [Int32]
        let rowIndex: [Int32]
        let values: [Double]
    }

    /// Runs the symbolic analysis (ordering, block structure) of the square matrix `a`.
    init(analysing a: SparseMatrix) throws(RewardFlowError) {
        precondition(a.rowCount == a.columnCount)
        let matrix = Columns(order: a.rowCount, columnStart: a.rowStart32, rowIndex: a.column, values: a.value)
        var control = [Double](repeating: 0, count: Int(UMFPACK_CONTROL))
        umfpack_di_defaults(&control)
        control[Int(UMFPACK_PRL)] = 0
        self.matrix = matrix
        self.control = control
        self.symbolic = try UmfpackSymbolic(matrix, control: control)
    }

    /// Computes the numeric factorisation (after `init(analysing:)`); a singular matrix is an error.
    func factorise() throws(RewardFlowError) {
        numeric = try UmfpackNumeric(matrix, symbolic: symbolic, control: control)
    }

    /// Solves `A·x = b` with the factors of `factorise()`.
    func solve(_ b: [Double]) throws(RewardFlowError) -> [Double] {
        guard let numeric else { throw .numerical(message: "UMFPACK: solve before factorise") }
        precondition(b.count == matrix.order)
        var x = [Double](repeating: 0, count: matrix.order)
        var info = [Double](repeating: 0, count: Int(UMFPACK_INFO))
        let status = umfpack_di_solve(
            Int32(UMFPACK_At), matrix.columnStart, matrix.rowIndex, matrix.values, &x, b, numeric.handle, control, &info)
        try Self.check(status, "umfpack_di_solve", order: matrix.order)
        return x
    }

    /// Maps a UMFPACK status to an error (a singular matrix included).
    static func check(_ status: Int32, _ routine: String, order: Int) throws(RewardFlowError) {
        guard status != UMFPACK_OK else { return }
        let reason: String
        switch status {
        case UMFPACK_WARNING_singular_matrix: reason = "the matrix is singular"
        case UMFPACK_ERROR_out_of_memory: reason = "out of memory"
        case UMFPACK_ERROR_invalid_matrix: reason = "invalid matrix (unsorted or duplicate indices)"
        case UMFPACK_ERROR_n_nonpositive: reason = "empty matrix"
        default: reason = "status \(status)"
        }
        throw .numerical(message: "\(routine): \(reason) (order \(order))")
    }
}

/// Owns one UMFPACK symbolic object (`umfpack_di_symbolic` … `umfpack_di_free_symbolic`).
final class UmfpackSymbolic {
    /// The opaque `void *Symbolic`.
    let handle: UnsafeMutableRawPointer

    init(_ matrix: SparseLU.Columns, control: [Double]) throws(RewardFlowError) {
        var info = [Double](repeating: 0, count: Int(UMFPACK_INFO))
        var symbolic: UnsafeMutableRawPointer?
        let n = Int32(matrix.order)
        let status = umfpack_di_symbolic(
            n, n, matrix.columnStart, matrix.rowIndex, matrix.values, &symbolic, control, &info)
        if status != UMFPACK_OK, symbolic != nil { umfpack_di_free_symbolic(&symbolic) }
        try SparseLU.check(status, "umfpack_di_symbolic", order: matrix.order)
        guard let symbolic else { throw .numerical(message: "umfpack_di_symbolic: no symbolic object") }
        handle = symbolic
    }

    deinit {
        var h: UnsafeMutableRawPointer? = handle
        umfpack_di_free_symbolic(&h)
    }
}

/// Owns one UMFPACK numeric object (`umfpack_di_numeric` … `umfpack_di_free_numeric`).
final class UmfpackNumeric {
    /// The opaque `void *Numeric`.
    let handle: UnsafeMutableRawPointer

    init(_ matrix: SparseLU.Columns, symbolic: UmfpackSymbolic, control: [Double]) throws(RewardFlowError) {
        var info = [Double](repeating: 0, count: Int(UMFPACK_INFO))
        var numeric: UnsafeMutableRawPointer?
        let status = umfpack_di_numeric(
            matrix.columnStart, matrix.rowIndex, matrix.values, symbolic.handle, &numeric, control, &info)
        if status != UMFPACK_OK, numeric != nil { umfpack_di_free_numeric(&numeric) }
        try SparseLU.check(status, "umfpack_di_numeric", order: matrix.order)
        guard let numeric else { throw .numerical(message: "umfpack_di_numeric: no numeric object") }
        handle = numeric
    }

    deinit {
        var h: UnsafeMutableRawPointer? = handle
        umfpack_di_free_numeric(&h)
    }
}
