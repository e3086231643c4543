import CLAPACKE

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
