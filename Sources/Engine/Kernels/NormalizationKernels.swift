import Foundation

enum NormalizationKernels {
    /// `y = x·scale[c] + shift[c]` with `c` the index along `axis`.
    static func affine(_ x: UnsafeBufferPointer<Float>, shape: [Int], axis: Int, scale: [Float], shift: [Float], _ y: UnsafeMutableBufferPointer<Float>) {
        let n = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        var i = 0
        if inner == 1 {
            while i < x.count {
                for c in 0..<n { y[i + c] = x[i + c] * scale[c] + shift[c] }
                i += n
            }
            return
        }
        while i < x.count {
            for c in 0..<n {
                let s = scale[c], t = shift[c]
                for j in 0..<inner { y[i + j] = x[i + j] * s + t }
                i += inner
            }
        }
    }

    /// Keras LayerNormalization: mean and variance over `axes` (which must be the trailing
    /// axes here), then `(x − mean)·rsqrt(var + eps)·gamma + beta`.
    static func layerNorm(_ x: UnsafeBufferPointer<Float>, shape: [Int], axes: [Int], epsilon: Float,
                          gamma: [Float]?, beta: [Float]?, _ y: UnsafeMutableBufferPointer<Float>) {
        let rank = shape.count
        let normalized = axes.map { $0 < 0 ? $0 + rank : $0 }
        let first = normalized.min() ?? rank - 1
        let group = shape[first...].reduce(1, *)
        guard group > 0 else { return }
        var i = 0
        while i < x.count {
            var mean: Double = 0
            for j in 0..<group { mean += Double(x[i + j]) }
            mean /= Double(group)
            var variance: Double = 0
            for j in 0..<group { let d = Double(x[i + j]) - mean; variance += d * d }
            variance /= Double(group)
            let inv = Float(1 / (variance + Double(epsilon)).squareRoot())
            let m = Float(mean)
            for j in 0..<group {
                var v = (x[i + j] - m) * inv
                if let gamma { v *= gamma[j % gamma.count] }
                if let beta { v += beta[j % beta.count] }
                y[i + j] = v
            }
            i += group
        }
    }
}
