import CBLAS

/// OpenBLAS, behind the two calls the engine makes.
enum BLAS {
    /// Sets OpenBLAS's thread count (it otherwise takes every core).
    static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }

    /// `C[m×n] = A[m×k] · B[k×n] (+ C when accumulate)`, row-major with leading dimensions.
    static func gemm(m: Int, n: Int, k: Int,
                     a: UnsafePointer<Float>, lda: Int,
                     b: UnsafePointer<Float>, ldb: Int,
                     c: UnsafeMutablePointer<Float>, ldc: Int,
                     transposeA: Bool = false, transposeB: Bool = false, accumulate: Bool = false) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), accumulate ? 1 : 0, c, Int32(ldc))
    }
}
