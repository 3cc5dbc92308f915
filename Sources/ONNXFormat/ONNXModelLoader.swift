import Foundation
import ModelIR
import SwiftProtobuf

/// Loads ONNX models (ai.onnx opsets 7–28) into a ModelIR graph.
///
/// ```swift
/// let graph = try ONNXModelLoader.load("model.onnx")
/// ```
public enum ONNXModelLoader {
    /// ai.onnx opsets read. Opsets 22–28 changed the supported ops only by adding element types
    /// (bfloat16, float8, int4) that ModelPort refuses anyway, so their graphs load too.
    public static let supportedOpsets = 7...28

    /// True when the file parses as an ONNX model with a graph (a cheap content check).
    public static func looksLikeONNX(_ path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path),
              let model = try? Onnx_ModelProto(serializedBytes: data) else { return false }
        return model.hasGraph && model.irVersion > 0
    }

    /// Loads the model at `path`. `bindings` gives values for graph inputs that an op needs as
    /// a constant (a Conv's weights, Reshape's shape, a Reduce's axes fed as graph inputs, as
    /// ONNX's node tests do): those inputs are read at load and, when nothing else reads them
    /// at run time, leave the graph's input list. Inputs an op reads as data are never folded.
    /// `dimensions` gives sizes to named input dimensions (`sequence` → 32): the graph is then
    /// made for that size, and its shape arithmetic folds at load (a plan per input-shape set).
    public static func load(_ path: String, bindings: [String: Tensor] = [:], dimensions: [String: Int] = [:]) throws -> Graph {
        guard FileManager.default.fileExists(atPath: path) else { throw ONNXError.unreadable(path, reason: "no such file") }
        guard let data = FileManager.default.contents(atPath: path) else { throw ONNXError.unreadable(path, reason: "the file cannot be read") }
        guard !data.isEmpty else { throw ONNXError.unreadable(path, reason: "the file is empty") }
        let model: Onnx_ModelProto
        do { model = try Onnx_ModelProto(serializedBytes: data) } catch BinaryDecodingError.messageDepthLimit {
            // SwiftProtobuf stops at 100 nested messages (If/Loop subgraphs within subgraphs).
            throw ONNXError.unreadable(path, reason: "messages nested more than 100 deep (subgraphs within subgraphs)")
        } catch {
            throw ONNXError.unreadable(path, reason: "not an ONNX model (the protobuf does not parse: truncated or not ONNX)")
        }
        guard model.hasGraph, model.irVersion > 0 else { throw ONNXError.unreadable(path, reason: "not an ONNX model (no graph or IR version)") }
        var opset = 0
        for o in model.opsetImport {
            if o.domain.isEmpty || o.domain == "ai.onnx" {
                opset = Int(o.version)
                guard supportedOpsets.contains(opset) else { throw ONNXError.unsupportedOpset(path, domain: o.domain, version: opset) }
            }
        }
        if opset == 0 { opset = 1 }
        guard supportedOpsets.contains(opset) else { throw ONNXError.unsupportedOpset(path, domain: "", version: opset) }

        let b = ONNXGraphBuilder(file: path)
        let reader = ONNXTensorReader(file: path, folder: URL(fileURLWithPath: path).deletingLastPathComponent())
        let g = model.graph
        for t in g.initializer { b.constants[t.name] = try reader.tensor(t, name: t.name) }
        for input in g.input where b.constants[input.name] == nil {
            let (shape, dtype) = try valueInfo(input, file: path, dimensions: dimensions)
            b.graph.inputs.append(ValueInfo(name: input.name, shape: shape, dtype: dtype))
            b.shapes[input.name] = shape
            b.dtypes[input.name] = dtype
            b.graph.layers.append(SourceLayer(name: input.name, className: "Input", outputs: [input.name]))
            if let bound = bindings[input.name] { b.bindings[input.name] = bound }
        }
        guard !g.output.isEmpty else { throw ONNXError.unreadable(path, reason: "the graph has no outputs") }
        for node in try sorted(g.node, available: Set(g.input.map(\.name)).union(g.initializer.map(\.name)), file: path) {
            let n = ONNXNode(proto: node, opset: opset)
            if !(node.domain.isEmpty || node.domain == "ai.onnx") {
                throw ONNXError.unsupportedOp(path, op: "\(node.domain).\(node.opType)", node: n.name, opset: opset)
            }
            guard let convert = onnxRegistry[node.opType] else {
                throw ONNXError.unsupportedOp(path, op: node.opType, node: n.name, opset: opset)
            }
            let needed = onnxRegistry.minimumInputs[node.opType] ?? (node.opType == "Constant" ? 0 : 1)
            guard !node.output.isEmpty, !node.output[0].isEmpty, node.input.count >= needed else {
                throw ONNXError.unreadable(path, reason: "node '\(n.name)' (\(node.opType)) has \(node.input.count) inputs and "
                                           + "\(node.output.count) outputs; it needs at least \(needed) and 1")
            }
            try convert(b, n)
            if let (place, evidence) = foldedBatchNormalizationEvidence(node) { b.graph.metadata.foldedBatchNormalization[place] = evidence }
            if let module = noteModule(node) { b.graph.metadata.sourceModules[n.name] = module }
        }
        for output in g.output {
            if let c = b.constants[output.name] {
                // A constant output (Shape of a static tensor, Constant): computed from a stored value.
                b.constants[output.name + "/value"] = c
                let stored = b.parameter(output.name + "/value", trainable: false)
                var proto = Onnx_NodeProto()
                proto.name = output.name
                proto.opType = "Constant"
                try b.add(.identity, [stored], output: output.name, node: ONNXNode(proto: proto, opset: opset))
            }
            if b.shapes[output.name] == nil, b.symbolic[output.name] != nil {
                // A shape known up to the batch size, as an output: built at run time.
                var proto = Onnx_NodeProto()
                proto.name = output.name
                proto.opType = "Shape"
                try b.materialize(output.name, node: ONNXNode(proto: proto, opset: opset))
            }
            guard b.shapes[output.name] != nil else { throw ONNXError.graph(path, .unknownOutput(output.name)) }
            b.graph.outputs.append(output.name)
            if let dtype = DType(onnx: output.type.tensorType.elemType) { b.graph.outputTypes[output.name] = dtype }
        }
        var graph = b.graph
        // Bound inputs read at load time (or made weights) are no longer inputs.
        let read = Set(graph.nodes.flatMap(\.inputs)).union(graph.outputs)
        let folded = Set(b.bindings.keys.filter { !read.contains($0) || b.parameterNames.contains($0) })
        graph.inputs.removeAll { folded.contains($0.name) }
        graph.layers.removeAll { folded.contains($0.name) && $0.className == "Input" }
        graph.metadata.format = .onnx
        graph.metadata.modelName = g.name.isEmpty ? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent : g.name
        graph.metadata.modelClass = "ONNX graph"
        graph.metadata.frameworkVersion = "IR \(model.irVersion), opset \(opset)" + (model.producerName.isEmpty ? "" : ", \(model.producerName) \(model.producerVersion)")
        graph.metadata.backend = model.producerName.isEmpty ? nil : model.producerName
        do { try graph.verify() } catch let e as GraphError { throw ONNXError.graph(path, e) }
        return graph
    }

    /// The named dimensions of the graph's inputs and outputs (`dim_param`), by value, `nil`
    /// where a dimension has a size or no name; values without any name are left out.
    public static func dimensionNames(_ path: String) -> [String: [String?]] {
        guard let data = FileManager.default.contents(atPath: path), let model = try? Onnx_ModelProto(serializedBytes: data) else { return [:] }
        let initializers = Set(model.graph.initializer.map(\.name))
        var names: [String: [String?]] = [:]
        for input in model.graph.input + model.graph.output where !initializers.contains(input.name) {
            names[input.name] = input.type.tensorType.shape.dim.map { d in
                if case .dimParam(let name)? = d.value, !name.isEmpty { return name }
                return nil
            }
        }
        return names.filter { $0.value.contains { $0 != nil } }
    }

    /// The graph's input names (initializers left out).
    public static func inputNames(_ path: String) -> Set<String> {
        guard let data = FileManager.default.contents(atPath: path), let model = try? Onnx_ModelProto(serializedBytes: data) else { return [] }
        return Set(model.graph.input.map(\.name)).subtracting(model.graph.initializer.map(\.name))
    }

    static func valueInfo(_ vi: Onnx_ValueInfoProto, file: String, dimensions: [String: Int] = [:]) throws -> (Shape, DType) {
        let t = vi.type.tensorType
        guard let dtype = DType(onnx: t.elemType) else {
            throw ONNXError.unreadable(file, reason: "input '\(vi.name)' has element type \(t.elemType), which ModelPort does not read")
        }
        let dims: [Int?] = try t.shape.dim.map { d in
            if case .dimParam(let name)? = d.value, let size = dimensions[name] { return size }
            guard case .dimValue(let v)? = d.value else { return nil }
            guard v >= 0, v <= Int64(Shape.largestDimension) else {
                throw ONNXError.unreadable(file, reason: "the value '\(vi.name)' has a dimension out of range (\(v))")
            }
            return Int(v)
        }
        return (Shape(dims), dtype)
    }

    /// Nodes in dependency order; a cycle or an input nothing produces is an error.
    static func sorted(_ nodes: [Onnx_NodeProto], available: Set<String>, file: String) throws -> [Onnx_NodeProto] {
        var known = available.union([""])
        var remaining = nodes
        var order: [Onnx_NodeProto] = []
        let produced = Set(nodes.flatMap(\.output))
        while !remaining.isEmpty {
            var next: [Onnx_NodeProto] = []
            for n in remaining {
                if n.input.allSatisfy(known.contains) {
                    order.append(n)
                    known.formUnion(n.output)
                } else {
                    next.append(n)
                }
            }
            if next.count == remaining.count {
                let n = next[0]
                let name = n.name.isEmpty ? (n.output.first ?? n.opType) : n.name
                if let missing = n.input.first(where: { !known.contains($0) && !produced.contains($0) }) {
                    throw ONNXError.graph(file, .danglingInput(node: name, input: missing))
                }
                throw ONNXError.graph(file, .cycle(nodes: next.map { $0.name.isEmpty ? ($0.output.first ?? $0.opType) : $0.name }))
            }
            remaining = next
        }
        return order
    }
}

/// What shows that an exporter folded a BatchNormalization into this node, and where (the node,
/// or the BatchNormalization layer it came from): the onnxscript rewriter (torch.onnx's dynamo
/// exporter) notes its rule on the node (FuseBatchNormIntoConv, …IntoGemm), tf2onnx names the
/// folded tensors `…_fused_bn` and turns a BatchNormalization it cannot fold into
/// `…/batchnorm/mul` and `…/batchnorm/add`, and the TorchScript exporter names tensors it
/// computed at export `onnx::Conv_N` (a module's own weights keep their `features.0.weight` names).
func foldedBatchNormalizationEvidence(_ node: Onnx_NodeProto) -> (String, String)? {
    let name = node.name.isEmpty ? (node.output.first ?? node.opType) : node.name
    if let rule = node.metadataProps.first(where: { $0.value.contains("BatchNorm") }) {
        return (name, "the exporter's rewriter rule \(rule.value)")
    }
    if node.opType == "Mul" || node.opType == "Add", let range = name.range(of: "/batchnorm/") {
        let layer = String(name[..<range.lowerBound])
        return (layer, "tf2onnx's Mul and Add named '\(layer)/batchnorm/…'")
    }
    guard onnxRegistry.batchNormalizationHosts.contains(node.opType) else { return nil }
    let weights = node.input.dropFirst().prefix(2)
    if let fused = weights.first(where: { $0.contains("fused_bn") }) { return (name, "tf2onnx's folded weights '\(fused)'") }
    if let computed = weights.first(where: { $0.hasPrefix("onnx::\(node.opType)_") }) {
        return (name, "weights computed at export ('\(computed)'), as torch.onnx makes them when it folds a BatchNorm into the layer")
    }
    return nil
}

/// The module torch.onnx's dynamo exporter notes on a node: `pkg.torch.onnx.name_scopes` is a
/// Python list of the module path, ending with the node's own name
/// (`['', 'features', 'features.6', 'relu_1']` → `features.6`).
func noteModule(_ node: Onnx_NodeProto) -> String? {
    guard let scopes = node.metadataProps.first(where: { $0.key == "pkg.torch.onnx.name_scopes" })?.value else { return nil }
    let parts = scopes.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ",").map {
        $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
    }.filter { !$0.isEmpty }
    return parts.count >= 2 ? parts[parts.count - 2] : nil
}
