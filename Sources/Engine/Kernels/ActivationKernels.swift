import Foundation
import ModelIR

/// Elementwise activations with TensorFlow's definitions (softmax is separate: it needs an axis).
enum ActivationKernel {
    /// Applies `activation` in place. Softmax/log-softmax are handled by `softmax`.
    static func apply(_ activation: Activation, _ x: UnsafeMutableBufferPointer<Float>) {
        switch activation {
        case .linear, .softmax, .logSoftmax:
            return
        case let .relu(maxValue, slope, threshold):
            if maxValue == nil, slope == 0, threshold == 0 {
                for i in x.indices { x[i] = max(x[i], 0) }
            } else {
                // Keras: max_value above it, x on [threshold, max_value), slope·(x − threshold) below.
                let cap = maxValue ?? .infinity
                for i in x.indices {
                    let v = x[i]
                    x[i] = v >= cap ? cap : (v >= threshold ? v : slope * (v - threshold))
                }
            }
        case .leakyRelu(let alpha):
            for i in x.indices { let v = x[i]; x[i] = v >= 0 ? v : alpha * v }
        case .elu(let alpha):
            for i in x.indices { let v = x[i]; x[i] = v > 0 ? v : alpha * expm1(v) }
        case .selu:
            let alpha: Float = 1.6732632423543772848170429916717, scale: Float = 1.0507009873554804934193349852946
            for i in x.indices { let v = x[i]; x[i] = v > 0 ? scale * v : scale * alpha * expm1(v) }
        case .sigmoid:
            for i in x.indices { x[i] = sigmoid(x[i]) }
        case let .hardSigmoid(slope, offset):
            for i in x.indices { x[i] = min(max(slope * x[i] + offset, 0), 1) }
        case .hardSwish:
            for i in x.indices { let v = x[i]; x[i] = v * min(max(v + 3, 0), 6) / 6 }
        case .tanh:
            for i in x.indices { x[i] = Foundation.tanh(x[i]) }
        case .softplus:
            for i in x.indices { let v = x[i]; x[i] = max(v, 0) + log1p(exp(-abs(v))) }
        case .softsign:
            for i in x.indices { let v = x[i]; x[i] = v / (1 + abs(v)) }
        case .swish:
            for i in x.indices { let v = x[i]; x[i] = v * sigmoid(v) }
        case .gelu(let approximate):
            if approximate {
                let c: Float = 0.7978845608028654  // sqrt(2/pi)
                for i in x.indices { let v = x[i]; x[i] = 0.5 * v * (1 + Foundation.tanh(c * (v + 0.044715 * v * v * v))) }
            } else {
                for i in x.indices { let v = x[i]; x[i] = 0.5 * v * (1 + erf(v / 1.4142135623730951)) }
            }
        case .exponential:
            for i in x.indices { x[i] = exp(x[i]) }
        case let .clip(lower, upper):
            for i in x.indices { x[i] = min(max(x[i], lower), upper) }
        }
    }

    @inline(__always) static func sigmoid(_ v: Float) -> Float {
        v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v))
    }

    /// Softmax (or log-softmax) along `axis` of a C-ordered tensor, in place.
    static func softmax(_ x: UnsafeMutableBufferPointer<Float>, shape: [Int], axis: Int, log: Bool) {
        let n = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        let outer = shape[..<axis].reduce(1, *)
        guard n > 0 else { return }
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                var m = -Float.infinity
                for j in 0..<n { m = max(m, x[base + j * inner]) }
                var sum: Float = 0
                for j in 0..<n { sum += exp(x[base + j * inner] - m) }
                if log {
                    let l = Foundation.log(sum)
                    for j in 0..<n { x[base + j * inner] = x[base + j * inner] - m - l }
                } else {
                    for j in 0..<n { x[base + j * inner] = exp(x[base + j * inner] - m) / sum }
                }
            }
        }
    }
}
