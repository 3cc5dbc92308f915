import Foundation
import ModelIR

/// BatchNormalization and LayerNormalization in training, beside their inference forms in
/// `NormalizationKernels.swift`. Layout: `outer × channels × inner` around the normalised axis.
enum NormalizationGradients {
    struct BatchStatistics {
        var mean: [Float]
        /// Biased (divided by the count), as Keras normalises with it.
        var variance: [Float]
        var count: Int
    }

    static func split(_ shape: [Int], axis: Int) -> (outer: Int, channels: Int, inner: Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    /// Mean and biased variance per channel over every other axis, accumulated in float64.
    static func statistics(_ x: UnsafeBufferPointer<Float>, shape: [Int], axis: Int) -> BatchStatistics {
        let (outer, c, inner) = split(shape, axis: axis)
        var sum = [Double](repeating: 0, count: c), squares = [Double](repeating: 0, count: c)
        for o in 0..<outer {
            for ch in 0..<c {
                let base = (o * c + ch) * inner
                var s = 0.0
                for i in 0..<inner { s += Double(x[base + i]) }
                sum[ch] += s
            }
        }
        let count = outer * inner
        let mean = sum.map { $0 / Double(max(count, 1)) }
        for o in 0..<outer {
            for ch in 0..<c {
                let base = (o * c + ch) * inner
                var s = 0.0
                for i in 0..<inner { let d = Double(x[base + i]) - mean[ch]; s += d * d }
                squares[ch] += s
            }
        }
        return BatchStatistics(mean: mean.map { Float($0) }, variance: squares.map { Float($0 / Double(max(count, 1))) }, count: count)
    }

    /// `y = γ·(x − mean)·invStd + β` per channel; returns the normalised `x̂` for backward.
    static func normalize(_ x: UnsafeBufferPointer<Float>, shape: [Int], axis: Int, mean: [Float], invStd: [Float],
                          gamma: [Float]?, beta: [Float]?, _ y: UnsafeMutableBufferPointer<Float>, xhat: UnsafeMutableBufferPointer<Float>?) {
        let (outer, c, inner) = split(shape, axis: axis)
        for o in 0..<outer {
            for ch in 0..<c {
                let base = (o * c + ch) * inner
                let g = gamma?[ch] ?? 1, b = beta?[ch] ?? 0, m = mean[ch], s = invStd[ch]
                for i in 0..<inner {
                    let v = (x[base + i] - m) * s
                    xhat?[base + i] = v
                    y[base + i] = g * v + b
                }
            }
        }
    }

    /// Training-mode backward through batch statistics: `dγ = Σ dy·x̂`, `dβ = Σ dy`,
    /// `dx = γ·invStd/M · (M·dy − dβ − x̂·dγ)`.
    static func batchNormBackward(_ dy: UnsafeBufferPointer<Float>, xhat: UnsafeBufferPointer<Float>, shape: [Int], axis: Int,
                                  invStd: [Float], gamma: [Float]?, dx: UnsafeMutableBufferPointer<Float>?,
                                  dgamma: UnsafeMutableBufferPointer<Float>?, dbeta: UnsafeMutableBufferPointer<Float>?) {
        let (outer, c, inner) = split(shape, axis: axis)
        var sumDy = [Double](repeating: 0, count: c), sumDyX = [Double](repeating: 0, count: c)
        for o in 0..<outer {
            for ch in 0..<c {
                let base = (o * c + ch) * inner
                var a = 0.0, b = 0.0
                for i in 0..<inner { a += Double(dy[base + i]); b += Double(dy[base + i] * xhat[base + i]) }
                sumDy[ch] += a
                sumDyX[ch] += b
            }
        }
        for ch in 0..<c {
            dgamma?[ch] += Float(sumDyX[ch])
            dbeta?[ch] += Float(sumDy[ch])
        }
        guard let dx else { return }
        let m = Float(outer * inner)
        for o in 0..<outer {
            for ch in 0..<c {
                let base = (o * c + ch) * inner
                let k = (gamma?[ch] ?? 1) * invStd[ch] / m
                let sdy = Float(sumDy[ch]), sdx = Float(sumDyX[ch])
                for i in 0..<inner { dx[base + i] = k * (m * dy[base + i] - sdy - xhat[base + i] * sdx) }
            }
        }
    }

    /// Inference-mode backward (frozen BatchNormalization, fixed statistics): `dx = dy·γ·invStd`,
    /// and the γ/β gradients when they train.
    static func affineBackward(_ dy: UnsafeBufferPointer<Float>, xhat: UnsafeBufferPointer<Float>, shape: [Int], axis: Int,
                               invStd: [Float], gamma: [Float]?, dx: UnsafeMutableBufferPointer<Float>?,
                               dgamma: UnsafeMutableBufferPointer<Float>?, dbeta: UnsafeMutableBufferPointer<Float>?) {
        let (outer, c, inner) = split(shape, axis: axis)
        for o in 0..<outer {
            for ch in 0..<c {
                let base = (o * c + ch) * inner
                let k = (gamma?[ch] ?? 1) * invStd[ch]
                var a: Float = 0, b: Float = 0
                for i in 0..<inner {
                    a += dy[base + i]
                    b += dy[base + i] * xhat[base + i]
                    dx?[base + i] = dy[base + i] * k
                }
                dgamma?[ch] += b
                dbeta?[ch] += a
            }
        }
    }

    /// LayerNormalization over the trailing `groupSize` elements of each of `groups` rows,
    /// `γ`/`β` of `groupSize` entries; returns `x̂` and each row's invStd.
    static func layerNorm(_ x: UnsafeBufferPointer<Float>, groups: Int, groupSize n: Int, epsilon: Float, gamma: [Float]?, beta: [Float]?,
                          _ y: UnsafeMutableBufferPointer<Float>, xhat: UnsafeMutableBufferPointer<Float>) -> [Float] {
        var invStds = [Float](repeating: 0, count: groups)
        for r in 0..<groups {
            let base = r * n
            var s = 0.0
            for i in 0..<n { s += Double(x[base + i]) }
            let mean = s / Double(n)
            var v = 0.0
            for i in 0..<n { let d = Double(x[base + i]) - mean; v += d * d }
            let inv = Float(1 / (v / Double(n) + Double(epsilon)).squareRoot())
            invStds[r] = inv
            for i in 0..<n {
                let h = (x[base + i] - Float(mean)) * inv
                xhat[base + i] = h
                y[base + i] = h * (gamma?[i] ?? 1) + (beta?[i] ?? 0)
            }
        }
        return invStds
    }

    static func layerNormBackward(_ dy: UnsafeBufferPointer<Float>, xhat: UnsafeBufferPointer<Float>, groups: Int, groupSize n: Int,
                                  invStd: [Float], gamma: [Float]?, dx: UnsafeMutableBufferPointer<Float>?,
                                  dgamma: UnsafeMutableBufferPointer<Float>?, dbeta: UnsafeMutableBufferPointer<Float>?) {
        for r in 0..<groups {
            let base = r * n
            var sumG: Float = 0, sumGX: Float = 0
            for i in 0..<n {
                let g = dy[base + i] * (gamma?[i] ?? 1)
                sumG += g
                sumGX += g * xhat[base + i]
                dgamma?[i] += dy[base + i] * xhat[base + i]
                dbeta?[i] += dy[base + i]
            }
            guard let dx else { continue }
            let k = invStd[r] / Float(n)
            for i in 0..<n {
                let g = dy[base + i] * (gamma?[i] ?? 1)
                dx[base + i] = k * (Float(n) * g - sumG - xhat[base + i] * sumGX)
            }
        }
    }
}
