import ModelIR

/// Checks that need only the model file: weights, BatchNormalization state, head and loss.
public enum StructuralChecks {
    /// `loss` (given by the user) stands in for a missing training configuration.
    public static func run(_ graph: Graph, loss: TrainingLoss? = nil) -> [Finding] {
        run(graph, head: ClassifierHead(graph: graph, loss: loss), loss: loss)
    }

    /// With the head already read from `graph` (with the same `loss`).
    static func run(_ graph: Graph, head: ClassifierHead, loss: TrainingLoss?) -> [Finding] {
        var findings: [Finding] = []
        findings += weightChecks(graph)
        findings += batchNormChecks(graph)
        findings += foldedBatchNormChecks(graph)
        findings += headChecks(graph, head: head, given: loss)
        return findings
    }

    static func weightChecks(_ graph: Graph) -> [Finding] {
        var findings: [Finding] = []
        // Kernels are what a Dense, Gemm, MatMul or convolution multiplies by, whatever the file calls them.
        var kernelUser: [String: Node] = [:]
        for node in graph.nodes where node.inputs.count > 1 && node.op.traits.contains(.multipliesByKernel) {
            kernelUser[node.inputs[1]] = kernelUser[node.inputs[1]] ?? node
        }
        let users = Dictionary(graph.nodes.flatMap { n in n.inputs.map { ($0, n) } }, uniquingKeysWith: { a, _ in a })
        for p in graph.parameters where !p.isConstant && p.tensor.dtype.isFloatingPoint {
            let values = p.tensor.floats()
            let layer = p.layer ?? users[p.name].map { $0.layer ?? $0.name }
            let name = p.name
            // An infinite scalar that no layer multiplies by is a mask's fill (−∞ before a softmax), not a diverged weight.
            let fill = values.count == 1 && kernelUser[p.name] == nil
            let bad = values.filter { $0.isNaN || ($0.isInfinite && !fill) }.count
            if bad > 0 {
                findings.append(Finding("nan-weights", .error, layer: layer,
                    "\(name) has \(bad) of \(values.count) values that are NaN or infinite",
                    suggestion: "training diverged (learning rate too high, or log(0) in a custom loss); retrain from the last good checkpoint or with a lower learning rate"))
                continue
            }
            guard kernelUser[p.name] != nil, values.count > 1, let first = values.first else { continue }
            if values.allSatisfy({ $0 == first }) {
                findings.append(Finding("constant-weights", .warning, layer: layer,
                    first == 0 ? "\(name) is all zeros: the layer outputs only its bias"
                        : "every value of \(name) is \(fmt(Double(first))): its units cannot tell inputs apart",
                    suggestion: "the layer never trained (frozen, or the gradient never reached it); check trainable flags and the initializer"))
            }
        }
        return findings
    }

    static func batchNormChecks(_ graph: Graph) -> [Finding] {
        let params = Dictionary(graph.parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var findings: [Finding] = []
        for node in graph.nodes {
            guard case .batchNormalization(_, let eps, _) = node.op else { continue }
            let gamma = node.inputs[1].isEmpty ? nil : params[node.inputs[1]]?.tensor.floats()
            guard let variance = params[node.inputs[4]]?.tensor.floats() else { continue }
            let tinyVariance = variance.filter { $0 < 1e-6 }.count
            let tinyGamma = gamma?.filter { abs($0) < 1e-3 }.count ?? 0
            let n = variance.count
            if tinyVariance > 0 || tinyGamma > 0 {
                var parts: [String] = []
                if tinyVariance > 0 { parts.append("\(tinyVariance) of \(n) channels have moving variance < 1e-6 (epsilon \(fmt(Double(eps)))): their outputs blow up noise or sit at beta") }
                if tinyGamma > 0 { parts.append("\(tinyGamma) of \(n) channels have |gamma| < 1e-3: they output a constant (beta)") }
                // Tiny gammas make channels constant: an error when most are. A tiny variance alone is
                // what dead channels before it give (recalibrated statistics of an always-zero input):
                // their outputs sit at beta, so it is a warning.
                let severity: Severity = tinyGamma * 2 >= n ? .error : .warning
                findings.append(Finding("degenerate-batchnorm", severity, layer: node.layer, parts.joined(separator: "; "),
                    suggestion: "the channels feeding it are dead or constant; see dead-units, and consider `modelport finetune --recalibrate-batchnorm`"))
            }
        }
        return findings
    }

    static func foldedBatchNormChecks(_ graph: Graph) -> [Finding] {
        let folded = graph.metadata.foldedBatchNormalization.sorted { $0.key < $1.key }
        guard let first = folded.first else { return [] }
        let listed = folded.prefix(4).map { "'\($0.key)'" }.joined(separator: ", ") + (folded.count > 4 ? ", …" : "")
        let evidence = first.value + (Set(folded.map(\.value)).count > 1 ? ", …" : "")
        let torch = folded.contains { $0.value.contains("torch") || $0.value.contains("rewriter") }
        return [Finding("batchnorm-folded", .info, layer: first.key,
            "the exporter folded \(folded.count) BatchNormalization layer\(folded.count == 1 ? "" : "s") "
                + "into the ops around \(folded.count == 1 ? "it" : "them") (\(listed); seen from \(evidence)): "
                + "the moving statistics are not in the file, so batchnorm-statistics cannot compare them with the data, "
                + "and the folded scale and shift keep whatever the statistics were at export",
            suggestion: "check the model before export (the Keras file or the PyTorch module) for stale BatchNorm statistics"
                + (torch ? "; torch.onnx.export(..., training=TrainingMode.PRESERVE, do_constant_folding=False) keeps BatchNormalization nodes" : ""))]
    }

    static func headChecks(_ graph: Graph, head: ClassifierHead, given: TrainingLoss?) -> [Finding] {
        if head.kind == .softmax, head.units == 1 { return [softmaxOverOne(head)] }
        guard let trained = given ?? graph.metadata.trainingConfig.flatMap({ TrainingLoss(configuration: $0, output: head.layer) }) else {
            let implied = head.impliedLoss.map { ", which implies \($0)" } ?? ""
            return [Finding("head-loss", .info, layer: head.layer,
                "no training configuration in the file (an ONNX export, saved without compile(), or weights only): "
                    + "the loss is unknown; the head is \(head.description)\(implied)",
                suggestion: "give the loss it was trained with (--loss binary_crossentropy, BCEWithLogitsLoss, …) to check the head against it")]
        }
        let loss = trained.givenName == nil ? trained.name : trained.description, fromLogits = trained.fromLogits
        var findings: [Finding] = []
        let isBinaryLoss = trained.isBinaryCrossEntropy, isCategoricalLoss = trained.isCategoricalCrossEntropy
        switch head.kind {
        case .softmax where trained.expectsLogProbabilities, .sigmoid where trained.expectsLogProbabilities,
             .linear where trained.expectsLogProbabilities:
            findings.append(Finding("head-loss-mismatch", .error, layer: head.layer,
                "\(trained.description) reads log-probabilities (a LogSoftmax output), but the head gives "
                    + "\(head.kind == .linear ? "raw logits" : "probabilities (\(head.kind.rawValue))"): the loss trains on the wrong quantity",
                suggestion: "end the model with LogSoftmax for NLLLoss, or train the logits with CrossEntropyLoss (and apply softmax only at inference)"))
        case .softmax where head.units == 2 && isBinaryLoss:
            findings.append(Finding("head-loss-mismatch", .error, layer: head.layer,
                "Dense(2, softmax) trained with \(loss): Keras treats the two units as two independent binary problems and reports binary_accuracy per unit, so the training numbers mislead and the model can settle on predicting one class",
                suggestion: "use Dense(1, sigmoid) + binary_crossentropy, or Dense(2, softmax) + categorical_crossentropy with one-hot labels (sparse_categorical_crossentropy with 0/1 labels)"))
        case .sigmoid where head.units > 1 && isCategoricalLoss:
            findings.append(Finding("head-loss-mismatch", .error, layer: head.layer,
                "Dense(\(head.units), sigmoid) trained with \(loss): categorical cross-entropy expects outputs that sum to 1, sigmoid units do not, so exclusive classes are not learnt as such",
                suggestion: "use softmax for exclusive classes, or binary_crossentropy for independent labels"))
        case .linear where !fromLogits && (isBinaryLoss || isCategoricalLoss):
            findings.append(Finding("head-loss-mismatch", .error, layer: head.layer,
                "the head has no activation (linear outputs) but the loss \(loss) has from_logits=False: it treats raw logits as probabilities",
                suggestion: "add sigmoid/softmax to the last layer, or compile with from_logits=True"))
        case .sigmoid where fromLogits, .softmax where fromLogits:
            findings.append(Finding("head-loss-mismatch", .error, layer: head.layer,
                "the head already applies \(head.kind.rawValue) but the loss has from_logits=True: the activation is applied twice in training",
                suggestion: "remove the activation from the last layer, or set from_logits=False"))
        default:
            break
        }
        if findings.isEmpty {
            findings.append(Finding("head-loss", .info, layer: head.layer,
                "the head \(head.description) fits the loss \(trained.description)\(given == nil ? "" : " (given with --loss)")"))
        }
        return findings
    }

    static func softmaxOverOne(_ head: ClassifierHead) -> Finding {
        Finding("head-loss-mismatch", .error, layer: head.layer,
            "the head is Dense(1, softmax): softmax over one unit is always 1.0, whatever the input",
            suggestion: "use Dense(1, sigmoid) with binary_crossentropy")
    }

    /// The loss for an output (by name, for several outputs), lower-cased.
    static func lossName(_ config: JSONValue, output: String) -> String? {
        guard let loss = config["loss"], !loss.isNull else { return nil }
        func name(_ v: JSONValue) -> String? {
            if let s = v.string { return s.lowercased() }
            if let c = v["class_name"]?.string {
                // BinaryCrossentropy -> binary_crossentropy
                var out = ""
                for (i, ch) in c.enumerated() {
                    if ch.isUppercase, i > 0 { out.append("_") }
                    out.append(Character(ch.lowercased()))
                }
                return out
            }
            return nil
        }
        if let o = loss.object, loss["class_name"] == nil { return (o[output] ?? o.values.first).flatMap(name) }
        if let a = loss.array { return a.first.flatMap(name) }
        return name(loss)
    }

    static func lossFromLogits(_ config: JSONValue) -> Bool {
        config["loss"]?["config"]?["from_logits"]?.bool ?? false
    }
}
