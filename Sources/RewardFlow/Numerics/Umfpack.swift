import CSuiteSparse

/// Sparse LU `P·R⁻¹·A·Q = L·U` by UMFPACK (32-bit `umfpack_di_*` interface throughout): one
/// symbolic analysis and one numeric factorisation of a whole (block-diagonal) batch matrix,
/// then solves against it.
///
/// The two UMFPACK objects are owned by `UmfpackSymbolic` and `UmfpackNumeric`, which free
/// them in `deinit`; UMFPACK's own printing stays off (print level 0, no report calls).
final class SparseLU {
    /// The factorised matrix (UMFPACK's solve reads it again for iterative refinement).
    let matrix: CompressedColumns
    private var control: [Double]
    private let symbolic: UmfpackSymbolic
    private(set) var numeric: UmfpackNumeric?

    /// Runs the symbolic analysis (ordering, block structure) of `matrix`.
    init(analysing matrix: CompressedColumns) throws(RewardFlowError) {
        precondition(matrix.columnStart.count == matrix.order + 1)
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

    /// Solves `A·x = b` (or `Aᵀ·x = b` when `transposed`) with the factors of `factorise()`.
    func solve(_ b: [Double], transposed: Bool) throws(RewardFlowError) -> [Double] {
        guard let numeric else { throw .numerical(message: "UMFPACK: solve before factorise") }
        precondition(b.count == matrix.order)
        var x = [Double](repeating: 0, count: matrix.order)
        var info = [Double](repeating: 0, count: Int(UMFPACK_INFO))
        let system = transposed ? Int32(UMFPACK_At) : Int32(UMFPACK_A)
        let status = umfpack_di_solve(
            system, matrix.columnStart, matrix.rowIndex, matrix.values, &x, b, numeric.handle, control, &info)
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

    init(_ matrix: CompressedColumns, control: [Double]) throws(RewardFlowError) {
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

    init(_ matrix: CompressedColumns, symbolic: UmfpackSymbolic, control: [Double]) throws(RewardFlowError) {
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
