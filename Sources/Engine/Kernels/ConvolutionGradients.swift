import Foundation
import ModelIR

/// Backward passes of the convolutions in `ConvolutionKernels.swift`, over the same NHWC data
/// and HWIO weights (1-D as height 1). The forward pass in training is the inference kernel
/// itself, given the step's weights.
extension ConvolutionKernel {
    /// Gradients of a convolution (no epilogue) given its input `x` and the output gradient `dy`:
    /// `dW += im2col(x)ᵀ·dy`, `db += Σ dy`, and when `dx` is given `dx = col2im(dy·Wᵀ)` — the
    /// GEMMs of the forward pass transposed, a tile of output rows at a time, images spread
    /// over the threads (each with its own weight-gradient sum).
    func backward(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ dy: UnsafeBufferPointer<Float>, outShape: [Int],
                  dx: UnsafeMutableBufferPointer<Float>?, dw: UnsafeMutableBufferPointer<Float>, db: UnsafeMutableBufferPointer<Float>?,
                  threads: Int, accelerated: DNNLConvolutionBackward? = nil) {
        // oneDNN overwrites the gradients; they are added to what `dw`/`db` hold.
        if let accelerated {
            var w = [Float](repeating: 0, count: dw.count), b = [Float](repeating: 0, count: db?.count ?? 0)
            let done = w.withUnsafeMutableBufferPointer { wp in
                b.withUnsafeMutableBufferPointer { bp in
                    accelerated.run(self, x, shape: shape, dy, outShape: outShape, dx: dx, dw: wp, db: db == nil ? nil : bp, threads: threads)
                }
            }
            if done {
                for i in 0..<dw.count { dw[i] += w[i] }
                if let db { for i in 0..<db.count { db[i] += b[i] } }
                return
            }
        }
        let n = shape[0]
        let g = geometry(shape: shape, outShape: outShape)
        let (h, w) = (g.h, g.w)
        let cinG = inChannels / groups, coutG = outChannels / groups
        let k = g.kh * g.kw * cinG
        let pixels = g.oh * g.ow
        let tileRows = max(16, Self.tileBytes / (4 * max(k, 1)))
        let workers = max(1, min(threads, n))
        BLAS.setThreads(workers > 1 ? 1 : threads)
        var partials = [[Float]](repeating: [], count: workers)
        if let dx { dx.update(repeating: 0) }
        let shared = UncheckedSendable((dx, dy, x))
        weights.withUnsafeBufferPointer { wp in
            partials.withUnsafeMutableBufferPointer { parts in
                let partsShared = UncheckedSendable(parts)
                parallelFor(n, threads: workers) { images, worker in
                    let (dx, dy, x) = shared.value
                    var local = [Float](repeating: 0, count: dw.count)
                    var cols = [Float](repeating: 0, count: min(tileRows, pixels) * k)
                    var dcols = dx == nil ? [] : [Float](repeating: 0, count: min(tileRows, pixels) * k)
                    local.withUnsafeMutableBufferPointer { lw in
                        cols.withUnsafeMutableBufferPointer { cp in
                            dcols.withUnsafeMutableBufferPointer { dcp in
                                for image in images {
                                    guard let xb = x.baseAddress, let dyb = dy.baseAddress, let cb = cp.baseAddress,
                                          let lwb = lw.baseAddress, let wb = wp.baseAddress else { continue }
                                    let xImage = xb + image * h * w * inChannels
                                    let dyImage = dyb + image * pixels * outChannels
                                    var r0 = 0
                                    while r0 < pixels {
                                        let rows = min(tileRows, pixels - r0)
                                        for group in 0..<groups {
                                            Self.im2col(xImage, g, channelOffset: group * cinG, channels: cinG, rows: r0..<(r0 + rows), into: cb)
                                            BLAS.gemm(m: k, n: coutG, k: rows, a: cb, lda: k, b: dyImage + r0 * outChannels + group * coutG,
                                                      ldb: outChannels, c: lwb + group * coutG, ldc: outChannels, transposeA: true, accumulate: true)
                                            if let dx, let dxb = dx.baseAddress, let dcb = dcp.baseAddress {
                                                BLAS.gemm(m: rows, n: k, k: coutG, a: dyImage + r0 * outChannels + group * coutG, lda: outChannels,
                                                          b: wb + group * coutG, ldb: outChannels, c: dcb, ldc: k, transposeB: true)
                                                Self.col2im(dcb, g, channelOffset: group * cinG, channels: cinG, rows: r0..<(r0 + rows),
                                                            into: dxb + image * h * w * inChannels)
                                            }
                                        }
                                        r0 += rows
                                    }
                                }
                            }
                        }
                    }
                    partsShared.value[worker] = local
                }
            }
        }
        for part in partials where !part.isEmpty { for i in 0..<dw.count { dw[i] += part[i] } }
        if let db {
            for p in 0..<(n * pixels) {
                let row = dy.baseAddress.map { $0 + p * outChannels }
                guard let row else { break }
                for c in 0..<outChannels { db[c] += row[c] }
            }
        }
    }

    /// Adds im2col rows back into the image they came from (the adjoint of `im2col`).
    static func col2im(_ cols: UnsafePointer<Float>, _ g: Geometry, channelOffset: Int, channels: Int, rows: Range<Int>,
                       into x: UnsafeMutablePointer<Float>) {
        let k = g.kh * g.kw * channels
        let (sy, sx, dy, dx) = (g.strides[0], g.strides[1], g.dilations[0], g.dilations[1])
        for p in rows {
            let oy = p / g.ow, ox = p % g.ow
            var src = cols + (p - rows.lowerBound) * k
            for i in 0..<g.kh {
                let iy = oy * sy + i * dy - g.padTop
                if iy < 0 || iy >= g.h { src += g.kw * channels; continue }
                let rowBase = x + iy * g.w * g.c + channelOffset
                for j in 0..<g.kw {
                    let ix = ox * sx + j * dx - g.padLeft
                    if ix >= 0 && ix < g.w {
                        let dst = rowBase + ix * g.c
                        for c in 0..<channels { dst[c] += src[c] }
                    }
                    src += channels
                }
            }
        }
    }
}

extension DepthwiseKernel {
    /// Gradients of a depthwise convolution (no epilogue): weights `[kh, kw, c, m]`, bias `[c·m]`.
    func backward(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ dy: UnsafeBufferPointer<Float>, outShape: [Int],
                  dx: UnsafeMutableBufferPointer<Float>?, dw: UnsafeMutableBufferPointer<Float>, db: UnsafeMutableBufferPointer<Float>?) {
        let (n, h, w) = (shape[0], shape[1], shape[2])
        let (oh, ow) = (outShape[1], outShape[2])
        let (kh, kw) = (kernel[0], kernel[1])
        let (padTop, _) = padding.pads(axis: 0, spatialRank: 2, input: h, window: kh, stride: strides[0], dilation: dilations[0])
        let (padLeft, _) = padding.pads(axis: 1, spatialRank: 2, input: w, window: kw, stride: strides[1], dilation: dilations[1])
        let c = channels, m = multiplier, co = c * m
        if let dx { dx.update(repeating: 0) }
        for image in 0..<n {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let g = (image * oh * ow + oy * ow + ox) * co
                    if let db { for q in 0..<co { db[q] += dy[g + q] } }
                    for i in 0..<kh {
                        let iy = oy * strides[0] + i * dilations[0] - padTop
                        if iy < 0 || iy >= h { continue }
                        for j in 0..<kw {
                            let ix = ox * strides[1] + j * dilations[1] - padLeft
                            if ix < 0 || ix >= w { continue }
                            let src = ((image * h + iy) * w + ix) * c
                            let tap = (i * kw + j) * co
                            for ch in 0..<c {
                                let v = x[src + ch]
                                var back: Float = 0
                                for q in 0..<m {
                                    let o = ch * m + q
                                    dw[tap + o] += v * dy[g + o]
                                    back += weights[tap + o] * dy[g + o]
                                }
                                if let dx { dx[src + ch] += back }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// ONNX's `[out, in/g, spatial…]` kernels and the HWIO order the kernels compute in.
enum KernelOrder {
    static func toHWIO(_ w: [Float], out: Int, inPerGroup: Int, taps: Int) -> [Float] {
        var r = [Float](repeating: 0, count: w.count)
        for o in 0..<out { for i in 0..<inPerGroup { for t in 0..<taps { r[(t * inPerGroup + i) * out + o] = w[(o * inPerGroup + i) * taps + t] } } }
        return r
    }

    static func fromHWIO(_ w: [Float], out: Int, inPerGroup: Int, taps: Int) -> [Float] {
        var r = [Float](repeating: 0, count: w.count)
        for o in 0..<out { for i in 0..<inPerGroup { for t in 0..<taps { r[(o * inPerGroup + i) * taps + t] = w[(t * inPerGroup + i) * out + o] } } }
        return r
    }
}
