import ModelIR

/// What `inspect` shows: the model's inputs, outputs, layers and parameter counts, as
/// Keras' `model.summary()` reports them.
public struct ModelSummary: Sendable {
    public struct TensorInfo: Sendable {
        public var name: String
        public var shape: Shape
        public var dtype: DType
        /// The file's names of the dimensions (ONNX `dim_param`), nil where unnamed; empty when none.
        public var dimensionNames: [String?] = []

        /// `(batch, sequence)`: names where the file gives them, sizes elsewhere.
        public var shapeText: String {
            guard !dimensionNames.isEmpty else { return shape.description }
            let parts = shape.dims.enumerated().map { i, d in
                (i < dimensionNames.count ? dimensionNames[i] : nil) ?? d.map(String.init) ?? "None"
            }
            return "(" + parts.joined(separator: ", ") + (parts.count == 1 ? ",)" : ")")
        }
    }

    public struct LayerRow: Sendable {
        public var name: String
        public var type: String
        public var outputShapes: [Shape]
        public var parameters: Int
        public var trainableParameters: Int
        public var inbound: [String]
        public var parent: String?
        public var depth: Int
    }

    public var format: SourceFormat
    public var modelName: String
    public var modelClass: String
    public var frameworkVersion: String?
    public var backend: String?
    public var inputs: [TensorInfo]
    public var outputs: [TensorInfo]
    public var layers: [LayerRow]
    public var parameters: Int
    public var trainableParameters: Int
    public var trainingConfig: JSONValue?
    /// The sizes the layer shapes are shown for, by dimension name, when the graph is made per
    /// size of a named dimension (`Model.specialized(for:)`).
    public var shownFor: [String: Int] = [:]

    public var nonTrainableParameters: Int { parameters - trainableParameters }
}

extension Model {
    public func summary() -> ModelSummary {
        let shapes = (try? graph.verify()) ?? [:]
        // Depth-first: each nested model's layers right after its own row, as Keras prints them.
        var children: [String?: [SourceLayer]] = [:]
        for layer in graph.layers where layer.listed { children[layer.parent, default: []].append(layer) }
        var ordered: [(SourceLayer, Int)] = []
        var visited = Set<String>()
        func visit(_ parent: String?, depth: Int) {
            for layer in children[parent] ?? [] where visited.insert(layer.name).inserted || parent != nil {
                ordered.append((layer, depth))
                if children[layer.name] != nil, depth < 32 { visit(layer.name, depth: depth + 1) }
            }
        }
        visit(nil, depth: 0)
        var rows: [ModelSummary.LayerRow] = []
        let parametersByLayer = graph.parametersOfEveryLayer()
        for (layer, d) in ordered {
            let owned = parametersByLayer[layer.name] ?? []
            rows.append(.init(name: layer.name, type: layer.className,
                              outputShapes: layer.outputs.map { shapes[$0] ?? Shape([]) },
                              parameters: owned.reduce(0) { $0 + $1.tensor.count },
                              trainableParameters: owned.filter(\.trainable).reduce(0) { $0 + $1.tensor.count },
                              inbound: layer.inbound, parent: layer.parent, depth: d))
        }
        let dtypes = Dictionary(graph.inputs.map { ($0.name, $0.dtype) }, uniquingKeysWith: { a, _ in a })
        /// A value's shape with its named dimensions left open, and those names.
        func info(_ name: String, _ shape: Shape, _ dtype: DType) -> ModelSummary.TensorInfo {
            guard let names = dimensionNames[name] else { return .init(name: name, shape: shape, dtype: dtype) }
            let open = Shape(shape.dims.enumerated().map { i, d in i < names.count && names[i] != nil ? nil : d })
            return .init(name: name, shape: open, dtype: dtype, dimensionNames: names)
        }
        var summary = ModelSummary(
            format: graph.metadata.format, modelName: graph.metadata.modelName, modelClass: graph.metadata.modelClass,
            frameworkVersion: graph.metadata.frameworkVersion, backend: graph.metadata.backend,
            inputs: graph.inputs.map { info($0.name, $0.shape, $0.dtype) },
            outputs: graph.outputs.map { info($0, shapes[$0] ?? Shape([]), graph.outputTypes[$0] ?? dtypes[$0] ?? .float32) },
            layers: rows, parameters: graph.parameterCount, trainableParameters: graph.trainableParameterCount,
            trainingConfig: graph.metadata.trainingConfig)
        summary.shownFor = dimensions
        return summary
    }
}

extension ModelSummary {
    static func shapeJSON(_ s: Shape) -> JSONValue { .array(s.dims.map { $0.map { .number(Double($0)) } ?? .null }) }

    /// The `--json` document (Schemas/inspect.schema.json).
    public var json: JSONValue {
        func tensor(_ t: TensorInfo) -> JSONValue {
            var o: [String: JSONValue] = ["name": .string(t.name), "shape": Self.shapeJSON(t.shape), "dtype": .string(t.dtype.rawValue)]
            if !t.dimensionNames.isEmpty { o["dimension_names"] = .array(t.dimensionNames.map { $0.map(JSONValue.string) ?? .null }) }
            return .object(o)
        }
        let layerJSON: [JSONValue] = layers.map { row in
            let shape: JSONValue = row.outputShapes.count == 1 ? Self.shapeJSON(row.outputShapes[0]) : .array(row.outputShapes.map(Self.shapeJSON))
            return ["name": .string(row.name), "type": .string(row.type), "output_shape": shape,
                    "parameters": .number(Double(row.parameters)), "trainable_parameters": .number(Double(row.trainableParameters)),
                    "inbound": .array(row.inbound.map(JSONValue.string)), "parent": row.parent.map(JSONValue.string) ?? .null,
                    "depth": .number(Double(row.depth))]
        }
        return ["format": .string(format.rawValue), "model_name": .string(modelName), "model_class": .string(modelClass),
                "framework_version": frameworkVersion.map(JSONValue.string) ?? .null, "backend": backend.map(JSONValue.string) ?? .null,
                "inputs": .array(inputs.map(tensor)), "outputs": .array(outputs.map(tensor)),
                "parameters": .number(Double(parameters)), "trainable_parameters": .number(Double(trainableParameters)),
                "non_trainable_parameters": .number(Double(nonTrainableParameters)),
                "layers": .array(layerJSON), "training_config": trainingConfig ?? .null]
    }

    /// A table in the manner of `model.summary()`.
    public var text: String {
        func grouped(_ n: Int) -> String {
            let s = String(n)
            var out = ""
            for (i, c) in s.reversed().enumerated() {
                if i > 0, i % 3 == 0 { out.append(",") }
                out.append(c)
            }
            return String(out.reversed())
        }
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : s + String(repeating: " ", count: w - s.count) }
        var lines: [String] = []
        var header = "Model: \"\(modelName)\" (\(modelClass))  format: \(format.rawValue)"
        if let v = frameworkVersion { header += format == .onnx ? ", \(v)" : ", Keras \(v)" }
        if let b = backend, format != .onnx { header += " (\(b))" }
        lines.append(header)
        for t in inputs { lines.append("Input:  \(t.name)  \(t.dtype.rawValue)  \(t.shapeText)") }
        for t in outputs { lines.append("Output: \(t.name)  \(t.dtype.rawValue)  \(t.shapeText)") }
        if !shownFor.isEmpty {
            let sizes = shownFor.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: ", ")
            lines.append("(the graph is made for each size of its named dimensions; layer shapes below are for \(sizes))")
        }
        let nameWidth = max(28, (layers.map { $0.name.count + $0.type.count + 3 + 2 * $0.depth }.max() ?? 0) + 2)
        let shapeWidth = max(22, (layers.flatMap { $0.outputShapes.map(\.description.count) }.max() ?? 0) + 2)
        let rule = String(repeating: "─", count: nameWidth + shapeWidth + 12 + 20)
        lines.append(rule)
        lines.append(pad("Layer (type)", nameWidth) + pad("Output Shape", shapeWidth) + pad("Param #", 12) + "Connected to")
        lines.append(rule)
        for row in layers {
            let indent = String(repeating: "  ", count: row.depth)
            let shape = row.outputShapes.map(\.description).joined(separator: ", ")
            lines.append(pad("\(indent)\(row.name) (\(row.type))", nameWidth) + pad(shape, shapeWidth) + pad(grouped(row.parameters), 12) + row.inbound.joined(separator: ", "))
        }
        lines.append(rule)
        lines.append("Total params: \(grouped(parameters))")
        lines.append("Trainable params: \(grouped(trainableParameters))")
        lines.append("Non-trainable params: \(grouped(nonTrainableParameters))")
        if let t = trainingConfig {
            var parts: [String] = []
            if let loss = t["loss"], !loss.isNull { parts.append("loss \(loss.string ?? loss.description)") }
            if let opt = t["optimizer"]?.string {
                parts.append("optimizer \(opt)" + (t["learning_rate"]?.double.map { " (learning_rate \(Self.hyperparameter($0)))" } ?? ""))
            }
            if let m = t["metrics"]?.array, !m.isEmpty { parts.append("metrics " + m.compactMap(\.string).joined(separator: ", ")) }
            lines.append("Training config: " + parts.joined(separator: "; "))
        } else if format != .onnx {
            lines.append("Training config: none (the file was saved without compile())")
        }
        return lines.joined(separator: "\n")
    }

    /// A hyperparameter as Keras shows it: Keras keeps them as float32, which its JSON writes in
    /// full (`0.0010000000474974513`); the shortest float32 spelling is what the user typed.
    static func hyperparameter(_ v: Double) -> String {
        let single = Float(v)
        return Double(single) == v ? "\(single)" : "\(v)"
    }
}
