import Training
import Engine
import Foundation
import ModelIR

/// Everything `check` found and measured.
public struct CheckReport: Sendable {
    public var findings: [Finding]
    public var metrics: [String: Double]
    public var head: String
    public var samples: Int
    /// Scores per class (label 0, label 1), for the histograms.
    public var scoresByClass: [[Float]]
    public var roc: [(fpr: Double, tpr: Double)]
    public var bestThreshold: Double?
    public var deadUnits: [(layer: String, dead: Int, total: Int)]
    /// The Keras layer or PyTorch module of each layer named in the report, where known.
    public var modules: [String: String] = [:]
    public var batchNorm: [(layer: String, batchMean: [Float], movingMean: [Float], batchVariance: [Float], movingVariance: [Float])]
    /// Data checks that could not run, and why.
    public var skipped: [String]

    public var hasErrors: Bool { findings.contains { $0.severity == .error } }

    public var json: JSONValue {
        ["findings": .array(findings.map(\.json)),
         "metrics": .object(metrics.mapValues { $0.isFinite ? .number($0) : .null }),
         "head": .string(head), "samples": .number(Double(samples)),
         "skipped": .array(skipped.map(JSONValue.string)),
         "dead_units": .array(deadUnits.map { unit in
             var o: [String: JSONValue] = ["layer": .string(unit.layer), "dead": .number(Double(unit.dead)), "channels": .number(Double(unit.total))]
             if let module = modules[unit.layer] { o["module"] = .string(module) }
             return .object(o)
         })]
    }
}

/// Options of a check run.
public struct CheckOptions: Sendable {
    public var batchSize = 32
    public var threads = 1
    /// The model begins with Rescaling and so expects 0–255 pixels.
    public var expectsRawPixels = false
    /// Also measure the model with BatchNormalization statistics recomputed from the data.
    public var recalibrate = true
    /// The training loss, for files without a training configuration (`--loss`).
    public var loss: TrainingLoss?
    /// Makes the graph again for other input shapes (a graph made per size of a named dimension).
    public var remake: InferenceSession.GraphMaker?
    public init() {}
}

/// The classifier diagnosis: structural checks, then (with data) score, activation and
/// BatchNormalization statistics, streamed over batches.
public enum ModelCheck {
    public static func run(_ graph: Graph, source: SampleSource?, options: CheckOptions = CheckOptions(),
                           progress: ((String, Int, Int) -> Void)? = nil) throws -> CheckReport {
        let head = ClassifierHead(graph: graph, loss: options.loss)
        var report = CheckReport(findings: StructuralChecks.run(graph, head: head, loss: options.loss), metrics: [:], head: "", samples: 0,
                                 scoresByClass: [[], []], roc: [], bestThreshold: nil, deadUnits: [], batchNorm: [], skipped: [])
        report.head = head.description
        guard let source else {
            report.skipped.append("all data checks (no --inputs/--labels or --data given)")
            return finished(report, graph)
        }
        guard head.isBinary else {
            let why = "the model's output is \(head.description), not Dense(1, sigmoid) or Dense(2, softmax)"
            report.skipped.append("score, threshold, collapse and imbalance checks: \(why)")
            report.findings.append(Finding("threshold", .info, layer: head.layer, "data checks skipped: \(why)",
                                           suggestion: "check reads binary classifiers; the structural checks above still apply"))
            return finished(report, graph)
        }
        try dataChecks(graph, head: head, source: source, options: options, report: &report, progress: progress)
        return finished(report, graph)
    }

    /// Worst first, and every layer named with the module it came from.
    static func finished(_ r: CheckReport, _ graph: Graph) -> CheckReport {
        var r = r
        func module(_ layer: String) -> String? { graph.metadata.sourceModules[layer] ?? sourceModule(layer) }
        for i in r.findings.indices { r.findings[i].module = r.findings[i].layer.flatMap(module) }
        for unit in r.deadUnits { r.modules[unit.layer] = module(unit.layer) }
        for b in r.batchNorm { r.modules[b.layer] = module(b.layer) }
        r.findings = r.findings.enumerated().sorted { ($0.element.severity, $0.offset) < ($1.element.severity, $1.offset) }.map(\.element)
        return r
    }

    struct Watch {
        /// ReLU outputs: the layer, the value and its channel axis.
        var reluLayers: [(layer: String, value: String, axis: Int)] = []
        /// BatchNormalization nodes: the layer, the input value and its channel axis.
        var batchNorms: [(layer: String, input: String, node: Node, axis: Int)] = []
        var features: String?
    }

    static func watchList(_ graph: Graph, head: ClassifierHead) -> Watch {
        var w = Watch()
        let shapes = (try? graph.verify()) ?? [:]
        let axes = graph.channelAxes(shapes: shapes)
        for node in graph.nodes {
            if case .activation(.relu(_, 0, _)) = node.op, let axis = axes[node.outputs[0]] {
                w.reluLayers.append((node.layer ?? node.name, node.outputs[0], axis))
            }
            if case .batchNormalization(let a, _, _) = node.op {
                let rank = shapes[node.inputs[0]]?.rank ?? 0
                let axis = a < 0 ? a + rank : a
                if axis >= 0, axis < rank { w.batchNorms.append((node.layer ?? node.name, node.inputs[0], node, axis)) }
            }
        }
        w.features = head.features
        return w
    }

    static func dataChecks(_ graph: Graph, head: ClassifierHead, source: SampleSource, options: CheckOptions,
                           report: inout CheckReport, progress: ((String, Int, Int) -> Void)?) throws {
        let session = try InferenceSession(graph: graph, options: EngineOptions(threads: options.threads, optimize: false), remake: options.remake)
        let watch = watchList(graph, head: head)
        var keep = Set(watch.reluLayers.map(\.value) + watch.batchNorms.map(\.input))
        if let f = watch.features { keep.insert(f) }
        if let l = head.logits { keep.insert(l) }
        var scores: [Float] = [], labels: [Float] = [], logits: [Float] = []
        var relu: [String: ChannelStatistics] = [:]
        var bn: [String: ChannelStatistics] = [:]
        // Per-feature spread across samples of what the head reads.
        var spread: ChannelStatistics?
        var inputMin = Float.infinity, inputMax = -Float.infinity
        var done = 0
        try source.forEachBatch(size: options.batchSize) { inputs, y in
            for t in inputs.values {
                for v in t.data where v.isFinite { inputMin = min(inputMin, v); inputMax = max(inputMax, v) }
            }
            let out = try session.run(inputs, keep: keep)
            if let o = out[head.output] { scores += head.scores(o.data) }
            if let l = head.logits, let z = out[l] { logits += head.kind == .softmax ? stride(from: 0, to: z.count - 1, by: 2).map { z.data[$0 + 1] - z.data[$0] } : z.data }
            labels += y
            for (_, value, axis) in watch.reluLayers {
                guard let t = out[value], let fresh = ChannelStatistics(for: t, axis: axis) else { continue }
                relu[value, default: fresh].add(t, axis: axis)
            }
            for (_, input, _, axis) in watch.batchNorms {
                guard let t = out[input], let fresh = ChannelStatistics(for: t, axis: axis) else { continue }
                bn[input, default: fresh].add(t, axis: axis)
            }
            if let f = watch.features, let t = out[f] {
                let per = t.shape.dropFirst().reduce(1, *)
                if spread == nil { spread = ChannelStatistics(channels: per) }
                spread?.add(HostTensor(shape: [t.shape[0], per], data: t.data))
            }
            done += y.count
            progress?("running the model", done, source.count)
        }
        var findings: [Finding] = []
        // A NaN or infinite score (NaN weights, an overflow) is a finding; the metrics use the others.
        let nonFinite = scores.filter { !$0.isFinite }.count
        if nonFinite > 0 {
            findings.append(Finding("non-finite-output", .error, layer: head.layer,
                "\(nonFinite) of \(scores.count) samples give a NaN or infinite score; the metrics below use the other \(scores.count - nonFinite)",
                suggestion: "see nan-weights; otherwise an activation overflows — check the input scale"))
            let kept = zip(scores, labels).filter { $0.0.isFinite }
            scores = kept.map(\.0)
            labels = kept.map(\.1)
            logits = logits.filter(\.isFinite)
        }
        report.samples = scores.count
        let metrics = ClassifierMetrics(scores: scores, labels: labels)
        var m: [String: Double] = [:]
        let sortedScores = scores.sorted()
        let class0 = zip(scores, labels).filter { $1 < 0.5 }.map(\.0), class1 = zip(scores, labels).filter { $1 >= 0.5 }.map(\.0)
        report.scoresByClass = [class0, class1]
        func mean(_ a: [Float]) -> Double { a.isEmpty ? .nan : a.reduce(0) { $0 + Double($1) } / Double(a.count) }
        m["samples"] = Double(scores.count)
        m["positives"] = Double(metrics.positives)
        m["auc"] = metrics.auc
        m["accuracy_at_0_5"] = metrics.accuracyAtHalf
        m["best_threshold"] = metrics.bestThreshold
        m["accuracy_at_best_threshold"] = metrics.accuracyAtBest
        m["balanced_accuracy_at_best_threshold"] = metrics.balancedAccuracyAtBest
        m["score_mean"] = mean(scores)
        m["input_min"] = Double(inputMin)
        m["input_max"] = Double(inputMax)
        m["score_min"] = Double(sortedScores.first ?? .nan)
        m["score_max"] = Double(sortedScores.last ?? .nan)
        m["score_iqr"] = quantile(sortedScores, 0.75) - quantile(sortedScores, 0.25)
        m["class_0_mean"] = mean(class0)
        m["class_1_mean"] = mean(class1)
        report.roc = metrics.roc
        report.bestThreshold = metrics.bestThreshold

        // Collapsed output.
        let scoreMin = Double(sortedScores.first ?? .nan), scoreMax = Double(sortedScores.last ?? .nan)
        let iqr = quantile(sortedScores, 0.75) - quantile(sortedScores, 0.25)
        let mean0 = mean(class0), mean1 = mean(class1)
        if scoreMax - scoreMin < 1e-3 || iqr < 1e-3 || abs(mean1 - mean0) < 1e-3 {
            findings.append(Finding("collapsed-output", .error, layer: head.layer,
                "all \(scores.count) scores lie in \(fmt(scoreMin))–\(fmt(scoreMax)) (IQR \(fmt(iqr, 6))); class means \(fmt(mean0)) vs \(fmt(mean1)): the output barely depends on the input",
                suggestion: "see dead-units and batchnorm-statistics below for the cause; thresholding at the mean only hides it"))
        }
        // Saturated logits.
        if !logits.isEmpty {
            let saturated = logits.filter { abs($0) > 10 }.count
            m["saturated_fraction"] = Double(saturated) / Double(logits.count)
            if saturated * 2 > logits.count {
                findings.append(Finding("saturated-output", .warning, layer: head.layer,
                    "\(saturated) of \(logits.count) samples (\(percent(saturated, logits.count))) have |logit| > 10: the sigmoid/softmax is saturated and its gradient vanishes",
                    suggestion: "lower the learning rate, add regularisation, or check for unnormalised inputs"))
            }
        }
        // Dead ReLU channels.
        var totalDead = 0, totalChannels = 0
        for (layer, value, _) in watch.reluLayers {
            guard let s = relu[value] else { continue }
            let dead = s.maximum.filter { $0 <= 0 }.count
            report.deadUnits.append((layer, dead, s.maximum.count))
            totalDead += dead
            totalChannels += s.maximum.count
            if dead > 0 {
                findings.append(Finding("dead-units", dead * 2 >= s.maximum.count ? .warning : .info, layer: layer,
                    "\(dead) of \(s.maximum.count) ReLU channels (\(percent(dead, s.maximum.count))) are zero for every one of the \(scores.count) samples",
                    suggestion: "dead units come from a too-high learning rate or strongly negative biases; they never recover by training. Lower the learning rate, use LeakyReLU, or re-initialise these layers"))
            }
        }
        m["dead_unit_fraction"] = totalChannels == 0 ? 0 : Double(totalDead) / Double(totalChannels)
        // Near-constant features into the head.
        if let s = spread {
            let std = s.standardDeviation
            let constant = std.filter { $0 < 1e-4 }.count
            m["constant_feature_fraction"] = std.isEmpty ? 0 : Double(constant) / Double(std.count)
            if constant * 2 >= std.count, !std.isEmpty {
                findings.append(Finding("constant-features", .warning, layer: head.layer,
                    "\(constant) of \(std.count) features that the head reads (\(percent(constant, std.count))) vary by less than 1e-4 across the data",
                    suggestion: "the layers before the head have lost the signal; see dead-units and batchnorm-statistics"))
            }
        }
        // Input range against what the first layers expect.
        findings += inputRangeFindings(graph, watch: watch, bn: bn, min: inputMin, max: inputMax, options: options)
        // BatchNormalization statistics: the data's against the moving ones, and the model with recomputed statistics.
        try batchNormFindings(graph, watch: watch, bn: bn, source: source, options: options, head: head, metrics: metrics,
                              m: &m, findings: &findings, report: &report, progress: progress)
        // Imbalance.
        let predictedPositive = scores.filter { $0 >= 0.5 }.count
        let majority = max(predictedPositive, scores.count - predictedPositive)
        if scores.count > 0, Double(majority) >= 0.95 * Double(scores.count) {
            findings.append(Finding("class-imbalance", .warning, layer: head.layer,
                "\(majority) of \(scores.count) predictions (\(percent(majority, scores.count))) are class \(predictedPositive > scores.count / 2 ? 1 : 0) at threshold 0.5",
                suggestion: "move the cut into the model with Platt scaling (`modelport finetune MODEL --data DIR --calibrate --output calibrated.h5`), "
                    + "or fine-tune with class weights (`modelport finetune MODEL --data DIR --epochs 5 --class-weight balanced --output tuned.h5`)"))
        }
        let minority = min(metrics.positives, labels.count - metrics.positives)
        if labels.count > 0, Double(minority) < 0.2 * Double(labels.count) {
            findings.append(Finding("class-imbalance", .warning,
                "the labels are imbalanced: \(minority) of \(labels.count) samples (\(percent(minority, labels.count))) are the minority class",
                suggestion: "fine-tune with class weights (`modelport finetune MODEL --data DIR --epochs 5 --class-weight balanced --output tuned.h5`) "
                    + "and judge the model by AUC or balanced accuracy"))
        }
        // The principled threshold.
        findings.append(Finding("threshold", .info, layer: head.layer,
            "ROC AUC \(fmt(metrics.auc, 4)); accuracy at 0.5: \(fmt(metrics.accuracyAtHalf, 4)); best threshold (Youden's J) \(fmt(metrics.bestThreshold, 6)) gives accuracy \(fmt(metrics.accuracyAtBest, 4)), balanced accuracy \(fmt(metrics.balancedAccuracyAtBest, 4))",
            suggestion: "threshold at \(fmt(metrics.bestThreshold, 6)) rather than at the mean of the predictions; re-check it on held-out data. "
                + "To make 0.5 the right cut in the model itself: `modelport finetune MODEL --data DIR --calibrate --output calibrated.h5`"))
        report.metrics = m
        report.findings += findings
    }

    static func inputRangeFindings(_ graph: Graph, watch: Watch, bn: [String: ChannelStatistics], min lo: Float, max hi: Float, options: CheckOptions) -> [Finding] {
        var findings: [Finding] = []
        // Integer inputs are token ids or categories, not pixels or measurements: no range to judge.
        guard graph.inputs.contains(where: { $0.dtype.isFloatingPoint }) else { return findings }
        // How the first BatchNormalization's moving mean compares with the data's: a ratio near 255 (or 1/255) means a scale mismatch.
        var scaleNote = ""
        var ratio: Double?
        if let first = watch.batchNorms.first, let s = bn[first.input],
           let moving = graph.parameters.first(where: { $0.name == first.node.inputs[3] })?.tensor.floats() {
            let dataMagnitude = s.mean.map(abs).reduce(0, +) / Double(max(1, s.mean.count))
            let movingMagnitude = moving.map { Double(abs($0)) }.reduce(0, +) / Double(max(1, moving.count))
            if dataMagnitude > 1e-6, movingMagnitude > 1e-6 {
                let r = movingMagnitude / dataMagnitude
                ratio = r
                scaleNote = "; the first BatchNormalization ('\(first.layer)') has moving means \(fmt(r, 3))× the data's"
            }
        }
        let outside = lo < -0.01 || hi > 1.01
        if options.expectsRawPixels {
            if hi <= 1.01 && lo >= -0.01 && hi > 0 {
                findings.append(Finding("input-range", .warning, "the inputs lie in \(fmt(Double(lo), 3))–\(fmt(Double(hi), 3)) but the model starts with Rescaling, which expects raw 0–255 pixels\(scaleNote)",
                    suggestion: "feed 0–255 values (images through --data are fed raw automatically)"))
            }
        } else if outside, ratio == nil, lo < 0, lo > -6, hi < 6 {
            // No BatchNormalization to compare with: values around zero in a few units are standardised inputs.
            findings.append(Finding("input-range", .info,
                "the inputs lie in \(fmt(Double(lo), 3))–\(fmt(Double(hi), 3)): standardised (a mean/std normalisation such as ImageNet's), not raw pixels",
                suggestion: "feed them normalised exactly as in training"))
        } else if outside {
            let consistent = ratio.map { $0 > 0.2 && $0 < 5 } ?? false
            findings.append(Finding("input-range", consistent ? .info : .warning,
                "the inputs lie in \(fmt(Double(lo), 3))–\(fmt(Double(hi), 3)), outside [0, 1], and the model has no Rescaling layer\(scaleNote)" + (consistent ? ": the statistics agree, so it was probably trained on this range" : ""),
                suggestion: consistent ? "keep feeding the same range as in training" : "scale the inputs to [0, 1] (pixel / 255) or add Rescaling(1/255) to the model"))
        } else if let r = ratio, r > 20 {
            findings.append(Finding("input-range", .warning,
                "the inputs lie in \(fmt(Double(lo), 3))–\(fmt(Double(hi), 3))\(scaleNote): the model was probably trained on unscaled (0–255) inputs",
                suggestion: "feed the inputs as in training (probably 0–255), or fine-tune on [0, 1] inputs"))
        }
        return findings
    }

    static func batchNormFindings(_ graph: Graph, watch: Watch, bn: [String: ChannelStatistics], source: SampleSource, options: CheckOptions,
                                  head: ClassifierHead, metrics: ClassifierMetrics, m: inout [String: Double], findings: inout [Finding],
                                  report: inout CheckReport, progress: ((String, Int, Int) -> Void)?) throws {
        guard !watch.batchNorms.isEmpty else { return }
        let params = Dictionary(graph.parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var worst: (layer: String, shift: Double, ratio: Double)?
        var lines: [String] = []
        for (layer, input, node, _) in watch.batchNorms {
            guard let s = bn[input], let movingMean = params[node.inputs[3]]?.tensor.floats(),
                  let movingVariance = params[node.inputs[4]]?.tensor.floats(), movingMean.count == s.mean.count else { continue }
            let batchMean = s.mean, batchVariance = s.variance
            report.batchNorm.append((layer, batchMean.map(Float.init), movingMean, batchVariance.map(Float.init), movingVariance))
            let shifts = (0..<movingMean.count).map { abs(batchMean[$0] - Double(movingMean[$0])) / (Double(movingVariance[$0]) + 1e-3).squareRoot() }
            let ratios = (0..<movingMean.count).map { (batchVariance[$0] + 1e-6) / (Double(movingVariance[$0]) + 1e-6) }
            let medianShift = quantile(shifts.map(Float.init).sorted(), 0.5), medianRatio = quantile(ratios.map(Float.init).sorted(), 0.5)
            let name = graph.metadata.sourceModules[layer] ?? sourceModule(layer) ?? layer
            lines.append("'\(name)': mean shift \(fmt(medianShift, 2)) σ (median over channels), variance ratio \(fmt(medianRatio, 3))")
            if medianShift > worst?.shift ?? -.infinity { worst = (layer, medianShift, medianRatio) }
        }
        guard let w = worst else { return }
        m["batchnorm_max_median_shift"] = w.shift
        var message = "the data's statistics against the moving statistics: " + lines.joined(separator: "; ")
        var severity: Severity = w.shift > 1 || w.ratio > 4 || w.ratio < 0.25 ? .warning : .info
        if options.recalibrate {
            let (recalibrated, _) = try BatchNormRecalibration.recalibrate(graph, source: source, batchSize: options.batchSize, threads: options.threads) {
                progress?("recomputing BatchNormalization statistics", $0, $1)
            }
            let r = try ClassifierMetrics.measure(recalibrated, head: head, source: source, batchSize: options.batchSize, threads: options.threads)
            m["recalibrated_accuracy_at_0_5"] = r.accuracyAtHalf
            m["recalibrated_auc"] = r.auc
            message += ". With statistics recomputed from these \(source.count) samples the model scores accuracy \(fmt(r.accuracyAtHalf, 3)) "
                + "and AUC \(fmt(r.auc, 3)), against \(fmt(metrics.accuracyAtHalf, 3)) and \(fmt(metrics.auc, 3)) with the stored moving statistics"
            if r.accuracyAtHalf - metrics.accuracyAtHalf >= 0.1 || (r.auc - metrics.auc >= 0.05) {
                severity = .error
                message += ": the model is good with its batch statistics and bad in inference — the moving statistics lag what the trained weights produce"
            }
        }
        // Statistics that agree with the data (a repaired model) need no repair.
        let repair = severity == .info ? "" : "recompute the moving statistics from representative data, the repair measured above: "
                + "`modelport finetune MODEL --data DIR --recalibrate-batchnorm --output repaired.h5` "
                + "(in Keras, run the data through the model in training mode with the BatchNormalization momentum at 0; "
                + "in PyTorch, set each BatchNorm's momentum to None, run the data through model.train() under torch.no_grad(), then model.eval()); "
                + "next time train with a lower momentum (Keras 0.9, PyTorch 0.1) or more steps"
        findings.append(Finding("batchnorm-statistics", severity, layer: w.layer, message, suggestion: repair))
    }
}
