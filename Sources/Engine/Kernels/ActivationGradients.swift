import Foundation
import ModelIR

/// Derivatives of the activations in `ActivationKernels.swift`, as TensorFlow's gradient ops
/// define them (ReLU's is 0 at 0; a clip passes the gradient inside its range).
extension ActivationKernel {
    /// `dx = dy · f′`, from the activation's input `x` and output `y`.
    static func backward(_ activation: Activation, x: UnsafeBufferPointer<Float>, y: UnsafeBufferPointer<Float>, shape: [Int],
                         dy: UnsafeBufferPointer<Float>, _ dx: UnsafeMutableBufferPointer<Float>) {
        let n = dx.count
        switch activation {
        case .linear:
            for i in 0..<n { dx[i] = dy[i] }
        case let .relu(maxValue, slope, threshold):
            guard let xb = x.baseAddress, let gb = dy.baseAddress, let db = dx.baseAddress else { return }
            if maxValue == nil, slope == 0, threshold == 0 {
                // Sixteen at a time with a mask: as a branch, ReLU's signs are a coin toss for the predictor.
                let xr = UnsafeRawPointer(xb), gr = UnsafeRawPointer(gb), dr = UnsafeMutableRawPointer(db)
                var i = 0
                while i + 16 <= n {
                    let v = xr.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                    var g = gr.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                    g.replace(with: 0, where: v .<= 0)
                    dr.storeBytes(of: g, toByteOffset: i * 4, as: SIMD16<Float>.self)
                    i += 16
                }
                while i < n { db[i] = xb[i] > 0 ? gb[i] : 0; i += 1 }
                return
            }
            let cap = maxValue ?? .infinity
            for i in 0..<n {
                let v = xb[i], g = gb[i]
                let inside: Float = v > threshold && v < cap ? g : 0
                db[i] = v < threshold ? slope * g : inside
            }
        case .leakyRelu(let alpha):
            for i in 0..<n { dx[i] = x[i] > 0 ? dy[i] : alpha * dy[i] }
        case .elu(let alpha):
            for i in 0..<n { dx[i] = x[i] > 0 ? dy[i] : dy[i] * (y[i] + alpha) }
        case .selu:
            let alpha: Float = 1.6732632423543772848170429916717, scale: Float = 1.0507009873554804934193349852946
            for i in 0..<n { dx[i] = x[i] > 0 ? scale * dy[i] : dy[i] * (y[i] + scale * alpha) }
        case .sigmoid:
            for i in 0..<n { dx[i] = dy[i] * y[i] * (1 - y[i]) }
        case let .hardSigmoid(slope, offset):
            for i in 0..<n { let t = slope * x[i] + offset; dx[i] = t > 0 && t < 1 ? slope * dy[i] : 0 }
        case .hardSwish:
            for i in 0..<n {
                let v = x[i]
                dx[i] = v < -3 ? 0 : (v > 3 ? dy[i] : dy[i] * (2 * v + 3) / 6)
            }
        case .tanh:
            for i in 0..<n { dx[i] = dy[i] * (1 - y[i] * y[i]) }
        case .softplus:
            for i in 0..<n { dx[i] = dy[i] * sigmoid(x[i]) }
        case .softsign:
            for i in 0..<n { let d = 1 + abs(x[i]); dx[i] = dy[i] / (d * d) }
        case .swish:
            for i in 0..<n { let s = sigmoid(x[i]); dx[i] = dy[i] * (s + x[i] * s * (1 - s)) }
        case .gelu(let approximate):
            if approximate {
                let c: Float = 0.7978845608028654
                for i in 0..<n {
                    let v = x[i]
                    let t = Foundation.tanh(c * (v + 0.044715 * v * v * v))
                    dx[i] = dy[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v))
                }
            } else {
                for i in 0..<n {
                    let v = x[i]
                    let cdf = 0.5 * (1 + erf(v / 1.4142135623730951))
                    let pdf = exp(-0.5 * v * v) / 2.5066282746310002
                    dx[i] = dy[i] * (cdf + v * pdf)
                }
            }
        case .exponential:
            for i in 0..<n { dx[i] = dy[i] * y[i] }
        case let .clip(lower, upper):
            for i in 0..<n { dx[i] = x[i] >= lower && x[i] <= upper ? dy[i] : 0 }
        case .softmax(let axis):
            softmaxBackward(y: y, shape: shape, axis: axis, dy: dy, dx, log: false)
        case .logSoftmax(let axis):
            softmaxBackward(y: y, shape: shape, axis: axis, dy: dy, dx, log: true)
        }
    }

    /// Softmax: `dx = y·(dy − Σ dy·y)`; log-softmax: `dx = dy − softmax·Σ dy`.
    static func softmaxBackward(y: UnsafeBufferPointer<Float>, shape: [Int], axis: Int, dy: UnsafeBufferPointer<Float>,
                                _ dx: UnsafeMutableBufferPointer<Float>, log: Bool) {
        let n = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                var s: Float = 0
                for j in 0..<n { let k = base + j * inner; s += log ? dy[k] : dy[k] * y[k] }
                for j in 0..<n {
                    let k = base + j * inner
                    dx[k] = log ? dy[k] - exp(y[k]) * s : y[k] * (dy[k] - s)
                }
            }
        }
    }
}
