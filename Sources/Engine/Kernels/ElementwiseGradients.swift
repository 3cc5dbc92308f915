import Foundation
import ModelIR

/// Backward passes of `ElementwiseKernels.swift`. A broadcast operand's gradient is the sum
/// over the elements it was broadcast to.
extension ElementwiseKernels {
    /// Whether `backward` has a derivative for `f` (comparisons and rounding have none).
    static func isDifferentiable(_ f: ElementwiseFunction) -> Bool {
        switch f {
        case .add, .subtract, .multiply, .divide, .maximum, .minimum, .power, .average, .select: return true
        case .equal, .less, .greater, .lessOrEqual, .greaterOrEqual, .and, .or, .xor, .modulo, .remainder: return false
        }
    }

    /// Gradients of every operand (nil where `wanted` is false). Maximum and minimum send the
    /// gradient to the first operand that holds the extreme, as a chain of `tf.maximum` does.
    static func backward(_ f: ElementwiseFunction, _ inputs: [HostTensor], outShape: [Int], dy: UnsafeBufferPointer<Float>,
                         wanted: [Bool]) -> [[Float]?] {
        let indices = inputs.map { TensorKernels.broadcastIndex($0.shape, to: outShape) }
        var grads: [[Float]?] = inputs.enumerated().map { wanted[$0.offset] ? [Float](repeating: 0, count: $0.element.count) : nil }
        func value(_ k: Int, _ i: Int) -> Float { inputs[k].data[indices[k]?[i] ?? i] }
        func add(_ k: Int, _ i: Int, _ g: Float) { if grads[k] != nil { grads[k]?[indices[k]?[i] ?? i] += g } }
        let count = inputs.count
        for i in 0..<dy.count {
            let g = dy[i]
            switch f {
            case .add: for k in 0..<count { add(k, i, g) }
            case .average: for k in 0..<count { add(k, i, g / Float(count)) }
            case .subtract:
                add(0, i, g)
                for k in 1..<count { add(k, i, -g) }
            case .multiply:
                for k in 0..<count where grads[k] != nil {
                    var p: Float = 1
                    for j in 0..<count where j != k { p *= value(j, i) }
                    add(k, i, g * p)
                }
            case .divide:
                let a = value(0, i), b = value(1, i)
                add(0, i, g / b)
                add(1, i, -g * a / (b * b))
            case .maximum, .minimum:
                var best = 0, v = value(0, i)
                for k in 1..<count {
                    let u = value(k, i)
                    if f == .maximum ? u > v : u < v { best = k; v = u }
                }
                add(best, i, g)
            case .power:
                let a = value(0, i), b = value(1, i)
                add(0, i, g * b * pow(a, b - 1))
                if a > 0 { add(1, i, g * pow(a, b) * log(a)) }
            case .select:
                if value(0, i) != 0 { add(1, i, g) } else { add(2, i, g) }
            case .equal, .less, .greater, .lessOrEqual, .greaterOrEqual, .and, .or, .xor, .modulo, .remainder:
                break
            }
        }
        return grads
    }

    /// Whether `unaryBackward` has a derivative for `f`; rounding and tests have a zero one.
    static func unaryBackward(_ f: UnaryFunction, x: UnsafeBufferPointer<Float>, y: UnsafeBufferPointer<Float>, dy: UnsafeBufferPointer<Float>,
                              _ dx: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<dx.count {
            let v = x[i], g = dy[i]
            switch f {
            case .negate: dx[i] = -g
            case .abs: dx[i] = v > 0 ? g : (v < 0 ? -g : 0)
            case .sqrt: dx[i] = g * 0.5 / y[i]
            case .rsqrt: dx[i] = -0.5 * g * y[i] * y[i] * y[i]
            case .square: dx[i] = 2 * v * g
            case .exp: dx[i] = g * y[i]
            case .log: dx[i] = g / v
            case .reciprocal: dx[i] = -g * y[i] * y[i]
            case .erf: dx[i] = g * 2 / Float.pi.squareRoot() * exp(-v * v)
            case .sin: dx[i] = g * cos(v)
            case .cos: dx[i] = -g * sin(v)
            case .tan: dx[i] = g * (1 + y[i] * y[i])
            case .roundToHalf: dx[i] = g
            case .floor, .ceil, .round, .sign, .truncate, .isNonZero, .isZero, .isNaN: dx[i] = 0
            }
        }
    }

    /// Mean and sum send the gradient back to every reduced element; max and min to the first extreme.
    static func reduceBackward(_ f: ReduceFunction, x: UnsafeBufferPointer<Float>, y: UnsafeBufferPointer<Float>, shape: [Int], axes: [Int],
                               dy: UnsafeBufferPointer<Float>, _ dx: UnsafeMutableBufferPointer<Float>) {
        let rank = shape.count
        let reduced = axes.isEmpty ? Set(0..<rank) : Set(axes.map { $0 < 0 ? $0 + rank : $0 })
        let keptShape = shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
        let outStrides = contiguousStrides(keptShape)
        let n = Float(reduced.reduce(1) { $0 * shape[$1] })
        var taken = [Bool](repeating: false, count: y.count)
        var index = [Int](repeating: 0, count: rank)
        for i in 0..<x.count {
            var o = 0
            for a in 0..<rank where !reduced.contains(a) { o += index[a] * outStrides[a] }
            switch f {
            case .sum: dx[i] = dy[o]
            case .mean: dx[i] = dy[o] / n
            case .prod: dx[i] = x[i] != 0 ? dy[o] * y[o] / x[i] : 0
            case .max, .min:
                if !taken[o], x[i] == y[o] { dx[i] = dy[o]; taken[o] = true } else { dx[i] = 0 }
            }
            Shape.advance(&index, in: shape)
        }
    }
}
