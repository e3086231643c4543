/// A square sparse matrix in compressed-column form with 32-bit indices, the input of
/// UMFPACK's `umfpack_di_*` routines: column `j` holds rows `rowIndex[columnStart[j]..<columnStart[j+1]]`
/// (ascending, no duplicates) with `values` alongside.
///
/// A compressed-row matrix `A` is the compressed-column form of `Aᵀ`, so callers holding CSR
/// solve with `transposed: true` and never build the transpose.
struct CompressedColumns: Sendable {
    /// Order `n` of the matrix.
    let order: Int
    /// Column offsets (`n + 1`).
    let columnStart: [Int32]
    /// Row index of every stored entry.
    let rowIndex: [Int32]
    /// Value of every stored entry.
    let values: [Double]
}
