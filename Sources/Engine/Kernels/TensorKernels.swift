import Foundation
import ModelIR

/// Strides of a C-ordered shape.
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        s[i] = acc
        acc *= shape[i]
    }
    return s
}

/// Data movement: transpose, pad, crop, up-sample, concatenate, broadcast.
enum TensorKernels {

    static func transpose(_ x: UnsafeBufferPointer<Float>, shape: [Int], permutation: [Int], _ y: UnsafeMutableBufferPointer<Float>) {
        let inStrides = contiguousStrides(shape)
        let outShape = permutation.map { shape[$0] }
        let srcStrides = permutation.map { inStrides[$0] }
        let rank = outShape.count
        guard rank > 0, !y.isEmpty else { if !y.isEmpty { y[0] = x[0] }; return }
        var index = [Int](repeating: 0, count: rank)
        var src = 0
        let inner = outShape[rank - 1], innerStride = srcStrides[rank - 1]
        var o = 0
        while o < y.count {
            for i in 0..<inner { y[o + i] = x[src + i * innerStride] }
            o += inner
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                src += srcStrides[axis]
                if index[axis] < outShape[axis] { break }
                src -= srcStrides[axis] * outShape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }

    /// Copies `x` into `y` at an offset per axis (`y` must be zeroed first for padding), or
    /// copies a window of `x` out when `offsets` are negative (cropping).
    static func place(_ x: UnsafeBufferPointer<Float>, shape: [Int], into y: UnsafeMutableBufferPointer<Float>, outShape: [Int], offsets: [Int]) {
        let rank = shape.count
        let xs = contiguousStrides(shape), ys = contiguousStrides(outShape)
        // Per axis: the range of output indices that receive input values.
        let lo = (0..<rank).map { max(0, offsets[$0]) }
        let hi = (0..<rank).map { min(outShape[$0], shape[$0] + offsets[$0]) }
        guard (0..<rank).allSatisfy({ lo[$0] < hi[$0] }) else { return }
        var index = lo
        let innerCount = hi[rank - 1] - lo[rank - 1]
        while true {
            var src = 0, dst = 0
            for a in 0..<rank { dst += index[a] * ys[a]; src += (index[a] - offsets[a]) * xs[a] }
            (y.baseAddress! + dst).update(from: x.baseAddress! + src, count: innerCount)
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < hi[axis] { break }
                index[axis] = lo[axis]
                axis -= 1
            }
            if axis < 0 { break }
        }
    }

    /// Nearest or bilinear (half-pixel centres, as `tf.image.resize`) up-sampling of NHWC data.
    static func upsample(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], bilinear: Bool) {
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        let (oh, ow) = (outShape[1], outShape[2])
        for image in 0..<n {
            let xi = x.baseAddress! + image * h * w * c
            let yi = y.baseAddress! + image * oh * ow * c
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let out = yi + (oy * ow + ox) * c
                    if !bilinear {
                        let iy = oy * h / oh, ix = ox * w / ow
                        out.update(from: xi + (iy * w + ix) * c, count: c)
                        continue
                    }
                    let fy = max(0, (Float(oy) + 0.5) * Float(h) / Float(oh) - 0.5)
                    let fx = max(0, (Float(ox) + 0.5) * Float(w) / Float(ow) - 0.5)
                    let y0 = min(Int(fy), h - 1), x0 = min(Int(fx), w - 1)
                    let y1 = min(y0 + 1, h - 1), x1 = min(x0 + 1, w - 1)
                    let dy = fy - Float(y0), dx = fx - Float(x0)
                    let a = xi + (y0 * w + x0) * c, b = xi + (y0 * w + x1) * c
                    let cc = xi + (y1 * w + x0) * c, d = xi + (y1 * w + x1) * c
                    for ch in 0..<c {
                        let top = a[ch] + (b[ch] - a[ch]) * dx
                        let bottom = cc[ch] + (d[ch] - cc[ch]) * dx
                        out[ch] = top + (bottom - top) * dy
                    }
                }
            }
        }
    }

    static func concatenate(_ inputs: [(UnsafeBufferPointer<Float>, [Int])], axis: Int, _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int]) {
        let outer = outShape[..<axis].reduce(1, *)
        let inner = outShape[(axis + 1)...].reduce(1, *)
        let outRow = outShape[axis] * inner
        var offset = 0
        for (x, shape) in inputs {
            let row = shape[axis] * inner
            for o in 0..<outer {
                (y.baseAddress! + o * outRow + offset).update(from: x.baseAddress! + o * row, count: row)
            }
            offset += row
        }
    }

    /// Element offsets of `shape` broadcast to `outShape` (numpy rules), for every output element.
    static func broadcastIndex(_ shape: [Int], to outShape: [Int]) -> [Int]? {
        if shape == outShape { return nil }
        let rank = outShape.count
        let padded = [Int](repeating: 1, count: rank - shape.count) + shape
        let strides = contiguousStrides(padded).enumerated().map { padded[$0.offset] == 1 ? 0 : $0.element }
        let count = outShape.reduce(1, *)
        var result = [Int](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: rank)
        var src = 0
        for o in 0..<count {
            result[o] = src
            var axis = rank - 1
            while axis >= 0 {
                index[axis] += 1
                src += strides[axis]
                if index[axis] < outShape[axis] { break }
                src -= strides[axis] * outShape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return result
    }
}
