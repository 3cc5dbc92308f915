import ModelIR

/// Keras 2 (tf.keras / tf_keras) and Keras 3 serialise configs and some layers differently.
enum KerasFlavour: Sendable { case keras2, keras3 }

/// Where a layer's weights come from: a Keras 2 or Keras 3 weights tree.
protocol KerasWeightSource {
    /// The layer's variables in Keras' creation order (`kernel, bias`; `gamma, beta,
    /// moving_mean, moving_variance`), found by its path of model names, outermost first.
    func weights(layerPath: [String], roles: [String]) throws -> [LoadedWeight]
    /// Checks that the file holds no weights for layers the architecture lacks.
    func checkAllUsed(layerPaths: Set<[String]>) throws
}

/// A variable read from a weights file: its Keras name, where the file keeps it, its value.
struct LoadedWeight {
    let name: String
    /// The dataset's absolute path in the HDF5 file.
    let path: String
    let tensor: Tensor
}

/// One call of a Keras layer, as the converters see it.
struct LayerCall {
    let name: String
    let className: String
    let config: LayerConfig
    let inputs: [String]
    /// Keyword arguments of the call (TFOpLambda operands live here).
    let kwargs: JSONValue?
    /// Keras 3 positional arguments, tensors as `{"tensor": value name}` (operation layers'
    /// operands live here: `x + 3.0` is `args: [x, 3.0]`).
    var args: JSONValue? = nil
    /// Names of the nested models around the layer, outermost first, then the layer.
    let path: [String]
    let trainable: Bool
}

/// Builds a ModelIR graph from a Keras model config, loading weights as layers appear.
final class KerasGraphBuilder {
    let file: String
    let flavour: KerasFlavour
    let weightSource: KerasWeightSource
    var graph = Graph()
    var shapes: [String: Shape] = [:]
    private var usedNames = Set<String>()
    private var layerParameters: [[String]: [String]] = [:]
    /// Index in `graph.layers` of each layer, by its path; a layer is listed once however often it is called.
    private var layerIndex: [[String]: Int] = [:]
    private var calledLayers = Set<[String]>()
    /// The graph parameter each weights-file dataset became, by the dataset's path.
    private(set) var parameterByDatasetPath: [String: String] = [:]

    init(file: String, flavour: KerasFlavour, weights: KerasWeightSource) {
        self.file = file
        self.flavour = flavour
        self.weightSource = weights
    }

    static let modelClasses: Set<String> = ["Functional", "Sequential", "Model"]

    // MARK: Whole model

    func build(modelConfig: JSONValue) throws -> Graph {
        guard let className = modelConfig.kerasClassName, let config = modelConfig["config"] else {
            throw KerasError.invalidConfig(file, reason: "no class_name/config at the top level")
        }
        guard Self.modelClasses.contains(className) else {
            throw KerasError.invalidConfig(file, reason: "the top-level object is a \(className), not a Sequential or Functional model")
        }
        graph.metadata.modelName = config["name"]?.string ?? "model"
        graph.metadata.modelClass = className == "Model" ? "Functional" : className
        let outputs = try buildModel(className: className, config: config, path: [], inputs: nil, trainable: true)
        graph.outputs = outputs
        try weightSource.checkAllUsed(layerPaths: Set(layerParameters.keys))
        do { try graph.verify() } catch let e as GraphError { throw KerasError.graph(file, e) }
        return graph
    }

    /// Builds a (possibly nested) model; `inputs` binds a nested model to the caller's tensors.
    func buildModel(className: String, config: JSONValue, path: [String], inputs: [String]?, trainable: Bool) throws -> [String] {
        let trainable = trainable && (config["trainable"]?.bool ?? true)
        if className == "Sequential" {
            return try buildSequential(config: config, path: path, inputs: inputs, trainable: trainable)
        }
        return try buildFunctional(config: config, path: path, inputs: inputs, trainable: trainable)
    }

    private func layerName(_ layer: JSONValue) -> String {
        layer["config"]?["name"]?.string ?? layer["name"]?.string ?? "?"
    }

    private func buildSequential(config: JSONValue, path: [String], inputs: [String]?, trainable: Bool) throws -> [String] {
        guard let layers = config["layers"]?.array else { throw KerasError.invalidConfig(file, reason: "a Sequential model has no 'layers' list") }
        var remaining = layers[...]
        var current: String
        var previousLayer: String
        if let first = layers.first, first.kerasClassName == "InputLayer" {
            remaining = remaining.dropFirst()
            let name = layerName(first)
            if let inputs, let bound = inputs.first {
                current = bound
            } else {
                current = try makeGraphInput(name: name, config: first["config"] ?? .null)
            }
            register(SourceLayer(name: name, className: "InputLayer", parent: path.last, outputs: [current], listed: false), path: path + [name])
            previousLayer = name
        } else if let inputs, let bound = inputs.first {
            current = bound
            previousLayer = ""
        } else if let first = layers.first, first["config"]?["batch_input_shape"] != nil || first["config"]?["batch_shape"] != nil {
            // Old Keras 2 files put the input shape on the first layer.
            current = try makeGraphInput(name: layerName(first) + "_input", config: first["config"] ?? .null)
            previousLayer = ""
        } else if let shape = config["build_input_shape"], !shape.isNull {
            current = try makeGraphInput(name: "input_layer", config: .object(["batch_shape": shape]))
            previousLayer = ""
        } else {
            throw KerasError.invalidConfig(file, reason: "the Sequential model '\(config["name"]?.string ?? "")' has no input shape")
        }
        for layer in remaining {
            let outs = try callLayer(layer, inputs: [current], kwargs: nil, inbound: previousLayer.isEmpty ? [] : [previousLayer], path: path, trainable: trainable)
            guard outs.count == 1 else {
                throw KerasError.invalidLayer(file, layer: layerName(layer), reason: "a layer in a Sequential model must have one output, it has \(outs.count)")
            }
            current = outs[0]
            previousLayer = layerName(layer)
        }
        return [current]
    }

    /// A tensor reference in a Functional config: layer, node index, tensor index.
    struct TensorRef: Hashable { var layer: String; var node: Int; var tensor: Int }

    private func parseRef(_ v: JSONValue) -> TensorRef? {
        // Keras 2: ["name", node, tensor(, kwargs)]; Keras 3: {"class_name": "__keras_tensor__", "config": {"keras_history": [...]}}.
        if let history = v["config"]?["keras_history"]?.array, history.count >= 3, let name = history[0].string,
           let node = history[1].int, let tensor = history[2].int {
            return TensorRef(layer: name, node: node, tensor: tensor)
        }
        if let a = v.array, a.count >= 3, let name = a[0].string, let node = a[1].int, let tensor = a[2].int {
            return TensorRef(layer: name, node: node, tensor: tensor)
        }
        return nil
    }

    /// Reference lists for `input_layers` / `output_layers`, accepting Keras 3's flat single triple.
    private func parseRefList(_ v: JSONValue?, what: String) throws -> [TensorRef] {
        guard let v else { throw KerasError.invalidConfig(file, reason: "a Functional model has no '\(what)'") }
        if let single = parseRef(v) { return [single] }
        guard let a = v.array else { throw KerasError.invalidConfig(file, reason: "'\(what)' is not a list") }
        return try a.map { item in
            guard let r = parseRef(item) else { throw KerasError.invalidConfig(file, reason: "'\(what)' has an entry that is not a tensor reference") }
            return r
        }
    }

    /// The tensors a call reads and its keyword arguments, from one inbound-node entry.
    private func parseInboundNode(_ node: JSONValue) -> (refs: [TensorRef], kwargs: JSONValue?) {
        if let args = node["args"] {
            var refs: [TensorRef] = []
            func collect(_ v: JSONValue) {
                if let r = parseRef(v), v["class_name"]?.string == "__keras_tensor__" { refs.append(r); return }
                if let a = v.array { a.forEach(collect) }
            }
            collect(args)
            return (refs, node["kwargs"])
        }
        guard var entries = node.array else { return ([], nil) }
        // TFOpLambda nodes are one flat reference, `["x", 0, 0, {kwargs}]`, not a list of them.
        if entries.first?.string != nil { entries = [node] }
        var kwargs: JSONValue?
        let refs = entries.compactMap { entry -> TensorRef? in
            if let k = entry[3], k.object != nil { kwargs = k }
            return parseRef(entry)
        }
        return (refs, kwargs)
    }

    private func buildFunctional(config: JSONValue, path: [String], inputs: [String]?, trainable: Bool) throws -> [String] {
        guard let layers = config["layers"]?.array else { throw KerasError.invalidConfig(file, reason: "a Functional model has no 'layers' list") }
        let inputRefs = try parseRefList(config["input_layers"], what: "input_layers")
        let outputRefs = try parseRefList(config["output_layers"], what: "output_layers")
        if let inputs, inputs.count != inputRefs.count {
            throw KerasError.invalidConfig(file, reason: "model '\(path.last ?? "")' takes \(inputRefs.count) inputs but is called with \(inputs.count)")
        }
        var produced: [String: [[String]]] = [:]
        // Keras 2 counts a nested model's own construction node (input -> output) as node 0
        // in references but leaves it out of inbound_nodes; Keras 3 does not.
        var nodeOffset: [String: Int] = [:]
        if flavour == .keras2 {
            for layer in layers where Self.modelClasses.contains(layer.kerasClassName ?? "") {
                if layer["config"]?["layers"]?[0]?.kerasClassName == "InputLayer" { nodeOffset[layerName(layer)] = 1 }
            }
        }
        func value(_ r: TensorRef) -> String? {
            let node = r.node - (nodeOffset[r.layer] ?? 0)
            guard let nodes = produced[r.layer], node >= 0, node < nodes.count, r.tensor < nodes[node].count else { return nil }
            return nodes[node][r.tensor]
        }

        struct PendingCall { var layer: JSONValue; var name: String; var node: JSONValue; var index: Int }
        var pending: [PendingCall] = []
        for layer in layers {
            register(SourceLayer(name: layerName(layer), className: layer.kerasClassName ?? "?", parent: path.last), path: path + [layerName(layer)])
        }
        // Graph inputs in `input_layers` order, which is the model's input order.
        for (index, ref) in inputRefs.enumerated() {
            guard let layer = layers.first(where: { layerName($0) == ref.layer }), layer.kerasClassName == "InputLayer" else {
                throw KerasError.invalidConfig(file, reason: "input '\(ref.layer)' is not an InputLayer of the model")
            }
            produced[ref.layer] = [[try inputs.map { $0[index] } ?? makeGraphInput(name: ref.layer, config: layer["config"] ?? .null)]]
        }
        for layer in layers {
            let name = layerName(layer)
            if layer.kerasClassName == "InputLayer", inputRefs.contains(where: { $0.layer == name }), let v = produced[name]?.first?.first {
                if let i = layerIndex[path + [name]] { graph.layers[i].outputs = [v] }
                continue
            }
            // A layer with no inbound nodes is never called in this model: listed, nothing built.
            let nodes = layer["inbound_nodes"]?.array ?? []
            for (i, node) in nodes.enumerated() { pending.append(PendingCall(layer: layer, name: name, node: node, index: i)) }
        }
        // Calls come in dependency order, except when a shared layer's later call reads a later layer.
        while !pending.isEmpty {
            var progressed = false
            var next: [PendingCall] = []
            for call in pending {
                let (refs, kwargs) = parseInboundNode(call.node)
                let ready = refs.allSatisfy { value($0) != nil } && tensorRefs(in: kwargs).allSatisfy { value($0) != nil }
                // A layer's node k can only run after its node k-1.
                let order = (produced[call.name]?.count ?? 0) == call.index
                guard ready, order else { next.append(call); continue }
                let resolvedKwargs = kwargs.map { substitute($0, value) }
                let resolvedArgs = call.node["args"].map { substitute($0, value) }
                let outs = try callLayer(call.layer, inputs: refs.compactMap(value), kwargs: resolvedKwargs, args: resolvedArgs,
                                         inbound: refs.map(\.layer), path: path, trainable: trainable)
                produced[call.name, default: []].append(outs)
                progressed = true
            }
            pending = next
            guard progressed else {
                let stuck = pending.map(\.name)
                throw KerasError.invalidConfig(file, reason: "cannot resolve the inputs of layer(s) \(stuck.prefix(5).joined(separator: ", ")) (a reference to a missing layer or a cycle)")
            }
        }
        return try outputRefs.map { r in
            guard let v = value(r) else { throw KerasError.invalidConfig(file, reason: "output layer '\(r.layer)' is not produced") }
            return v
        }
    }

    private func tensorRefs(in kwargs: JSONValue?) -> [TensorRef] {
        guard let kwargs else { return [] }
        var refs: [TensorRef] = []
        func collect(_ v: JSONValue) {
            if case .array(let a) = v, a.count >= 3, a[0].string != nil, a[1].int != nil, a[2].int != nil, let r = parseRef(v) { refs.append(r); return }
            if v["class_name"]?.string == "__keras_tensor__", let r = parseRef(v) { refs.append(r); return }
            if let a = v.array { a.forEach(collect) }
            if let o = v.object { o.values.forEach(collect) }
        }
        collect(kwargs)
        return refs
    }

    /// Replaces tensor references in keyword arguments by `{"tensor": value name}`.
    private func substitute(_ v: JSONValue, _ value: (TensorRef) -> String?) -> JSONValue {
        if tensorRefs(in: .array([v])).count == 1, let r = parseRef(v), let name = value(r),
           v.array?.count ?? 0 >= 3 || v["class_name"]?.string == "__keras_tensor__" {
            return .object(["tensor": .string(name)])
        }
        switch v {
        case .array(let a): return .array(a.map { substitute($0, value) })
        case .object(let o): return .object(o.mapValues { substitute($0, value) })
        default: return v
        }
    }

    private func makeGraphInput(name: String, config: JSONValue) throws -> String {
        guard let dims = (config["batch_input_shape"] ?? config["batch_shape"])?.array else {
            throw KerasError.invalidConfig(file, reason: "input layer '\(name)' has no shape")
        }
        let shape = Shape(try dims.map { d -> Int? in
            if d.isNull { return nil }
            guard let v = d.int, v >= 0, v <= Shape.largestDimension else {
                throw KerasError.invalidConfig(file, reason: "input layer '\(name)' has a dimension out of range (\(d))")
            }
            return v
        })
        let dtypeName = config["dtype"]?.string ?? config["dtype"]?["config"]?["name"]?.string ?? "float32"
        guard let dtype = DType(kerasName: dtypeName) else {
            throw KerasError.invalidConfig(file, reason: "input layer '\(name)' has an unsupported dtype '\(dtypeName)'")
        }
        let v = uniqueName(name)
        graph.inputs.append(ValueInfo(name: v, shape: shape, dtype: dtype))
        shapes[v] = shape
        return v
    }

    // MARK: Layers

    /// Lists a layer (once), in the order the model config gives.
    func register(_ layer: SourceLayer, path: [String]) {
        guard layerIndex[path] == nil else { return }
        layerIndex[path] = graph.layers.count
        graph.layers.append(layer)
    }

    /// Calls one layer (or nested model) on input values and returns its output values.
    func callLayer(_ layer: JSONValue, inputs: [String], kwargs: JSONValue?, args: JSONValue? = nil, inbound: [String], path: [String],
                   trainable: Bool) throws -> [String] {
        let name = layerName(layer)
        guard let className = layer.kerasClassName else { throw KerasError.invalidConfig(file, reason: "a layer has no class_name") }
        let config = layer["config"] ?? .object([:])
        let layerPath = path + [name]
        let layerTrainable = trainable && (config["trainable"]?.bool ?? true)
        let isFirstCall = calledLayers.insert(layerPath).inserted
        register(SourceLayer(name: name, className: className, parent: path.last), path: layerPath)
        if isFirstCall, let i = layerIndex[layerPath] {
            graph.layers[i].inbound = inbound
            graph.layers[i].config = layer
        }
        let outputs: [String]
        if Self.modelClasses.contains(className) {
            outputs = try buildModel(className: className, config: config, path: layerPath, inputs: inputs, trainable: layerTrainable)
        } else {
            // Keras 3 records plain `keras.ops` calls in a Functional model (`x + 3.0`) as operation
            // layers of module keras.src.ops.*, whose class names can clash with layers' (Add). Its
            // legacy .h5 drops the module: an operation is then told by its config (a name only, no
            // `trainable`) and its operands (positional, not one list of tensors as a merge layer's).
            let isOperation = layer["module"]?.string.map { $0.hasPrefix("keras.src.ops") }
                ?? (kerasOperationConverters[className] != nil && config["trainable"] == nil && args?.array.map { $0.first?.array == nil } == true)
            guard let convert = isOperation ? kerasOperationConverters[className] : kerasLayerConverters[className] else {
                let reason = isOperation ? "the Keras operation keras.ops.\(className) is not supported (arithmetic, activations and reductions are)"
                    : unsupportedReason(className)
                throw KerasError.unsupportedLayer(file, layer: name, className: className, reason: reason)
            }
            var call = LayerCall(name: name, className: className, config: LayerConfig(json: config, file: file, layer: name),
                                 inputs: inputs, kwargs: kwargs, path: layerPath, trainable: layerTrainable)
            call.args = args
            outputs = try convert(self, call)
        }
        if isFirstCall, let i = layerIndex[layerPath] { graph.layers[i].outputs = outputs }
        return outputs
    }

    private func unsupportedReason(_ className: String) -> String {
        switch className {
        case "Lambda": return "it runs Python code stored in the file, which ModelPort cannot execute; rebuild the model with built-in layers"
        case "LSTM", "GRU", "SimpleRNN", "Bidirectional", "RNN", "ConvLSTM2D", "TimeDistributed":
            return "recurrent layers are not supported yet"
        case "SlicingOpLambda": return "tensor slicing operations are not supported"
        default: return "it is not a built-in layer ModelPort knows (a custom class, or a layer outside the supported set)"
        }
    }

    // MARK: Helpers for converters

    func uniqueName(_ base: String) -> String {
        var candidate = base
        var i = 1
        while usedNames.contains(candidate) {
            candidate = "\(base)_\(i)"
            i += 1
        }
        usedNames.insert(candidate)
        return candidate
    }

    func shape(_ value: String) -> Shape { shapes[value] ?? Shape([]) }

    /// Adds a node; `suffix` nil marks the node that produces the layer's output.
    @discardableResult
    func add(_ op: Op, _ inputs: [String], call: LayerCall, suffix: String? = nil) throws -> String {
        let out = uniqueName(suffix.map { "\(call.name)/\($0)" } ?? call.name)
        let inputShapes = inputs.map { $0.isEmpty ? nil : shapes[$0] }
        let outShapes: [Shape]
        do { outShapes = try op.outputShapes(inputShapes) } catch {
            throw KerasError.invalidLayer(file, layer: call.name, reason: (error as? ShapeError)?.message ?? "\(error)")
        }
        graph.nodes.append(Node(name: out, op: op, inputs: inputs, outputs: [out], layer: call.name))
        shapes[out] = outShapes[0]
        return out
    }

    /// The layer's parameters, loaded from the weights file on its first call and shared after.
    /// `expected` lists each variable's role, shape and whether training updates it.
    func parameters(_ call: LayerCall, _ expected: [(role: String, shape: [Int], trainable: Bool)]) throws -> [String] {
        if let existing = layerParameters[call.path] { return existing }
        let loaded = try weightSource.weights(layerPath: call.path, roles: expected.map(\.role))
        guard loaded.count == expected.count else {
            throw KerasError.weightsMismatch(file, reason: "layer '\(call.name)' (\(call.className)) needs \(expected.count) weight tensors (\(expected.map(\.role).joined(separator: ", "))), the file has \(loaded.count)")
        }
        var names: [String] = []
        for (spec, weight) in zip(expected, loaded) {
            guard weight.tensor.shape == spec.shape else {
                throw KerasError.weightsMismatch(file, reason: "layer '\(call.name)' \(spec.role) should have shape \(spec.shape), the file has \(weight.tensor.shape)")
            }
            let name = uniqueName("\(call.name)/\(spec.role)")
            graph.parameters.append(Parameter(name: name, tensor: weight.tensor, trainable: spec.trainable && call.trainable,
                                              layer: call.name, sourceName: weight.name, role: spec.role))
            parameterByDatasetPath[weight.path] = name
            shapes[name] = Shape(spec.shape.map { Optional($0) })
            names.append(name)
        }
        layerParameters[call.path] = names
        if let i = layerIndex[call.path] { graph.layers[i].parameters = names }
        return names
    }

    /// A constant operand (TFOpLambda's `y=2.0`), owned by no weights file.
    /// The tensor of a parameter this builder loaded.
    func parameterTensor(_ name: String) -> Tensor? { graph.parameters.first { $0.name == name }?.tensor }

    func constant(_ call: LayerCall, _ tensor: Tensor, role: String) -> String {
        let name = uniqueName("\(call.name)/\(role)")
        graph.parameters.append(Parameter(name: name, tensor: tensor, trainable: false, layer: call.name, sourceName: nil, isConstant: true))
        shapes[name] = Shape(tensor.shape.map { Optional($0) })
        return name
    }
}
