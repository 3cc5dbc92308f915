import Foundation
import ModelIR

/// The forward and backward step of every op in training; the arithmetic is in the kernels'
/// files (`Kernels/*Gradients.swift`). Every switch lists every `Op`: a new op must say here
/// whether and how it trains.
extension TrainingSession {
    /// Refuses, at planning time, ops training cannot run, naming the layer.
    static func checkTrainable(_ node: Node) throws {
        let layer = node.layer ?? node.name
        func refuse(_ reason: String) throws { throw EngineError.notTrainable(layer: layer, reason: reason) }
        switch node.op {
        case .dense, .depthwiseConvolution, .globalPooling, .batchNormalization, .activation, .augmentation,
             .flatten, .reshape, .reshapeAll, .transpose, .zeroPadding, .cropping, .slice, .rescaling, .unary, .reduce, .concatenate,
             .identity, .imageResize, .elementwise, .matMul:
            return
        case .convolution(let c):
            if c.kernelSize.count > 2 { try refuse("only 1-D and 2-D convolutions train") }
        case .pooling(let p):
            if p.poolSize.count > 2 || !p.isUndilated || p.ceilMode { try refuse("only undilated 1-D and 2-D pooling without ceil_mode trains") }
        case .family(let f): try f.engine(node).checkTrainable(node)
        case .dropout(let kind, let rate):
            if rate > 0, !DropoutKernels.isKnown(kind), kind != "ActivityRegularization" { try refuse("\(kind) is not implemented in training") }
        case .upSampling(_, let interpolation, _):
            if interpolation != "nearest" { try refuse("only nearest up-sampling trains") }
        case .stridedSlice, .expand, .batchShape, .tile, .pad, .resize, .maxPoolIndices, .argReduce:
            try refuse("\(node.op.displayName) has no gradient in ModelPort yet")
        }
    }

    func shapes(_ node: Node) -> [Shape?] {
        node.inputs.map { name in input(name).map { Shape($0.shape.map { Optional($0) }) } }
    }

    func outputShape(_ node: Node) throws -> [Int] { try outputShapes(node)[0] }

    /// The shapes of every output of `node` for the current values.
    func outputShapes(_ node: Node) throws -> [[Int]] {
        do {
            return try node.op.outputShapes(shapes(node)).map { $0.dims.map { $0 ?? 0 } }
        } catch {
            throw EngineError.unsupported(layer: node.layer ?? node.name, reason: (error as? ShapeError)?.message ?? "\(error)")
        }
    }

    /// Spatial geometry as the 2-D kernels see it: 1-D ops run with height 1.
    static func two(_ a: [Int], _ fill: Int) -> [Int] { a.count == 1 ? [fill, a[0]] : a }
    static func twoPadding(_ p: Padding) -> Padding {
        if case .explicit(let v) = p, v.count == 2 { return .explicit([0, v[0], 0, v[1]]) }
        return p
    }
    static func fourD(_ shape: [Int]) -> [Int] { shape.count == 3 ? [shape[0], 1, shape[1], shape[2]] : shape }

    func floats(_ name: String) -> [Float]? { name.isEmpty ? nil : input(name)?.data }

    func convolutionKernel(_ node: Node, index: Int, _ c: Convolution, inChannels: Int) -> ConvolutionKernel {
        let taps = c.kernelSize.reduce(1, *)
        var w = floats(node.input(at: 1)) ?? []
        if c.kernelLayout == .outInSpatial { w = KernelOrder.toHWIO(w, out: c.filters, inPerGroup: inChannels / c.groups, taps: taps) }
        let bias = node.inputs.count > 2 ? floats(node.input(at: 2)) : nil
        let relu: Activation? = reluFused.contains(index) ? .relu() : nil
        if var k = convolutions[index] {
            k.weights = w
            k.epilogue.bias = bias
            if let acc = k.accelerated, !acc.update(k) {
                k.accelerated = DNNLConvolution()
                k.accelerated?.allowsWinograd = Self.trainingWinograd
            }
            convolutions[index] = k
            return k
        }
        let k = ConvolutionKernel(kernel: Self.two(c.kernelSize, 1), strides: Self.two(c.strides, 1), dilations: Self.two(c.dilations, 1),
                                  padding: Self.twoPadding(c.padding), groups: c.groups, inChannels: inChannels, outChannels: c.filters,
                                  weights: w, epilogue: Epilogue(bias: bias, activation: relu))
        // Direct convolutions only: with Winograd's rounding the seed model's one-step Adam update
        // missed tf_keras's by 1.8e-5 (RMSprop 1.4e-4), without it by 1.1e-5.
        k.accelerated?.allowsWinograd = Self.trainingWinograd
        convolutions[index] = k
        return k
    }

    /// `MODELPORT_TRAIN_WINOGRAD=1` trades Keras parity for speed.
    static let trainingWinograd = ProcessInfo.processInfo.environment["MODELPORT_TRAIN_WINOGRAD"] == "1"

    func depthwiseKernel(_ node: Node, index: Int, _ c: DepthwiseConvolution, channels: Int) -> DepthwiseKernel {
        let w = floats(node.input(at: 1)) ?? []
        let bias = node.inputs.count > 2 ? floats(node.input(at: 2)) : nil
        if var k = depthwise[index] {
            k.weights = w
            k.epilogue.bias = bias
            if let acc = k.accelerated {
                let grouped = ConvolutionKernel(kernel: k.kernel, strides: k.strides, dilations: k.dilations, padding: k.padding, groups: channels,
                                                inChannels: channels, outChannels: channels * k.multiplier, weights: w, epilogue: k.epilogue,
                                                accelerated: nil)
                if !acc.update(grouped) { k.accelerated = DNNLConvolution() }
            }
            depthwise[index] = k
            return k
        }
        let k = DepthwiseKernel(kernel: Self.two(c.kernelSize, 1), strides: Self.two(c.strides, 1), dilations: Self.two(c.dilations, 1),
                                padding: Self.twoPadding(c.padding), channels: channels, multiplier: c.depthMultiplier, weights: w,
                                epilogue: Epilogue(bias: bias))
        depthwise[index] = k
        return k
    }

    static func poolingKernel(_ p: Pooling) -> PoolingKernel {
        PoolingKernel(kind: p.kind, size: two(p.poolSize, 1), strides: two(p.strides, 1), padding: twoPadding(p.padding),
                      countIncludePad: p.countIncludePad)
    }

    /// Offsets of `place` for padding (positive) or cropping (negative) the spatial axes of NHWC.
    static func placeOffsets(_ pairs: [[Int]], rank: Int, sign: Int) -> [Int] {
        var offsets = [Int](repeating: 0, count: rank)
        for (i, p) in pairs.enumerated() where i + 1 < rank { offsets[i + 1] = sign * (p.first ?? 0) }
        return offsets
    }

    func batchNormIsTraining(_ node: Node, training: Bool) -> Bool {
        training && !options.inferenceBatchNormalization.contains(node.name) && !options.inferenceBatchNormalization.contains(node.layer ?? "")
    }

    // swiftlint:disable:next function_body_length cyclomatic_complexity
    func forward(_ node: Node, index: Int, training: Bool) throws -> HostTensor {
        guard let x = input(node.inputs[0]) else { throw EngineError.missingInput(node.inputs[0]) }
        let outShape = try outputShape(node)
        let threads = options.threads
        // Only zero padding relies on a zeroed output; every other step writes all of it.
        var zeroed = false
        if case .zeroPadding = node.op { zeroed = true }
        var y = HostTensor(shape: outShape, data: buffer(outShape.reduce(1, *), zeroed: zeroed))
        let layer = node.layer ?? node.name
        switch node.op {
        case .dense(let units):
            let inputs = x.shape.last ?? 1
            guard let w = input(node.input(at: 1)) else { throw EngineError.missingInput(node.input(at: 1)) }
            let bias = node.inputs.count > 2 ? floats(node.input(at: 2)) : nil
            x.data.withUnsafeBufferPointer { xp in w.data.withUnsafeBufferPointer { wp in y.data.withUnsafeMutableBufferPointer { yp in
                LinearGradients.forward(xp, rows: x.count / max(inputs, 1), inputs: inputs, weights: wp, units: units, bias: bias, yp, threads: threads)
            } } }
        case .matMul:
            guard let b = input(node.input(at: 1)), b.shape.count == 2, x.shape.count >= 2 else {
                throw EngineError.notTrainable(layer: layer, reason: "MatMul trains only by a matrix")
            }
            x.data.withUnsafeBufferPointer { xp in b.data.withUnsafeBufferPointer { wp in y.data.withUnsafeMutableBufferPointer { yp in
                LinearGradients.forward(xp, rows: x.count / b.shape[0], inputs: b.shape[0], weights: wp, units: b.shape[1], bias: nil, yp,
                                        threads: threads)
            } } }
        case .convolution(let c):
            let k = convolutionKernel(node, index: index, c, inChannels: x.shape.last ?? 1)
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
                k.run(xp, shape: Self.fourD(x.shape), yp, outShape: Self.fourD(outShape), threads: threads)
            } }
        case .depthwiseConvolution(let c):
            let k = depthwiseKernel(node, index: index, c, channels: x.shape.last ?? 1)
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
                k.run(xp, shape: Self.fourD(x.shape), yp, outShape: Self.fourD(outShape), threads: threads)
            } }
        case .pooling(let p):
            let k = Self.poolingKernel(p)
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
                k.run(xp, shape: Self.fourD(x.shape), yp, outShape: Self.fourD(outShape), threads: threads)
            } }
        case .globalPooling(let kind, _, _):
            x.data.withUnsafeBufferPointer { xp in
                y.data.withUnsafeMutableBufferPointer { yp in GlobalPoolingGradients.forward(kind, xp, shape: x.shape, yp) }
            }
        case let .batchNormalization(axis, epsilon, momentum):
            let a = axis < 0 ? axis + x.shape.count : axis
            let gamma = floats(node.input(at: 1)), beta = floats(node.input(at: 2))
            let mean: [Float], variance: [Float]
            if batchNormIsTraining(node, training: training) {
                let stats = x.data.withUnsafeBufferPointer {
                    NormalizationGradients.statistics($0, shape: x.shape, axis: a, tensorflowOrder: options.tensorflowReductions)
                }
                mean = stats.mean
                variance = stats.variance
                updateMovingStatistics(node, stats: stats, momentum: momentum, rank: x.shape.count)
            } else {
                guard let m = floats(node.input(at: 3)), let v = floats(node.input(at: 4)) else { throw EngineError.missingInput(node.input(at: 3)) }
                mean = m
                variance = v
            }
            let invStd = variance.map { 1 / ($0 + epsilon).squareRoot() }
            // x̂ is written in the same pass as y (recomputing it in backward cost a pass more, ~3% of a seed step).
            var xhat = buffer(x.count, zeroed: false)
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in xhat.withUnsafeMutableBufferPointer { hp in
                NormalizationGradients.normalize(xp, shape: x.shape, axis: a, mean: mean, invStd: invStd, gamma: gamma, beta: beta, yp, xhat: hp,
                                                 threads: threads)
            } } }
            saved[index] = .normalized(xhat: xhat, invStd: invStd)
        case .family(let f):
            var outputs = [y]
            try f.engine(node).trainingForward(node, index: index, x: x, outputs: &outputs, session: self)
            y = outputs[0]
        case .activation(let a):
            if index > 0, reluFused.contains(index - 1) {
                recycle(y.data)
                return x  // the convolution before applied it
            }
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in yp.update(fromContentsOf: xp) } }
            y.data.withUnsafeMutableBufferPointer { yp in
                switch a {
                case .softmax(let axis): ActivationKernel.softmax(yp, shape: x.shape, axis: axis < 0 ? axis + x.shape.count : axis, log: false)
                case .logSoftmax(let axis): ActivationKernel.softmax(yp, shape: x.shape, axis: axis < 0 ? axis + x.shape.count : axis, log: true)
                case .linear, .relu, .leakyRelu, .elu, .selu, .sigmoid, .hardSigmoid, .hardSwish, .tanh, .softplus, .softsign, .swish,
                     .gelu, .exponential, .clip:
                    ActivationKernel.apply(a, yp)
                }
            }
        case let .dropout(kind, rate):
            y.data = x.data
            if training, let noise = DropoutKernels.noise(kind: kind, rate: rate, shape: x.shape, generator: &generator) {
                switch noise {
                case .multiply(let m): for i in 0..<y.count { y.data[i] *= m[i] }
                case .add(let a): for i in 0..<y.count { y.data[i] += a[i] }
                }
                saved[index] = .noise(noise)
            }
        case .augmentation(let a):
            y.data = x.data
            if training, let augmented = augmented(a, node: node, x: x) { y.data = augmented }
        case .flatten, .reshape, .reshapeAll, .identity:
            y.data = x.data
        case .transpose(let permutation):
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
                TensorKernels.transpose(xp, shape: x.shape, permutation: permutation, yp)
            } }
        case .zeroPadding(let pads, _):
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
                TensorKernels.place(xp, shape: x.shape, into: yp, outShape: outShape, offsets: Self.placeOffsets(pads, rank: x.shape.count, sign: 1))
            } }
        case .cropping(let crops, _):
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
                TensorKernels.place(xp, shape: x.shape, into: yp, outShape: outShape, offsets: Self.placeOffsets(crops, rank: x.shape.count, sign: -1))
            } }
        case let .slice(starts, _, axes):
            var offsets = [Int](repeating: 0, count: x.shape.count)
            for (s, a) in zip(starts, axes) { offsets[a < 0 ? a + x.shape.count : a] = -s }
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
                TensorKernels.place(xp, shape: x.shape, into: yp, outShape: outShape, offsets: offsets)
            } }
        case .upSampling:
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
                TensorKernels.upsample(xp, shape: Self.fourD(x.shape), yp, outShape: Self.fourD(outShape), bilinear: false)
            } }
        case let .rescaling(scale, offset):
            for i in 0..<x.count { y.data[i] = x.data[i] * scale + offset }
        case .elementwise(let f):
            let operands = try node.inputs.map { name -> HostTensor in
                guard let v = input(name) else { throw EngineError.missingInput(name) }
                return v
            }
            y.data.withUnsafeMutableBufferPointer { yp in ElementwiseKernels.run(f, operands, yp, outShape: outShape) }
        case .unary(let f):
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in ElementwiseKernels.unary(f, xp, yp) } }
        case let .reduce(f, axes, keepDims):
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
                ElementwiseKernels.reduce(f, xp, shape: x.shape, axes: axes, keepDims: keepDims, yp)
            } }
        case .concatenate(let axis):
            let operands = try node.inputs.map { name -> HostTensor in
                guard let v = input(name) else { throw EngineError.missingInput(name) }
                return v
            }
            let a = axis < 0 ? axis + outShape.count : axis
            y.data.withUnsafeMutableBufferPointer { yp in
                withBuffers(operands) { buffers in
                    TensorKernels.concatenate(zip(buffers, operands.map(\.shape)).map { ($0, $1) }, axis: a, yp, outShape: outShape)
                }
            }
        case .imageResize(let r):
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in ImageResizeKernel.run(r, xp, shape: x.shape, yp) } }
        case .stridedSlice, .expand, .batchShape, .tile, .pad, .resize, .maxPoolIndices, .argReduce:
            throw EngineError.notTrainable(layer: layer, reason: "\(node.op.displayName) has no gradient in ModelPort yet")
        }
        return y
    }

    /// `moving = moving·momentum + batch·(1 − momentum)`, Keras's update.
    func updateMovingStatistics(_ node: Node, stats: NormalizationGradients.BatchStatistics, momentum: Float, rank: Int) {
        let meanName = node.input(at: 3), varianceName = node.input(at: 4)
        let unbiased: Bool
        switch options.movingVariance {
        case .biased: unbiased = false
        case .unbiasedForImages: unbiased = rank >= 4
        case .unbiased: unbiased = true
        }
        let correction = unbiased && stats.count > 1 ? Float(stats.count) / Float(stats.count - 1) : 1
        if var m = parameters[meanName], m.count == stats.mean.count {
            for i in 0..<m.count { m.data[i] = m.data[i] * momentum + stats.mean[i] * (1 - momentum) }
            parameters[meanName] = m
        }
        if var v = parameters[varianceName], v.count == stats.variance.count {
            for i in 0..<v.count { v.data[i] = v.data[i] * momentum + stats.variance[i] * correction * (1 - momentum) }
            parameters[varianceName] = v
        }
    }

    /// Augmentation in training (`AugmentationKernels`); RandomCrop passes the data through and is
    /// listed by `inactiveAugmentations`.
    func augmented(_ a: Augmentation, node: Node, x: HostTensor) -> [Float]? {
        var range: (Float, Float) = (0, 255)
        if let name = node.layer, let layer = graph.layers.first(where: { $0.name == name }),
           let r = layer.config?["config"]?["value_range"]?.array?.compactMap(\.double), r.count == 2 {
            range = (Float(r[0]), Float(r[1]))
        }
        return AugmentationKernels.apply(a, mode: augmentationMode(node), valueRange: range, x, generator: &generator)
    }

    func augmentationMode(_ node: Node) -> String? {
        guard let name = node.layer, let layer = graph.layers.first(where: { $0.name == name }) else { return nil }
        return layer.config?["config"]?["mode"]?.string
    }

    /// Augmentation layers training passes through unchanged (not implemented yet), by layer name.
    public var inactiveAugmentations: [String] {
        graph.nodes.compactMap { node in
            guard case .augmentation(let a) = node.op else { return nil }
            switch a.kind {
            case .flip, .contrast, .rotation, .zoom, .translation, .brightness: return nil
            case .crop: return "\(a.kind.rawValue) '\(node.layer ?? node.name)'"
            }
        }
    }
}
