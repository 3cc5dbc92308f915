import ModelIR

/// Dense (and MatMul by a matrix) in training: `y = x·W + b` over the last axis of `x`, as the
/// inference plan's dense step computes it, and its backward `dW = xᵀ·dy`, `db = Σ dy`, `dx = dy·Wᵀ`.
enum LinearGradients {
    static func forward(_ x: UnsafeBufferPointer<Float>, rows: Int, inputs: Int, weights: UnsafeBufferPointer<Float>, units: Int,
                        bias: [Float]?, _ y: UnsafeMutableBufferPointer<Float>, threads: Int) {
        guard let xb = x.baseAddress, let wb = weights.baseAddress, let yb = y.baseAddress else { return }
        BLAS.setThreads(threads)
        BLAS.gemm(m: rows, n: units, k: inputs, a: xb, lda: inputs, b: wb, ldb: units, c: yb, ldc: units)
        if let bias { for r in 0..<rows { for u in 0..<units { y[r * units + u] += bias[u] } } }
    }

    static func backward(_ x: UnsafeBufferPointer<Float>, rows: Int, inputs: Int, weights: UnsafeBufferPointer<Float>, units: Int,
                         dy: UnsafeBufferPointer<Float>, dx: UnsafeMutableBufferPointer<Float>?, dw: UnsafeMutableBufferPointer<Float>?,
                         db: UnsafeMutableBufferPointer<Float>?, threads: Int) {
        guard let xb = x.baseAddress, let wb = weights.baseAddress, let dyb = dy.baseAddress else { return }
        BLAS.setThreads(threads)
        if let dw, let dwb = dw.baseAddress {
            BLAS.gemm(m: inputs, n: units, k: rows, a: xb, lda: inputs, b: dyb, ldb: units, c: dwb, ldc: units, transposeA: true, accumulate: true)
        }
        if let dx, let dxb = dx.baseAddress {
            BLAS.gemm(m: rows, n: inputs, k: units, a: dyb, lda: units, b: wb, ldb: units, c: dxb, ldc: inputs, transposeB: true)
        }
        if let db { for r in 0..<rows { for u in 0..<units { db[u] += dy[r * units + u] } } }
    }
}
