import ModelIR

/// Max and average pooling over NHWC (1-D runs as height 1). Average pooling divides by the
/// number of in-image elements, as TensorFlow does with 'same' padding, unless `countIncludePad`.
struct PoolingKernel {
    var kind: Pooling.Kind
    var size: [Int]
    var strides: [Int]
    var padding: Padding
    var countIncludePad: Bool

    func run(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], threads: Int) {
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        let (oh, ow) = (outShape[1], outShape[2])
        let (padTop, _) = padding.pads(axis: 0, spatialRank: 2, input: h, window: size[0], stride: strides[0])
        let (padLeft, _) = padding.pads(axis: 1, spatialRank: 2, input: w, window: size[1], stride: strides[1])
        let isMax = kind == .max
        parallelFor(n * oh, threads: threads) { rows, _ in
            for r in rows {
                let image = r / oh, oy = r % oh
                let xi = x.baseAddress! + image * h * w * c
                let yRow = y.baseAddress! + (image * oh + oy) * ow * c
                let y0 = oy * strides[0] - padTop
                let ys = max(y0, 0), ye = min(y0 + size[0], h)
                for ox in 0..<ow {
                    let x0 = ox * strides[1] - padLeft
                    let xs = max(x0, 0), xe = min(x0 + size[1], w)
                    let out = yRow + ox * c
                    var first = true
                    for iy in ys..<max(ys, ye) {
                        for ix in xs..<max(xs, xe) {
                            let src = xi + (iy * w + ix) * c
                            if first {
                                out.update(from: src, count: c)
                                first = false
                            } else if isMax {
                                for ch in 0..<c { out[ch] = max(out[ch], src[ch]) }
                            } else {
                                for ch in 0..<c { out[ch] += src[ch] }
                            }
                        }
                    }
                    if first { out.update(repeating: isMax ? -.infinity : 0, count: c) }
                    if !isMax {
                        let count = countIncludePad ? size[0] * size[1] : max(1, (ye - ys) * (xe - xs))
                        let inv = 1 / Float(count)
                        for ch in 0..<c { out[ch] *= inv }
                    }
                }
            }
        }
    }
}

/// Max and average pooling over `[N, spatial…, C]` with any number of spatial axes and any
/// dilations (ONNX): a window's taps outside the input are skipped; average pooling divides by
/// the taps inside the input, or inside input and padding with `countIncludePad`.
struct NDPoolingKernel {
    var pooling: Pooling

    /// For every output position (row-major over `outSpatial`): the row-major offsets of its
    /// window's taps inside the input, and how many taps fall inside input or padding.
    func windows(inSpatial: [Int], outSpatial: [Int]) -> [(taps: [Int], padded: Int)] {
        let sr = inSpatial.count
        let pads = (0..<sr).map { i in
            pooling.padding.pads(axis: i, spatialRank: sr, input: inSpatial[i], window: pooling.poolSize[i], stride: pooling.strides[i],
                                 dilation: pooling.dilation(i))
        }
        let inStrides = contiguousStrides(inSpatial), taps = pooling.poolSize.reduce(1, *)
        var o = [Int](repeating: 0, count: sr), k = [Int](repeating: 0, count: sr)
        return (0..<outSpatial.reduce(1, *)).map { position in
            var rest = position
            for i in stride(from: sr - 1, through: 0, by: -1) { o[i] = rest % outSpatial[i]; rest /= outSpatial[i] }
            var inside: [Int] = [], padded = 0
            for t in 0..<taps {
                var r = t
                for i in stride(from: sr - 1, through: 0, by: -1) { k[i] = r % pooling.poolSize[i]; r /= pooling.poolSize[i] }
                var offset = 0, inImage = true, inPadding = true
                for i in 0..<sr {
                    let p = o[i] * pooling.strides[i] - pads[i].0 + k[i] * pooling.dilation(i)
                    if p < 0 || p >= inSpatial[i] { inImage = false }
                    if p < -pads[i].0 || p >= inSpatial[i] + pads[i].1 { inPadding = false }
                    offset += p * inStrides[i]
                }
                if inPadding { padded += 1 }
                if inImage { inside.append(offset) }
            }
            return (inside, padded)
        }
    }

    /// Pools `[N, spatial…, C]`.
    func run(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int]) {
        let sr = shape.count - 2, c = shape[shape.count - 1]
        let inSpatial = Array(shape[1...sr]), outSpatial = Array(outShape[1...sr])
        let windows = self.windows(inSpatial: inSpatial, outSpatial: outSpatial)
        let inCount = inSpatial.reduce(1, *)
        let isMax = pooling.kind == .max
        var acc = [Float](repeating: 0, count: c)
        for image in 0..<shape[0] {
            for (position, window) in windows.enumerated() {
                for ch in 0..<c { acc[ch] = isMax ? -.infinity : 0 }
                for offset in window.taps {
                    let src = x.baseAddress! + (image * inCount + offset) * c
                    if isMax { for ch in 0..<c { acc[ch] = max(acc[ch], src[ch]) } } else { for ch in 0..<c { acc[ch] += src[ch] } }
                }
                let out = y.baseAddress! + (image * windows.count + position) * c
                let divisor = Float(max(1, pooling.countIncludePad ? window.padded : window.taps.count))
                for ch in 0..<c { out[ch] = isMax ? acc[ch] : acc[ch] / divisor }
            }
        }
    }

    /// ONNX MaxPool's Indices over `[N, C, spatial…]`: the flat index, in the whole input, of each
    /// window's first maximum; `columnMajor` orders the spatial axes first-fastest.
    func argmax(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], columnMajor: Bool) {
        let sr = shape.count - 2
        let inSpatial = Array(shape[2...]), outSpatial = Array(outShape[2...])
        let windows = self.windows(inSpatial: inSpatial, outSpatial: outSpatial)
        let inCount = inSpatial.reduce(1, *)
        let rowStrides = contiguousStrides(inSpatial)
        let columnStrides = (0..<sr).map { inSpatial[..<$0].reduce(1, *) }
        for plane in 0..<(shape[0] * shape[1]) {
            let base = plane * inCount
            for (position, window) in windows.enumerated() {
                var best = -Float.infinity, bestOffset = -1
                for offset in window.taps where bestOffset < 0 || x[base + offset] > best {
                    best = x[base + offset]
                    bestOffset = offset
                }
                var index = bestOffset
                if columnMajor, bestOffset >= 0 {
                    index = (0..<sr).reduce(0) { $0 + (bestOffset / rowStrides[$1]) % inSpatial[$1] * columnStrides[$1] }
                }
                y[plane * windows.count + position] = Float(bestOffset < 0 ? -1 : base + index)
            }
        }
    }
}

/// Mean or max over every spatial axis of `[N, spatial…, C]`.
enum GlobalPoolingKernel {
    static func run(_ kind: Pooling.Kind, _ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>) {
        let n = shape[0], c = shape[shape.count - 1]
        let spatial = shape.dropFirst().dropLast().reduce(1, *)
        for image in 0..<n {
            let out = y.baseAddress! + image * c
            out.update(repeating: kind == .max ? -.infinity : 0, count: c)
            for p in 0..<spatial {
                let src = x.baseAddress! + (image * spatial + p) * c
                if kind == .max {
                    for ch in 0..<c { out[ch] = max(out[ch], src[ch]) }
                } else {
                    for ch in 0..<c { out[ch] += src[ch] }
                }
            }
            if kind == .average {
                let inv = 1 / Float(max(spatial, 1))
                for ch in 0..<c { out[ch] *= inv }
            }
        }
    }
}
