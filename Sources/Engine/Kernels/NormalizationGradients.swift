import Foundation
import ModelIR

/// BatchNormalization in training, beside its inference form in
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

    /// What `tensorflowSums` adds up per channel.
    enum Summand {
        case value(UnsafeBufferPointer<Float>)
        case squaredDeviation(UnsafeBufferPointer<Float>, mean: [Float])
        case product(UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>)
    }

    /// Per-channel sums over every other axis as TensorFlow's CPU kernels take them: float32, four
    /// interleaved partial sums over the positions, added in order. Matching the order matters:
    /// the seed model's BatchNormalization outputs differ from tf_keras by 3e-5 (relative) with
    /// exact float64 sums and by 4e-8 with these, and the max poolings after them pick other
    /// elements where the difference breaks a near-tie.
    static func tensorflowSums(_ c: Int, positions: Int, inner: Int, _ summand: Summand) -> [Float] {
        var lanes = [Float](repeating: 0, count: 4 * c)
        lanes.withUnsafeMutableBufferPointer { l in
            guard let lb = l.baseAddress else { return }
            if inner == 1 {
                // Channels last: each position's channels are contiguous, so the loop over them vectorises.
                switch summand {
                case .value(let x):
                    guard let xb = x.baseAddress else { return }
                    for p in 0..<positions {
                        let lane = lb + (p & 3) * c, row = xb + p * c
                        for ch in 0..<c { lane[ch] += row[ch] }
                    }
                case .squaredDeviation(let x, let mean):
                    guard let xb = x.baseAddress else { return }
                    mean.withUnsafeBufferPointer { m in
                        guard let mb = m.baseAddress else { return }
                        for p in 0..<positions {
                            let lane = lb + (p & 3) * c, row = xb + p * c
                            for ch in 0..<c { let d = row[ch] - mb[ch]; lane[ch] += d * d }
                        }
                    }
                case .product(let a, let b):
                    guard let ab = a.baseAddress, let bb = b.baseAddress else { return }
                    for p in 0..<positions {
                        let lane = lb + (p & 3) * c, ra = ab + p * c, rb = bb + p * c
                        for ch in 0..<c { lane[ch] += ra[ch] * rb[ch] }
                    }
                }
                return
            }
            for p in 0..<positions {
                let o = p / inner, i = p % inner
                for ch in 0..<c {
                    let k = (o * c + ch) * inner + i
                    let v: Float
                    switch summand {
                    case .value(let x): v = x[k]
                    case .squaredDeviation(let x, let mean): let d = x[k] - mean[ch]; v = d * d
                    case .product(let a, let b): v = a[k] * b[k]
                    }
                    l[(p & 3) * c + ch] += v
                }
            }
        }
        return (0..<c).map { ((lanes[$0] + lanes[c + $0]) + lanes[2 * c + $0]) + lanes[3 * c + $0] }
    }

    /// Mean and biased variance per channel over every other axis: exact (float64 sums), or in
    /// TensorFlow's float32 order (`tensorflowSums`).
    static func statistics(_ x: UnsafeBufferPointer<Float>, shape: [Int], axis: Int, tensorflowOrder: Bool = false) -> BatchStatistics {
        let (outer, c, inner) = split(shape, axis: axis)
        if tensorflowOrder {
            let count = outer * inner
            let reciprocal = 1 / Float(max(count, 1))
            let mean = tensorflowSums(c, positions: count, inner: inner, .value(x)).map { $0 * reciprocal }
            let variance = tensorflowSums(c, positions: count, inner: inner, .squaredDeviation(x, mean: mean)).map { $0 * reciprocal }
            return BatchStatistics(mean: mean, variance: variance, count: count)
        }
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
                          gamma: [Float]?, beta: [Float]?, _ y: UnsafeMutableBufferPointer<Float>, xhat: UnsafeMutableBufferPointer<Float>?,
                          threads: Int = 1) {
        let (outer, c, inner) = split(shape, axis: axis)
        if inner == 1 {
            // TensorFlow's FusedBatchNorm: y = (x − mean)·(invStd·γ) + β; rows spread over the threads.
            let scale = (0..<c).map { invStd[$0] * (gamma?[$0] ?? 1) }, shift = (0..<c).map { beta?[$0] ?? 0 }
            scale.withUnsafeBufferPointer { sc in shift.withUnsafeBufferPointer { sh in
            mean.withUnsafeBufferPointer { m in invStd.withUnsafeBufferPointer { s in
                guard let scb = sc.baseAddress, let shb = sh.baseAddress, let mb = m.baseAddress, let sb = s.baseAddress,
                      let xb = x.baseAddress, let yb = y.baseAddress else { return }
                let hb = xhat?.baseAddress
                let shared = UncheckedSendable((scb, shb, mb, sb, xb, yb, hb))
                parallelFor(outer, threads: threads) { rows, _ in
                    let (scb, shb, mb, sb, xb, yb, hb) = shared.value
                    for o in rows {
                        let xr = xb + o * c, yr = yb + o * c
                        for ch in 0..<c { yr[ch] = (xr[ch] - mb[ch]) * scb[ch] + shb[ch] }
                        if let hb { let hr = hb + o * c; for ch in 0..<c { hr[ch] = (xr[ch] - mb[ch]) * sb[ch] } }
                    }
                }
            } } } }
            return
        }
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
                                  dgamma: UnsafeMutableBufferPointer<Float>?, dbeta: UnsafeMutableBufferPointer<Float>?,
                                  tensorflowOrder: Bool = false, threads: Int = 1) {
        let (outer, c, inner) = split(shape, axis: axis)
        if tensorflowOrder {
            // TensorFlow's FusedBatchNormGrad: dx = γ·invStd·(dy − mean(dy) − x̂·mean(dy·x̂)), float32 sums in its order.
            let count = outer * inner
            let sdy = tensorflowSums(c, positions: count, inner: inner, .value(dy))
            let sdx = tensorflowSums(c, positions: count, inner: inner, .product(dy, xhat))
            for ch in 0..<c { dgamma?[ch] += sdx[ch]; dbeta?[ch] += sdy[ch] }
            guard let dx else { return }
            let reciprocal = 1 / Float(max(count, 1))
            let meanDy = sdy.map { $0 * reciprocal }, meanDyX = sdx.map { $0 * reciprocal }
            if inner == 1 {
                let k = (0..<c).map { (gamma?[$0] ?? 1) * invStd[$0] }
                k.withUnsafeBufferPointer { kp in meanDy.withUnsafeBufferPointer { md in meanDyX.withUnsafeBufferPointer { mx in
                    guard let kb = kp.baseAddress, let mdb = md.baseAddress, let mxb = mx.baseAddress, let dxb = dx.baseAddress,
                          let dyb = dy.baseAddress, let hb = xhat.baseAddress else { return }
                    let shared = UncheckedSendable((kb, mdb, mxb, dxb, dyb, hb))
                    parallelFor(outer, threads: threads) { rows, _ in
                        let (kb, mdb, mxb, dxb, dyb, hb) = shared.value
                        for o in rows {
                            let row = o * c
                            let d = dxb + row, g = dyb + row, h = hb + row
                            for ch in 0..<c { d[ch] = kb[ch] * (g[ch] - mdb[ch] - h[ch] * mxb[ch]) }
                        }
                    }
                } } }
                return
            }
            for o in 0..<outer {
                for ch in 0..<c {
                    let base = (o * c + ch) * inner
                    let k = (gamma?[ch] ?? 1) * invStd[ch]
                    for i in 0..<inner { dx[base + i] = k * (dy[base + i] - meanDy[ch] - xhat[base + i] * meanDyX[ch]) }
                }
            }
            return
        }
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
}
