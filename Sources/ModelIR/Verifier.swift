/// What makes a graph invalid.
public enum GraphError: Error, Equatable, CustomStringConvertible {
    case danglingInput(node: String, input: String)
    case duplicateValue(String)
    case cycle(nodes: [String])
    case shapeConflict(node: String, layer: String?, message: String)
    case unknownOutput(String)

    public var description: String {
        switch self {
        case let .danglingInput(node, input): return "node '\(node)' reads '\(input)', which nothing produces"
        case let .duplicateValue(v): return "the value '\(v)' is produced twice"
        case let .cycle(nodes): return "the graph has a cycle through \(nodes.prefix(5).map { "'\($0)'" }.joined(separator: ", "))"
        case let .shapeConflict(node, layer, message):
            if let layer, layer != node { return "layer '\(layer)' (node '\(node)'): \(message)" }
            return "layer '\(node)': \(message)"
        case let .unknownOutput(v): return "the graph output '\(v)' is not produced by any node"
        }
    }
}

extension Graph {
    /// Orders nodes so every node comes after the producers of its inputs.
    public mutating func sortTopologically() throws {
        var producer: [String: Int] = [:]
        for (i, node) in nodes.enumerated() {
            for out in node.outputs {
                guard producer.updateValue(i, forKey: out) == nil else { throw GraphError.duplicateValue(out) }
            }
        }
        let external = Set(inputs.map(\.name)).union(parameters.map(\.name))
        var indegree = [Int](repeating: 0, count: nodes.count)
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (i, node) in nodes.enumerated() {
            for input in node.inputs where !input.isEmpty {
                if let p = producer[input] {
                    indegree[i] += 1
                    consumers[p].append(i)
                } else if !external.contains(input) {
                    throw GraphError.danglingInput(node: node.name, input: input)
                }
            }
        }
        var ready = (0..<nodes.count).filter { indegree[$0] == 0 }.reversed() as [Int]
        var order: [Int] = []
        while let i = ready.popLast() {
            order.append(i)
            for c in consumers[i].reversed() {
                indegree[c] -= 1
                if indegree[c] == 0 { ready.append(c) }
            }
        }
        guard order.count == nodes.count else {
            let stuck = (0..<nodes.count).filter { indegree[$0] > 0 }.map { nodes[$0].name }
            throw GraphError.cycle(nodes: stuck)
        }
        nodes = order.map { nodes[$0] }
    }

    /// Checks that every input is defined before use, nothing is produced twice, the
    /// outputs exist, and every op accepts its input shapes. Returns every value's shape.
    @discardableResult
    public func verify() throws -> [String: Shape] {
        var shapes: [String: Shape] = [:]
        for input in inputs {
            guard shapes.updateValue(input.shape, forKey: input.name) == nil else { throw GraphError.duplicateValue(input.name) }
        }
        for p in parameters {
            guard shapes.updateValue(Shape(p.tensor.shape.map { Optional($0) }), forKey: p.name) == nil else { throw GraphError.duplicateValue(p.name) }
        }
        let produced = Set(nodes.flatMap(\.outputs))
        for node in nodes {
            var inputShapes: [Shape?] = []
            for input in node.inputs {
                if input.isEmpty { inputShapes.append(nil); continue }
                guard let s = shapes[input] else {
                    if produced.contains(input) { throw GraphError.cycle(nodes: [node.name]) }
                    throw GraphError.danglingInput(node: node.name, input: input)
                }
                inputShapes.append(s)
            }
            let outs: [Shape]
            do { outs = try node.op.outputShapes(inputShapes) } catch {
                throw GraphError.shapeConflict(node: node.name, layer: node.layer, message: (error as? ShapeError)?.message ?? "\(error)")
            }
            for (name, shape) in zip(node.outputs, outs) where !name.isEmpty {
                guard shapes.updateValue(shape, forKey: name) == nil else { throw GraphError.duplicateValue(name) }
            }
        }
        for out in outputs where shapes[out] == nil { throw GraphError.unknownOutput(out) }
        return shapes
    }
}
