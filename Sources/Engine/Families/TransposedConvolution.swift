import ModelIR

// Transposed convolution in the engine: lowering (1-D and 2-D through a GEMM and col2im, any rank
// with explicit pads by scattering), its kernels, and its training steps.

extension TransposedConvolution: OneOutputFamily {
    func lower(_ node: Node, inputShape: Shape, constant: (String) -> Tensor?) throws -> any FamilyKernel {
        let layer = node.layer ?? node.name
        guard let w = constant(node.input(at: 1))?.floats(), let cin = inputShape.dims.last ?? nil else {
            throw EngineError.unsupported(layer: layer, reason: "a transposed convolution needs a constant kernel and known input channels")
        }
        let bias = node.input(at: 2).isEmpty ? nil : constant(node.input(at: 2))?.floats()
        if kernelSize.count > 2 {
            guard padding == .valid || { if case .explicit = padding { return true }; return false }() else {
                throw EngineError.unsupported(layer: layer, reason: "3-D transposed convolutions run with explicit pads only")
            }
            return NDTransposedConvolutionKernel(attributes: self, inChannels: cin, weights: w, bias: bias)
        }
        return TransposedConvolutionKernel(attributes: self, inChannels: cin, kernel: w, bias: bias)
    }

    func checkTrainable(_ node: Node) throws {
        if kernelSize.count > 2 {
            throw EngineError.notTrainable(layer: node.layer ?? node.name, reason: "only 1-D and 2-D transposed convolutions train")
        }
    }

    func kernel(_ node: Node, inChannels: Int, session: TrainingSession) -> TransposedConvolutionKernel {
        TransposedConvolutionKernel(attributes: self, inChannels: inChannels, kernel: session.floats(node.input(at: 1)) ?? [],
                                    bias: node.inputs.count > 2 ? session.floats(node.input(at: 2)) : nil)
    }

    func trainingForward(_ node: Node, index: Int, x: HostTensor, y: inout HostTensor, session: TrainingSession) throws {
        let k = kernel(node, inChannels: x.shape.last ?? 1, session: session)
        let threads = session.options.threads, outShape = y.shape
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
            k.run(xp, shape: TrainingSession.fourD(x.shape), yp, outShape: TrainingSession.fourD(outShape), threads: threads)
        } }
    }

    func trainingBackward(_ node: Node, index: Int, x: HostTensor, dy: [Float], wanted: [Bool], session: TrainingSession) throws -> [[Float]?] {
        guard let y = session.values[node.outputs[0]] else { throw EngineError.missingInput(node.outputs[0]) }
        let k = kernel(node, inChannels: x.shape.last ?? 1, session: session)
        var grads = [[Float]?](repeating: nil, count: node.inputs.count)
        var dx: [Float]? = wanted[0] ? session.buffer(x.count, zeroed: true) : nil
        var db: [Float]? = node.inputs.count > 2 && wanted.count > 2 && wanted[2] && !node.inputs[2].isEmpty
            ? [Float](repeating: 0, count: filters) : nil
        var dw = [Float](repeating: 0, count: k.weights.count)
        let threads = session.options.threads
        x.data.withUnsafeBufferPointer { xp in dy.withUnsafeBufferPointer { dyp in dw.withUnsafeMutableBufferPointer { dwp in
            withOptionalMutable(&dx) { dxp in withOptionalMutable(&db) { dbp in
                k.backward(xp, shape: TrainingSession.fourD(x.shape), dyp, outShape: TrainingSession.fourD(y.shape), dx: dxp, dw: dwp, db: dbp,
                           threads: threads)
            } }
        } } }
        grads[0] = dx
        if wanted.count > 1, wanted[1] { grads[1] = k.keras(dw) }
        if grads.count > 2 { grads[2] = db }
        return grads
    }
}

extension TransposedConvolutionKernel: OneOutputKernel {
    var kindName: String { "conv transpose" + epilogue.suffix }

    func run(_ inputs: [HostTensor], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], threads: Int) {
        let x = inputs[0]
        x.data.withUnsafeBufferPointer { xp in
            run(xp, shape: TrainingSession.fourD(x.shape), y, outShape: TrainingSession.fourD(outShape), threads: threads)
        }
    }

    func fusing(_ a: Activation) -> (any FamilyKernel)? {
        guard epilogue.activation == nil, epilogue.postScale == nil else { return nil }
        var k = self
        k.epilogue.activation = a
        return k
    }
}

extension NDTransposedConvolutionKernel: OneOutputKernel {
    var kindName: String { "conv transpose" }

    func run(_ inputs: [HostTensor], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], threads: Int) {
        let x = inputs[0]
        x.data.withUnsafeBufferPointer { xp in run(xp, shape: x.shape, y, outShape: outShape) }
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
    var epilogue = Epilogue()

    init(attributes a: TransposedConvolution, inChannels: Int, kernel k: [Float], bias: [Float]?) {
        let ks = a.kernelSize.count == 1 ? [1, a.kernelSize[0]] : a.kernelSize
        kernel = ks
        strides = a.strides.count == 1 ? [1, a.strides[0]] : a.strides
        dilations = a.dilations.count == 1 ? [1, a.dilations[0]] : a.dilations
        if case .explicit(let p) = a.padding, p.count == 2 { padding = .explicit([0, p[0], 0, p[1]]) } else { padding = a.padding }
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
        epilogue.bias = bias
    }

    /// The top and left pads: TensorFlow pads as the forward 'same' convolution from the output size
    /// to the input size would.
    func leadingPads(shape: [Int], outShape: [Int]) -> (Int, Int) {
        func padBefore(_ input: Int, _ output: Int, _ k: Int, _ s: Int, _ d: Int, axis: Int) -> Int {
            if case .explicit(let p) = padding { return p[axis] }
            guard padding != .valid else { return 0 }
            let effective = (k - 1) * d + 1
            return max((input - 1) * s + effective - output, 0) / 2
        }
        return (padBefore(shape[1], outShape[1], kernel[0], strides[0], dilations[0], axis: 0),
                padBefore(shape[2], outShape[2], kernel[1], strides[1], dilations[1], axis: 1))
    }

    func run(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], threads: Int) {
        let (n, h, w) = (shape[0], shape[1], shape[2])
        let (oh, ow) = (outShape[1], outShape[2])
        let (kh, kw) = (kernel[0], kernel[1])
        let (pt, pl) = leadingPads(shape: shape, outShape: outShape)
        let cols = kh * kw * outChannels
        var contributions = [Float](repeating: 0, count: h * w * cols)
        y.update(repeating: 0)
        BLAS.setThreads(threads)
        weights.withUnsafeBufferPointer { wp in
            contributions.withUnsafeMutableBufferPointer { cp in
                guard let xb = x.baseAddress, let yb = y.baseAddress, let wb = wp.baseAddress, let cb = cp.baseAddress else { return }
                for image in 0..<n {
                    let xi = xb + image * h * w * inChannels
                    let yi = yb + image * oh * ow * outChannels
                    BLAS.gemm(m: h * w, n: cols, k: inChannels, a: xi, lda: inChannels, b: wb, ldb: cols, c: cb, ldc: cols)
                    for iy in 0..<h {
                        for ix in 0..<w {
                            let src = cb + (iy * w + ix) * cols
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
                    epilogue.apply(yi, rows: oh * ow, channels: outChannels)
                }
            }
        }
    }
}

/// Transposed convolution with any number of spatial axes (ONNX ConvTranspose 3-D), on
/// `[N, spatial…, Cin]` with explicit pads: every input element scatters `x · w` to the output
/// positions `in · stride − pad + tap · dilation` inside the output.
struct NDTransposedConvolutionKernel {
    var attributes: TransposedConvolution
    var inChannels: Int
    /// Keras' layout: `[spatial…, out, in]`.
    var weights: [Float]
    var bias: [Float]?

    init(attributes: TransposedConvolution, inChannels: Int, weights: [Float], bias: [Float]?) {
        self.attributes = attributes; self.inChannels = inChannels; self.weights = weights; self.bias = bias
    }

    func run(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int]) {
        let sr = shape.count - 2, cin = inChannels, cout = attributes.filters
        let inSpatial = Array(shape[1...sr]), outSpatial = Array(outShape[1...sr])
        let begins = (0..<sr).map { attributes.padding.pads(axis: $0, spatialRank: sr, input: inSpatial[$0], window: attributes.kernelSize[$0],
                                                            stride: attributes.strides[$0], dilation: attributes.dilations[$0]).0 }
        let inCount = inSpatial.reduce(1, *), outCount = outSpatial.reduce(1, *), taps = attributes.kernelSize.reduce(1, *)
        let outStrides = contiguousStrides(outSpatial)
        for i in 0..<y.count { y[i] = bias.map { $0[i % cout] } ?? 0 }
        guard let xb = x.baseAddress, let yb = y.baseAddress else { return }
        var position = [Int](repeating: 0, count: sr), tap = [Int](repeating: 0, count: sr)
        for image in 0..<shape[0] {
            for p in 0..<inCount {
                var rest = p
                for a in stride(from: sr - 1, through: 0, by: -1) { position[a] = rest % inSpatial[a]; rest /= inSpatial[a] }
                let src = xb + (image * inCount + p) * cin
                for t in 0..<taps {
                    var r = t
                    for a in stride(from: sr - 1, through: 0, by: -1) { tap[a] = r % attributes.kernelSize[a]; r /= attributes.kernelSize[a] }
                    var offset = 0, inside = true
                    for a in 0..<sr {
                        let o = position[a] * attributes.strides[a] - begins[a] + tap[a] * attributes.dilations[a]
                        if o < 0 || o >= outSpatial[a] { inside = false; break }
                        offset += o * outStrides[a]
                    }
                    guard inside else { continue }
                    let dst = yb + (image * outCount + offset) * cout
                    let w = t * cout * cin
                    for co in 0..<cout {
                        var acc: Float = 0
                        for ci in 0..<cin { acc += src[ci] * weights[w + co * cin + ci] }
                        dst[co] += acc
                    }
                }
            }
        }
    }
}

extension TransposedConvolutionKernel {
    /// Gradients of a transposed convolution (no epilogue): the forward pass's per-pixel
    /// contributions `C = x·W` get `dC` gathered from `dy`, then `dx = dC·Wᵀ`, `dW += xᵀ·dC`
    /// (in the kernel's `[cin, kh·kw·cout]` order; `keras(_:)` turns it back into Keras's).
    func backward(_ x: UnsafeBufferPointer<Float>, shape: [Int], _ dy: UnsafeBufferPointer<Float>, outShape: [Int],
                  dx: UnsafeMutableBufferPointer<Float>?, dw: UnsafeMutableBufferPointer<Float>, db: UnsafeMutableBufferPointer<Float>?,
                  threads: Int) {
        let (n, h, w) = (shape[0], shape[1], shape[2])
        let (oh, ow) = (outShape[1], outShape[2])
        let (kh, kw) = (kernel[0], kernel[1])
        let (pt, pl) = leadingPads(shape: shape, outShape: outShape)
        let cols = kh * kw * outChannels
        var contributions = [Float](repeating: 0, count: h * w * cols)
        BLAS.setThreads(threads)
        weights.withUnsafeBufferPointer { wp in
            contributions.withUnsafeMutableBufferPointer { cp in
                guard let cb = cp.baseAddress, let wb = wp.baseAddress, let xb = x.baseAddress, let dyb = dy.baseAddress,
                      let dwb = dw.baseAddress else { return }
                for image in 0..<n {
                    let dyi = dyb + image * oh * ow * outChannels
                    for iy in 0..<h {
                        for ix in 0..<w {
                            let dst = cb + (iy * w + ix) * cols
                            for i in 0..<kh {
                                let oy = iy * strides[0] + i * dilations[0] - pt
                                for j in 0..<kw {
                                    let ox = ix * strides[1] + j * dilations[1] - pl
                                    let d = dst + (i * kw + j) * outChannels
                                    if oy < 0 || oy >= oh || ox < 0 || ox >= ow {
                                        d.update(repeating: 0, count: outChannels)
                                    } else {
                                        d.update(from: dyi + (oy * ow + ox) * outChannels, count: outChannels)
                                    }
                                }
                            }
                        }
                    }
                    let xi = xb + image * h * w * inChannels
                    BLAS.gemm(m: inChannels, n: cols, k: h * w, a: xi, lda: inChannels, b: cb, ldb: cols, c: dwb, ldc: cols,
                              transposeA: true, accumulate: true)
                    if let dxb = dx?.baseAddress {
                        BLAS.gemm(m: h * w, n: inChannels, k: cols, a: cb, lda: cols, b: wb, ldb: cols, c: dxb + image * h * w * inChannels,
                                  ldc: inChannels, transposeB: true)
                    }
                }
            }
        }
        if let db { for p in 0..<(n * oh * ow) { for c in 0..<outChannels { db[c] += dy[p * outChannels + c] } } }
    }

    /// A gradient in the kernel's `[cin, taps·cout]` order back in Keras's `[taps, cout, cin]`.
    func keras(_ g: [Float]) -> [Float] {
        let taps = kernel[0] * kernel[1]
        var k = [Float](repeating: 0, count: g.count)
        for t in 0..<taps { for o in 0..<outChannels { for i in 0..<inChannels {
            k[(t * outChannels + o) * inChannels + i] = g[i * taps * outChannels + t * outChannels + o]
        } } }
        return k
    }
}
