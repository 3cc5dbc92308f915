import ModelIR

/// Checks that need only the model file: weights, BatchNormalization state, head and loss.
public enum StructuralChecks {
    public static func run(_ graph: Graph) -> [Finding] {
        var findings: [Finding] = []
        findings += weightChecks(graph)
        findings += batchNormChecks(graph)
        findings += headChecks(graph)
        return findings
    }

    static func weightChecks(_ graph: Graph) -> [Finding] {
        var findings: [Finding] = []
        for p in graph.parameters where !p.isConstant && p.tensor.dtype.isFloatingPoint {
            let values = p.tensor.floats()
            let bad = values.filter { !$0.isFinite }.count
            if bad > 0 {
                findings.append(Finding("nan-weights", .error, layer: p.layer,
                    "\(p.name) has \(bad) of \(values.count) values that are NaN or infinite",
                    suggestion: "training diverged (learning rate too high, or log(0) in a custom loss); retrain from the last good checkpoint or with a lower learning rate"))
                continue
            }
            let role = p.name.split(separator: "/").last ?? ""
            guard role.hasSuffix("kernel"), values.count > 1, let first = values.first else { continue }
            if values.allSatisfy({ $0 == first }) {
                findings.append(Finding("constant-weights", .warning, layer: p.layer,
                    first == 0 ? "\(p.name) is all zeros: the layer outputs only its bias" : "every value of \(p.name) is \(fmt(Double(first))): its units cannot tell inputs apart",
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
                let severity: Severity = (tinyVariance + tinyGamma) * 2 >= n ? .error : .warning
                findings.append(Finding("degenerate-batchnorm", severity, layer: node.layer, parts.joined(separator: "; "),
                    suggestion: "the channels feeding it are dead or constant; see dead-units, and consider `modelport finetune --recalibrate-batchnorm`"))
            }
        }
        return findings
    }

    static func headChecks(_ graph: Graph) -> [Finding] {
        let head = ClassifierHead(graph: graph)
        guard let config = graph.metadata.trainingConfig, let loss = lossName(config, output: head.layer) else {
            return [Finding("head-loss-mismatch", .info, layer: head.layer,
                "no training configuration in the file (saved without compile(), or weights only): the head/loss checks were skipped; the head is \(head.description)",
                suggestion: "check the full model file (model.save after compile()) to compare head and loss")]
        }
        let fromLogits = lossFromLogits(config)
        var findings: [Finding] = []
        let isBinaryLoss = loss.contains("binary_crossentropy") || loss == "binarycrossentropy" || loss.contains("binary_focal")
        let isCategoricalLoss = loss.contains("categorical_crossentropy") || loss == "categoricalcrossentropy"
        switch head.kind {
        case .softmax where head.units == 1:
            findings.append(Finding("head-loss-mismatch", .error, layer: head.layer,
                "the head is Dense(1, softmax): softmax over one unit is always 1.0, whatever the input",
                suggestion: "use Dense(1, sigmoid) with binary_crossentropy"))
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
        return findings
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
