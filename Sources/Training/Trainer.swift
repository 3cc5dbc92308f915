import Engine
import Foundation
import ModelIR

/// Where the loss reads the model: its output, or (Keras's rule for sigmoid and softmax heads)
/// the logits before the final activation.
public struct LossTarget: Sendable {
    /// The graph output.
    public var output: String
    /// The value the loss reads and seeds backward at (the output, or its activation's input).
    public var value: String
    /// Units of that value per sample.
    public var classes: Int
    public var loss: Loss

    /// The target for `graph`'s only output: logits when it ends in a sigmoid or softmax (as Keras
    /// computes the cross-entropies from `_keras_logits`), the output otherwise. tf_keras also reads
    /// a softmax's logits for binary_crossentropy (a sigmoid cross-entropy on them,
    /// `softmaxLogitsForBinary`); Keras 3 reads the probabilities.
    public init(graph: Graph, loss: Loss, softmaxLogitsForBinary: Bool = false) throws {
        guard graph.outputs.count == 1, let output = graph.outputs.first else {
            throw TrainingError("training needs a model with one output (this one has \(graph.outputs.count))")
        }
        let shapes = (try? graph.verify()) ?? [:]
        guard let units = shapes[output]?.dims.last ?? nil else { throw TrainingError("the output '\(output)' has no known size") }
        self.output = output
        self.classes = units
        var loss = loss
        value = output
        if !loss.fromLogits, let node = graph.nodes.first(where: { $0.outputs.contains(output) }), case .activation(let a) = node.op {
            switch a {
            case .sigmoid where loss.kind == .binaryCrossentropy:
                value = node.inputs[0]; loss.fromLogits = true
            case .softmax where loss.kind != .binaryCrossentropy || softmaxLogitsForBinary:
                value = node.inputs[0]; loss.fromLogits = true
            case .linear, .relu, .leakyRelu, .elu, .selu, .sigmoid, .hardSigmoid, .hardSwish, .tanh, .softplus, .softsign, .swish, .gelu,
                 .exponential, .softmax, .logSoftmax, .clip:
                break
            }
        }
        self.loss = loss
    }
}

public struct TrainingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Samples in memory: every input with the samples on its first axis, and one label per sample
/// (0/1, or a class index).
public struct Samples: Sendable {
    public var inputs: [String: HostTensor]
    public var labels: [Float]
    public init(inputs: [String: HostTensor], labels: [Float]) { self.inputs = inputs; self.labels = labels }
    public var count: Int { labels.count }

    public func gather(_ indices: [Int]) -> Samples {
        var taken: [String: HostTensor] = [:]
        for (name, t) in inputs {
            let per = t.shape.dropFirst().reduce(1, *)
            var data = [Float](repeating: 0, count: indices.count * per)
            for (j, i) in indices.enumerated() { for e in 0..<per { data[j * per + e] = t.data[i * per + e] } }
            var shape = t.shape
            shape[0] = indices.count
            taken[name] = HostTensor(shape: shape, data: data)
        }
        return Samples(inputs: taken, labels: indices.map { labels[$0] })
    }

    /// Keras's `validation_split`: the last `fraction` of the samples, before any shuffling.
    public func split(validation fraction: Double) -> (train: Samples, validation: Samples) {
        let held = Int((Double(count) * fraction).rounded(.down))
        let cut = count - held
        return (gather(Array(0..<cut)), gather(Array(cut..<count)))
    }
}

/// One epoch's figures (Keras's History).
public struct EpochRecord: Sendable, Codable {
    public var epoch: Int
    public var loss: Double
    public var accuracy: Double
    public var auc: Double?
    public var precision: Double?
    public var recall: Double?
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    public var validationAUC: Double?
    public var learningRate: Double
    public var imagesPerSecond: Double
    public var seconds: Double
}

public struct FitOptions: Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var shuffle: Bool
    public var seed: UInt64
    /// Per-class weights (index = class), Keras's `class_weight`.
    public var classWeights: [Float]?
    /// Stop after this many epochs without improvement of the monitored loss, restoring the best weights.
    public var earlyStoppingPatience: Int?
    /// Keras's ReduceLROnPlateau defaults: factor 0.1, patience 10, min_delta 1e-4.
    public var reduceLearningRateOnPlateau: Bool
    public init(epochs: Int, batchSize: Int = 32, shuffle: Bool = true, seed: UInt64 = 0, classWeights: [Float]? = nil,
                earlyStoppingPatience: Int? = nil, reduceLearningRateOnPlateau: Bool = false) {
        self.epochs = epochs; self.batchSize = max(1, batchSize); self.shuffle = shuffle; self.seed = seed
        self.classWeights = classWeights; self.earlyStoppingPatience = earlyStoppingPatience
        self.reduceLearningRateOnPlateau = reduceLearningRateOnPlateau
    }
}

/// What `fit` did.
public struct FitResult: Sendable {
    public var history: [EpochRecord]
    /// Set when training stopped early (early stopping, a non-finite loss).
    public var stopReason: String?
    /// The epoch whose weights were kept (early stopping restores the best).
    public var keptEpoch: Int?
}

/// Keras's `fit` over a `TrainingSession`: batches in order or shuffled, one optimizer step per
/// batch, the epoch's loss as the batch-size-weighted mean of the batch losses, metrics, then
/// validation in inference mode and the callbacks.
public final class Trainer {
    public let session: TrainingSession
    public var optimizer: Optimizer
    public let target: LossTarget

    public init(session: TrainingSession, optimizer: Optimizer, target: LossTarget) {
        self.session = session; self.optimizer = optimizer; self.target = target
    }

    /// One step on one batch (Keras's `train_on_batch`): returns the loss before the update.
    @discardableResult
    public func trainOnBatch(_ batch: Samples, classWeights: [Float]? = nil) throws -> (loss: Double, predictions: [Float]) {
        let outputs = try session.forward(batch.inputs, training: true)
        guard let read = session.value(target.value), let out = outputs[target.output] else {
            throw TrainingError("the model computed no '\(target.value)'")
        }
        let weights = classWeights.map { w in batch.labels.map { w[min(max(Int($0), 0), w.count - 1)] } }
        let (loss, gradient) = target.loss.evaluate(read.data, classes: target.classes, labels: batch.labels, weights: weights)
        guard loss.isFinite else { return (loss, out.data) }
        let grads = try session.backward([target.value: HostTensor(shape: read.shape, data: gradient)])
        var variables: [String: [Float]] = [:]
        for name in session.trainable { variables[name] = session.parameters[name]?.data }
        optimizer.step(&variables, gradients: grads)
        for (name, v) in variables { session.setParameter(name, v) }
        return (loss, out.data)
    }

    /// Loss and scores in inference mode (Keras's `evaluate`).
    public func evaluate(_ samples: Samples, batchSize: Int) throws -> (loss: Double, scores: [Float]) {
        var total = 0.0, scores: [Float] = []
        var start = 0
        while start < samples.count {
            let end = min(samples.count, start + batchSize)
            let batch = samples.gather(Array(start..<end))
            let outputs = try session.forward(batch.inputs, training: false)
            guard let read = session.value(target.value), let out = outputs[target.output] else { break }
            let (loss, _) = target.loss.evaluate(read.data, classes: target.classes, labels: batch.labels, weights: nil)
            total += loss * Double(end - start)
            scores += out.data
            start = end
        }
        return (samples.count == 0 ? .nan : total / Double(samples.count), scores)
    }

    public func fit(_ train: Samples, validation: Samples?, options: FitOptions,
                    progress: ((_ epoch: Int, _ batch: Int, _ batches: Int, _ loss: Double, _ imagesPerSecond: Double) -> Void)? = nil,
                    epochEnd: ((EpochRecord) -> Void)? = nil) throws -> FitResult {
        var generator = SeededGenerator(seed: options.seed ^ 0x5EED)
        var history: [EpochRecord] = []
        var best = Double.infinity, bestEpoch: Int?, bestWeights = session.parameters, wait = 0
        var plateauBest = Double.infinity, plateauWait = 0
        let batches = (train.count + options.batchSize - 1) / options.batchSize
        for epoch in 1...max(1, options.epochs) where options.epochs > 0 {
            let start = Date()
            var order = Array(0..<train.count)
            if options.shuffle { order.shuffle(using: &generator) }
            var lossSum = 0.0, seen = 0
            var scores: [Float] = [], labels: [Float] = []
            for b in 0..<batches {
                let indices = Array(order[(b * options.batchSize)..<min(train.count, (b + 1) * options.batchSize)])
                let batch = train.gather(indices)
                let before = session.parameters
                let (loss, predictions) = try trainOnBatch(batch, classWeights: options.classWeights)
                guard loss.isFinite else {
                    for (name, v) in before { session.setParameter(name, v.data) }
                    let what = loss.isNaN ? "NaN" : "infinite"
                    return FitResult(history: history, stopReason: "the loss became \(what) at epoch \(epoch), batch \(b + 1) (try a lower learning rate); "
                                     + "the weights before that batch are kept", keptEpoch: history.last?.epoch)
                }
                lossSum += loss * Double(indices.count)
                seen += indices.count
                scores += predictions
                labels += batch.labels
                let elapsed = Date().timeIntervalSince(start)
                progress?(epoch, b + 1, batches, lossSum / Double(seen), Double(seen) / max(elapsed, 1e-9))
            }
            let seconds = Date().timeIntervalSince(start)
            var record = EpochRecord(epoch: epoch, loss: lossSum / Double(max(seen, 1)), accuracy: 0, learningRate: Double(optimizer.learningRate),
                                     imagesPerSecond: Double(seen) / max(seconds, 1e-9), seconds: seconds)
            fillMetrics(&record, scores: scores, labels: labels)
            if let validation, validation.count > 0 {
                let (loss, valScores) = try evaluate(validation, batchSize: options.batchSize)
                record.validationLoss = loss
                let m = Self.binaryMetrics(valScores, labels: validation.labels, classes: target.classes)
                record.validationAccuracy = m.accuracy
                record.validationAUC = m.auc
            }
            history.append(record)
            epochEnd?(record)
            let monitored = record.validationLoss ?? record.loss
            if options.reduceLearningRateOnPlateau {
                if monitored < plateauBest - 1e-4 { plateauBest = monitored; plateauWait = 0 } else {
                    plateauWait += 1
                    if plateauWait >= 10 { optimizer.learningRate *= 0.1; plateauWait = 0 }
                }
            }
            if let patience = options.earlyStoppingPatience {
                if monitored < best {
                    best = monitored; bestEpoch = epoch; bestWeights = session.parameters; wait = 0
                } else {
                    wait += 1
                    if wait >= patience {
                        for (name, v) in bestWeights { session.setParameter(name, v.data) }
                        return FitResult(history: history, stopReason: "early stopping after epoch \(epoch): no improvement for \(patience) epochs; "
                                         + "weights of epoch \(bestEpoch.map(String.init) ?? "0") restored", keptEpoch: bestEpoch)
                    }
                }
            }
        }
        return FitResult(history: history, stopReason: nil, keptEpoch: history.last?.epoch)
    }

    func fillMetrics(_ record: inout EpochRecord, scores: [Float], labels: [Float]) {
        let m = Self.binaryMetrics(scores, labels: labels, classes: target.classes)
        record.accuracy = m.accuracy
        record.auc = m.auc
        record.precision = m.precision
        record.recall = m.recall
    }

    /// Binary accuracy (threshold 0.5) and, for one-unit heads, AUC, precision and recall;
    /// categorical accuracy for several units.
    public static func binaryMetrics(_ scores: [Float], labels: [Float], classes: Int)
        -> (accuracy: Double, auc: Double?, precision: Double?, recall: Double?) {
        guard !labels.isEmpty else { return (.nan, nil, nil, nil) }
        if classes == 2 {
            // Two units: the second's score is the positive class's (AUC, precision, recall on it).
            let positive = (0..<labels.count).map { scores[$0 * 2 + 1] }
            let m = binaryMetrics(positive, labels: labels, classes: 1)
            var right = 0
            for i in 0..<labels.count where (scores[i * 2 + 1] > scores[i * 2] ? 1 : 0) == Int(labels[i]) { right += 1 }
            return (Double(right) / Double(labels.count), m.auc, m.precision, m.recall)
        }
        if classes > 1 {
            var right = 0
            for (i, label) in labels.enumerated() {
                let row = scores[(i * classes)..<((i + 1) * classes)]
                if let best = row.indices.max(by: { row[$0] < row[$1] }), best - i * classes == Int(label) { right += 1 }
            }
            return (Double(right) / Double(labels.count), nil, nil, nil)
        }
        let m = ClassifierMetrics(scores: scores, labels: labels)
        let tp = zip(scores, labels).filter { $0 >= 0.5 && $1 >= 0.5 }.count
        let fp = zip(scores, labels).filter { $0 >= 0.5 && $1 < 0.5 }.count
        let fn = zip(scores, labels).filter { $0 < 0.5 && $1 >= 0.5 }.count
        return (m.accuracyAtHalf, m.auc.isNaN ? nil : m.auc, tp + fp == 0 ? nil : Double(tp) / Double(tp + fp),
                tp + fn == 0 ? nil : Double(tp) / Double(tp + fn))
    }
}
