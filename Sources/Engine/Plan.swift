import ModelIR

/// What one step computes, with its weights already converted and arranged for the kernel.
enum Kernel {
    case dense(weights: [Float], units: Int, epilogue: Epilogue)
    case convolution(ConvolutionKernel)
    case depthwise(DepthwiseKernel)
    case pooling(PoolingKernel)
    case poolingND(NDPoolingKernel)
    case globalPooling(Pooling.Kind)
    /// `y = x·scale + shift` along `axis` (inference BatchNormalization).
    case affine(scale: [Float], shift: [Float], axis: Int)
    case activation(Activation)
    /// Same data, new shape (Flatten, Reshape).
    case reshape
    case transpose([Int])
    case place(zeroFill: Bool)
    case upsample(bilinear: Bool)
    case rescale(scale: Float, offset: Float)
    case elementwise(ElementwiseFunction)
    case unary(UnaryFunction)
    case reduce(ReduceFunction, axes: [Int], keepDims: Bool)
    case concatenate(axis: Int)
    case axisMap(AxisMap, fill: Float)
    case resize(Resize)
    case imageResize(ImageResize)
    case matMul
    case maxPoolIndices(NDPoolingKernel, columnMajor: Bool)
    case argReduce(largest: Bool, axis: Int, selectLast: Bool)
    case batchShape(offsets: [Int], factors: [Int])
    /// A kernel of an op family defined in one place (`EngineFamily`).
    case family(any FamilyKernel)
}

/// One kernel applied to value slots.
struct Step {
    var name: String
    /// The source layer or node it computes, for errors.
    var layer: String
    var inputs: [Int]
    /// One slot per output of the node (most have one; Split, TopK have several).
    var outputs: [Int]
    var output: Int { outputs[0] }
    /// The element type of each output: integer and bool values an op computes (not copies) are
    /// checked to be exact in float32.
    var outputTypes: [DType] = []
    var computesValues: Bool { !shapeOp.traits.contains(.copiesValues) }
    var kernel: Kernel
    /// The IR op whose shape rule gives this step's output shape.
    var shapeOp: Op
    /// The shape rule's arguments: a data input's runtime shape, or a weight's fixed shape.
    var shapeArguments: [ShapeArgument]
    /// A max pooling fused into a convolution: applied to `shapeOp`'s output shape.
    var fusedPool: Op? = nil
}

enum ShapeArgument {
    case data(Int)
    case fixed(Shape?)
}

/// Builds the steps of a graph: channels-last rewrite, then (when optimising) BatchNormalization
/// folded into the convolution or Dense before it and activations fused into their producer.
struct Planner {
    let graph: Graph
    let optimize: Bool
    /// The first node that reads each value as its data input, and the graph outputs, for fusion.
    var firstReader: [String: Int] = [:]
    var graphOutputs = Set<String>()
    var slots: [String: Int] = [:]
    var aliases: [String: String] = [:]
    var constants: [Int: HostTensor] = [:]
    var steps: [Step] = []
    let parameters: [String: Parameter]

    init(graph: Graph, optimize: Bool) {
        self.graph = ChannelsLastPass.run(graph)
        self.optimize = optimize
        parameters = Dictionary(self.graph.parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    mutating func slot(_ name: String) -> Int {
        let resolved = resolve(name)
        if let s = slots[resolved] { return s }
        let s = slots.count
        slots[resolved] = s
        if let p = parameters[resolved] { constants[s] = HostTensor(p.tensor) }
        return s
    }

    func resolve(_ name: String) -> String {
        var n = name
        while let a = aliases[n] { n = a }
        return n
    }

    func floats(_ name: String) -> [Float]? {
        guard !name.isEmpty, let p = parameters[resolve(name)] else { return nil }
        return p.tensor.floats()
    }

    mutating func build() throws {
        let g = graph
        var consumers: [String: Int] = [:]
        for node in g.nodes { for i in node.inputs where !i.isEmpty { consumers[i, default: 0] += 1 } }
        for o in g.outputs { consumers[o, default: 0] += 1 }
        // Dictionaries, not scans: graphs come with 10^5 nodes.
        for (j, node) in g.nodes.enumerated() { if let first = node.inputs.first, firstReader[first] == nil { firstReader[first] = j } }
        graphOutputs = Set(g.outputs)
        let shapes: [String: Shape]
        do { shapes = try g.verify() } catch let e as GraphError { throw EngineError.graph(e) }
        let types = g.valueTypes()
        var consumed = Set<Int>()
        // A ZeroPadding2D read only by a valid-padded 2-D convolution becomes that convolution's
        // explicit padding (MobileNet's stride-2 blocks): the padded copy is never made.
        var padded: [Int: Node] = [:]
        if optimize {
            var producer: [String: Int] = [:]
            for (j, node) in g.nodes.enumerated() { for o in node.outputs { producer[o] = j } }
            for (index, node) in g.nodes.enumerated() {
                guard let x = node.inputs.first, let j = producer[x], consumers[x] == 1, !graphOutputs.contains(x),
                      case .zeroPadding(let pads, .channelsLast) = g.nodes[j].op, pads.count == 2, shapes[x]?.rank == 4,
                      let fused = node.op.withZeroPadding(pads) else { continue }
                var n = node
                n.op = fused
                n.inputs[0] = g.nodes[j].inputs[0]
                padded[index] = n
                consumed.insert(j)
            }
        }

        for (index, original) in g.nodes.enumerated() where !consumed.contains(index) {
            let node = padded[index] ?? original
            if node.op.traits.contains(.passThroughAtInference) {
                aliases[node.outputs[0]] = resolve(node.inputs[0])
                continue
            }
            var output = node.outputs[0]
            var kernel = try makeKernel(node, shapes: shapes)
            var fusedPool: Op?
            // Fold a following BatchNormalization into the weights, fuse a following activation,
            // then a BatchNormalization after the activation as a per-channel affine epilogue.
            if optimize && node.outputs.count == 1 {
                var next = followingNode(of: output, consumers: consumers, nodes: g.nodes)
                if let (j, bn) = next, case .batchNormalization(let axis, let eps, _) = bn.op, (shapes[output]?.rank).map({ axis == $0 - 1 }) == true,
                   let folded = fold(kernel, bn: bn, epsilon: eps) {
                    kernel = folded
                    consumed.insert(j)
                    output = bn.outputs[0]
                    next = followingNode(of: output, consumers: consumers, nodes: g.nodes)
                }
                if let (j, act) = next, case .activation(let a) = act.op, isFusable(a), let fused = fuse(kernel, a) {
                    kernel = fused
                    consumed.insert(j)
                    output = act.outputs[0]
                    next = followingNode(of: output, consumers: consumers, nodes: g.nodes)
                    if let (j, bn) = next, case .batchNormalization(let axis, let eps, _) = bn.op, (shapes[output]?.rank).map({ axis == $0 - 1 }) == true,
                       let affine = postAffine(kernel, bn: bn, epsilon: eps) {
                        kernel = affine
                        consumed.insert(j)
                        output = bn.outputs[0]
                    }
                }
                // A max pooling with non-overlapping windows right after a 2-D convolution pools
                // each tile while it is in cache, so the full-size activation is never written.
                let after = followingNode(of: output, consumers: consumers, nodes: g.nodes)
                if let (j, pool) = after, case .pooling(let p) = pool.op, p.kind == .max, p.padding == .valid, p.strides == p.poolSize, p.isUndilated,
                   p.poolSize.count == 2, p.layout == .channelsLast, case .convolution(var k) = kernel, shapes[output]?.rank == 4 {
                    k.maxPool = p.poolSize
                    kernel = .convolution(k)
                    consumed.insert(j)
                    output = pool.outputs[0]
                    fusedPool = pool.op
                }
            }
            var inputSlots: [Int] = []
            var arguments: [ShapeArgument] = []
            for name in node.inputs {
                if name.isEmpty {
                    arguments.append(.fixed(nil))
                } else if let p = parameters[resolve(name)], !isDataOperand(node, name) {
                    arguments.append(.fixed(Shape(p.tensor.shape.map { Optional($0) })))
                } else {
                    arguments.append(.data(inputSlots.count))
                    inputSlots.append(slot(name))
                }
            }
            // An output the graph leaves unnamed (an ONNX optional output) still gets a slot of its own.
            let others = node.outputs.indices.dropFirst().map { slot(node.outputName($0)) }
            steps.append(Step(name: node.name, layer: node.layer ?? node.name, inputs: inputSlots, outputs: [slot(output)] + others,
                              outputTypes: ([output] + node.outputs.dropFirst()).map { types[$0] ?? .float32 }, kernel: kernel,
                              shapeOp: node.op, shapeArguments: arguments, fusedPool: fusedPool))
        }
    }

    /// Parameters that are data operands (a constant in `x * 2.0`, a stored first input) rather than weights.
    func isDataOperand(_ node: Node, _ name: String) -> Bool {
        // The first input is always the data a kernel reads, even when it is stored (a Transpose
        // or Pad of a constant an ONNX graph did not fold).
        if name == node.inputs.first { return true }
        switch node.op {
        case .elementwise, .concatenate, .matMul: return parameters[resolve(name)] != nil
        case .family(let f):
            guard let e = f.base as? any EngineFamily else { return false }
            return node.inputs.indices.contains { node.inputs[$0] == name && e.readsAsData(input: $0) }
        case .dense, .convolution, .depthwiseConvolution, .pooling, .globalPooling, .batchNormalization, .activation, .dropout,
             .augmentation, .imageResize, .flatten, .reshape, .reshapeAll, .transpose, .zeroPadding, .cropping,
             .slice, .upSampling, .rescaling, .unary, .reduce, .identity, .stridedSlice, .expand, .batchShape, .tile,
             .pad, .resize, .maxPoolIndices, .argReduce:
            return false
        }
    }

    func followingNode(of value: String, consumers: [String: Int], nodes: [Node]) -> (Int, Node)? {
        guard consumers[value] == 1, !graphOutputs.contains(value) else { return nil }
        guard let j = firstReader[value] else { return nil }
        return (j, nodes[j])
    }

    func isFusable(_ a: Activation) -> Bool {
        switch a {
        case .softmax, .logSoftmax: return false
        default: return true
        }
    }

    func fuse(_ kernel: Kernel, _ a: Activation) -> Kernel? {
        switch kernel {
        case .dense(let w, let u, var e):
            guard e.activation == nil, e.postScale == nil else { return nil }
            e.activation = a
            return .dense(weights: w, units: u, epilogue: e)
        case .convolution(var k):
            guard k.epilogue.activation == nil, k.epilogue.postScale == nil else { return nil }
            k.epilogue.activation = a
            return .convolution(k)
        case .depthwise(var k):
            guard k.epilogue.activation == nil, k.epilogue.postScale == nil else { return nil }
            k.epilogue.activation = a
            return .depthwise(k)
        case .family(let k): return k.fusing(a).map { .family($0) }
        case .pooling, .poolingND, .globalPooling, .affine, .activation, .reshape, .transpose, .place, .upsample, .rescale,
             .elementwise, .unary, .reduce, .concatenate, .axisMap, .resize, .imageResize, .matMul, .maxPoolIndices,
             .argReduce, .batchShape:
            return nil
        }
    }

    /// Inference BatchNormalization as `scale, shift` per channel (TensorFlow's formula).
    func batchNormAffine(_ bn: Node, epsilon: Float) -> (scale: [Float], shift: [Float], mean: [Float], beta: [Float])? {
        guard let mean = floats(bn.inputs[3]), let variance = floats(bn.inputs[4]) else { return nil }
        let n = mean.count
        let gamma = floats(bn.inputs[1]) ?? [Float](repeating: 1, count: n)
        let beta = floats(bn.inputs[2]) ?? [Float](repeating: 0, count: n)
        let scale = (0..<n).map { gamma[$0] / (variance[$0] + epsilon).squareRoot() }
        let shift = (0..<n).map { beta[$0] - mean[$0] * scale[$0] }
        return (scale, shift, mean, beta)
    }

    /// A BatchNormalization after the activation, applied in the epilogue.
    func postAffine(_ kernel: Kernel, bn: Node, epsilon: Float) -> Kernel? {
        guard let (scale, shift, _, _) = batchNormAffine(bn, epsilon: epsilon) else { return nil }
        switch kernel {
        case .dense(let w, let u, var e):
            guard u == scale.count else { return nil }
            e.postScale = scale; e.postShift = shift
            return .dense(weights: w, units: u, epilogue: e)
        case .convolution(var k):
            guard k.outChannels == scale.count else { return nil }
            k.epilogue.postScale = scale; k.epilogue.postShift = shift
            return .convolution(k)
        case .depthwise(var k):
            guard k.channels * k.multiplier == scale.count else { return nil }
            k.epilogue.postScale = scale; k.epilogue.postShift = shift
            return .depthwise(k)
        case .pooling, .poolingND, .globalPooling, .affine, .activation, .reshape, .transpose, .place, .upsample, .rescale,
             .elementwise, .unary, .reduce, .concatenate, .axisMap, .resize, .imageResize, .matMul, .maxPoolIndices,
             .argReduce, .batchShape, .family:
            return nil
        }
    }

    /// Folds inference BatchNormalization into the weights of the kernel before it.
    func fold(_ kernel: Kernel, bn: Node, epsilon: Float) -> Kernel? {
        guard let (scale, _, mean, beta) = batchNormAffine(bn, epsilon: epsilon) else { return nil }
        let n = scale.count
        func foldBias(_ b: [Float]?) -> [Float] { (0..<n).map { ((b?[$0] ?? 0) - mean[$0]) * scale[$0] + beta[$0] } }
        func scaleColumns(_ w: [Float]) -> [Float] { w.enumerated().map { $0.element * scale[$0.offset % n] } }
        switch kernel {
        case .dense(let w, let u, var e):
            guard e.activation == nil, u == n else { return nil }
            e.bias = foldBias(e.bias)
            return .dense(weights: scaleColumns(w), units: u, epilogue: e)
        case .convolution(var k):
            guard k.epilogue.activation == nil, k.outChannels == n else { return nil }
            k.weights = scaleColumns(k.weights); k.epilogue.bias = foldBias(k.epilogue.bias)
            return .convolution(k)
        case .depthwise(var k):
            guard k.epilogue.activation == nil, k.channels * k.multiplier == n else { return nil }
            k.weights = scaleColumns(k.weights); k.epilogue.bias = foldBias(k.epilogue.bias)
            return .depthwise(k)
        case .pooling, .poolingND, .globalPooling, .affine, .activation, .reshape, .transpose, .place, .upsample, .rescale,
             .elementwise, .unary, .reduce, .concatenate, .axisMap, .resize, .imageResize, .matMul, .maxPoolIndices,
             .argReduce, .batchShape, .family:
            return nil
        }
    }

    func makeKernel(_ node: Node, shapes: [String: Shape]) throws -> Kernel {
        let layer = node.layer ?? node.name
        let inShape = shapes[node.inputs[0]] ?? Shape([])
        func two(_ a: [Int], _ fill: Int) -> [Int] { a.count == 1 ? [fill, a[0]] : a }
        func twoPadding(_ p: Padding) -> Padding {
            if case .explicit(let v) = p, v.count == 2 { return .explicit([0, v[0], 0, v[1]]) }
            return p
        }
        switch node.op {
        case .dense(let units):
            guard let w = floats(node.inputs[1]) else { throw EngineError.unsupported(layer: layer, reason: "Dense needs a constant kernel") }
            return .dense(weights: w, units: units, epilogue: Epilogue(bias: node.inputs.count > 2 ? floats(node.inputs[2]) : nil))
        case .convolution(let c):
            guard c.kernelSize.count <= 2, var w = floats(node.inputs[1]), let cin = inShape.dims.last ?? nil else {
                throw EngineError.unsupported(layer: layer, reason: "only 1-D and 2-D convolutions with constant kernels run")
            }
            let taps = c.kernelSize.reduce(1, *), cinG = cin / c.groups
            if c.kernelLayout == .outInSpatial {
                // ONNX's [out, in/g, spatial…] to Keras' [spatial…, in/g, out], the GEMM's layout.
                var hwio = [Float](repeating: 0, count: w.count)
                for o in 0..<c.filters { for i in 0..<cinG { for t in 0..<taps { hwio[(t * cinG + i) * c.filters + o] = w[(o * cinG + i) * taps + t] } } }
                w = hwio
            }
            let bias = node.inputs.count > 2 ? floats(node.inputs[2]) : nil
            if c.groups > 1, c.groups == cin, c.filters % cin == 0 {
                // One group per input channel is a depthwise convolution: [kh, kw, 1, c·m] is already [kh, kw, c, m].
                return .depthwise(DepthwiseKernel(kernel: two(c.kernelSize, 1), strides: two(c.strides, 1), dilations: two(c.dilations, 1),
                                                  padding: twoPadding(c.padding), channels: cin, multiplier: c.filters / cin, weights: w,
                                                  epilogue: Epilogue(bias: bias)))
            }
            return .convolution(ConvolutionKernel(kernel: two(c.kernelSize, 1), strides: two(c.strides, 1), dilations: two(c.dilations, 1),
                                                  padding: twoPadding(c.padding), groups: c.groups, inChannels: cin, outChannels: c.filters,
                                                  weights: w, epilogue: Epilogue(bias: bias)))
        case .depthwiseConvolution(let c):
            guard c.kernelSize.count <= 2, let w = floats(node.inputs[1]), let cin = inShape.dims.last ?? nil else {
                throw EngineError.unsupported(layer: layer, reason: "only 1-D and 2-D depthwise convolutions run")
            }
            return .depthwise(DepthwiseKernel(kernel: two(c.kernelSize, 1), strides: two(c.strides, 1), dilations: two(c.dilations, 1),
                                              padding: twoPadding(c.padding), channels: cin, multiplier: c.depthMultiplier, weights: w,
                                              epilogue: Epilogue(bias: node.inputs.count > 2 ? floats(node.inputs[2]) : nil)))
        case .pooling(let p) where p.poolSize.count > 2 || !p.isUndilated:
            return .poolingND(NDPoolingKernel(pooling: p))
        case .pooling(let p):
            return .pooling(PoolingKernel(kind: p.kind, size: two(p.poolSize, 1), strides: two(p.strides, 1), padding: twoPadding(p.padding),
                                          countIncludePad: p.countIncludePad))
        case .globalPooling(let kind, _, _):
            return .globalPooling(kind)
        case .batchNormalization(let axis, let eps, _):
            guard let (scale, shift, _, _) = batchNormAffine(node, epsilon: eps) else {
                throw EngineError.unsupported(layer: layer, reason: "BatchNormalization needs constant statistics")
            }
            return .affine(scale: scale, shift: shift, axis: axis)
        case .activation(let a): return .activation(a)
        case .flatten, .reshape, .reshapeAll: return .reshape
        case .transpose(let p): return .transpose(p)
        case .zeroPadding: return .place(zeroFill: true)
        case .cropping, .slice: return .place(zeroFill: false)
        case .upSampling(let size, let interpolation, _):
            guard size.count == 2 || size.count == 1 else { throw EngineError.unsupported(layer: layer, reason: "3-D up-sampling does not run yet") }
            return .upsample(bilinear: interpolation == "bilinear")
        case let .rescaling(s, o): return .rescale(scale: s, offset: o)
        case .elementwise(let f): return .elementwise(f)
        case .unary(let f): return .unary(f)
        case let .reduce(f, axes, keep): return .reduce(f, axes: axes, keepDims: keep)
        case .concatenate(let axis): return .concatenate(axis: axis)
        case .dropout, .augmentation, .identity: return .reshape
        case .imageResize(let r): return .imageResize(r)
        case let .stridedSlice(starts, ends, steps, axes): return .axisMap(.stridedSlice(starts: starts, ends: ends, steps: steps, axes: axes), fill: 0)
        case let .pad(pads, mode, value): return .axisMap(.pad(pads: pads, mode: mode), fill: value)
        case .expand: return .axisMap(.expand, fill: 0)
        case .tile: return .axisMap(.tile, fill: 0)
        case .resize(let r): return .resize(r)
        case .matMul: return .matMul
        case let .batchShape(offsets, factors): return .batchShape(offsets: offsets, factors: factors)
        case let .argReduce(largest, axis, _, selectLast): return .argReduce(largest: largest, axis: axis < 0 ? axis + inShape.rank : axis, selectLast: selectLast)
        case let .maxPoolIndices(p, columnMajor): return .maxPoolIndices(NDPoolingKernel(pooling: p), columnMajor: columnMajor)
        case .family(let f):
            let parameters = self.parameters
            return .family(try f.engine(node).lower(node, inputShape: inShape, constant: { parameters[resolve($0)]?.tensor }))
        }
    }
}

extension Op {
    /// This convolution reading through a ZeroPadding2D of `pads` ([[top, bottom], [left, right]]),
    /// as one convolution with explicit padding; nil unless it is a channels-last 2-D convolution
    /// or depthwise convolution with valid padding.
    func withZeroPadding(_ pads: [[Int]]) -> Op? {
        guard pads.allSatisfy({ $0.count == 2 }) else { return nil }
        let explicit = Padding.explicit([pads[0][0], pads[1][0], pads[0][1], pads[1][1]])
        if case .convolution(var c) = self, c.padding == .valid, c.layout == .channelsLast, c.kernelSize.count == 2 {
            c.padding = explicit
            return .convolution(c)
        }
        if case .depthwiseConvolution(var c) = self, c.padding == .valid, c.layout == .channelsLast, c.kernelSize.count == 2 {
            c.padding = explicit
            return .depthwiseConvolution(c)
        }
        return nil
    }
}
