import ModelIR

/// Backward passes of `PoolingKernels.swift`: max pooling sends each window's gradient to its
/// first largest element (TensorFlow's MaxPoolGrad scans the window row by row and keeps the
/// first maximum), average pooling spreads it over the window's in-image elements.
extension PoolingKernel {
    static let lanes = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

    /// Images spread over the threads (each writes only its own image's gradient).
    func backward(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ dy: UnsafeBufferPointer<Float>, outShape: [Int],
                  _ dx: UnsafeMutableBufferPointer<Float>, threads: Int) {
        let n = shape[0], per = shape.dropFirst().reduce(1, *), outPer = outShape.dropFirst().reduce(1, *)
        let shared = UncheckedSendable((x, dy, dx))
        parallelFor(n, threads: threads) { images, _ in
            let (x, dy, dx) = shared.value
            for image in images {
                backwardOne(UnsafeBufferPointer(rebasing: x[(image * per)..<((image + 1) * per)]), shape: [1] + shape.dropFirst(),
                            UnsafeBufferPointer(rebasing: dy[(image * outPer)..<((image + 1) * outPer)]), outShape: [1] + outShape.dropFirst(),
                            UnsafeMutableBufferPointer(rebasing: dx[(image * per)..<((image + 1) * per)]))
            }
        }
    }

    func backwardOne(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ dy: UnsafeBufferPointer<Float>, outShape: [Int],
                     _ dx: UnsafeMutableBufferPointer<Float>) {
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        let (oh, ow) = (outShape[1], outShape[2])
        let (padTop, _) = padding.pads(axis: 0, spatialRank: 2, input: h, window: size[0], stride: strides[0])
        let (padLeft, _) = padding.pads(axis: 1, spatialRank: 2, input: w, window: size[1], stride: strides[1])
        dx.update(repeating: 0)
        let bestIndex = UnsafeMutableBufferPointer<Int32>.allocate(capacity: max(c, 1))
        let bestValue = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(c, 1))
        defer { bestIndex.deallocate(); bestValue.deallocate() }
        for image in 0..<n {
            let xi = image * h * w * c
            for oy in 0..<oh {
                let y0 = oy * strides[0] - padTop
                let ys = max(y0, 0), ye = min(y0 + size[0], h)
                for ox in 0..<ow {
                    let x0 = ox * strides[1] - padLeft
                    let xs = max(x0, 0), xe = min(x0 + size[1], w)
                    guard ys < ye, xs < xe else { continue }
                    let g = ((image * oh + oy) * ow + ox) * c
                    if kind == .max, c % 16 == 0, let xb = x.baseAddress {
                        // Sixteen channels at a time: each lane keeps its first maximum (masked replace, no branches).
                        let first = xi + (ys * w + xs) * c
                        let raw = UnsafeRawPointer(xb)
                        for block in stride(from: 0, to: c, by: 16) {
                            var best = raw.loadUnaligned(fromByteOffset: (first + block) * 4, as: SIMD16<Float>.self)
                            var index = SIMD16<Int32>(repeating: Int32(first + block)) &+ Self.lanes
                            for iy in ys..<ye {
                                for ix in xs..<xe {
                                    let k = xi + (iy * w + ix) * c + block
                                    let v = raw.loadUnaligned(fromByteOffset: k * 4, as: SIMD16<Float>.self)
                                    let better = v .> best
                                    best.replace(with: v, where: better)
                                    index.replace(with: SIMD16<Int32>(repeating: Int32(k)) &+ Self.lanes, where: better)
                                }
                            }
                            for lane in 0..<16 { dx[Int(index[lane])] += dy[g + block + lane] }
                        }
                    } else if kind == .max, let xb = x.baseAddress, let bi = bestIndex.baseAddress, let bv = bestValue.baseAddress {
                        // Channels are contiguous: track each channel's first maximum over the window, row by
                        // row, with selects rather than branches (ties and signs defeat a branch predictor).
                        let first = xi + (ys * w + xs) * c
                        for ch in 0..<c { bi[ch] = Int32(first + ch); bv[ch] = xb[first + ch] }
                        for iy in ys..<ye {
                            for ix in xs..<xe {
                                let k = xi + (iy * w + ix) * c
                                let row = xb + k
                                for ch in 0..<c {
                                    let v = row[ch], better = v > bv[ch]
                                    bv[ch] = better ? v : bv[ch]
                                    bi[ch] = better ? Int32(k + ch) : bi[ch]
                                }
                            }
                        }
                        for ch in 0..<c { dx[Int(bi[ch])] += dy[g + ch] }
                    } else if kind == .max {
                        continue
                    } else {
                        let count = countIncludePad ? size[0] * size[1] : (ye - ys) * (xe - xs)
                        let inv = 1 / Float(max(count, 1))
                        for iy in ys..<ye {
                            for ix in xs..<xe {
                                let k = xi + (iy * w + ix) * c
                                for ch in 0..<c { dx[k + ch] += dy[g + ch] * inv }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Global pooling over `[N, spatial…, C]`, forward and backward.
enum GlobalPoolingGradients {
    static func forward(_ kind: Pooling.Kind, _ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>) {
        GlobalPoolingKernel.run(kind, x, shape: shape, y)
    }

    static func backward(_ kind: Pooling.Kind, _ x: UnsafeBufferPointer<Float>, shape: [Int], dy: UnsafeBufferPointer<Float>,
                         _ dx: UnsafeMutableBufferPointer<Float>) {
        let n = shape[0], c = shape[shape.count - 1]
        let spatial = shape.dropFirst().dropLast().reduce(1, *)
        dx.update(repeating: 0)
        for image in 0..<n {
            let base = image * spatial * c
            for ch in 0..<c {
                let g = dy[image * c + ch]
                if kind == .max {
                    var best = base + ch
                    for p in 0..<spatial where x[base + p * c + ch] > x[best] { best = base + p * c + ch }
                    dx[best] = g
                } else {
                    let v = g / Float(max(spatial, 1))
                    for p in 0..<spatial { dx[base + p * c + ch] = v }
                }
            }
        }
    }
}
