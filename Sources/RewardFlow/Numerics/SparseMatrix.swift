/// The engine's one sparse layout: a matrix in compressed rows (CSR). Row `i` holds the
/// entries `rowStart[i]..<rowStart[i+1]`: columns `column[e]` (ascending within a row unless
/// a builder says otherwise) with values `value[e]` alongside.
///
/// The state graph's weighted adjacency `w`, the transition matrix `P`, diffusion's `S` and
/// every system matrix handed to a solver are `SparseMatrix`es. Read as compressed columns,
/// the same arrays are the transpose (`CSC(A) = CSR(Aᵀ)`), which is how the SuiteSparse
/// wrappers take them; `StateGraph.reversed` builds the graph's transpose explicitly (the
/// predecessor lists).
struct SparseMatrix: Sendable, Equatable {
    /// Row offsets (`rowCount + 1`, starting at 0, non-decreasing).
    var rowStart: [Int]
    /// The column of every stored entry.
    var column: [Int32]
    /// The value of every stored entry.
    var value: [Double]
    /// Number of columns (the matrices here are square: the row count unless given).
    var columnCount: Int

    /// A matrix from its compressed rows; `columnCount` defaults to the row count (square).
    init(rowStart: [Int], column: [Int32], value: [Double], columnCount: Int? = nil) {
        assert(column.count == value.count && rowStart.last == column.count)
        self.rowStart = rowStart
        self.column = column
        self.value = value
        self.columnCount = columnCount ?? rowStart.count - 1
    }

    /// An empty matrix with capacity for `rows` rows and `nonzeros` entries, to be filled by
    /// `append(_:_:)` and `endRow()`.
    init(reservingRows rows: Int, nonzeros: Int, columnCount: Int) {
        rowStart = [0]
        rowStart.reserveCapacity(rows + 1)
        column = []
        column.reserveCapacity(nonzeros)
        value = []
        value.reserveCapacity(nonzeros)
        self.columnCount = columnCount
    }

    /// Number of rows.
    var rowCount: Int { rowStart.count - 1 }
    /// Number of stored entries.
    var nonzeroCount: Int { column.count }

    /// The entries of row `i`.
    @inline(__always)
    func entries(ofRow i: Int) -> Range<Int> { rowStart[i]..<rowStart[i + 1] }

    /// Appends entry `(current row, j) = v`.
    @inline(__always)
    mutating func append(_ j: Int, _ v: Double) {
        column.append(Int32(truncatingIfNeeded: j))
        value.append(v)
    }

    /// Closes the current row.
    @inline(__always)
    mutating func endRow() { rowStart.append(column.count) }

    /// The same sparsity pattern with other values (`values.count == nonzeroCount`); the
    /// offsets and columns are shared, not copied.
    func withValues(_ values: [Double]) -> SparseMatrix {
        SparseMatrix(rowStart: rowStart, column: column, value: values, columnCount: columnCount)
    }

    /// `y[i] = Σ_j A(i, j)·x[j]` for every row, in parallel chunks of rows (up to `threads`).
    func multiply(_ x: [Double], into y: inout [Double], threads: Int) {
        withUncheckedViews(rowStart, column, value) { rs, cs, vs in
            x.withUncheckedView { x in
                Parallel.forEachChunk(threads: threads, count: rowCount, minimumChunk: 8192, writing: &y) { rows, out in
                    for i in rows {
                        var s = 0.0
                        for e in rs[i]..<rs[i + 1] { s += vs[e] * x[Int(cs[e])] }
                        out[i] = s
                    }
                }
            }
        }
    }

    /// The row offsets as 32-bit integers (the SuiteSparse `int` interfaces; callers check the
    /// 32-bit range first with `LinearSystems.check32Bit`).
    var rowStart32: [Int32] { rowStart.map { Int32(truncatingIfNeeded: $0) } }
}
