import Foundation
import ModelIR

enum ElementwiseKernels {
    /// n-ary broadcast arithmetic (Keras merge layers, TFOpLambda, ONNX binary ops).
    static func run(_ f: ElementwiseFunction, _ inputs: [HostTensor], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int]) {
        let indices = inputs.map { TensorKernels.broadcastIndex($0.shape, to: outShape) }
        func value(_ k: Int, _ i: Int) -> Float { inputs[k].data[indices[k]?[i] ?? i] }
        if f == .select {
            for i in 0..<y.count { y[i] = value(0, i) != 0 ? value(1, i) : value(2, i) }
            return
        }
        func truth(_ b: Bool) -> Float { b ? 1 : 0 }
        for i in 0..<y.count {
            var acc = value(0, i)
            for k in 1..<inputs.count {
                let v = value(k, i)
                switch f {
                case .add, .average: acc += v
                case .subtract: acc -= v
                case .multiply: acc *= v
                case .divide: acc /= v
                case .maximum: acc = max(acc, v)
                case .minimum: acc = min(acc, v)
                case .power: acc = pow(acc, v)
                case .equal: acc = truth(acc == v)
                case .less: acc = truth(acc < v)
                case .greater: acc = truth(acc > v)
                case .lessOrEqual: acc = truth(acc <= v)
                case .greaterOrEqual: acc = truth(acc >= v)
                case .and: acc = truth(acc != 0 && v != 0)
                case .or: acc = truth(acc != 0 || v != 0)
                case .xor: acc = truth((acc != 0) != (v != 0))
                case .modulo: let r = fmodf(acc, v); acc = r != 0 && (r < 0) != (v < 0) ? r + v : r
                case .remainder: acc = fmodf(acc, v)
                case .select: break
                }
            }
            if f == .average { acc /= Float(inputs.count) }
            y[i] = acc
        }
    }

    static func unary(_ f: UnaryFunction, _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<x.count {
            let v = x[i]
            switch f {
            case .negate: y[i] = -v
            case .abs: y[i] = abs(v)
            case .sqrt: y[i] = v.squareRoot()
            case .rsqrt: y[i] = 1 / v.squareRoot()
            case .square: y[i] = v * v
            case .exp: y[i] = exp(v)
            case .log: y[i] = log(v)
            case .reciprocal: y[i] = 1 / v
            case .floor: y[i] = v.rounded(.down)
            case .ceil: y[i] = v.rounded(.up)
            case .round: y[i] = v.rounded(.toNearestOrEven)
            case .erf: y[i] = erf(v)
            case .sign: y[i] = v > 0 ? 1 : (v < 0 ? -1 : 0)
            case .truncate: y[i] = v.rounded(.towardZero)
            case .roundToHalf: y[i] = Float(Float16(v))
            case .isNonZero: y[i] = v != 0 ? 1 : 0
            case .isZero: y[i] = v == 0 ? 1 : 0
            case .isNaN: y[i] = v.isNaN ? 1 : 0
            case .sin: y[i] = sin(v)
            case .cos: y[i] = cos(v)
            case .tan: y[i] = tan(v)
            }
        }
    }

    static func reduce(_ f: ReduceFunction, _ x: UnsafeBufferPointer<Float>, shape: [Int], axes: [Int], keepDims: Bool, _ y: UnsafeMutableBufferPointer<Float>) {
        let rank = shape.count
        let reduced = axes.isEmpty ? Set(0..<rank) : Set(axes.map { $0 < 0 ? $0 + rank : $0 })
        let keptShape = shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
        let outStrides = contiguousStrides(keptShape)
        let initial: Float
        switch f {
        case .mean, .sum: initial = 0
        case .prod: initial = 1
        case .max: initial = -.infinity
        case .min: initial = .infinity
        }
        y.update(repeating: initial)
        var index = [Int](repeating: 0, count: rank)
        for i in 0..<x.count {
            var o = 0
            for a in 0..<rank where !reduced.contains(a) { o += index[a] * outStrides[a] }
            let v = x[i]
            switch f {
            case .mean, .sum: y[o] += v
            case .prod: y[o] *= v
            case .max: y[o] = max(y[o], v)
            case .min: y[o] = min(y[o], v)
            }
            Shape.advance(&index, in: shape)
        }
        if f == .mean {
            let n = Float(reduced.reduce(1) { $0 * shape[$1] })
            for i in y.indices { y[i] /= n }
        }
    }

    /// ONNX ArgMax/ArgMin along `axis`: the index of the first (or, with `selectLast`, the last)
    /// extreme value; NaN compares as neither.
    static func argReduce(_ x: UnsafeBufferPointer<Float>, shape: [Int], axis: Int, largest: Bool, selectLast: Bool, _ y: UnsafeMutableBufferPointer<Float>) {
        let outer = shape[..<axis].reduce(1, *), n = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        for o in 0..<outer {
            for i in 0..<inner {
                var best = 0
                for k in 1..<max(n, 1) {
                    let v = x[(o * n + k) * inner + i], b = x[(o * n + best) * inner + i]
                    let better = largest ? (selectLast ? v >= b : v > b) : (selectLast ? v <= b : v < b)
                    if better { best = k }
                }
                y[o * inner + i] = Float(best)
            }
        }
    }
}
