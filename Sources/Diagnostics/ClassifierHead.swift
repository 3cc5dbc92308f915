import ModelIR

/// What the model's (first) output is: the activation of the last layer and its width.
public struct ClassifierHead: Sendable {
    public enum Kind: String, Sendable { case sigmoid, softmax, linear, other }
    public var kind: Kind
    public var units: Int
    /// The value holding the scores.
    public var output: String
    /// The value before the final activation (the logits), when there is one.
    public var logits: String?
    /// The Keras layer that produces the output.
    public var layer: String

    public init(graph: Graph) {
        let output = graph.outputs.first ?? ""
        self.output = output
        let shapes = (try? graph.verify()) ?? [:]
        units = shapes[output]?.dims.last.flatMap { $0 } ?? 0
        let producer = graph.nodes.first { $0.outputs.contains(output) }
        layer = producer?.layer ?? output
        switch producer?.op {
        case .activation(.sigmoid)?: kind = .sigmoid; logits = producer?.inputs.first
        case .activation(.softmax)?: kind = .softmax; logits = producer?.inputs.first
        case .dense?, .convolution?: kind = .linear; logits = output
        case .activation(.linear)?: kind = .linear; logits = output
        default: kind = .other; logits = nil
        }
    }

    /// Whether the data checks can read a binary score from this head.
    public var isBinary: Bool { (kind == .sigmoid && units == 1) || (kind == .softmax && units == 2) }

    /// The probability of class 1 for each sample of an output batch.
    public func scores(_ values: [Float]) -> [Float] {
        if kind == .softmax, units == 2 { return stride(from: 1, to: values.count, by: 2).map { values[$0] } }
        return values
    }

    public var description: String {
        switch kind {
        case .sigmoid: return "Dense(\(units), sigmoid)"
        case .softmax: return "Dense(\(units), softmax)"
        case .linear: return "a linear output of \(units) unit\(units == 1 ? "" : "s")"
        case .other: return "an output of \(units) unit\(units == 1 ? "" : "s") without sigmoid or softmax"
        }
    }
}
