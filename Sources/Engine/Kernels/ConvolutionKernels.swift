import Foundation
import Dispatch
import ModelIR

/// Splits `count` items over up to `threads` workers, each getting a contiguous range.
/// The kernels write disjoint parts of their output, which is what makes this safe.
func parallelFor(_ count: Int, threads: Int, _ body: (Range<Int>, Int) -> Void) {
    let workers = max(1, min(threads, count))
    if workers == 1 { body(0..<count, 0); return }
    withoutActuallyEscaping(body) { escapable in
        let shared = UncheckedSendable(escapable)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let start = count * w / workers, end = count * (w + 1) / workers
            if start < end { shared.value(start..<end, w) }
        }
    }
}

/// Hands a value to worker threads that use disjoint parts of what it points to.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// A 2-D convolution over NHWC data (1-D runs as height 1). Weights stay in Keras' HWIO
/// order, which is already the GEMM's `[kh·kw·cin/g, cout]` matrix. Three paths:
/// 1×1 stride-1 convolutions are one GEMM on the input itself; convolutions with few
/// inputs per output (a first layer on gray images) run directly, vectorised over output
/// channels; the rest build im2col rows a cache-sized tile at a time and multiply each tile
/// with sgemm, applying the epilogue to the tile while it is hot.
struct ConvolutionKernel {
    var kernel: [Int]        // kh, kw
    var strides: [Int]
    var dilations: [Int]
    var padding: Padding
    var groups: Int
    var inChannels: Int
    var outChannels: Int
    var weights: [Float]     // kh·kw·(cin/g)·cout
    var epilogue = Epilogue()
    /// A fused max pooling (window = stride, valid): `outShape` is then the pooled shape.
    var maxPool: [Int]? = nil
    /// oneDNN's primitives for this convolution (nil: the kernels below run).
    var accelerated: DNNLConvolution? = DNNLConvolution.enabled ? DNNLConvolution() : nil

    /// Rows of im2col per tile: about 256 KB of columns, so a tile stays in L2.
    static let tileBytes = Int(ProcessInfo.processInfo.environment["MODELPORT_TILE_KB"] ?? "") .map { $0 * 1024 } ?? 256 * 1024

    func run(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], threads: Int) {
        if let accelerated, accelerated.run(self, x, shape: shape, y, outShape: outShape, threads: threads) { return }
        if let pool = maxPool {
            runPooled(x, shape: shape, y, pooledShape: outShape, pool: pool, threads: threads)
            return
        }
        let n = shape[0]
        let geometry = self.geometry(shape: shape, outShape: outShape)
        let (h, w, oh, ow, kh, kw) = (geometry.h, geometry.w, geometry.oh, geometry.ow, geometry.kh, geometry.kw)
        let (padTop, padLeft) = (geometry.padTop, geometry.padLeft)
        let cinG = inChannels / groups, coutG = outChannels / groups
        let k = kh * kw * cinG
        let pixels = oh * ow
        let direct = groups == 1 && k <= 32 && outChannels % 16 == 0
        let pointwise = kh == 1 && kw == 1 && strides == [1, 1] && padTop == 0 && padLeft == 0 && groups == 1
        let tileRows = direct ? max(1, ow) : max(16, Self.tileBytes / (4 * max(k, 1)))
        // Work is split into (image, tile of output rows) units spread over the threads, each with
        // single-threaded BLAS: that scales a batch of one too, where threaded BLAS on small GEMMs did not.
        let tilesPerImage = (pixels + tileRows - 1) / tileRows
        let units = n * tilesPerImage
        let workers = max(1, min(threads, units))
        BLAS.setThreads(workers > 1 ? 1 : threads)
        weights.withUnsafeBufferPointer { wp in
            parallelFor(units, threads: workers) { range, _ in
                var columns = direct || pointwise ? [] : [Float](repeating: 0, count: min(tileRows, pixels) * k)
                columns.withUnsafeMutableBufferPointer { cols in
                    for unit in range {
                        let image = unit / tilesPerImage
                        let r0 = (unit % tilesPerImage) * tileRows
                        let rows = min(tileRows, pixels - r0)
                        let xImage = x.baseAddress! + image * h * w * inChannels
                        let yImage = y.baseAddress! + image * pixels * outChannels
                        if direct {
                            // tileRows == ow: one output row per unit.
                            directConvolution(xImage, geometry, wp.baseAddress!, yImage, outputRows: (r0 / ow)..<((r0 + rows) / ow))
                        } else if pointwise {
                            BLAS.gemm(m: rows, n: outChannels, k: inChannels, a: xImage + r0 * inChannels, lda: inChannels,
                                      b: wp.baseAddress!, ldb: outChannels, c: yImage + r0 * outChannels, ldc: outChannels)
                            epilogue.apply(yImage + r0 * outChannels, rows: rows, channels: outChannels)
                        } else {
                            for g in 0..<groups {
                                Self.im2col(xImage, geometry, channelOffset: g * cinG, channels: cinG, rows: r0..<(r0 + rows), into: cols.baseAddress!)
                                BLAS.gemm(m: rows, n: coutG, k: k, a: cols.baseAddress!, lda: k, b: wp.baseAddress! + g * coutG, ldb: outChannels,
                                          c: yImage + r0 * outChannels + g * coutG, ldc: outChannels)
                            }
                            epilogue.apply(yImage + r0 * outChannels, rows: rows, channels: outChannels)
                        }
                    }
                }
            }
        }
    }

    /// Convolution then max pooling, a band of `pool[0]` convolution rows at a time: the band is
    /// computed into a small buffer (im2col + sgemm, or the direct kernel), gets its epilogue,
    /// and only the pooled row is written out.
    func runPooled(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>, pooledShape: [Int], pool: [Int], threads: Int) {
        let (n, h, w) = (shape[0], shape[1], shape[2])
        let (kh, kw) = (kernel[0], kernel[1])
        let oh = padding.outputLength(axis: 0, spatialRank: 2, input: h, window: kh, stride: strides[0], dilation: dilations[0]) ?? 0
        let ow = padding.outputLength(axis: 1, spatialRank: 2, input: w, window: kw, stride: strides[1], dilation: dilations[1]) ?? 0
        let (ph, pw) = (pooledShape[1], pooledShape[2])
        let (padTop, _) = padding.pads(axis: 0, spatialRank: 2, input: h, window: kh, stride: strides[0], dilation: dilations[0])
        let (padLeft, _) = padding.pads(axis: 1, spatialRank: 2, input: w, window: kw, stride: strides[1], dilation: dilations[1])
        let cinG = inChannels / groups, coutG = outChannels / groups, k = kh * kw * cinG
        let geometry = Geometry(h: h, w: w, c: inChannels, kh: kh, kw: kw, strides: strides, dilations: dilations,
                                padTop: padTop, padLeft: padLeft, oh: oh, ow: ow)
        let direct = groups == 1 && k <= 32 && outChannels % 16 == 0
        let bandRows = pool[0], bandPixels = pool[0] * ow
        let units = n * ph
        let workers = max(1, min(threads, units))
        BLAS.setThreads(workers > 1 ? 1 : threads)
        let c = outChannels
        weights.withUnsafeBufferPointer { wp in
            parallelFor(units, threads: workers) { range, _ in
                var band = [Float](repeating: 0, count: bandPixels * c)
                var columns = direct ? [] : [Float](repeating: 0, count: bandPixels * k)
                band.withUnsafeMutableBufferPointer { bp in
                    columns.withUnsafeMutableBufferPointer { cols in
                        for unit in range {
                            let image = unit / ph, py = unit % ph
                            let xImage = x.baseAddress! + image * h * w * inChannels
                            let firstRow = py * bandRows
                            if direct {
                                // The direct kernel writes rows at their image position; shift the base so the band lands at 0.
                                directConvolution(xImage, geometry, wp.baseAddress!, bp.baseAddress! - firstRow * ow * c,
                                                  outputRows: firstRow..<(firstRow + bandRows))
                            } else {
                                let r0 = firstRow * ow
                                for g in 0..<groups {
                                    Self.im2col(xImage, geometry, channelOffset: g * cinG, channels: cinG, rows: r0..<(r0 + bandPixels), into: cols.baseAddress!)
                                    BLAS.gemm(m: bandPixels, n: coutG, k: k, a: cols.baseAddress!, lda: k, b: wp.baseAddress! + g * coutG, ldb: c,
                                              c: bp.baseAddress! + g * coutG, ldc: c)
                                }
                                epilogue.apply(bp.baseAddress!, rows: bandPixels, channels: c)
                            }
                            let out = y.baseAddress! + ((image * ph + py) * pw) * c
                            for px in 0..<pw {
                                let dst = out + px * c
                                dst.update(from: bp.baseAddress! + px * pool[1] * c, count: c)
                                for r in 0..<bandRows {
                                    for q in 0..<pool[1] where r > 0 || q > 0 {
                                        let src = bp.baseAddress! + (r * ow + px * pool[1] + q) * c
                                        for ch in 0..<c { dst[ch] = max(dst[ch], src[ch]) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    struct Geometry {
        var h, w, c, kh, kw: Int
        var strides, dilations: [Int]
        var padTop, padLeft, oh, ow: Int
    }

    /// The geometry of this convolution on NHWC `shape` giving `outShape` (the leading pads of `padding`).
    func geometry(shape: [Int], outShape: [Int]) -> Geometry {
        let (h, w) = (shape[1], shape[2])
        let (kh, kw) = (kernel[0], kernel[1])
        let (padTop, _) = padding.pads(axis: 0, spatialRank: 2, input: h, window: kh, stride: strides[0], dilation: dilations[0])
        let (padLeft, _) = padding.pads(axis: 1, spatialRank: 2, input: w, window: kw, stride: strides[1], dilation: dilations[1])
        return Geometry(h: h, w: w, c: inChannels, kh: kh, kw: kw, strides: strides, dilations: dilations,
                        padTop: padTop, padLeft: padLeft, oh: outShape[1], ow: outShape[2])
    }

    /// im2col rows for output pixels `rows` (row-major over the output), zeros outside the image.
    static func im2col(_ x: UnsafePointer<Float>, _ g: Geometry, channelOffset: Int, channels: Int, rows: Range<Int>,
                       into cols: UnsafeMutablePointer<Float>) {
        let k = g.kh * g.kw * channels
        let (sy, sx, dy, dx) = (g.strides[0], g.strides[1], g.dilations[0], g.dilations[1])
        for p in rows {
            let oy = p / g.ow, ox = p % g.ow
            var dst = cols + (p - rows.lowerBound) * k
            for i in 0..<g.kh {
                let iy = oy * sy + i * dy - g.padTop
                if iy < 0 || iy >= g.h {
                    dst.update(repeating: 0, count: g.kw * channels)
                    dst += g.kw * channels
                    continue
                }
                let rowBase = x + iy * g.w * g.c + channelOffset
                for j in 0..<g.kw {
                    let ix = ox * sx + j * dx - g.padLeft
                    if ix >= 0 && ix < g.w {
                        dst.update(from: rowBase + ix * g.c, count: channels)
                    } else {
                        dst.update(repeating: 0, count: channels)
                    }
                    dst += channels
                }
            }
        }
    }

    /// Direct convolution for small `kh·kw·cin`: for each output pixel and each block of 16
    /// output channels, one vector accumulates every tap, then the epilogue runs on the row.
    func directConvolution(_ x: UnsafePointer<Float>, _ g: Geometry, _ wp: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                           outputRows: Range<Int>) {
        let blocks = outChannels / 16
        let cin = inChannels
        let (sy, sx, dy, dx) = (g.strides[0], g.strides[1], g.dilations[0], g.dilations[1])
        let weights = UnsafeRawPointer(wp)
        let rowStride = outChannels * 4
        for oy in outputRows {
            // Kernel rows inside the image for this output row.
            let iStart = max(0, (g.padTop - oy * sy + dy - 1) / dy), iEnd = min(g.kh, (g.h + g.padTop - oy * sy + dy - 1) / dy)
            for ox in 0..<g.ow {
                let jStart = max(0, (g.padLeft - ox * sx + dx - 1) / dx), jEnd = min(g.kw, (g.w + g.padLeft - ox * sx + dx - 1) / dx)
                let out = UnsafeMutableRawPointer(y + (oy * g.ow + ox) * outChannels)
                for v in 0..<blocks {
                    var acc = SIMD16<Float>.zero
                    var i = iStart
                    while i < iEnd {
                        let iy = oy * sy + i * dy - g.padTop
                        var j = jStart
                        while j < jEnd {
                            let ix = ox * sx + j * dx - g.padLeft
                            let src = x + (iy * g.w + ix) * cin
                            var tapRow = ((i * g.kw + j) * cin) * rowStride + v * 64
                            for ci in 0..<cin {
                                acc += SIMD16<Float>(repeating: src[ci]) * weights.loadUnaligned(fromByteOffset: tapRow, as: SIMD16<Float>.self)
                                tapRow += rowStride
                            }
                            j += 1
                        }
                        i += 1
                    }
                    out.storeBytes(of: acc, toByteOffset: v * 64, as: SIMD16<Float>.self)
                }
            }
            epilogue.apply(y + oy * g.ow * outChannels, rows: g.ow, channels: outChannels)
        }
    }
}

/// Depthwise convolution over NHWC: each input channel with its own `multiplier` filters.
struct DepthwiseKernel {
    var kernel: [Int]
    var strides: [Int]
    var dilations: [Int]
    var padding: Padding
    var channels: Int
    var multiplier: Int
    var weights: [Float]   // kh, kw, c, m
    var epilogue = Epilogue()
    /// oneDNN's primitives (a convolution with one group per channel), or nil.
    var accelerated: DNNLConvolution? = DNNLConvolution.enabled ? DNNLConvolution() : nil

    func run(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], threads: Int) {
        if let accelerated {
            // [kh, kw, c, m] is oneDNN's grouped `hwigo` with c groups of one input and m outputs.
            let grouped = ConvolutionKernel(kernel: kernel, strides: strides, dilations: dilations, padding: padding, groups: channels,
                                            inChannels: channels, outChannels: channels * multiplier, weights: weights, epilogue: epilogue,
                                            accelerated: nil)
            if accelerated.run(grouped, x, shape: shape, y, outShape: outShape, threads: threads) { return }
        }
        let (n, h, w) = (shape[0], shape[1], shape[2])
        let (oh, ow) = (outShape[1], outShape[2])
        let (kh, kw) = (kernel[0], kernel[1])
        let (padTop, _) = padding.pads(axis: 0, spatialRank: 2, input: h, window: kh, stride: strides[0], dilation: dilations[0])
        let (padLeft, _) = padding.pads(axis: 1, spatialRank: 2, input: w, window: kw, stride: strides[1], dilation: dilations[1])
        let c = channels, m = multiplier, co = c * m
        y.update(repeating: 0)
        weights.withUnsafeBufferPointer { wp in
            parallelFor(n * oh, threads: threads) { rows, _ in
                for r in rows {
                    let image = r / oh, oy = r % oh
                    let xi = x.baseAddress! + image * h * w * c
                    let yRow = y.baseAddress! + (image * oh + oy) * ow * co
                    for ox in 0..<ow {
                        let out = yRow + ox * co
                        for i in 0..<kh {
                            let iy = oy * strides[0] + i * dilations[0] - padTop
                            if iy < 0 || iy >= h { continue }
                            for j in 0..<kw {
                                let ix = ox * strides[1] + j * dilations[1] - padLeft
                                if ix < 0 || ix >= w { continue }
                                let src = xi + (iy * w + ix) * c
                                let wk = wp.baseAddress! + (i * kw + j) * co
                                if m == 1 {
                                    for ch in 0..<c { out[ch] += src[ch] * wk[ch] }
                                } else {
                                    for ch in 0..<c {
                                        let v = src[ch]
                                        for q in 0..<m { out[ch * m + q] += v * wk[ch * m + q] }
                                    }
                                }
                            }
                        }
                    }
                    epilogue.apply(yRow, rows: ow, channels: co)
                }
            }
        }
    }
}
