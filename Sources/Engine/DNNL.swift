import CDNNL
import Foundation
import ModelIR

/// oneDNN's forward convolutions for one `ConvolutionKernel`: a primitive per (images per call,
/// threads), created on first use (0.8–2.6 ms each) and kept; the weights are reordered once into
/// the layout the implementation picks. Bias, plain ReLU and the per-channel affine of a
/// BatchNormalization after the activation run as post-ops, a fused max pooling as a pooling
/// primitive. Large batches run a few images at a time so each convolution's output stays in
/// cache before it is pooled (`chunkBytes`). `MODELPORT_DNNL=0` turns it off (the built-in kernels run).
final class DNNLConvolution: @unchecked Sendable {
    static let enabled = ProcessInfo.processInfo.environment["MODELPORT_DNNL"] != "0"
    /// The convolution output (before pooling) one call may produce: about the L2 cache.
    static let chunkBytes = Int(ProcessInfo.processInfo.environment["MODELPORT_CHUNK_KB"] ?? "").map { $0 * 1024 } ?? 6144 * 1024
    /// oneDNN's stream and the OpenMP thread count are process-wide: one call at a time.
    static let lock = NSLock()
    /// 3×3 stride-1 convolutions as Winograd F(4,3)/F(2,3) (`MODELPORT_WINOGRAD=0`: direct only).
    static let winograd = ProcessInfo.processInfo.environment["MODELPORT_WINOGRAD"] != "0"

    /// Winograd for this convolution (off in training: its rounding, ~3e-5 relative, is ten times
    /// a direct convolution's, and training near ties amplifies it; see TrainingOps).
    var allowsWinograd = DNNLConvolution.winograd

    struct Key: Hashable { var images: Int, h: Int, w: Int, threads: Int }
    private var primitives: [Key: OpaquePointer?] = [:]
    private(set) var implementation: String?

    /// Gives every primitive made so far `k`'s weights, bias and affine (same shapes; an optimizer
    /// step): one reorder into each primitive's layout, no re-planning. False if one refused.
    func update(_ k: ConvolutionKernel) -> Bool {
        Self.lock.lock()
        defer { Self.lock.unlock() }
        return k.weights.withUnsafeBufferPointer { wp in
            withOptional(k.epilogue.bias) { b in
                withOptional(k.epilogue.postScale) { s in
                    withOptional(k.epilogue.postShift) { t in
                        primitives.values.allSatisfy { p in p.map { mp_conv_update($0, wp.baseAddress, b, s, t) == 0 } ?? true }
                    }
                }
            }
        }
    }

    /// The bounds of an activation that is a clip (ReLU6, a capped ReLU, Clip).
    static func clipRange(_ a: Activation?) -> (Float, Float)? {
        guard let a else { return nil }
        switch a {
        case .relu(let cap?, 0, 0): return (0, cap)    // ReLU6 is relu(maxValue: 6)
        case .clip(let lower, let upper): return (lower, upper)
        case .relu, .linear, .leakyRelu, .elu, .selu, .sigmoid, .hardSigmoid, .hardSwish, .tanh, .softplus, .softsign, .swish,
             .gelu, .exponential, .softmax, .logSoftmax:
            return nil
        }
    }

    deinit { for case let p? in primitives.values { mp_conv_destroy(p) } }

    /// Runs the convolution (and its pooling) with oneDNN; false when oneDNN has no implementation
    /// for it, so the caller runs its own kernel.
    func run(_ k: ConvolutionKernel, _ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>,
             outShape: [Int], threads: Int) -> Bool {
        guard k.kernel.count == 2, shape.count == 4, outShape.count == 4 else { return false }
        // Post-ops cover bias, plain ReLU and the affine; another activation would have to run between them.
        guard k.epilogue.activation == nil || k.epilogue.isPlainRelu || Self.clipRange(k.epilogue.activation) != nil else { return false }
        let (n, h, w) = (shape[0], shape[1], shape[2])
        let (kh, kw) = (k.kernel[0], k.kernel[1])
        let oh = k.padding.outputLength(axis: 0, spatialRank: 2, input: h, window: kh, stride: k.strides[0], dilation: k.dilations[0]) ?? 0
        let ow = k.padding.outputLength(axis: 1, spatialRank: 2, input: w, window: kw, stride: k.strides[1], dilation: k.dilations[1]) ?? 0
        guard n > 0, oh > 0, ow > 0, let xBase = x.baseAddress, let yBase = y.baseAddress else { return false }
        let perImageOut = oh * ow * k.outChannels * 4
        let chunk = max(1, min(n, Self.chunkBytes / max(1, perImageOut + h * w * k.inChannels * 4)))
        let inStride = h * w * k.inChannels, outStride = outShape[1] * outShape[2] * k.outChannels
        Self.lock.lock()
        defer { Self.lock.unlock() }
        mp_dnnl_set_threads(Int32(threads))
        var start = 0
        while start < n {
            let images = min(chunk, n - start)
            // On a refusal the caller's kernel recomputes the whole output, so a partial one does no harm.
            guard let p = primitive(k, images: images, h: h, w: w, oh: oh, ow: ow, pooled: outShape, threads: threads),
                  mp_conv_run(p, xBase + start * inStride, yBase + start * outStride) == 0 else { return false }
            start += images
        }
        return true
    }

    private func primitive(_ k: ConvolutionKernel, images: Int, h: Int, w: Int, oh: Int, ow: Int, pooled: [Int], threads: Int) -> OpaquePointer? {
        let key = Key(images: images, h: h, w: w, threads: threads)
        if let known = primitives[key] { return known }
        var p = Self.parameters(k, images: images, h: h, w: w, oh: oh, ow: ow)
        // Winograd pays only with enough input channels (a gray first layer runs 4× slower with it).
        p.winograd = allowsWinograd && k.inChannels >= 16 ? 1 : 0
        p.relu = k.epilogue.isPlainRelu ? 1 : 0
        if p.relu == 0, let (low, high) = Self.clipRange(k.epilogue.activation) { p.clip = 1; p.clip_low = low; p.clip_high = high }
        if let pool = k.maxPool {
            p.pool = 1; p.pool_h = Int32(pool[0]); p.pool_w = Int32(pool[1]); p.poh = Int32(pooled[1]); p.pow = Int32(pooled[2])
        }
        var message = [CChar](repeating: 0, count: 256)
        let made: OpaquePointer? = k.weights.withUnsafeBufferPointer { wp in
            withOptional(k.epilogue.bias) { b in
                withOptional(k.epilogue.postScale) { s in
                    withOptional(k.epilogue.postShift) { t in
                        mp_conv_create(&p, wp.baseAddress, b, s, t, &message, message.count)
                    }
                }
            }
        }
        if let made { implementation = String(cString: mp_conv_impl(made)) }
        primitives[key] = made
        return made
    }

    /// The shim's description of `k` on images of h × w giving oh × ow.
    static func parameters(_ k: ConvolutionKernel, images: Int, h: Int, w: Int, oh: Int, ow: Int) -> mp_conv_params {
        let (kh, kw) = (k.kernel[0], k.kernel[1])
        let (pt, _) = k.padding.pads(axis: 0, spatialRank: 2, input: h, window: kh, stride: k.strides[0], dilation: k.dilations[0])
        let (pl, _) = k.padding.pads(axis: 1, spatialRank: 2, input: w, window: kw, stride: k.strides[1], dilation: k.dilations[1])
        // The far pads that give exactly oh × ow (negative when the last window leaves inputs unused).
        let pb = (oh - 1) * k.strides[0] + (kh - 1) * k.dilations[0] + 1 - h - pt
        let pr = (ow - 1) * k.strides[1] + (kw - 1) * k.dilations[1] + 1 - w - pl
        var p = mp_conv_params()
        p.n = Int32(images); p.h = Int32(h); p.w = Int32(w); p.ic = Int32(k.inChannels); p.oc = Int32(k.outChannels)
        p.kh = Int32(kh); p.kw = Int32(kw); p.sh = Int32(k.strides[0]); p.sw = Int32(k.strides[1])
        p.dh = Int32(k.dilations[0]); p.dw = Int32(k.dilations[1])
        p.pt = Int32(pt); p.pl = Int32(pl); p.pb = Int32(pb); p.pr = Int32(pr)
        p.groups = Int32(k.groups); p.oh = Int32(oh); p.ow = Int32(ow)
        return p
    }
}

/// oneDNN's backward convolutions for training (data and weights gradients), a primitive pair per
/// (images, shape, threads, whether the data gradient is wanted), made on first use.
final class DNNLConvolutionBackward: @unchecked Sendable {
    struct Key: Hashable { var images: Int, h: Int, w: Int, threads: Int, data: Bool }
    /// Winograd for the backward passes of 3×3 stride-1 convolutions (`MODELPORT_WINOGRAD=0`: off).
    static let winograd = DNNLConvolution.winograd
    private var primitives: [Key: OpaquePointer?] = [:]

    deinit { for case let p? in primitives.values { mp_conv_bwd_destroy(p) } }

    /// `dw` (HWIO) and `db` are overwritten, `dx` written when given. False when oneDNN has none.
    func run(_ k: ConvolutionKernel, _ x: UnsafeBufferPointer<Float>, shape: [Int], _ dy: UnsafeBufferPointer<Float>, outShape: [Int],
             dx: UnsafeMutableBufferPointer<Float>?, dw: UnsafeMutableBufferPointer<Float>, db: UnsafeMutableBufferPointer<Float>?, threads: Int) -> Bool {
        guard k.kernel.count == 2, shape.count == 4, outShape.count == 4 else { return false }
        DNNLConvolution.lock.lock()
        defer { DNNLConvolution.lock.unlock() }
        mp_dnnl_set_threads(Int32(threads))
        let key = Key(images: shape[0], h: shape[1], w: shape[2], threads: threads, data: dx != nil)
        let made: OpaquePointer?
        if let known = primitives[key] {
            made = known
        } else {
            var p = DNNLConvolution.parameters(k, images: shape[0], h: shape[1], w: shape[2], oh: outShape[1], ow: outShape[2])
            p.winograd = DNNLConvolutionBackward.winograd && k.inChannels >= 16 ? 1 : 0
            var message = [CChar](repeating: 0, count: 256)
            made = mp_conv_bwd_create(&p, dx == nil ? 0 : 1, db == nil ? 0 : 1, &message, message.count)
            primitives[key] = made
        }
        guard let made else { return false }
        return k.weights.withUnsafeBufferPointer { wp in
            mp_conv_bwd_run(made, x.baseAddress, wp.baseAddress, dy.baseAddress, dx?.baseAddress, dw.baseAddress, db?.baseAddress) == 0
        }
    }
}

private func withOptional<R>(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let a else { return body(nil) }
    return a.withUnsafeBufferPointer { body($0.baseAddress) }
}
