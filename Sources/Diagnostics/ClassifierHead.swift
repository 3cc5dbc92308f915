import Foundation
import ModelIR

/// What the model's (first) output is: the activation of the last layer and its width, read
/// from the graph's ops (the same for a Keras Dense(1, sigmoid), a tf2onnx MatMul → Add →
/// Sigmoid and a PyTorch Linear with a raw logit).
public struct ClassifierHead: Sendable {
    public enum Kind: String, Sendable { case sigmoid, softmax, linear, other }
    public var kind: Kind
    public var units: Int
    /// The value holding the scores.
    public var output: String
    /// The value before the final activation (the logits), when there is one.
    public var logits: String?
    /// What the last Dense (Gemm, MatMul) reads: the features the head separates.
    public var features: String?
    /// The layer (Keras) or node (ONNX) that produces the output.
    public var layer: String
    /// A linear output of one unit read as a logit (PyTorch's BCEWithLogitsLoss, Keras'
    /// from_logits=True): its scores are sigmoid(output). False when the training
    /// configuration gives a loss that is not a binary cross-entropy.
    public var rawLogit: Bool
    /// A linear output of two units read as logits of a cross-entropy (PyTorch's
    /// CrossEntropyLoss, Keras' sparse_categorical_crossentropy(from_logits=True), a Hugging Face
    /// `…ForSequenceClassification` with two labels): class 1's probability is softmax(output)[1].
    public var twoLogits = false

    /// The head of `graph`; `loss` (given by the user) stands in for a missing training configuration.
    public init(graph: Graph, loss given: TrainingLoss? = nil) {
        let output = graph.outputs.first ?? ""
        self.output = output
        let shapes = (try? graph.verify()) ?? [:]
        // A rank-1 output (PyTorch's `.squeeze(1)`) holds one value per sample.
        units = shapes[output].map { $0.rank == 1 ? 1 : ($0.dims.last.flatMap { $0 } ?? 0) } ?? 0
        let producers = Dictionary(graph.nodes.flatMap { n in n.outputs.map { ($0, n) } }, uniquingKeysWith: { a, _ in a })
        let parameters = Set(graph.parameters.map(\.name))
        var producer = producers[output]
        // Look through nodes that pass the value on unchanged, and reshapes (PyTorch's `.squeeze(1)` after the last Linear).
        let lookedThrough: OpTraits = [.passThroughAtInference, .onlyReshapes]
        while let p = producer, !p.op.traits.isDisjoint(with: lookedThrough), let input = p.inputs.first { producer = producers[input] }
        layer = producer?.layer ?? output
        var kind = Kind.other
        var logits: String?
        if let p = producer {
            if case .activation(.sigmoid) = p.op {
                kind = .sigmoid; logits = p.inputs.first
            } else if case .activation(.softmax) = p.op {
                kind = .softmax; logits = p.inputs.first
            } else if case .convolution = p.op {
                kind = .linear; logits = p.outputs.first
            } else if p.op.traits.contains(.linearLayer) || p.op == .activation(.linear)
                        || (p.op == .elementwise(.add) && p.inputs.count == 2 && p.inputs.contains(where: parameters.contains)) {
                kind = .linear; logits = p.outputs.first
            }
        }
        self.kind = kind
        self.logits = logits
        // The features: through a bias Add to the Dense/MatMul that makes the logits.
        var linear = logits.flatMap { producers[$0] }
        if let p = linear, case .elementwise(.add) = p.op, let data = p.inputs.first(where: { !parameters.contains($0) }) { linear = producers[data] }
        if let p = linear, p.op.traits.contains(.linearLayer) { features = p.inputs.first } else { features = nil }
        let loss = given ?? graph.metadata.trainingConfig.flatMap { TrainingLoss(configuration: $0, output: producer?.layer ?? output) }
        rawLogit = kind == .linear && units == 1 && (loss.map { $0.isBinaryCrossEntropy && $0.fromLogits } ?? true)
        twoLogits = kind == .linear && units == 2 && (loss.map { $0.isCategoricalCrossEntropy && $0.fromLogits } ?? false)
    }

    /// Whether the data checks can read a binary score from this head.
    public var isBinary: Bool { (kind == .sigmoid && units == 1) || (kind == .softmax && units == 2) || rawLogit || twoLogits }

    /// The probability of class 1 for each sample of an output batch.
    public func scores(_ values: [Float]) -> [Float] {
        if kind == .softmax, units == 2 { return stride(from: 1, to: values.count, by: 2).map { values[$0] } }
        if rawLogit { return values.map { 1 / (1 + Foundation.exp(-$0)) } }
        if twoLogits { return stride(from: 1, to: values.count, by: 2).map { 1 / (1 + Foundation.exp(values[$0 - 1] - values[$0])) } }
        return values
    }

    /// The loss a head implies when the file has no training configuration.
    public var impliedLoss: String? {
        switch kind {
        case .sigmoid: return units == 1 ? "binary cross-entropy (Keras binary_crossentropy, PyTorch BCELoss)" : "binary cross-entropy per unit (multi-label)"
        case .softmax: return units == 1 ? nil : "categorical cross-entropy (Keras (sparse_)categorical_crossentropy, PyTorch CrossEntropyLoss on the logits)"
        case .linear where units == 1:
            return "binary cross-entropy on logits (PyTorch BCEWithLogitsLoss, Keras binary_crossentropy(from_logits=True)), or a regression loss"
        case .linear: return "cross-entropy on logits (PyTorch CrossEntropyLoss, Keras from_logits=True), or a regression loss"
        case .other: return nil
        }
    }

    public var description: String {
        switch kind {
        case .sigmoid: return "Dense(\(units), sigmoid)"
        case .softmax: return "Dense(\(units), softmax)"
        case .linear where rawLogit: return "a raw logit (linear, 1 unit; scores = sigmoid(logit))"
        case .linear where twoLogits: return "two logits (linear, 2 units; scores = softmax(logits)[1])"
        case .linear: return "a linear output of \(units) unit\(units == 1 ? "" : "s")"
        case .other: return "an output of \(units) unit\(units == 1 ? "" : "s") without sigmoid or softmax"
        }
    }
}
