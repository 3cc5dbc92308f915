import Foundation
import ModelIR

/// ONNX Resize: separable, one axis at a time. For every output index along an axis the
/// kernel computes the input coordinate (the coordinate transformation), picks the `n` nearest
/// input indices (edge-clamped) and weights them (nearest, linear, cubic, with antialiasing
/// when down-sampling), as the ONNX specification defines them.
enum ResizeKernel {
    struct Taps {
        var count: Int
        /// `count` input indices per output index, clamped to the axis.
        var indices: [Int]
        var weights: [Double]
        /// Output indices that take the extrapolation value (tf_crop_and_resize).
        var outside: [Bool]
    }

    static func taps(_ r: Resize, axis: Int, input: Int, output: Int) -> Taps {
        let scale = r.scale(axis: axis, input: input)
        // As ONNX's reference (and its node tests): align_corners, pytorch_half_pixel and
        // tf_crop_and_resize use input × scale as the output length. onnxruntime uses the whole
        // output length instead; the two differ only when input × scale is not a whole number.
        let outputWidth = scale * Double(input)
        var xs = [Double](repeating: 0, count: output)
        var outside = [Bool](repeating: false, count: output)
        let rank = r.scales.count
        for o in 0..<output {
            let y = Double(o)
            var x: Double
            switch r.coordinates {
            case "align_corners": x = outputWidth == 1 ? 0 : y * Double(input - 1) / (outputWidth - 1)
            case "asymmetric": x = y / scale
            case "tf_half_pixel_for_nn": x = (y + 0.5) / scale
            case "pytorch_half_pixel": x = outputWidth == 1 ? -0.5 : (y + 0.5) / scale - 0.5
            case "half_pixel_symmetric":
                let adjustment = Double(output) / outputWidth
                let center = Double(input) / 2
                x = center * (1 - adjustment) + (y + 0.5) / scale - 0.5
            case "tf_crop_and_resize":
                let start = Double(r.roi?[axis] ?? 0), end = Double(r.roi?[rank + axis] ?? 1)
                x = outputWidth == 1 ? (end - start) * Double(input - 1) / 2 : y * (end - start) * Double(input - 1) / (outputWidth - 1)
                x += start * Double(input - 1)
                outside[o] = x < 0 || x > Double(input - 1)
            default: x = (y + 0.5) / scale - 0.5
            }
            xs[o] = x
        }
        func coefficients(_ ratio: Double) -> [Double] {
            let a = Double(r.cubicCoefficient)
            switch r.mode {
            case .nearest:
                if ratio == 1 { return [0, 1] }
                switch r.nearestMode {
                case "round_prefer_ceil": return ratio < 0.5 ? [1, 0] : [0, 1]
                case "floor": return [1, 0]
                case "ceil": return [0, 1]
                default: return ratio <= 0.5 ? [1, 0] : [0, 1]
                }
            case .linear where r.antialias:
                let s = min(scale, 1)
                let start = Int((-1 / s).rounded(.down)) + 1
                let footprint = 2 - 2 * start
                let c = (0..<footprint).map { max(0, min(1, 1 - abs((Double(start + $0) - ratio) * s))) }
                let sum = c.reduce(0, +)
                return c.map { $0 / sum }
            case .linear:
                return [1 - ratio, ratio]
            case .cubic where r.antialias:
                let s = min(scale, 1)
                func w(_ v: Double) -> Double {
                    let x = abs(v), x2 = x * x, x3 = x2 * x
                    if x <= 1 { return (a + 2) * x3 - (a + 3) * x2 + 1 }
                    if x < 2 { return a * x3 - 5 * a * x2 + 8 * a * x - 4 * a }
                    return 0
                }
                let start = Int((-2 / s).rounded(.down)) + 1
                let c = (start..<(2 - start)).map { w(s * (Double($0) - ratio)) }
                let sum = c.reduce(0, +)
                return c.map { $0 / sum }
            case .cubic:
                let t = ratio, u = 1 - ratio
                return [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
                        ((a + 2) * t - (a + 3)) * t * t + 1,
                        ((a + 2) * u - (a + 3)) * u * u + 1,
                        ((a * (u + 1) - 5 * a) * (u + 1) + 8 * a) * (u + 1) - 4 * a]
            }
        }
        var n = 0
        var indices: [Int] = [], weights: [Double] = []
        for o in 0..<output {
            let x = xs[o]
            let floorX = x.rounded(.down)
            let ratio = x == floorX ? 1 : x - floorX
            var c = coefficients(ratio)
            n = c.count
            // The n indices nearest to x, ties to the smaller (the window's first index).
            let p = Int(floorX), frac = x - floorX
            let first: Int
            if n % 2 == 0 {
                first = p + (frac == 0 ? -(n / 2) : -(n / 2) + 1)
            } else {
                first = p - (n - 1) / 2 + (frac <= 0.5 ? 0 : 1)
            }
            if r.excludeOutside {
                for t in 0..<n where first + t < 0 || first + t >= input { c[t] = 0 }
                let sum = c.reduce(0, +)
                if sum != 0 { c = c.map { $0 / sum } }
            }
            for t in 0..<n { indices.append(min(max(first + t, 0), input - 1)) }
            weights += c
        }
        return Taps(count: n, indices: indices, weights: weights, outside: outside)
    }

    static func run(_ r: Resize, _ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int]) {
        var current = Array(x)
        var currentShape = shape
        for axis in shape.indices {
            let input = currentShape[axis], output = outShape[axis]
            let scale = r.scale(axis: axis, input: input)
            let cropped = r.coordinates == "tf_crop_and_resize" && (r.roi.map { $0[axis] != 0 || $0[shape.count + axis] != 1 } ?? false)
            if abs(scale - 1) < 1e-9, output == input, !cropped { continue }
            let taps = Self.taps(r, axis: axis, input: input, output: output)
            let outer = currentShape[..<axis].reduce(1, *), inner = currentShape[(axis + 1)...].reduce(1, *)
            var next = [Float](repeating: 0, count: outer * output * inner)
            let fill = Double(r.extrapolationValue)
            for b in 0..<outer {
                for o in 0..<output {
                    let dst = (b * output + o) * inner
                    if taps.outside[o] {
                        for i in 0..<inner { next[dst + i] = Float(fill) }
                        continue
                    }
                    for i in 0..<inner {
                        var acc = 0.0
                        for t in 0..<taps.count {
                            let w = taps.weights[o * taps.count + t]
                            if w == 0 { continue }
                            acc += w * Double(current[(b * input + taps.indices[o * taps.count + t]) * inner + i])
                        }
                        next[dst + i] = Float(acc)
                    }
                }
            }
            current = next
            currentShape[axis] = output
        }
        for i in 0..<y.count { y[i] = current[i] }
    }
}
