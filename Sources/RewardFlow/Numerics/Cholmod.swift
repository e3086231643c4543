import CSuiteSparse

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
/// symmetric matrix stored as its upper triangle in compressed columns (`stype = 1`).
final class CholmodSparse {
    let context: CholmodContext
    let pointer: UnsafeMutablePointer<cholmod_sparse>

    /// Copies `upper` (columns sorted, rows ≤ column) into a CHOLMOD matrix.
    init(upperTriangle upper: CompressedColumns, context: CholmodContext) throws(RewardFlowError) {
        let n = upper.order, nnz = upper.rowIndex.count
        guard let a = cholmod_allocate_sparse(
            n, n, max(nnz, 1), 1, 1, 1, Int32(CHOLMOD_REAL), context.common)
        else { throw .numerical(message: "cholmod_allocate_sparse: out of memory (order \(n), \(nnz) entries)") }
        self.context = context
        self.pointer = a
        // Fill CHOLMOD's arrays (int p[n+1], int i[nnz], double x[nnz]) from the Swift ones.
        let p = a.pointee.p.assumingMemoryBound(to: Int32.self)
        let i = a.pointee.i.assumingMemoryBound(to: Int32.self)
        let x = a.pointee.x.assumingMemoryBound(to: Double.self)
        upper.columnStart.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: n + 1) }
        upper.rowIndex.withUnsafeBufferPointer { if nnz > 0 { i.update(from: $0.baseAddress!, count: nnz) } }
        upper.values.withUnsafeBufferPointer { if nnz > 0 { x.update(from: $0.baseAddress!, count: nnz) } }
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

    /// Analyses `upper` (the upper triangle of `A`): fill-reducing ordering, supernodes.
    init(analysing upper: CompressedColumns, context: CholmodContext = CholmodContext()) throws(RewardFlowError) {
        let matrix = try CholmodSparse(upperTriangle: upper, context: context)
        guard let l = cholmod_analyze(matrix.pointer, context.common), context.status >= CHOLMOD_OK else {
            throw .numerical(message: "cholmod_analyze failed (status \(context.status), order \(upper.order))")
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
