extension Graph {
    /// A readable listing: inputs, one line per node with its output shape, outputs.
    public func printed() -> String {
        let shapes = (try? verify()) ?? [:]
        let parameterNames = Set(parameters.map(\.name))
        var lines = ["graph \(metadata.modelName.isEmpty ? "model" : metadata.modelName) (\(metadata.format.rawValue))"]
        for input in inputs { lines.append("  input  \(input.name): \(input.dtype.rawValue) \(input.shape)") }
        for node in nodes {
            let args = node.inputs.map { $0.isEmpty ? "_" : (parameterNames.contains($0) ? "@" + $0 : "%" + $0) }
            let outs = node.outputs.map { "%\($0)" }.joined(separator: ", ")
            let shape = node.outputs.first.flatMap { shapes[$0] }.map { " -> \($0)" } ?? ""
            let layer = node.layer.map { $0 == node.outputs.first ? "" : "  [\($0)]" } ?? ""
            lines.append("  \(outs) = \(node.op.displayName)(\(args.joined(separator: ", ")))\(shape)\(layer)")
        }
        lines.append("  output " + outputs.map { "%\($0)" }.joined(separator: ", "))
        lines.append("  parameters \(parameterCount) (\(trainableParameterCount) trainable) in \(parameters.count) tensors")
        return lines.joined(separator: "\n")
    }
}
