import Engine
import Foundation
import ModelIR
import Training
import Diagnostics

extension Model {
    /// How this model's framework updates BatchNormalization's moving variance in training:
    /// tf_keras uses TensorFlow's fused kernel on images (unbiased variance), Keras 3 the biased
    /// one, PyTorch (and so its ONNX exports) the unbiased one.
    public var movingVarianceRule: MovingVarianceRule {
        switch graph.metadata.format {
        case .onnx:
            let producer = graph.metadata.backend?.lowercased() ?? ""
            return producer.contains("tf2onnx") ? .unbiasedForImages : .unbiased
        case .kerasH5, .kerasH5Weights, .kerasV3, .kerasV3Weights, .none:
            return (graph.metadata.frameworkVersion ?? "").hasPrefix("2") ? .unbiasedForImages : .biased
        }
    }

    /// Layers (and every layer nested in them) by name, to freeze or to train from.
    func layersNamed(_ names: [String]) throws -> Set<String> {
        let known = Set(graph.layers.map(\.name))
        var result = Set<String>()
        for name in names {
            guard known.contains(name) else {
                let sample = graph.layers.filter(\.listed).prefix(8).map(\.name).joined(separator: ", ")
                throw ModelPortError("\(path): there is no layer '\(name)' (layers: \(sample)\(graph.layers.count > 8 ? ", …" : ""))")
            }
            result.insert(name)
            var frontier = [name]
            while let parent = frontier.popLast() {
                for l in graph.layers where l.parent == parent && result.insert(l.name).inserted { frontier.append(l.name) }
            }
        }
        return result
    }

    /// The layers before `name` in the model's order (those `--trainable-from` freezes).
    func layersBefore(_ name: String) throws -> [String] {
        _ = try layersNamed([name])
        let listed = graph.layers.filter { $0.parent == nil }
        guard let index = listed.firstIndex(where: { $0.name == name }) else { return [] }
        return listed[..<index].map(\.name)
    }

    /// A training session over this model: every trainable parameter trains except those of the
    /// `frozen` layers, whose BatchNormalization layers also stay in inference mode (as Keras does).
    public func trainingSession(frozen: Set<String> = [], threads: Int? = nil, seed: UInt64 = 0) throws -> TrainingSession {
        let frozenLayers = try layersNamed(Array(frozen))
        let trainable = Set(graph.parameters.filter { p in p.trainable && !(p.layer.map { frozenLayers.contains($0) } ?? false) }.map(\.name))
        let frozenNodes = Set(graph.nodes.filter { node in node.layer.map { frozenLayers.contains($0) } ?? false }.map(\.name))
        let options = TrainingOptions(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, seed: seed,
                                      inferenceBatchNormalization: frozenNodes, movingVariance: movingVarianceRule,
                                      tensorflowReductions: graph.metadata.format != .onnx)
        do {
            return try TrainingSession(graph: graph, trainable: trainable, options: options)
        } catch {
            throw ModelPortError("\(path): \(error)")
        }
    }
}

/// What `finetune` is asked to do (the command's options).
public struct FinetuneSettings: Sendable {
    public var epochs = 0
    public var batchSize = 32
    /// `sgd`, `adam`, `adamw`, `adamax`, `rmsprop`; nil: the file's optimizer (fresh state), else Adam.
    public var optimizer: String?
    public var learningRate: Float?
    public var momentum: Float?
    /// A Keras or PyTorch loss name; nil: the file's, else what the head implies.
    public var loss: String?
    public var labelSmoothing: Float = 0
    public var freeze: [String] = []
    public var trainableFrom: String?
    public var validationSplit: Double?
    public var validationData: LabelledData?
    public var balancedClassWeights = false
    public var earlyStopping: Int?
    public var reduceLearningRateOnPlateau = false
    public var shuffle = true
    public var seed: UInt64 = 0
    public var recalibrateBatchNormalization = false
    public var calibrate = false
    /// Continue from the file's optimizer state (tf_keras `.h5`), as `load_model` + `fit` would.
    public var resumeOptimizer = false
    public var threads: Int?
    public init() {}
}

/// What `finetune` did.
public struct FinetuneResult: Sendable {
    public var model: Model
    public var history: [EpochRecord] = []
    public var stopReason: String?
    public var optimizer: String = ""
    public var loss: String = ""
    public var trainableParameters = 0
    public var frozenLayers: [String] = []
    /// Accuracy at 0.5 and AUC on the training and the validation samples, before and after.
    public var before: [String: (accuracy: Double, auc: Double)] = [:]
    public var after: [String: (accuracy: Double, auc: Double)] = [:]
    public var trainingSamples = 0
    public var validationSamples = 0
    public var recalibrated: [BatchNormRecalibration.LayerStatistics] = []
    public var calibration: PlattCalibration?
    public var notes: [String] = []
    /// Parameters whose values changed, by layer.
    public var changedLayers: [String] = []
}

extension Model {
    /// Every sample of `data` in memory, refused beyond `limit` bytes.
    public func samples(_ data: LabelledData, limit: Int = Int(ProcessInfo.processInfo.physicalMemory / 4)) throws -> Samples {
        let opened = try labelledSource(data)
        var inputs: [String: [Float]] = [:], shapes: [String: [Int]] = [:], labels: [Float] = []
        var bytes = 0
        try opened.source.forEachBatch(size: 64) { batch, y in
            for (name, t) in batch {
                inputs[name, default: []] += t.data
                shapes[name] = t.shape
                bytes += t.data.count * 4
            }
            labels += y
            if bytes > limit {
                throw ModelPortError("\(opened.description): the samples need more than \(limit / 1_048_576) MB of memory for training; use fewer")
            }
        }
        var tensors: [String: HostTensor] = [:]
        for (name, data) in inputs {
            var shape = shapes[name] ?? [labels.count]
            shape[0] = labels.count
            tensors[name] = HostTensor(shape: shape, data: data)
        }
        guard !labels.isEmpty else { throw ModelPortError("\(opened.description): there are no samples") }
        return Samples(inputs: tensors, labels: labels)
    }

    /// The loss to train with: the user's, the file's, or the one the head implies.
    func trainingLoss(_ name: String?, labelSmoothing: Float) throws -> (Loss, String) {
        let head = ClassifierHead(graph: graph)
        let configured = graph.metadata.trainingConfig.flatMap { TrainingLoss(configuration: $0, output: graph.outputs.first ?? "") }
        let given = try name.map { n -> TrainingLoss in
            guard let l = TrainingLoss(userName: n) else {
                throw ModelPortError("--loss \(n): unknown; use binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy "
                                     + "(or BCELoss, BCEWithLogitsLoss, CrossEntropyLoss)")
            }
            return l
        }
        let chosen = given ?? configured
        let units = head.units
        let kind: Loss.Kind
        var fromLogits = chosen?.fromLogits ?? false
        switch chosen?.name {
        case "binary_crossentropy"?: kind = .binaryCrossentropy
        case "categorical_crossentropy"?: kind = .categoricalCrossentropy
        case "sparse_categorical_crossentropy"?: kind = .sparseCategoricalCrossentropy
        case nil:
            kind = units <= 1 ? .binaryCrossentropy : .sparseCategoricalCrossentropy
            fromLogits = head.rawLogit
        case let other?:
            throw ModelPortError("\(path): training with the loss '\(other)' is not supported; use a cross-entropy (--loss)")
        }
        if chosen?.expectsLogProbabilities == true {
            throw ModelPortError("\(path): NLLLoss reads log-probabilities; train with --loss CrossEntropyLoss on the logits instead")
        }
        if kind != .binaryCrossentropy, units <= 1 {
            throw ModelPortError("\(path): \(kind.rawValue) needs one output unit per class; this head has \(units) (use binary_crossentropy)")
        }
        let loss = Loss(kind: kind, fromLogits: fromLogits, labelSmoothing: labelSmoothing)
        let source = given != nil ? "" : (configured != nil ? " (from the file's training configuration)" : " (what the head implies)")
        return (loss, kind.rawValue + (fromLogits ? " (from logits)" : "") + (labelSmoothing > 0 ? ", label smoothing \(labelSmoothing)" : "") + source)
    }

    /// The optimizer: the user's, or the file's (with a fresh state, as Keras's `compile` makes it), or Adam.
    func trainingOptimizer(_ settings: FinetuneSettings) throws -> Optimizer {
        var optimizer: Optimizer
        if let name = settings.optimizer {
            guard let kind = Optimizer.Kind(rawValue: name.lowercased()) else {
                throw ModelPortError("--optimizer \(name): unknown; use sgd, adam, adamw, adamax or rmsprop")
            }
            optimizer = Optimizer(kind)
        } else if let config = graph.metadata.trainingConfig, let name = config["optimizer"]?.string {
            var numbers: [String: Double] = [:]
            for (k, v) in config["optimizer_config"]?.object ?? [:] {
                if let d = v.double { numbers[k] = d } else if case .bool(let b) = v { numbers[k] = b ? 1 : 0 }
            }
            optimizer = Optimizer(keras: name, config: numbers) ?? Optimizer(.adam)
        } else {
            optimizer = Optimizer(.adam)
        }
        if let lr = settings.learningRate { optimizer.learningRate = lr }
        if let m = settings.momentum { optimizer.momentum = m }
        return optimizer
    }

    /// Fine-tunes the model on labelled data as Keras's `fit` would, then (when asked) recomputes
    /// the BatchNormalization statistics and calibrates the head.
    public func finetuned(data: LabelledData, settings: FinetuneSettings,
                          progress: ((_ epoch: Int, _ batch: Int, _ batches: Int, _ loss: Double, _ imagesPerSecond: Double) -> Void)? = nil,
                          epochEnd: ((EpochRecord) -> Void)? = nil) throws -> FinetuneResult {
        var result = FinetuneResult(model: self)
        var frozen = settings.freeze
        if let from = settings.trainableFrom { frozen += try layersBefore(from) }
        result.frozenLayers = frozen
        var all = try samples(data)
        let head = ClassifierHead(graph: graph)
        var validation: Samples?
        if let v = settings.validationData {
            validation = try samples(v)
        } else if let split = settings.validationSplit {
            guard split > 0, split < 1 else { throw ModelPortError("--validation-split \(split): give a fraction between 0 and 1") }
            if case .folder = data {
                // A folder lists its classes one after the other: like Keras's image_dataset_from_directory,
                // shuffle the files (seeded) before splitting. Arrays keep Keras's fit rule: the last fraction.
                var generator = SeededGenerator(seed: settings.seed)
                all = all.gather(Array(0..<all.count).shuffled(using: &generator))
            }
            let parts = all.split(validation: split)
            guard parts.train.count > 0, parts.validation.count > 0 else {
                throw ModelPortError("--validation-split \(split) leaves no samples on one side of \(all.count)")
            }
            all = parts.train
            validation = parts.validation
            if Set(parts.validation.labels).count == 1 {
                result.notes.append("the validation samples (the last \(parts.validation.count), as Keras's validation_split takes them) are all of "
                                    + "class \(Int(parts.validation.labels[0])); shuffle the arrays first, or use --data or --validation-data")
            }
        }
        result.trainingSamples = all.count
        result.validationSamples = validation?.count ?? 0
        func measure(_ g: Graph, _ s: Samples) throws -> (accuracy: Double, auc: Double)? {
            guard head.isBinary else { return nil }
            let m = try ClassifierMetrics.measure(g, head: head, source: ArraySource(inputs: s.inputs, labels: s.labels), batchSize: settings.batchSize,
                                                  threads: settings.threads ?? ProcessInfo.processInfo.activeProcessorCount)
            return (m.accuracyAtHalf, m.auc)
        }
        result.before["training"] = try measure(graph, all)
        if let validation { result.before["validation"] = try measure(graph, validation) }
        var model = self
        if settings.epochs > 0 {
            let (loss, lossText) = try trainingLoss(settings.loss, labelSmoothing: settings.labelSmoothing)
            result.loss = lossText
            var optimizer = try trainingOptimizer(settings)
            if settings.resumeOptimizer {
                if settings.optimizer != nil { throw ModelPortError("--resume-optimizer continues the file's optimizer; drop --optimizer") }
                try KerasOptimizerSlots.restore(&optimizer, from: self)
            }
            let origin = settings.resumeOptimizer ? " (the file's, its state at iteration \(optimizer.iterations))"
                : (settings.optimizer == nil && graph.metadata.trainingConfig != nil ? " (the file's, fresh state)" : "")
            result.optimizer = optimizer.description + origin
            let session = try trainingSession(frozen: Set(frozen), threads: settings.threads, seed: settings.seed)
            result.trainableParameters = session.trainable.reduce(0) { $0 + (session.parameters[$1]?.count ?? 0) }
            guard result.trainableParameters > 0 else { throw ModelPortError("\(path): nothing to train: every layer is frozen") }
            result.notes += session.inactiveAugmentations.map { "\($0) passes images through unchanged in training (not implemented yet)" }
            let target: LossTarget
            let tfKeras = graph.metadata.format != .onnx && (graph.metadata.frameworkVersion ?? "").hasPrefix("2")
            do {
                target = try LossTarget(graph: session.graph, loss: loss, softmaxLogitsForBinary: tfKeras)
            } catch {
                throw ModelPortError("\(path): \(error)")
            }
            if let bad = all.labels.first(where: { $0 < 0 || Int($0) >= max(2, target.classes) || $0 != $0.rounded() }) {
                throw ModelPortError("label \(bad) does not fit a head of \(target.classes) unit\(target.classes == 1 ? "" : "s")")
            }
            var classWeights: [Float]?
            if settings.balancedClassWeights {
                let classes = max(2, target.classes)
                let counts = (0..<classes).map { c in all.labels.filter { Int($0) == c }.count }
                guard counts.allSatisfy({ $0 > 0 }) else { throw ModelPortError("--class-weight balanced: a class has no training samples (\(counts))") }
                classWeights = counts.map { Float(all.count) / Float(classes * $0) }
            }
            let trainer = Trainer(session: session, optimizer: optimizer, target: target)
            let fit: FitResult
            do {
                fit = try trainer.fit(all, validation: validation, options: FitOptions(
                    epochs: settings.epochs, batchSize: settings.batchSize, shuffle: settings.shuffle, seed: settings.seed, classWeights: classWeights,
                    earlyStoppingPatience: settings.earlyStopping, reduceLearningRateOnPlateau: settings.reduceLearningRateOnPlateau),
                    progress: progress, epochEnd: epochEnd)
            } catch let e as ModelPortError { throw e } catch { throw ModelPortError("\(path): \(error)") }
            result.history = fit.history
            result.stopReason = fit.stopReason
            if fit.history.isEmpty, let reason = fit.stopReason {
                let what = reason.replacingOccurrences(of: "; the weights before that batch are kept", with: "")
                throw ModelPortError("\(path): \(what) in the first epoch; nothing was written")
            }
            model.graph = session.updatedGraph(graph)
            if model.graph.metadata.format == .kerasH5, let state = graph.metadata.source.optimizerWeights {
                // tf_keras restores this state on load: it must be the optimizer that made these weights.
                model.graph.metadata.source.optimizerWeights = KerasOptimizerSlots.updated(state, with: trainer.optimizer, graph: graph)
                if model.graph.metadata.source.optimizerWeights == nil {
                    result.notes.append("the file's optimizer state belongs to another optimizer than \(optimizer.kind.kerasName); "
                                        + "it is left out of the written file")
                }
            }
        }
        if settings.recalibrateBatchNormalization {
            let recalibrated = try model.recalibratingBatchNormalization(data: data, batchSize: settings.batchSize, threads: settings.threads)
            model = recalibrated.model
            result.recalibrated = recalibrated.layers
        }
        if settings.calibrate {
            let calibrationData = validation ?? all
            let (calibrated, report) = try model.calibrated(on: calibrationData, batchSize: settings.batchSize, threads: settings.threads)
            model = calibrated
            result.calibration = report
        }
        result.after["training"] = try measure(model.graph, all)
        if let validation { result.after["validation"] = try measure(model.graph, validation) }
        if settings.epochs > 0, !settings.recalibrateBatchNormalization, let last = result.history.last, let after = result.after["training"],
           last.accuracy - after.accuracy >= 0.1, graph.nodes.contains(where: { if case .batchNormalization = $0.op { return true }; return false }) {
            result.notes.append(String(format: "in training mode the model scores accuracy %.3f, in inference mode %.3f: the BatchNormalization moving "
                                       + "statistics lag the weights; add --recalibrate-batchnorm", last.accuracy, after.accuracy))
        }
        let old = Dictionary(graph.parameters.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        result.changedLayers = Array(Set(model.graph.parameters.filter { old[$0.name] != $0.tensor }.map { $0.layer ?? $0.name })).sorted()
        for p in model.graph.parameters where p.tensor.dtype == .float32 && p.tensor.floats().contains(where: { !$0.isFinite }) {
            throw ModelPortError("\(path): training made '\(p.name)' non-finite; nothing was written")
        }
        result.model = model
        return result
    }
}

extension Model {
    /// Fits Platt scaling on the head's logit and folds it into the last Dense layer (kernel·a,
    /// bias·a + b; for a softmax(2) head the same on the logit difference: both columns scaled,
    /// ±b/2 on the biases), so the written model's 0.5 is the right cut.
    public func calibrated(on samples: Samples, batchSize: Int, threads: Int?) throws -> (Model, PlattCalibration) {
        let head = ClassifierHead(graph: graph)
        guard head.isBinary, let logits = head.logits ?? (head.rawLogit ? head.output : nil) else {
            throw ModelPortError("\(path): --calibrate needs a binary head (Dense(1, sigmoid), Dense(2, softmax) or a one-unit logit)")
        }
        guard let dense = graph.nodes.first(where: { $0.outputs.contains(logits) }), case .dense(let units) = dense.op,
              let kernelIndex = graph.parameters.firstIndex(where: { $0.name == dense.input(at: 1) }) else {
            throw ModelPortError("\(path): --calibrate folds the scaling into a Dense layer before the head's activation; this model has none")
        }
        let options = EngineOptions(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, optimize: false)
        let session = try InferenceSession(graph: graph, options: options)
        var s: [Float] = []
        var start = 0
        while start < samples.count {
            let end = min(samples.count, start + batchSize)
            let batch = samples.gather(Array(start..<end))
            guard let z = try session.run(batch.inputs, keep: [logits])[logits] else { break }
            if units == 2 {
                for i in 0..<(end - start) { s.append(z.data[i * 2 + 1] - z.data[i * 2]) }
            } else {
                s += z.data
            }
            start = end
        }
        let platt = PlattCalibration(logits: s, labels: samples.labels)
        var g = graph
        let a = Float(platt.a), b = Float(platt.b)
        let kernel = g.parameters[kernelIndex].tensor
        g.parameters[kernelIndex].tensor = Tensor(shape: kernel.shape, floats: kernel.floats().map { $0 * a })
        let biasName = dense.input(at: 2)
        if let biasIndex = g.parameters.firstIndex(where: { $0.name == biasName && !biasName.isEmpty }) {
            var bias = g.parameters[biasIndex].tensor.floats().map { $0 * a }
            if units == 2 { bias[1] += b / 2; bias[0] -= b / 2 } else { bias[0] += b }
            g.parameters[biasIndex].tensor = Tensor(shape: g.parameters[biasIndex].tensor.shape, floats: bias)
        } else {
            throw ModelPortError("\(path): the Dense layer '\(dense.layer ?? dense.name)' has no bias to hold the calibration offset")
        }
        var m = self
        m.graph = g
        return (m, platt)
    }
}

/// tf_keras's optimizer state in a Keras 2 `.h5` (`optimizer_weights/`): `iteration:0` and, per
/// trainable variable, `CLASS/SLOT/LAYER/ROLE:0` — read into an `Optimizer` and written back after
/// training, so tf_keras continues where `finetune` stopped.
enum KerasOptimizerSlots {
    /// Every array of a stored group with its `/`-joined path.
    static func arrays(_ group: StoredGroup, prefix: String = "") -> [(path: String, tensor: Tensor)] {
        var result: [(String, Tensor)] = []
        for member in group.members {
            switch member {
            case .group(let name, let g): result += arrays(g, prefix: prefix + name + "/")
            case .tensor(let name, let t): result.append((prefix + name, t))
            case .parameter: break
            }
        }
        return result
    }

    /// `(class, slot, "layer/role")` of a slot path, nil for `iteration:0` and anything else.
    static func parse(_ path: String) -> (className: String, slot: String, key: String)? {
        let parts = path.split(separator: "/").map(String.init)
        guard parts.count >= 4, let last = parts.last, last.hasSuffix(":0") else { return nil }
        let role = String(last.dropLast(2))
        return (parts[0], parts[1], parts[2..<(parts.count - 1)].joined(separator: "/") + "/" + role)
    }

    static func parameterKeys(_ graph: Graph) -> [String: String] {
        var keys: [String: String] = [:]
        for p in graph.parameters { if let layer = p.layer, let role = p.role { keys["\(layer)/\(role)"] = p.name } }
        return keys
    }

    /// Restores `optimizer`'s iterations and slots from the file; throws when the file has none for it.
    static func restore(_ optimizer: inout Optimizer, from model: Model) throws {
        guard model.graph.metadata.format == .kerasH5, let group = model.graph.metadata.source.optimizerWeights else {
            throw ModelPortError("\(model.path): --resume-optimizer reads a tf_keras .h5's optimizer_weights; this file keeps no optimizer state")
        }
        let keys = parameterKeys(model.graph)
        let wanted = optimizer.kind.kerasName
        var restored = 0
        var slots: [String: [[Float]]] = [:]
        for (path, tensor) in arrays(group) {
            if path == "iteration:0" || path.hasSuffix("/iter:0") { optimizer.iterations = Int(tensor.floats().first ?? 0); continue }
            guard let (cls, slot, key) = parse(path), let name = keys[key], let index = optimizer.slotNames.firstIndex(of: slot) else { continue }
            guard cls == wanted else {
                throw ModelPortError("\(model.path): the stored optimizer state is \(cls)'s, not \(wanted)'s; drop --resume-optimizer or --optimizer")
            }
            var s = slots[name] ?? []
            let count = tensor.count
            while s.count <= index { s.append([Float](repeating: 0, count: count)) }
            s[index] = tensor.floats()
            slots[name] = s
            restored += 1
        }
        guard restored > 0 else { throw ModelPortError("\(model.path): optimizer_weights holds no slot of \(wanted)") }
        for (name, s) in slots { optimizer.setSlots(s, of: name) }
    }

    /// The file's optimizer state replaced by `optimizer`'s (same class), or nil when the classes
    /// differ (the stale state of another optimizer must not be restored by tf_keras).
    static func updated(_ group: StoredGroup, with optimizer: Optimizer, graph: Graph) -> StoredGroup? {
        let keys = parameterKeys(graph)
        let wanted = optimizer.kind.kerasName
        let classes = Set(arrays(group).compactMap { parse($0.path)?.className })
        guard classes.isEmpty || classes == [wanted] else { return nil }
        func rebuild(_ g: StoredGroup, prefix: String) -> StoredGroup {
            var out = g
            out.members = g.members.map { member in
                switch member {
                case .group(let name, let sub): return .group(name, rebuild(sub, prefix: prefix + name + "/"))
                case .parameter: return member
                case .tensor(let name, let t):
                    let path = prefix + name
                    if path == "iteration:0" || path.hasSuffix("/iter:0") {
                        if let replaced = try? Tensor(dtype: t.dtype, shape: t.shape, bytes: HostTensor(shape: t.shape, data: [Float(optimizer.iterations)])
                            .tensor(as: t.dtype).bytes) { return .tensor(name, replaced) }
                        return member
                    }
                    guard let (_, slot, key) = parse(path), let param = keys[key], let index = optimizer.slotNames.firstIndex(of: slot),
                          let s = optimizer.slots(of: param), index < s.count, s[index].count == t.count else { return member }
                    return .tensor(name, Tensor(shape: t.shape, floats: s[index]))
                }
            }
            return out
        }
        return rebuild(group, prefix: "")
    }
}
