import Foundation
import ModelIR

extension TrainingSession {
    /// Gradients of a node's inputs (nil where not wanted) from its output gradient `dy`.
    // swiftlint:disable:next function_body_length cyclomatic_complexity
    func backward(_ node: Node, index: Int, dy: [Float], wanted: [Bool]) throws -> [[Float]?] {
        let layer = node.layer ?? node.name
        guard let x = input(node.inputs[0]), let y = values[node.outputs[0]] else { throw EngineError.missingInput(node.inputs[0]) }
        let threads = options.threads
        var grads = [[Float]?](repeating: nil, count: node.inputs.count)
        func zeros(_ i: Int) -> [Float]? {
            guard i < wanted.count, wanted[i], let v = input(node.inputs[i]) else { return nil }
            return buffer(v.count, zeroed: true)
        }
        /// Runs `body` with the input gradient buffer of input 0 (every element of which it writes) and stores it.
        func dataGradient(_ body: (UnsafeMutableBufferPointer<Float>) -> Void) {
            guard wanted[0] else { return }
            var dx = buffer(x.count, zeroed: false)
            dx.withUnsafeMutableBufferPointer { body($0) }
            grads[0] = dx
        }
        switch node.op {
        case .dense(let units):
            guard let w = input(node.input(at: 1)) else { throw EngineError.missingInput(node.input(at: 1)) }
            let inputs = x.shape.last ?? 1
            var dx = zeros(0), dw = zeros(1), db = node.inputs.count > 2 ? zeros(2) : nil
            x.data.withUnsafeBufferPointer { xp in w.data.withUnsafeBufferPointer { wp in dy.withUnsafeBufferPointer { dyp in
                withOptionalMutable(&dx) { dxp in withOptionalMutable(&dw) { dwp in withOptionalMutable(&db) { dbp in
                    LinearGradients.backward(xp, rows: x.count / max(inputs, 1), inputs: inputs, weights: wp, units: units, dy: dyp,
                                             dx: dxp, dw: dwp, db: dbp, threads: threads)
                } } }
            } } }
            grads[0] = dx; if grads.count > 1 { grads[1] = dw }
            if grads.count > 2 { grads[2] = db }
        case .matMul:
            guard let b = input(node.input(at: 1)), b.shape.count == 2 else {
                throw EngineError.notTrainable(layer: layer, reason: "MatMul trains only by a matrix")
            }
            var dx = zeros(0), dw = zeros(1)
            var none: [Float]? = nil
            x.data.withUnsafeBufferPointer { xp in b.data.withUnsafeBufferPointer { wp in dy.withUnsafeBufferPointer { dyp in
                withOptionalMutable(&dx) { dxp in withOptionalMutable(&dw) { dwp in withOptionalMutable(&none) { _ in
                    LinearGradients.backward(xp, rows: x.count / b.shape[0], inputs: b.shape[0], weights: wp, units: b.shape[1], dy: dyp,
                                             dx: dxp, dw: dwp, db: nil, threads: threads)
                } } }
            } } }
            grads[0] = dx; if grads.count > 1 { grads[1] = dw }
        case .convolution(let c):
            guard let k = convolutions[index] else { throw EngineError.missingInput(node.input(at: 1)) }
            var dx = zeros(0), db = node.inputs.count > 2 ? zeros(2) : nil
            var dw = [Float](repeating: 0, count: k.weights.count)
            x.data.withUnsafeBufferPointer { xp in dy.withUnsafeBufferPointer { dyp in dw.withUnsafeMutableBufferPointer { dwp in
                withOptionalMutable(&dx) { dxp in withOptionalMutable(&db) { dbp in
                    k.backward(xp, shape: Self.fourD(x.shape), dyp, outShape: Self.fourD(y.shape), dx: dxp, dw: dwp, db: dbp, threads: threads,
                               accelerated: backwardConvolution(index))
                } }
            } } }
            if c.kernelLayout == .outInSpatial {
                dw = KernelOrder.fromHWIO(dw, out: c.filters, inPerGroup: k.inChannels / c.groups, taps: c.kernelSize.reduce(1, *))
            }
            grads[0] = dx
            if wanted.count > 1, wanted[1] { grads[1] = dw }
            if grads.count > 2 { grads[2] = db }
        case .depthwiseConvolution:
            guard let k = depthwise[index] else { throw EngineError.missingInput(node.input(at: 1)) }
            var dx = zeros(0), db = node.inputs.count > 2 ? zeros(2) : nil
            var dw = [Float](repeating: 0, count: k.weights.count)
            x.data.withUnsafeBufferPointer { xp in dy.withUnsafeBufferPointer { dyp in dw.withUnsafeMutableBufferPointer { dwp in
                withOptionalMutable(&dx) { dxp in withOptionalMutable(&db) { dbp in
                    k.backward(xp, shape: Self.fourD(x.shape), dyp, outShape: Self.fourD(y.shape), dx: dxp, dw: dwp, db: dbp)
                } }
            } } }
            grads[0] = dx
            if wanted.count > 1, wanted[1] { grads[1] = dw }
            if grads.count > 2 { grads[2] = db }
        case .pooling(let p):
            let k = Self.poolingKernel(p)
            x.data.withUnsafeBufferPointer { xp in dy.withUnsafeBufferPointer { dyp in
                dataGradient { k.backward(xp, shape: Self.fourD(x.shape), dyp, outShape: Self.fourD(y.shape), $0, threads: threads) }
            } }
        case .globalPooling(let kind, _, _):
            x.data.withUnsafeBufferPointer { xp in dy.withUnsafeBufferPointer { dyp in
                dataGradient { GlobalPoolingGradients.backward(kind, xp, shape: x.shape, dy: dyp, $0) }
            } }
        case .batchNormalization(let axis, _, _):
            guard case .normalized(let xhat, let invStd)? = saved[index] else { throw EngineError.missingInput(node.outputs[0]) }
            let a = axis < 0 ? axis + x.shape.count : axis
            var dgamma = zeros(1), dbeta = zeros(2)
            var dx: [Float]? = wanted[0] ? buffer(x.count, zeroed: false) : nil
            let gamma = floats(node.input(at: 1))
            let training = batchNormIsTraining(node, training: lastTraining)
            dy.withUnsafeBufferPointer { dyp in xhat.withUnsafeBufferPointer { hp in
                withOptionalMutable(&dx) { dxp in withOptionalMutable(&dgamma) { gp in withOptionalMutable(&dbeta) { bp in
                    if training {
                        NormalizationGradients.batchNormBackward(dyp, xhat: hp, shape: x.shape, axis: a, invStd: invStd, gamma: gamma, dx: dxp,
                                                                 dgamma: gp, dbeta: bp, tensorflowOrder: options.tensorflowReductions,
                                                                 threads: threads)
                    } else {
                        NormalizationGradients.affineBackward(dyp, xhat: hp, shape: x.shape, axis: a, invStd: invStd, gamma: gamma, dx: dxp,
                                                              dgamma: gp, dbeta: bp)
                    }
                } } }
            } }
            if grads.count > 2 { grads[0] = dx; grads[1] = dgamma; grads[2] = dbeta }
        case .family(let f):
            grads = try f.engine(node).trainingBackward(node, index: index, x: x, dys: [dy], wanted: wanted, session: self)
        case .activation(let a):
            let normalized: Activation
            switch a {
            case .softmax(let axis): normalized = .softmax(axis: axis < 0 ? axis + x.shape.count : axis)
            case .logSoftmax(let axis): normalized = .logSoftmax(axis: axis < 0 ? axis + x.shape.count : axis)
            case .linear, .relu, .leakyRelu, .elu, .selu, .sigmoid, .hardSigmoid, .hardSwish, .tanh, .softplus, .softsign, .swish,
                 .gelu, .exponential, .clip:
                normalized = a
            }
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeBufferPointer { yp in dy.withUnsafeBufferPointer { dyp in
                dataGradient { dx in
                    switch normalized {
                    case .softmax, .logSoftmax:
                        ActivationKernel.backward(normalized, x: xp, y: yp, shape: x.shape, dy: dyp, dx)
                    case .linear, .relu, .leakyRelu, .elu, .selu, .sigmoid, .hardSigmoid, .hardSwish, .tanh, .softplus, .softsign, .swish,
                         .gelu, .exponential, .clip:
                        // Elementwise: slices of the tensor over the threads.
                        let shared = UncheckedSendable((xp, yp, dyp, dx))
                        let chunks = max(1, min(threads, x.count / 65_536))
                        parallelFor(chunks, threads: chunks) { range, _ in
                            let (xp, yp, dyp, dx) = shared.value
                            for chunk in range {
                                let lo = x.count * chunk / chunks, hi = x.count * (chunk + 1) / chunks
                                ActivationKernel.backward(normalized, x: UnsafeBufferPointer(rebasing: xp[lo..<hi]),
                                                          y: UnsafeBufferPointer(rebasing: yp[lo..<hi]),
                                                          shape: [hi - lo], dy: UnsafeBufferPointer(rebasing: dyp[lo..<hi]),
                                                          UnsafeMutableBufferPointer(rebasing: dx[lo..<hi]))
                            }
                        }
                    }
                }
            } } }
        case .dropout:
            var dx = dy
            if case .noise(let noise)? = saved[index], case .multiply(let m) = noise { for i in 0..<dx.count { dx[i] *= m[i] } }
            grads[0] = dx
        case .augmentation(let a):
            if lastTraining, augmentedInTraining(a) {
                throw EngineError.notTrainable(layer: layer, reason: "gradients do not flow back through an active \(a.kind.rawValue)")
            }
            grads[0] = dy
        case .flatten, .reshape, .reshapeAll, .identity:
            grads[0] = dy
        case .transpose(let permutation):
            dy.withUnsafeBufferPointer { dyp in dataGradient { TensorKernels.transposeBackward(dyp, outShape: y.shape, permutation: permutation, $0) } }
        case .zeroPadding(let pads, _):
            let offsets = Self.placeOffsets(pads, rank: x.shape.count, sign: 1)
            dy.withUnsafeBufferPointer { dyp in dataGradient { TensorKernels.placeBackward(dyp, outShape: y.shape, offsets: offsets, $0, shape: x.shape) } }
        case .cropping(let crops, _):
            let offsets = Self.placeOffsets(crops, rank: x.shape.count, sign: -1)
            dy.withUnsafeBufferPointer { dyp in dataGradient { TensorKernels.placeBackward(dyp, outShape: y.shape, offsets: offsets, $0, shape: x.shape) } }
        case let .slice(starts, _, axes):
            var offsets = [Int](repeating: 0, count: x.shape.count)
            for (s, a) in zip(starts, axes) { offsets[a < 0 ? a + x.shape.count : a] = -s }
            dy.withUnsafeBufferPointer { dyp in dataGradient { TensorKernels.placeBackward(dyp, outShape: y.shape, offsets: offsets, $0, shape: x.shape) } }
        case .upSampling:
            dy.withUnsafeBufferPointer { dyp in
                dataGradient { TensorKernels.upsampleNearestBackward(dyp, outShape: Self.fourD(y.shape), $0, shape: Self.fourD(x.shape)) }
            }
        case .rescaling(let scale, _):
            grads[0] = dy.map { $0 * scale }
        case .elementwise(let f):
            let operands = try node.inputs.map { name -> HostTensor in
                guard let v = input(name) else { throw EngineError.missingInput(name) }
                return v
            }
            if ElementwiseKernels.isDifferentiable(f) {
                grads = dy.withUnsafeBufferPointer { ElementwiseKernels.backward(f, operands, outShape: y.shape, dy: $0, wanted: wanted) }
            }
        case .unary(let f):
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeBufferPointer { yp in dy.withUnsafeBufferPointer { dyp in
                dataGradient { ElementwiseKernels.unaryBackward(f, x: xp, y: yp, dy: dyp, $0) }
            } } }
        case let .reduce(f, axes, _):
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeBufferPointer { yp in dy.withUnsafeBufferPointer { dyp in
                dataGradient { ElementwiseKernels.reduceBackward(f, x: xp, y: yp, shape: x.shape, axes: axes, dy: dyp, $0) }
            } } }
        case .concatenate(let axis):
            let shapes = node.inputs.map { input($0)?.shape ?? [] }
            let a = axis < 0 ? axis + y.shape.count : axis
            let parts = dy.withUnsafeBufferPointer { TensorKernels.concatenateBackward($0, outShape: y.shape, axis: a, shapes: shapes) }
            for (i, p) in parts.enumerated() where wanted[i] { grads[i] = p }
        case .imageResize:
            throw EngineError.notTrainable(layer: layer, reason: "Resizing has no gradient in ModelPort yet (put trainable layers after it)")
        case .stridedSlice, .expand, .batchShape, .tile, .pad, .resize, .maxPoolIndices, .argReduce:
            throw EngineError.notTrainable(layer: layer, reason: "\(node.op.displayName) has no gradient in ModelPort yet")
        }
        return grads
    }

    func augmentedInTraining(_ a: Augmentation) -> Bool {
        switch a.kind {
        case .flip, .contrast, .rotation, .zoom, .translation, .brightness: return true
        case .crop: return false
        }
    }
}

/// Gives `body` a mutable buffer over an optional array, or nil.
func withOptionalMutable<R>(_ a: inout [Float]?, _ body: (UnsafeMutableBufferPointer<Float>?) -> R) -> R {
    guard var array = a else { return body(nil) }
    a = nil  // the only reference: writing through the buffer must not copy it
    let r = array.withUnsafeMutableBufferPointer { body($0) }
    a = array
    return r
}
