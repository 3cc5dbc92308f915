import ModelIR

/// Why a graph has no Keras equivalent: the node and what Keras lacks.
struct NoKerasEquivalent: Error {
    let message: String
}

extension KerasLayerGraph {
    /// Translates a channels-first graph (ONNX) into channels_last Keras layers. A value of
    /// rank ≥ 3 that is channels-first in the graph is channels-last in Keras (`channelsMoved`);
    /// kernels are transposed to Keras' layout, explicit pads become `same` where TensorFlow
    /// pads the same way and ZeroPadding otherwise, and an op with no Keras layer is refused.
    init(translating graph: Graph) throws {
        var t = IRToKeras(graph: graph)
        try t.run()
        self = t.result.orderedAsKeras()
    }
}

private struct IRToKeras {
    /// Where an IR value lives in the Keras model.
    struct Value {
        var layer: String
        /// The Keras tensor holds the IR value's channels-first axes in channels-last order.
        var channelsMoved: Bool
    }

    let graph: Graph
    var result: KerasLayerGraph
    var values: [String: Value] = [:]
    var shapes: [String: Shape] = [:]
    var usedNames = Set<String>()
    /// How many nodes (and graph outputs) read each value.
    var consumers: [String: Int] = [:]
    /// Nodes already written as part of an earlier node's layer.
    var absorbed = Set<String>()

    init(graph: Graph) {
        self.graph = graph
        result = KerasLayerGraph(name: Self.kerasName(graph.metadata.modelName.isEmpty ? "model" : graph.metadata.modelName))
    }

    /// Keras names: letters, digits, `_`, `-` and `.`, starting with a letter or digit (Keras 3
    /// refuses `/`; TensorFlow's name scopes refuse a leading `_`). torch's `/conv1/Conv` → `conv1_Conv`.
    static func kerasName(_ s: String) -> String {
        let mapped = s.map { c -> Character in c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "-" || c == ".") ? c : "_" }
        let name = String(mapped.drop { !($0.isLetter || $0.isNumber) })
        return name.isEmpty ? "layer" : name
    }

    mutating func unique(_ base: String) -> String {
        var name = Self.kerasName(base), i = 1
        while usedNames.contains(name) { name = Self.kerasName(base) + "_\(i)"; i += 1 }
        usedNames.insert(name)
        return name
    }

    func fail(_ node: Node, _ why: String) -> NoKerasEquivalent {
        NoKerasEquivalent(message: "node '\(node.layer ?? node.name)' (\(node.op.displayName)) has no Keras equivalent: \(why)")
    }

    mutating func run() throws {
        do { shapes = try graph.verify() } catch { throw NoKerasEquivalent(message: "\(error)") }
        for node in graph.nodes { for i in node.inputs where !i.isEmpty { consumers[i, default: 0] += 1 } }
        for o in graph.outputs { consumers[o, default: 0] += 1 }
        for input in graph.inputs {
            let channelsFirst = input.shape.rank >= 3 && !isChannelsLast(input.name)
            var dims = Array(input.shape.dims.dropFirst())
            if channelsFirst { dims = Array(dims.dropFirst()) + [dims[0]] }
            let name = unique(input.name)
            result.layers.append(.init(name: name, className: "InputLayer", config: [:], inbound: [], outputShape: dims, trainable: false))
            result.inputs.append(name)
            values[input.name] = Value(layer: name, channelsMoved: channelsFirst)
        }
        for node in graph.nodes where !absorbed.contains(node.name) { try translate(node) }
        for output in graph.outputs {
            guard let v = values[output] else { throw NoKerasEquivalent(message: "output '\(output)' is not computed by Keras layers") }
            var layer = v.layer
            if v.channelsMoved, let rank = shapes[output]?.rank {
                // Hand the output back in the graph's channels-first order.
                layer = add("Permute", ["dims": ints([rank - 1] + Array(1..<(rank - 1)))], [v.layer], name: output + "_channels_first",
                            shape: shapes[output].map { Array($0.dims.dropFirst()) } ?? [])
            }
            result.outputs.append(layer)
        }
    }

    /// True when an image input is channels-last: past ops that ignore the layout (scaling,
    /// activations), every use of it turns it channels-first (tf2onnx's NHWC inputs).
    func isChannelsLast(_ name: String) -> Bool {
        var frontier = [name], seen = Set<String>(), layoutUses = 0
        while let v = frontier.popLast() {
            guard seen.insert(v).inserted else { continue }
            for node in graph.nodes where node.inputs.contains(v) {
                if isLayoutChange(node, toChannelsFirst: true) { layoutUses += 1; continue }
                switch node.op {
                case .elementwise, .rescaling, .identity, .dropout, .augmentation, .unary: frontier += node.outputs
                case .activation(let a):
                    if case .softmax = a { return false }
                    if case .logSoftmax = a { return false }
                    frontier += node.outputs
                case .dense, .convolution, .depthwiseConvolution, .pooling, .globalPooling,
                     .batchNormalization, .imageResize, .flatten, .reshape, .reshapeAll,
                     .transpose, .zeroPadding, .cropping, .slice, .upSampling, .reduce, .concatenate, .stridedSlice,
                     .expand, .batchShape, .tile, .pad, .resize, .matMul, .maxPoolIndices, .argReduce, .family:
                    return false
                }
            }
        }
        return layoutUses > 0
    }

    /// A Transpose, or a Reshape moving a one-element axis, that turns channels-last data
    /// channels-first (or back).
    func isLayoutChange(_ node: Node, toChannelsFirst: Bool) -> Bool {
        guard let input = node.inputs.first, let s = shapes[input], s.rank >= 3, let out = shapes[node.outputs[0]] else { return false }
        let r = s.rank
        let perm = toChannelsFirst ? [0, r - 1] + Array(1..<(r - 1)) : [0] + Array(2..<r) + [1]
        switch node.op {
        case .transpose(let p): return p == perm
        case .reshape, .reshapeAll:
            // Moving an axis of size one is a reshape; tf2onnx writes one-channel transposes so.
            let moved = toChannelsFirst ? s[r - 1] : s[1]
            return moved == 1 && Shape(perm.map { s[$0] }).dims.dropFirst() == out.dims.dropFirst()
        case .dense, .convolution, .depthwiseConvolution, .pooling, .globalPooling,
             .batchNormalization, .activation, .dropout, .augmentation, .imageResize, .flatten,
             .zeroPadding, .cropping, .slice, .upSampling, .rescaling, .elementwise, .unary, .reduce, .concatenate,
             .identity, .stridedSlice, .expand, .batchShape, .tile, .pad, .resize, .matMul, .maxPoolIndices,
             .argReduce, .family:
            return false
        }
    }

    /// The Keras shape (no batch) of an IR value as Keras holds it.
    func kerasShape(_ value: String, moved: Bool) -> [Int?] {
        guard let s = shapes[value] else { return [] }
        var dims = Array(s.dims.dropFirst())
        if moved, dims.count >= 2 { dims = Array(dims.dropFirst()) + [dims[0]] }
        return dims
    }

    @discardableResult
    mutating func add(_ className: String, _ config: [String: JSONValue], _ inbound: [String], name: String,
                      shape: [Int?], weights: [(role: String, tensor: Tensor)] = []) -> String {
        let n = unique(name)
        result.layers.append(.init(name: n, className: className, config: config, inbound: inbound, weights: weights, outputShape: shape))
        return n
    }

    func ints(_ v: [Int]) -> JSONValue { .array(v.map { .number(Double($0)) }) }
    func parameter(_ name: String) -> Tensor? { name.isEmpty ? nil : graph.parameter(named: name)?.tensor }

    /// A data input of the node: its Keras value.
    func data(_ node: Node, _ i: Int = 0) throws -> Value {
        guard i < node.inputs.count, let v = values[node.inputs[i]] else {
            throw fail(node, "its input '\(i < node.inputs.count ? node.inputs[i] : "?")' is a constant or not computed by a layer")
        }
        return v
    }

    mutating func emit(_ node: Node, _ className: String, _ config: [String: JSONValue], _ inbound: [String], moved: Bool,
                       weights: [(role: String, tensor: Tensor)] = []) {
        let out = node.outputs[0]
        // A layer that computes a model output takes the output's name, so `run` and `validate`
        // find it under the name the ONNX graph gave it.
        let base = graph.outputs.contains(out) ? out : node.layer ?? node.name
        let name = add(className, config, inbound, name: base, shape: kerasShape(out, moved: moved), weights: weights)
        values[out] = Value(layer: name, channelsMoved: moved)
    }

    mutating func translate(_ node: Node) throws {
        switch node.op {
        case .identity, .dropout, .augmentation:
            values[node.outputs[0]] = try data(node)
        case .family(let f) where (f.base as? Cast)?.to.isFloatingPoint == true:
            // A cast to a float type (ids or a mask read as numbers): Keras computes in floats already.
            values[node.outputs[0]] = try data(node)
        case .transpose(let p):
            let x = try data(node)
            if !x.channelsMoved, isLayoutChange(node, toChannelsFirst: true) {
                values[node.outputs[0]] = Value(layer: x.layer, channelsMoved: true)
            } else if x.channelsMoved, isLayoutChange(node, toChannelsFirst: false) {
                values[node.outputs[0]] = Value(layer: x.layer, channelsMoved: false)
            } else {
                throw fail(node, "a transpose \(p) of data is not a layout change Keras can absorb")
            }
        case .convolution(let c): try convolution(node, c)
        case .batchNormalization(let axis, let epsilon, let momentum): try batchNormalization(node, axis: axis, epsilon: epsilon, momentum: momentum)
        case .activation(let a): try activation(node, a)
        case .pooling(let p): try pooling(node, p)
        case let .globalPooling(kind, layout, keepDims):
            let x = try data(node)
            guard layout == .channelsLast || x.channelsMoved, let r = shapes[node.inputs[0]]?.rank, r == 4 || r == 3 else {
                throw fail(node, "global pooling of this layout")
            }
            let cls = (kind == .max ? "GlobalMaxPooling" : "GlobalAveragePooling") + "\(r - 2)D"
            emit(node, cls, ["data_format": .string("channels_last"), "keepdims": .bool(keepDims)], [x.layer], moved: keepDims)
        case .flatten(let layout): try flatten(node, layout: layout)
        case .reshape, .reshapeAll:
            let x = try data(node)
            if !x.channelsMoved, isLayoutChange(node, toChannelsFirst: true) {
                values[node.outputs[0]] = Value(layer: x.layer, channelsMoved: true)
            } else if x.channelsMoved, isLayoutChange(node, toChannelsFirst: false) {
                values[node.outputs[0]] = Value(layer: x.layer, channelsMoved: false)
            } else if let s = shapes[node.outputs[0]], s.rank == 2 {
                try flatten(node, layout: .channelsLast)
            } else {
                throw fail(node, "only a reshape to (batch, features) or a layout change is supported")
            }
        case .dense(let units): try dense(node, units: units)
        case .elementwise(let f): try elementwise(node, f)
        case .concatenate(let axis):
            let xs = try node.inputs.indices.map { try data(node, $0) }
            guard let r = shapes[node.outputs[0]]?.rank, Set(xs.map(\.channelsMoved)).count == 1 else { throw fail(node, "mixed layouts") }
            var a = axis < 0 ? axis + r : axis
            if xs[0].channelsMoved { a = a == 1 ? r - 1 : (a == 0 ? 0 : a - 1) }
            emit(node, "Concatenate", ["axis": .number(Double(a))], xs.map(\.layer), moved: xs[0].channelsMoved)
        case .rescaling(let scale, let offset):
            let x = try data(node)
            emit(node, "Rescaling", ["scale": .float(Double(scale)), "offset": .float(Double(offset))], [x.layer], moved: x.channelsMoved)
        case .depthwiseConvolution, .zeroPadding, .cropping, .slice,
             .upSampling, .unary, .reduce, .stridedSlice, .expand, .batchShape, .tile, .pad, .resize, .matMul,
             .maxPoolIndices, .argReduce, .imageResize, .family:
            throw fail(node, "no Keras layer is written for it yet")
        }
    }

    // MARK: Layers

    /// Keras `padding` for explicit pads, or the ZeroPadding2D to put first.
    func kerasPadding(_ padding: Padding, input: [Int?], window: [Int], strides: [Int], dilations: [Int]) -> (String, [[Int]]?) {
        let rank = window.count
        let pads = (0..<rank).map { i -> (Int, Int) in
            padding.pads(axis: i, spatialRank: rank, input: input[i] ?? 0, window: window[i], stride: strides[i], dilation: dilations[i])
        }
        if pads.allSatisfy({ $0 == (0, 0) }) { return ("valid", nil) }
        let same = (0..<rank).map { i in
            Padding.sameUpper.pads(axis: i, spatialRank: rank, input: input[i] ?? 0, window: window[i], stride: strides[i], dilation: dilations[i])
        }
        if input.allSatisfy({ $0 != nil }), zip(pads, same).allSatisfy({ $0 == $1 }) { return ("same", nil) }
        return ("valid", pads.map { [$0.0, $0.1] })
    }

    /// The spatial sizes of a channels-first input.
    func spatial(_ value: String) -> [Int?] { Array((shapes[value]?.dims ?? []).dropFirst(2)) }

    mutating func padded(_ node: Node, _ x: Value, _ pads: [[Int]]?) -> String {
        guard let pads else { return x.layer }
        let rank = pads.count
        var shape = kerasShape(node.inputs[0], moved: true)
        for i in 0..<rank { shape[i] = shape[i].map { $0 + pads[i][0] + pads[i][1] } }
        let padding: JSONValue = .array(pads.map { ints($0) })
        return add("ZeroPadding\(rank)D", ["padding": padding, "data_format": .string("channels_last")], [x.layer],
                   name: (node.layer ?? node.name) + "_pad", shape: shape)
    }

    mutating func convolution(_ node: Node, _ c: Convolution) throws {
        let x = try data(node)
        guard c.layout == .channelsFirst, x.channelsMoved, c.kernelLayout == .outInSpatial, (1...2).contains(c.spatialRank),
              let w = parameter(node.inputs[1]), let inChannels = shapes[node.inputs[0]]?[1] else {
            throw fail(node, "only 1-D and 2-D channels-first convolutions with a constant kernel are written")
        }
        let (pad, explicit) = kerasPadding(c.padding, input: spatial(node.inputs[0]), window: c.kernelSize, strides: c.strides, dilations: c.dilations)
        let source = padded(node, x, explicit)
        let bias = node.inputs.count > 2 ? parameter(node.inputs[2]) : nil
        let rank = c.spatialRank
        var config: [String: JSONValue] = [
            "kernel_size": ints(c.kernelSize), "strides": ints(c.strides), "padding": .string(pad),
            "data_format": .string("channels_last"), "dilation_rate": ints(c.dilations), "activation": .string("linear"),
            "use_bias": .bool(bias != nil),
        ]
        var weights: [(role: String, tensor: Tensor)]
        let depthwise = c.groups > 1 && c.groups == inChannels && c.filters % c.groups == 0 && rank == 2
        if depthwise {
            config["depth_multiplier"] = .number(Double(c.filters / c.groups))
            weights = [("depthwise_kernel", Self.depthwiseKernel(w, channels: inChannels))]
        } else {
            config["filters"] = .number(Double(c.filters))
            config["groups"] = .number(Double(c.groups))
            weights = [("kernel", Self.spatialInOut(w))]
        }
        if let bias { weights.append(("bias", bias)) }
        emit(node, depthwise ? "DepthwiseConv2D" : "Conv\(rank)D", config, [source], moved: true, weights: weights)
    }

    /// OIHW (ONNX) → HWIO (Keras).
    static func spatialInOut(_ w: Tensor) -> Tensor {
        let (o, i) = (w.shape[0], w.shape[1])
        let spatial = Array(w.shape.dropFirst(2))
        let area = spatial.reduce(1, *)
        let v = w.floats()
        var out = [Float](repeating: 0, count: v.count)
        for oo in 0..<o { for ii in 0..<i { for s in 0..<area { out[(s * i + ii) * o + oo] = v[(oo * i + ii) * area + s] } } }
        return Tensor(shape: spatial + [i, o], floats: out)
    }

    /// `[C·M, 1, H, W]` (ONNX, output channel c·M + m) → `[H, W, C, M]` (Keras DepthwiseConv2D).
    static func depthwiseKernel(_ w: Tensor, channels: Int) -> Tensor {
        let multiplier = w.shape[0] / channels
        let spatial = Array(w.shape.dropFirst(2))
        let area = spatial.reduce(1, *)
        let v = w.floats()
        var out = [Float](repeating: 0, count: v.count)
        for c in 0..<channels { for m in 0..<multiplier { for s in 0..<area {
            out[(s * channels + c) * multiplier + m] = v[(c * multiplier + m) * area + s]
        } } }
        return Tensor(shape: spatial + [channels, multiplier], floats: out)
    }

    mutating func batchNormalization(_ node: Node, axis: Int, epsilon: Float, momentum: Float) throws {
        let x = try data(node)
        guard let r = shapes[node.inputs[0]]?.rank, (axis == 1 || axis == -r + 1) && (x.channelsMoved || r == 2) else {
            throw fail(node, "normalisation over axis \(axis) of a rank-\(shapes[node.inputs[0]]?.rank ?? 0) value")
        }
        let gamma = parameter(node.inputs[1]), beta = parameter(node.inputs[2])
        guard let mean = parameter(node.inputs[3]), let variance = parameter(node.inputs[4]) else {
            throw fail(node, "its statistics are not constants")
        }
        var weights: [(role: String, tensor: Tensor)] = []
        if let gamma { weights.append(("gamma", gamma)) }
        if let beta { weights.append(("beta", beta)) }
        weights += [("moving_mean", mean), ("moving_variance", variance)]
        let config: [String: JSONValue] = [
            "axis": .number(-1), "momentum": .float(Double(momentum)), "epsilon": .float(Double(epsilon)),
            "center": .bool(beta != nil), "scale": .bool(gamma != nil),
        ]
        emit(node, "BatchNormalization", config, [x.layer], moved: x.channelsMoved, weights: weights)
    }

    mutating func activation(_ node: Node, _ a: Activation) throws {
        let x = try data(node)
        switch a {
        case .leakyRelu(let alpha):
            emit(node, "LeakyReLU", ["alpha": .float(Double(alpha)), "negative_slope": .float(Double(alpha))], [x.layer], moved: x.channelsMoved)
        case .relu(let maxValue, let slope, let threshold) where maxValue != nil || slope != 0 || threshold != 0:
            var config: [String: JSONValue] = ["negative_slope": .float(Double(slope)), "threshold": .float(Double(threshold))]
            config["max_value"] = maxValue.map { .float(Double($0)) } ?? .null
            emit(node, "ReLU", config, [x.layer], moved: x.channelsMoved)
        case .clip(let lower, let upper) where lower == 0:
            emit(node, "ReLU", ["max_value": .float(Double(upper)), "negative_slope": .float(0), "threshold": .float(0)],
                 [x.layer], moved: x.channelsMoved)
        case .softmax(let axis), .logSoftmax(let axis):
            guard let r = shapes[node.inputs[0]]?.rank else { throw fail(node, "unknown rank") }
            var k = axis < 0 ? axis + r : axis
            if x.channelsMoved { k = k == 1 ? r - 1 : k - 1 }
            if case .logSoftmax = a, k == r - 1 {
                emit(node, "Activation", ["activation": .string("log_softmax")], [x.layer], moved: x.channelsMoved)
            } else if case .softmax = a {
                emit(node, "Softmax", ["axis": .number(Double(k == r - 1 ? -1 : k))], [x.layer], moved: x.channelsMoved)
            } else {
                throw fail(node, "log-softmax over a non-last axis")
            }
        case .linear, .relu, .sigmoid, .tanh, .softplus, .softsign, .swish, .selu, .exponential:
            emit(node, "Activation", ["activation": .string(a.kerasName)], [x.layer], moved: x.channelsMoved)
        case .elu(let alpha) where alpha == 1:
            emit(node, "Activation", ["activation": .string("elu")], [x.layer], moved: x.channelsMoved)
        case .gelu(let approximate) where !approximate:
            emit(node, "Activation", ["activation": .string("gelu")], [x.layer], moved: x.channelsMoved)
        case .elu, .gelu, .hardSigmoid, .hardSwish, .clip:
            throw fail(node, "the two Keras generations compute '\(a.kerasName)' with other constants")
        }
    }

    mutating func pooling(_ node: Node, _ p: Pooling) throws {
        let x = try data(node)
        let rank = p.poolSize.count
        guard p.layout == .channelsFirst, x.channelsMoved, (1...2).contains(rank), p.isUndilated, !p.ceilMode else {
            throw fail(node, "only undilated 1-D and 2-D pooling without ceil_mode is written")
        }
        let (pad, explicit) = kerasPadding(p.padding, input: spatial(node.inputs[0]), window: p.poolSize, strides: p.strides,
                                           dilations: Array(repeating: 1, count: rank))
        var source = x.layer
        if explicit != nil {
            // Zero padding is only right for an average that counts the pads.
            guard p.kind == .average, p.countIncludePad else {
                throw fail(node, "its pads are not TensorFlow's 'same' and Keras pads \(p.kind == .max ? "max" : "average") pooling no other way")
            }
            source = padded(node, x, explicit)
        } else if pad == "same", p.kind == .average, p.countIncludePad {
            throw fail(node, "an average that counts the pads of 'same' padding")
        }
        let cls = (p.kind == .max ? "MaxPooling" : "AveragePooling") + "\(rank)D"
        emit(node, cls, ["pool_size": ints(p.poolSize), "strides": ints(p.strides), "padding": .string(pad),
                         "data_format": .string("channels_last")], [source], moved: true)
    }

    mutating func flatten(_ node: Node, layout: Layout) throws {
        let x = try data(node)
        guard let s = shapes[node.inputs[0]] else { throw fail(node, "unknown shape") }
        var source = x.layer
        let spatialElements = s.dims.dropFirst(2).reduce(1) { $0 * ($1 ?? 2) }
        // The graph flattens channels-first data in its own order; Keras would flatten its
        // channels-last tensor otherwise, so the channels go back first (unless nothing moves).
        if x.channelsMoved, layout == .channelsLast, spatialElements != 1 {
            let r = s.rank
            source = add("Permute", ["dims": ints([r - 1] + Array(1..<(r - 1)))], [x.layer], name: (node.layer ?? node.name) + "_channels_first",
                         shape: Array(s.dims.dropFirst()))
        }
        emit(node, "Flatten", ["data_format": .string("channels_last")], [source], moved: false)
    }

    /// `x + bias` right after a Dense or convolution without a bias (tf2onnx's MatMul + Add)
    /// becomes that layer's bias.
    mutating func absorbBias(_ node: Node, _ constants: [Tensor?]) throws -> Bool {
        guard node.inputs.count == 2, let i = constants.firstIndex(where: { $0 == nil }), let bias = constants[1 - i],
              let x = values[node.inputs[i]], consumers[node.inputs[i]] == 1,
              let index = result.layers.lastIndex(where: { $0.name == x.layer }) else { return false }
        let layer = result.layers[index]
        guard ["Dense", "Conv1D", "Conv2D", "DepthwiseConv2D"].contains(layer.className), layer.config["use_bias"] == .bool(false),
              let r = shapes[node.inputs[i]]?.rank, let channels = shapes[node.inputs[i]]?[x.channelsMoved ? 1 : r - 1],
              bias.count == channels else { return false }
        // The constant must broadcast along the channel axis only.
        let channelAxisShape = bias.shape.filter { $0 != 1 }
        guard channelAxisShape.isEmpty || channelAxisShape == [channels] else { return false }
        if x.channelsMoved, bias.shape.count >= 2, bias.shape[bias.shape.count - (r - 1)] != channels, channels != 1 { return false }
        result.layers[index].config["use_bias"] = .bool(true)
        result.layers[index].weights.append(("bias", Tensor(shape: [channels], floats: bias.floats())))
        values[node.outputs[0]] = Value(layer: nameForOutput(index, node.outputs[0]), channelsMoved: x.channelsMoved)
        return true
    }

    /// The per-channel vector of a constant operand that broadcasts along the channel axis.
    func channelVector(_ t: Tensor, value: String, moved: Bool) -> [Float]? {
        guard let s = shapes[value], let channels = s[moved ? 1 : s.rank - 1], t.count == channels else { return nil }
        let nonUnit = t.shape.enumerated().filter { $0.element != 1 }
        if nonUnit.count > 1 { return nil }
        if let axis = nonUnit.first?.offset {
            // Right-aligned broadcasting: the axis must land on the channel axis.
            let landed = s.rank - t.shape.count + axis
            guard landed == (moved ? 1 : s.rank - 1) else { return nil }
        }
        return t.floats()
    }

    /// `x · a` and/or `+ b` with per-channel constants (tf2onnx's decomposed inference
    /// BatchNormalization): a frozen BatchNormalization with zero mean and unit variance,
    /// which Keras computes as that affine map in inference and in training alike.
    mutating func channelAffine(_ node: Node, _ f: ElementwiseFunction, _ constants: [Tensor?]) throws -> Bool {
        guard node.inputs.count == 2, let i = constants.firstIndex(where: { $0 == nil }), let k = constants[1 - i],
              let x = values[node.inputs[i]], let vector = channelVector(k, value: node.inputs[i], moved: x.channelsMoved) else { return false }
        let scale: [Float]? = f == .multiply ? vector : nil
        var shift: [Float]? = f == .add ? vector : nil
        var last = node
        if f == .multiply, consumers[node.outputs[0]] == 1,
           let next = graph.nodes.first(where: { $0.inputs.contains(node.outputs[0]) }), case .elementwise(.add) = next.op,
           next.inputs.count == 2, let j = next.inputs.firstIndex(of: node.outputs[0]), let b = parameter(next.inputs[1 - j]),
           let v = channelVector(b, value: node.outputs[0], moved: x.channelsMoved) {
            shift = v
            last = next
            absorbed.insert(next.name)
        }
        if scale == nil && shift == nil { return false }
        let channels = vector.count
        let epsilon: Float = 1e-3
        var weights: [(role: String, tensor: Tensor)] = []
        if let s = scale { weights.append(("gamma", Tensor(shape: [channels], floats: s))) }
        if let b = shift { weights.append(("beta", Tensor(shape: [channels], floats: b))) }
        weights.append(("moving_mean", Tensor(shape: [channels], floats: Array(repeating: 0, count: channels))))
        weights.append(("moving_variance", Tensor(shape: [channels], floats: Array(repeating: 1 - epsilon, count: channels))))
        let config: [String: JSONValue] = ["axis": .number(-1), "momentum": .float(0.99), "epsilon": .float(Double(epsilon)),
                                           "center": .bool(shift != nil), "scale": .bool(scale != nil)]
        add("BatchNormalization", config, [x.layer], name: node.layer ?? node.name,
            shape: kerasShape(node.outputs[0], moved: x.channelsMoved), weights: weights)
        result.layers[result.layers.count - 1].trainable = false
        values[last.outputs[0]] = Value(layer: nameForOutput(result.layers.count - 1, last.outputs[0]), channelsMoved: x.channelsMoved)
        return true
    }

    /// Renames the layer at `index` after `value` when that is a model output (the layer was
    /// named for an earlier node it has absorbed the value's node into). No layer reads it yet.
    mutating func nameForOutput(_ index: Int, _ value: String) -> String {
        guard graph.outputs.contains(value) else { return result.layers[index].name }
        usedNames.remove(result.layers[index].name)
        result.layers[index].name = unique(value)
        return result.layers[index].name
    }

    mutating func dense(_ node: Node, units: Int) throws {
        let x = try data(node)
        guard let r = shapes[node.inputs[0]]?.rank, r == 2 || !x.channelsMoved, let kernel = parameter(node.inputs[1]) else {
            throw fail(node, "a Dense layer over channels-first data or with a computed kernel")
        }
        let bias = node.inputs.count > 2 ? parameter(node.inputs[2]) : nil
        var weights: [(role: String, tensor: Tensor)] = [("kernel", kernel)]
        if let bias { weights.append(("bias", bias)) }
        emit(node, "Dense", ["units": .number(Double(units)), "activation": .string("linear"), "use_bias": .bool(bias != nil)],
             [x.layer], moved: false, weights: weights)
    }

    mutating func elementwise(_ node: Node, _ f: ElementwiseFunction) throws {
        let constants = node.inputs.map { parameter($0) }
        if constants.allSatisfy({ $0 == nil }) {
            let xs = try node.inputs.indices.map { try data(node, $0) }
            guard Set(xs.map(\.channelsMoved)).count == 1, Set(node.inputs.compactMap { shapes[$0] }).count == 1 else {
                throw fail(node, "Keras merge layers take operands of one shape and layout")
            }
            let names: [ElementwiseFunction: String] = [.add: "Add", .subtract: "Subtract", .multiply: "Multiply",
                                                        .maximum: "Maximum", .minimum: "Minimum", .average: "Average"]
            guard let cls = names[f] else { throw fail(node, "no Keras merge layer computes it") }
            emit(node, cls, [:], xs.map(\.layer), moved: xs[0].channelsMoved)
            return
        }
        if f == .add, try absorbBias(node, constants) { return }
        if f == .add || f == .multiply, try channelAffine(node, f, constants) { return }
        // One data operand and one scalar: a Rescaling.
        guard node.inputs.count == 2, let k = constants.compactMap({ $0 }).first, k.count == 1,
              let i = constants.firstIndex(where: { $0 == nil }) else {
            throw fail(node, "an operand is a constant tensor, which only Keras' Lambda layers could hold")
        }
        let x = try data(node, i), v = k.floats()[0]
        let (scale, offset): (Float, Float)
        switch f {
        case .add: (scale, offset) = (1, v)
        case .subtract: (scale, offset) = i == 0 ? (1, -v) : (-1, v)
        case .multiply: (scale, offset) = (v, 0)
        case .divide where i == 0: (scale, offset) = (1 / v, 0)
        case .divide, .maximum, .minimum, .power, .average, .equal, .less, .greater, .lessOrEqual, .greaterOrEqual,
             .and, .or, .xor, .modulo, .remainder, .select:
            throw fail(node, "only scaling and shifting by a constant has a Keras layer (Rescaling)")
        }
        emit(node, "Rescaling", ["scale": .float(Double(scale)), "offset": .float(Double(offset))], [x.layer], moved: x.channelsMoved)
    }
}
