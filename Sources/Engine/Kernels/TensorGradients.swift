import ModelIR

/// Backward passes of the data movements in `TensorKernels.swift`: each is the movement's adjoint.
extension TensorKernels {
    /// Of `place` (padding or cropping by `offsets`): the window of `dy` the input landed in.
    static func placeBackward(_ dy: UnsafeBufferPointer<Float>, outShape: [Int], offsets: [Int], _ dx: UnsafeMutableBufferPointer<Float>,
                              shape: [Int]) {
        dx.update(repeating: 0)
        place(dy, shape: outShape, into: dx, outShape: shape, offsets: offsets.map { -$0 })
    }

    /// Of `concatenate`: each input's slab of `dy`.
    static func concatenateBackward(_ dy: UnsafeBufferPointer<Float>, outShape: [Int], axis: Int, shapes: [[Int]]) -> [[Float]] {
        let outer = outShape[..<axis].reduce(1, *)
        let inner = outShape[(axis + 1)...].reduce(1, *)
        let outRow = outShape[axis] * inner
        var offset = 0
        var result: [[Float]] = []
        for shape in shapes {
            let row = shape[axis] * inner
            var g = [Float](repeating: 0, count: outer * row)
            for o in 0..<outer { for i in 0..<row { g[o * row + i] = dy[o * outRow + offset + i] } }
            result.append(g)
            offset += row
        }
        return result
    }

    /// Of `transpose`: the inverse permutation.
    static func transposeBackward(_ dy: UnsafeBufferPointer<Float>, outShape: [Int], permutation: [Int], _ dx: UnsafeMutableBufferPointer<Float>) {
        var inverse = [Int](repeating: 0, count: permutation.count)
        for (i, p) in permutation.enumerated() { inverse[p] = i }
        transpose(dy, shape: outShape, permutation: inverse, dx)
    }

    /// Of nearest up-sampling over NHWC: each output pixel's gradient to the pixel it copied.
    static func upsampleNearestBackward(_ dy: UnsafeBufferPointer<Float>, outShape: [Int], _ dx: UnsafeMutableBufferPointer<Float>, shape: [Int]) {
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        let (oh, ow) = (outShape[1], outShape[2])
        dx.update(repeating: 0)
        for image in 0..<n {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let iy = oy * h / oh, ix = ox * w / ow
                    let src = ((image * oh + oy) * ow + ox) * c, dst = ((image * h + iy) * w + ix) * c
                    for ch in 0..<c { dx[dst + ch] += dy[src + ch] }
                }
            }
        }
    }
}
