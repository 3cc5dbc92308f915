import Dispatch
import ModelIR

/// A 2-D convolution over NHWC data (1-D runs as height 1), lowered to im2col + sgemm.
/// Weights are kept as Keras' HWIO, which is already the GEMM's `[kh·kw·cin/g, cout]` matrix.
struct ConvolutionKernel {
    var kernel: [Int]        // kh, kw
    var strides: [Int]
    var dilations: [Int]
    var padding: Padding
    var groups: Int
    var inChannels: Int
    var outChannels: Int
    var weights: [Float]     // kh·kw·(cin/g)·cout
    var bias: [Float]?
    var activation: Activation?

    func run(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int]) {
        let (n, h, w) = (shape[0], shape[1], shape[2])
        let (oh, ow) = (outShape[1], outShape[2])
        let (kh, kw) = (kernel[0], kernel[1])
        let (padTop, _) = padding.pads(axis: 0, spatialRank: 2, input: h, window: kh, stride: strides[0], dilation: dilations[0])
        let (padLeft, _) = padding.pads(axis: 1, spatialRank: 2, input: w, window: kw, stride: strides[1], dilation: dilations[1])
        let cinG = inChannels / groups, coutG = outChannels / groups
        let k = kh * kw * cinG
        let pixels = oh * ow
        let pointwise = kh == 1 && kw == 1 && strides == [1, 1] && padTop == 0 && padLeft == 0 && groups == 1
        var columns = pointwise ? [] : [Float](repeating: 0, count: pixels * k)
        weights.withUnsafeBufferPointer { wp in
            columns.withUnsafeMutableBufferPointer { cols in
                for image in 0..<n {
                    let xImage = x.baseAddress! + image * h * w * inChannels
                    let yImage = y.baseAddress! + image * pixels * outChannels
                    for g in 0..<groups {
                        let a: UnsafePointer<Float>
                        let lda: Int
                        if pointwise {
                            a = UnsafePointer(xImage)
                            lda = inChannels
                        } else {
                            Self.im2col(xImage, h: h, w: w, c: inChannels, channelOffset: g * cinG, channels: cinG,
                                        kh: kh, kw: kw, strides: strides, dilations: dilations, padTop: padTop, padLeft: padLeft,
                                        oh: oh, ow: ow, into: cols.baseAddress!)
                            a = UnsafePointer(cols.baseAddress!)
                            lda = k
                        }
                        BLAS.gemm(m: pixels, n: coutG, k: k, a: a, lda: lda, b: wp.baseAddress! + g * coutG, ldb: outChannels,
                                  c: yImage + g * coutG, ldc: outChannels)
                    }
                    Self.epilogue(UnsafeMutableBufferPointer(start: yImage, count: pixels * outChannels), channels: outChannels,
                                  bias: bias, activation: activation)
                }
            }
        }
    }

    /// Rows of `kh·kw·channels` input values, one per output pixel, zeros where the window leaves the image.
    static func im2col(_ x: UnsafePointer<Float>, h: Int, w: Int, c: Int, channelOffset: Int, channels: Int,
                       kh: Int, kw: Int, strides: [Int], dilations: [Int], padTop: Int, padLeft: Int,
                       oh: Int, ow: Int, into cols: UnsafeMutablePointer<Float>) {
        let k = kh * kw * channels
        for oy in 0..<oh {
            for ox in 0..<ow {
                var dst = cols + (oy * ow + ox) * k
                for i in 0..<kh {
                    let iy = oy * strides[0] + i * dilations[0] - padTop
                    for j in 0..<kw {
                        let ix = ox * strides[1] + j * dilations[1] - padLeft
                        if iy >= 0, iy < h, ix >= 0, ix < w {
                            dst.update(from: x + (iy * w + ix) * c + channelOffset, count: channels)
                        } else {
                            dst.update(repeating: 0, count: channels)
                        }
                        dst += channels
                    }
                }
            }
        }
    }

    /// Bias and activation over `[pixels, channels]` in one pass.
    static func epilogue(_ y: UnsafeMutableBufferPointer<Float>, channels: Int, bias: [Float]?, activation: Activation?) {
        if let bias {
            bias.withUnsafeBufferPointer { b in
                var i = 0
                while i < y.count {
                    for c in 0..<channels { y[i + c] += b[c] }
                    i += channels
                }
            }
        }
        if let activation { ActivationKernel.apply(activation, y) }
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
    var bias: [Float]?
    var activation: Activation?

    func run(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int]) {
        let (n, h, w) = (shape[0], shape[1], shape[2])
        let (oh, ow) = (outShape[1], outShape[2])
        let (kh, kw) = (kernel[0], kernel[1])
        let (padTop, _) = padding.pads(axis: 0, spatialRank: 2, input: h, window: kh, stride: strides[0], dilation: dilations[0])
        let (padLeft, _) = padding.pads(axis: 1, spatialRank: 2, input: w, window: kw, stride: strides[1], dilation: dilations[1])
        let c = channels, m = multiplier, co = c * m
        y.update(repeating: 0)
        weights.withUnsafeBufferPointer { wp in
            for image in 0..<n {
                let xi = x.baseAddress! + image * h * w * c
                let yi = y.baseAddress! + image * oh * ow * co
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let out = yi + (oy * ow + ox) * co
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
                }
            }
        }
        ConvolutionKernel.epilogue(y, channels: co, bias: bias, activation: activation)
    }
}

/// Transposed convolution over NHWC (Keras kernel `kh, kw, out, in`): a GEMM to per-pixel
/// contributions, scattered into the output (col2im).
struct TransposedConvolutionKernel {
    var kernel: [Int]
    var strides: [Int]
    var dilations: [Int]
    var padding: Padding
    var inChannels: Int
    var outChannels: Int
    /// Rearranged to `[cin, kh·kw·cout]`.
    var weights: [Float]
    var bias: [Float]?
    var activation: Activation?

    init(attributes a: TransposedConvolution, inChannels: Int, kernel k: [Float], bias: [Float]?, activation: Activation?) {
        let ks = a.kernelSize.count == 1 ? [1, a.kernelSize[0]] : a.kernelSize
        kernel = ks
        strides = a.strides.count == 1 ? [1, a.strides[0]] : a.strides
        dilations = a.dilations.count == 1 ? [1, a.dilations[0]] : a.dilations
        padding = a.padding
        self.inChannels = inChannels
        outChannels = a.filters
        let taps = ks[0] * ks[1]
        var w = [Float](repeating: 0, count: inChannels * taps * a.filters)
        for t in 0..<taps {
            for o in 0..<a.filters {
                for i in 0..<inChannels { w[i * taps * a.filters + t * a.filters + o] = k[(t * a.filters + o) * inChannels + i] }
            }
        }
        weights = w
        self.bias = bias
        self.activation = activation
    }

    func run(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int]) {
        let (n, h, w) = (shape[0], shape[1], shape[2])
        let (oh, ow) = (outShape[1], outShape[2])
        let (kh, kw) = (kernel[0], kernel[1])
        // TensorFlow pads as the forward 'same' convolution from the output size to the input size would.
        func padBefore(_ input: Int, _ output: Int, _ k: Int, _ s: Int, _ d: Int) -> Int {
            guard padding != .valid else { return 0 }
            let effective = (k - 1) * d + 1
            return max((input - 1) * s + effective - output, 0) / 2
        }
        let pt = padBefore(h, oh, kh, strides[0], dilations[0]), pl = padBefore(w, ow, kw, strides[1], dilations[1])
        let cols = kh * kw * outChannels
        var contributions = [Float](repeating: 0, count: h * w * cols)
        y.update(repeating: 0)
        weights.withUnsafeBufferPointer { wp in
            contributions.withUnsafeMutableBufferPointer { cp in
                for image in 0..<n {
                    let xi = x.baseAddress! + image * h * w * inChannels
                    let yi = y.baseAddress! + image * oh * ow * outChannels
                    BLAS.gemm(m: h * w, n: cols, k: inChannels, a: xi, lda: inChannels, b: wp.baseAddress!, ldb: cols,
                              c: cp.baseAddress!, ldc: cols)
                    for iy in 0..<h {
                        for ix in 0..<w {
                            let src = cp.baseAddress! + (iy * w + ix) * cols
                            for i in 0..<kh {
                                let oy = iy * strides[0] + i * dilations[0] - pt
                                if oy < 0 || oy >= oh { continue }
                                for j in 0..<kw {
                                    let ox = ix * strides[1] + j * dilations[1] - pl
                                    if ox < 0 || ox >= ow { continue }
                                    let dst = yi + (oy * ow + ox) * outChannels
                                    let s = src + (i * kw + j) * outChannels
                                    for c in 0..<outChannels { dst[c] += s[c] }
                                }
                            }
                        }
                    }
                }
            }
        }
        ConvolutionKernel.epilogue(y, channels: outChannels, bias: bias, activation: activation)
    }
}
