/// A named tensor the graph reads from outside: a model input.
public struct ValueInfo: Hashable, Sendable, Codable {
    public var name: String
    public var shape: Shape
    public var dtype: DType
    public init(name: String, shape: Shape, dtype: DType = .float32) {
        self.name = name; self.shape = shape; self.dtype = dtype
    }
}

/// A weight or constant tensor the graph owns.
public struct Parameter: Equatable, Sendable {
    public var name: String
    public var tensor: Tensor
    /// Whether training updates it (false for BN moving statistics, frozen layers, constants).
    public var trainable: Bool
    /// The source layer that owns it, when there is one.
    public var layer: String?
    /// The name the source file gives it (`conv2d/kernel:0`, `vars/0`), kept for saving back.
    public var sourceName: String?
    /// A constant operand written into the graph (`x * 2.0`), not a model weight: never
    /// trained, not counted as a parameter.
    public var isConstant: Bool
    /// What the weight is to its layer, in Keras' words (`kernel`, `moving_mean`), when known.
    public var role: String?

    public init(name: String, tensor: Tensor, trainable: Bool, layer: String? = nil, sourceName: String? = nil, isConstant: Bool = false,
                role: String? = nil) {
        self.name = name; self.tensor = tensor; self.trainable = trainable && !isConstant
        self.layer = layer; self.sourceName = sourceName; self.isConstant = isConstant; self.role = role
    }
}

/// One operation applied to named values, producing named values.
public struct Node: Hashable, Sendable {
    /// Unique within the graph.
    public var name: String
    public var op: Op
    /// Value or parameter names; "" marks an absent optional input.
    public var inputs: [String]
    public var outputs: [String]
    /// The source layer this node implements (a Keras layer name); the node that produces
    /// the layer's output carries it so per-layer validation can find it.
    public var layer: String?

    public init(name: String, op: Op, inputs: [String], outputs: [String], layer: String? = nil) {
        self.name = name; self.op = op; self.inputs = inputs; self.outputs = outputs; self.layer = layer
    }

    /// Input `i`, or "" (absent) when the node has fewer.
    public func input(at i: Int) -> String { i < inputs.count ? inputs[i] : "" }

    /// The name output `i` is kept under: its own, or one made for it when the graph leaves it
    /// unnamed (an ONNX optional output: TopK's indices its gradient reads).
    public func outputName(_ i: Int) -> String { outputs[i].isEmpty ? "\(name)#\(i)" : outputs[i] }
}

/// A layer as the source framework shows it: what `model.summary()` lists. Nodes implement
/// layers; this keeps the user's view (classes, nesting, inbound layers, owned weights).
public struct SourceLayer: Hashable, Sendable {
    public var name: String
    /// The framework's class name (`Conv2D`, `Functional`, `TFOpLambda`).
    public var className: String
    /// The nested model that contains this layer, or nil for a top-level layer.
    public var parent: String?
    /// Layers feeding it at its first call.
    public var inbound: [String]
    /// Values it produces at its first call (several for a multi-output model).
    public var outputs: [String]
    /// Parameters it owns directly (a nested model owns none; its layers do).
    public var parameters: [String]
    /// Whether `model.layers` lists it (a Sequential model's implicit InputLayer is hidden).
    public var listed: Bool
    /// The layer's entry in the source config (`class_name`, `config`, …), kept verbatim.
    public var config: JSONValue?

    public init(name: String, className: String, parent: String? = nil, inbound: [String] = [], outputs: [String] = [], parameters: [String] = [], listed: Bool = true) {
        self.name = name; self.className = className; self.parent = parent; self.inbound = inbound
        self.outputs = outputs; self.parameters = parameters; self.listed = listed
    }
}

/// What the source file says about the model beyond its graph.
public struct ModelMetadata: Equatable, Sendable {
    public var format: SourceFormat = .none
    public var modelName: String = ""
    /// `Sequential`, `Functional`, …
    public var modelClass: String = ""
    public var frameworkVersion: String?
    public var backend: String?
    /// Loss, optimizer and metrics, as the framework's JSON gives them.
    public var trainingConfig: JSONValue?
    /// Anything else worth keeping verbatim (the architecture file a weights file was read with).
    public var extra: [String: String] = [:]
    /// The source file's own configs and weights tree, for saving back to its format.
    public var source = SourceRecord()
    /// Layers (ONNX nodes) into which the exporter folded a BatchNormalization, with the
    /// evidence: its moving statistics are gone from the file.
    public var foldedBatchNormalization: [String: String] = [:]
    /// The PyTorch module (or Keras layer) each ONNX node came from, where the exporter noted
    /// it beside the node rather than in its name (torch.onnx's dynamo exporter: `node_relu_1`
    /// from `features.6`).
    public var sourceModules: [String: String] = [:]
    public init() {}
}

/// A computation graph: inputs, parameters, nodes in topological order, outputs.
public struct Graph: Sendable {
    public var inputs: [ValueInfo] = []
    public var outputs: [String] = []
    /// Element types the source declares for outputs that are not float32 (an ONNX ArgMax's
    /// int64, a Shape output). The engine computes in float32; outputs are written in these.
    public var outputTypes: [String: DType] = [:]
    public var nodes: [Node] = []
    /// Parameters in the order the source declares them.
    public var parameters: [Parameter] = []
    public var layers: [SourceLayer] = []
    public var metadata = ModelMetadata()

    public init() {}

    public func parameter(named name: String) -> Parameter? { parameters.first { $0.name == name } }

    /// Number of weight values (constants excluded), as Keras counts parameters.
    public var parameterCount: Int { parameters.filter { !$0.isConstant }.reduce(0) { $0 + $1.tensor.count } }
    public var trainableParameterCount: Int { parameters.filter(\.trainable).reduce(0) { $0 + $1.tensor.count } }

    /// Parameters owned by a layer and, for a nested model, by every layer inside it.
    public func parameters(ofLayer name: String) -> [Parameter] { parametersOfEveryLayer()[name] ?? [] }

    /// `parameters(ofLayer:)` for every layer at once, in time linear in the graph's size.
    public func parametersOfEveryLayer() -> [String: [Parameter]] {
        let byName = Dictionary(parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var children: [String: [String]] = [:]
        var direct: [String: [String]] = [:]
        for layer in layers {
            direct[layer.name, default: []] += layer.parameters
            if let parent = layer.parent { children[parent, default: []].append(layer.name) }
        }
        var result: [String: [Parameter]] = [:]
        func owned(_ name: String, _ visiting: inout Set<String>) -> [String] {
            guard visiting.insert(name).inserted else { return [] }
            return (direct[name] ?? []) + (children[name] ?? []).flatMap { owned($0, &visiting) }
        }
        for layer in layers where result[layer.name] == nil {
            var visiting = Set<String>()
            var seen = Set<String>()
            let names = owned(layer.name, &visiting).filter { seen.insert($0).inserted }
            result[layer.name] = names.compactMap { byName[$0] }.filter { !$0.isConstant }
        }
        return result
    }
}
