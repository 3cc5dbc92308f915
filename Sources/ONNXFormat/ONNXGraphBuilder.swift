import Foundation
import ModelIR

/// A dimension in a shape computation: a number, the batch size (unknown until run time), or
/// something unknown.
enum SymbolicDim: Equatable {
    case value(Int)
    case batch
    /// The batch size times a known number (the element count of a sample-shaped slice).
    case batchTimes(Int)
    case unknown

    /// The product of shape entries (an element count): known entries multiply; one batch entry
    /// among them makes "batch × product"; anything else is unknown.
    static func product(_ dims: [SymbolicDim]) -> SymbolicDim {
        dims.reduce(.value(1)) { acc, d in
            // A product that overflows is no size at all: unknown, and refused where it is needed.
            func times(_ a: Int, _ b: Int) -> Int? {
                let (p, overflow) = a.multipliedReportingOverflow(by: b)
                return overflow ? nil : p
            }
            switch (acc, d) {
            case let (.value(a), .value(x)): return times(a, x).map(SymbolicDim.value) ?? .unknown
            case let (.value(a), .batch), let (.batch, .value(a)): return a == 1 ? .batch : .batchTimes(a)
            case let (.value(a), .batchTimes(k)), let (.batchTimes(k), .value(a)): return times(a, k).map(SymbolicDim.batchTimes) ?? .unknown
            default: return .unknown
            }
        }
    }
}

extension SymbolicDim: CustomStringConvertible {
    var description: String {
        switch self {
        case .value(let v): return "\(v)"
        case .batch: return "batch"
        case .batchTimes(let k): return "\(k)·batch"
        case .unknown: return "?"
        }
    }
}

/// One ONNX node as an op converter sees it.
struct ONNXNode {
    let proto: Onnx_NodeProto
    let opset: Int
    var name: String { proto.name.isEmpty ? (proto.output.first ?? proto.opType) : proto.name }
    var inputs: [String] { proto.input }
    var outputs: [String] { proto.output }
    func input(_ i: Int) -> String? { i < proto.input.count && !proto.input[i].isEmpty ? proto.input[i] : nil }

    func attribute(_ name: String) -> Onnx_AttributeProto? { proto.attribute.first { $0.name == name } }
    func int(_ name: String, _ d: Int) -> Int { attribute(name).map { Int($0.i) } ?? d }
    func float(_ name: String, _ d: Float) -> Float { attribute(name).map { $0.f } ?? d }
    func ints(_ name: String) -> [Int]? { attribute(name).map { $0.ints.map { Int($0) } } }
    func string(_ name: String, _ d: String) -> String { attribute(name).map { String(decoding: $0.s, as: UTF8.self) } ?? d }
}

typealias ONNXConverter = @Sendable (ONNXGraphBuilder, ONNXNode) throws -> Void

/// Builds a ModelIR graph from an ONNX graph: one op registry entry per op family; constant
/// inputs are kept as tensors so shape subgraphs (Shape → Gather → Concat → Reshape) fold at load.
final class ONNXGraphBuilder {
    let file: String
    var graph = Graph()
    var shapes: [String: Shape] = [:]
    var dtypes: [String: DType] = [:]
    /// Values known at load time: initializers, Constant outputs, folded results.
    var constants: [String: Tensor] = [:]
    /// Integer vectors known up to the batch size (from Shape of a batched tensor).
    var symbolic: [String: [SymbolicDim]] = [:]
    var parameterNames = Set<String>()
    /// Values given for graph inputs at load time (`ONNXModelLoader.load(_:bindings:)`). An op
    /// reads them only where it needs a constant operand after its data input: weights, axes,
    /// pads, scales, shapes. Data inputs still flow through the engine at run time.
    var bindings: [String: Tensor] = [:]

    init(file: String) { self.file = file }

    func fail(_ node: ONNXNode, _ reason: String) -> ONNXError { .invalidNode(file, node: node.name, reason: reason) }

    /// The input's value, known constant. Operands after the first may also be graph inputs
    /// bound at load time.
    func constant(_ node: ONNXNode, _ i: Int) -> Tensor? {
        node.input(i).flatMap { constants[$0] ?? (i > 0 ? bindings[$0] : nil) }
    }

    /// An integer operand (a shape, axes) known at load time, batch entries allowed: folded,
    /// constant or bound.
    func shapeOperand(_ node: ONNXNode, _ i: Int) -> [SymbolicDim]? {
        guard let name = node.input(i) else { return nil }
        if let v = symbolicVector(name) { return v }
        return bindings[name].map { $0.integers.map { .value($0) } }
    }

    /// An integer vector input, known at load time (batch entries allowed).
    func symbolicVector(_ name: String) -> [SymbolicDim]? {
        if let s = symbolic[name] { return s }
        if let c = constants[name], c.dtype != .float32 || c.shape.count <= 1 { return c.integers.map { .value($0) } }
        return nil
    }

    /// Records an integer vector computed at load time: a constant when every entry is known.
    func setVector(_ name: String, _ dims: [SymbolicDim], scalar: Bool = false) {
        let values = dims.compactMap { d -> Int? in if case .value(let v) = d { return v }; return nil }
        if values.count == dims.count {
            constants[name] = Tensor(int64: values, shape: scalar ? [] : [values.count])
        } else {
            symbolic[name] = dims
        }
    }

    /// Makes a constant usable as a node input (a graph parameter).
    func parameter(_ name: String, trainable: Bool = true) -> String {
        if parameterNames.insert(name).inserted, let t = constants[name] {
            graph.parameters.append(Parameter(name: name, tensor: t, trainable: trainable && t.dtype.isFloatingPoint, layer: nil, sourceName: name))
            shapes[name] = Shape(t.shape.map { Optional($0) })
        }
        return name
    }

    /// A value as a node input: a constant becomes a parameter, anything else must already exist.
    func value(_ node: ONNXNode, _ i: Int, trainable: Bool = false) throws -> String {
        guard let name = node.input(i) else { throw fail(node, "input \(i) is missing") }
        if constants[name] != nil { return parameter(name, trainable: trainable) }
        if shapes[name] == nil, symbolic[name] != nil { try materialize(name, node: node) }
        guard shapes[name] != nil else { throw ONNXError.graph(file, .danglingInput(node: node.name, input: name)) }
        return name
    }

    /// Turns a shape vector known up to the batch size into a value computed at run time, for
    /// when it is used as data (a graph output, an operand of arithmetic that does not fold).
    func materialize(_ name: String, node: ONNXNode) throws {
        guard let dims = symbolic[name] else { return }
        let entries = try dims.map { d -> (Int, Int) in
            switch d {
            case .value(let v): return (v, 0)
            case .batch: return (0, 1)
            case .batchTimes(let k): return (0, k)
            case .unknown: throw fail(node, "a shape entry of '\(name)' that is neither known nor a multiple of the batch size is not supported as data")
            }
        }
        guard let source = batchSource else { throw fail(node, "'\(name)' needs a batch size, but no graph input has one") }
        try add(.batchShape(offsets: entries.map(\.0), factors: entries.map(\.1)), [source], output: name, node: node)
        dtypes[name] = .int64
    }

    /// Stores a tensor made at load (a scaled bias, an epsilon) as a parameter and returns its name.
    func stored(_ name: String, _ t: Tensor, trainable: Bool = false) -> String {
        constants[name] = t
        return parameter(name, trainable: trainable)
    }

    /// A weight operand (a kernel, bias, scale, statistics): a constant or a bound graph input
    /// becomes a parameter; a value computed at run time is passed as it is.
    func weight(_ node: ONNXNode, _ i: Int, trainable: Bool = true) throws -> String {
        if let name = node.input(i), constants[name] == nil, let bound = bindings[name] { constants[name] = bound }
        return try value(node, i, trainable: trainable)
    }

    /// A graph input whose first axis is the batch (its size known only at run time), for ops
    /// whose shapes have batch-sized entries.
    var batchSource: String? { graph.inputs.first { $0.shape.dims.first.map { $0 == nil } ?? false }?.name }

    /// A value's shape: computed, or a constant's (folded shape arithmetic has no entry in `shapes`).
    func shape(_ name: String) -> Shape { shapes[name] ?? constants[name].map { Shape($0.shape.map { Optional($0) }) } ?? Shape([]) }

    /// Adds an IR node producing `output` (the ONNX output name is kept, so validate can find it).
    func add(_ op: Op, _ inputs: [String], output: String, node: ONNXNode) throws {
        try add(op, inputs, outputs: [output], node: node)
    }

    /// Adds an IR node producing `outputs` ("" for an output the graph leaves unnamed), of element
    /// types `types` (float32 where not given).
    func add(_ op: Op, _ inputs: [String], outputs: [String], types: [DType] = [], node: ONNXNode) throws {
        let inputShapes = inputs.map { $0.isEmpty ? nil : shapes[$0] }
        let out: [Shape]
        do { out = try op.outputShapes(inputShapes) } catch {
            throw fail(node, (error as? ShapeError)?.message ?? "\(error)")
        }
        guard out.count >= outputs.count, let first = outputs.first else { throw fail(node, "it has \(outputs.count) outputs; the op makes \(out.count)") }
        graph.nodes.append(Node(name: uniqueNodeName(first.isEmpty ? node.name : first), op: op, inputs: inputs, outputs: outputs, layer: node.name))
        // Element types: as given, else by the op's type rule (a comparison's bool, integer arithmetic's int64).
        let inferred = op.outputTypes(inputs.map { $0.isEmpty ? .float32 : dtypes[$0] ?? constants[$0]?.dtype ?? .float32 })
        for (i, output) in outputs.enumerated() where !output.isEmpty {
            shapes[output] = out[i]
            dtypes[output] = i < types.count ? types[i] : i < inferred.count ? inferred[i] : .float32
        }
        let named = outputs.filter { !$0.isEmpty }
        let layer = SourceLayer(name: node.name, className: node.proto.opType, inbound: inputs.filter { !$0.isEmpty && !parameterNames.contains($0) },
                                outputs: named, parameters: inputs.filter { parameterNames.contains($0) })
        if let i = layerIndex[node.name] {
            graph.layers[i].outputs = named
            graph.layers[i].parameters += layer.parameters
        } else {
            layerIndex[node.name] = graph.layers.count
            graph.layers.append(layer)
        }
    }

    /// An intermediate value name for nodes that need several IR nodes.
    func temporary(_ node: ONNXNode, _ suffix: String) -> String { "\(node.name)/\(suffix)" }

    var usedNodeNames = Set<String>()
    /// Where each ONNX node's layer sits in `graph.layers` (a dictionary: graphs have 10^5 nodes).
    var layerIndex: [String: Int] = [:]
    func uniqueNodeName(_ base: String) -> String {
        var name = base
        var i = 1
        while usedNodeNames.contains(name) { name = "\(base)_\(i)"; i += 1 }
        usedNodeNames.insert(name)
        return name
    }

    /// Records a value as an alias of another (Identity, Dropout, a no-op Cast).
    func alias(_ output: String, _ input: String, node: ONNXNode) throws {
        if let c = constants[input] { constants[output] = c; return }
        if let s = symbolic[input] { symbolic[output] = s; return }
        try add(.identity, [input], output: output, node: node)
    }
}
