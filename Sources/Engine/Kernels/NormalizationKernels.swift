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
}
