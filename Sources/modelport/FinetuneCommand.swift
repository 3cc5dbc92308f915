import ArgumentParser
import DataIO
import Foundation
import ModelIR
import ModelPort
import Training

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune a model on labelled data as Keras's fit would, repair its BatchNormalization statistics, calibrate it, and save it.",
        discussion: """
        Training follows Keras: the loss is the file's (or --loss), computed from the logits when \\
        the model ends in a sigmoid or softmax; the optimizer is the file's with a fresh state, as \\
        `compile` makes it (or --optimizer); BatchNormalization uses batch statistics and updates \\
        its moving ones; frozen layers (--freeze, --trainable-from) keep their BatchNormalization \\
        in inference mode. --validation-split holds out the last fraction of the samples, before \\
        shuffling, as Keras does.

        --recalibrate-batchnorm recomputes every BatchNormalization layer's moving mean and \\
        variance from the data (exact population statistics over all batches, each layer through \\
        the already-recalibrated layers before it); after --epochs N it runs last. --calibrate \\
        fits Platt scaling on the head's logit (on the validation samples, else the given ones) and \\
        folds it into the last Dense layer, so the saved model's 0.5 is the right cut.

        OUT's name picks the format (as `convert`); it is written to a temporary file beside OUT \\
        and renamed. A NaN loss stops training; the weights before that batch are kept.

          $ modelport finetune collapsed.h5 --data images/ --recalibrate-batchnorm --output repaired.h5
          $ modelport finetune seed.h5 --data images/ --epochs 5 --validation-split 0.2 --class-weight balanced --output tuned.h5
        """
    )

    @Argument(help: "The model file.") var model: String
    @Option(help: "Inputs (.npy or .npz).") var inputs: String?
    @Option(help: "0/1 labels (.npy), one per input sample.") var labels: String?
    @Option(help: "A folder with one sub-folder of images per class.") var data: String?
    @Option(help: "The file to write (.h5, .keras, .weights.h5, NAME_weights.h5, .onnx).") var output: String
    @Option(help: "Epochs of training (0: no training).") var epochs = 0
    @Option(help: "Samples per batch.") var batchSize = 32
    @Option(help: "sgd, adam, adamw, adamax or rmsprop with Keras's defaults (default: the file's optimizer).") var optimizer: String?
    @Option(help: "The optimizer's learning rate.") var learningRate: Float?
    @Option(help: "SGD's or RMSprop's momentum.") var momentum: Float?
    @Flag(help: "Continue from the file's optimizer state (a tf_keras .h5's optimizer_weights) instead of a fresh one.") var resumeOptimizer = false
    @Option(help: "binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy (or a PyTorch name).") var loss: String?
    @Option(help: "Label smoothing of the cross-entropy.") var labelSmoothing: Float = 0
    @Option(parsing: .upToNextOption, help: "Layers that do not train.") var freeze: [String] = []
    @Option(help: "Freeze every layer before this one.") var trainableFrom: String?
    @Option(help: "Hold out the last fraction of the samples for validation.") var validationSplit: Double?
    @Option(help: "A folder of validation images, one sub-folder per class.") var validationData: String?
    @Option(help: "balanced (n / (classes · n_class)) or none.") var classWeight = "none"
    @Option(help: "Stop after this many epochs without a better (validation) loss; restores the best weights.") var earlyStopping: Int?
    @Flag(help: "Divide the learning rate by 10 after 10 epochs without improvement (Keras's ReduceLROnPlateau).") var reduceLrOnPlateau = false
    @Flag(help: "Keep the samples in order.") var noShuffle = false
    @Option(help: "Seeds shuffling, dropout and augmentation.") var seed: UInt64 = 0
    @Flag(help: "Recompute the BatchNormalization moving statistics from the data (after training).") var recalibrateBatchnorm = false
    @Flag(help: "Fit Platt scaling on the head's logit and fold it into the last Dense layer.") var calibrate = false
    @Option(help: "Write the per-epoch history as JSON (Schemas/history.schema.json).") var history: String?
    @Option(help: "Threads (default: every core).") var threads: Int?
    @Option(help: "The architecture for a weights-only MODEL.") var architecture: String?
    @Flag(help: "Overwrite OUT if it exists.") var force = false
    @Flag(help: "No progress output.") var quiet = false

    func validate() throws {
        if (inputs == nil) != (labels == nil) { throw ValidationError("--inputs and --labels go together") }
        if data != nil, inputs != nil { throw ValidationError("give either --data or --inputs/--labels, not both") }
        if data == nil, inputs == nil { throw ValidationError("give the data: --data DIR or --inputs X --labels y") }
        guard epochs >= 0 else { throw ValidationError("--epochs must be 0 or more") }
        guard epochs > 0 || recalibrateBatchnorm || calibrate else {
            throw ValidationError("nothing to do: give --epochs N, --recalibrate-batchnorm or --calibrate")
        }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard ["balanced", "none"].contains(classWeight) else { throw ValidationError("--class-weight is balanced or none") }
        if validationSplit != nil, validationData != nil { throw ValidationError("give --validation-split or --validation-data, not both") }
        if let p = earlyStopping, p < 1 { throw ValidationError("--early-stopping needs a patience of at least 1") }
        if let lr = learningRate, !(lr > 0) || !lr.isFinite { throw ValidationError("--learning-rate must be a positive number") }
        guard labelSmoothing >= 0, labelSmoothing < 1 else { throw ValidationError("--label-smoothing is between 0 and 1") }
        if ModelConversion.format(forFileName: output) == nil {
            throw ValidationError("\(output): cannot tell the format from the name; end it in .onnx, .keras, .weights.h5 or .h5")
        }
    }

    func run() throws {
        if FileManager.default.fileExists(atPath: output), !force {
            throw ModelPortError("\(output): the file exists; add --force to overwrite it")
        }
        guard let format = ModelConversion.format(forFileName: output) else { return }
        let loaded = try Model.load(model, architecture: architecture)
        let source: LabelledData
        if let data {
            source = .folder(data)
        } else if let inputs, let labels {
            source = .arrays(inputs: inputs, labels: labels)
        } else {
            throw ModelPortError("give the data: --data DIR or --inputs X --labels y")
        }
        var settings = FinetuneSettings()
        settings.epochs = epochs; settings.batchSize = batchSize; settings.optimizer = optimizer
        settings.learningRate = learningRate; settings.momentum = momentum; settings.loss = loss; settings.labelSmoothing = labelSmoothing
        settings.freeze = freeze; settings.trainableFrom = trainableFrom; settings.validationSplit = validationSplit
        settings.validationData = validationData.map { .folder($0) }; settings.balancedClassWeights = classWeight == "balanced"
        settings.earlyStopping = earlyStopping; settings.reduceLearningRateOnPlateau = reduceLrOnPlateau; settings.shuffle = !noShuffle
        settings.seed = seed; settings.recalibrateBatchNormalization = recalibrateBatchnorm; settings.calibrate = calibrate; settings.threads = threads
        settings.resumeOptimizer = resumeOptimizer

        let bar = EpochProgress(enabled: !quiet, epochs: epochs)
        let result = try loaded.finetuned(data: source, settings: settings, progress: { bar.update($0, $1, $2, $3, $4) }, epochEnd: { bar.end($0) })
        bar.finish()
        report(result)
        if let history { try writeHistory(result, to: history) }
        try result.model.save(to: output, format: format)
        let changed = result.changedLayers
        let names = changed.isEmpty ? "" : ": " + changed.prefix(8).joined(separator: ", ") + (changed.count > 8 ? ", …" : "")
        print("saved: \(output) (\(changed.count) layer\(changed.count == 1 ? "" : "s") changed\(names))")
    }

    func report(_ r: FinetuneResult) {
        if !r.history.isEmpty {
            let validated = r.validationSamples > 0 ? ", validated on \(r.validationSamples)" : ""
            print("trained \(r.trainableParameters) parameters on \(r.trainingSamples) samples" + validated)
            print("loss: \(r.loss)")
            print("optimizer: \(r.optimizer)")
            if !r.frozenLayers.isEmpty { print("frozen: \(r.frozenLayers.joined(separator: ", "))") }
            for note in r.notes where !note.contains("inference mode") { print("note: \(note)") }
            let validation = r.history.contains { $0.validationLoss != nil }
            print("epoch      loss  accuracy     auc" + (validation ? "  val_loss  val_accuracy  val_auc" : "") + "   images/s")
            func f(_ v: Double?, _ width: Int, _ digits: Int = 4) -> String {
                let s = v.map { String(format: "%.\(digits)f", $0) } ?? "—"
                return String(repeating: " ", count: max(0, width - s.count)) + s
            }
            for e in r.history {
                var line = f(Double(e.epoch), 5, 0) + f(e.loss, 10) + f(e.accuracy, 10) + f(e.auc, 8)
                if validation { line += f(e.validationLoss, 10) + f(e.validationAccuracy, 14) + f(e.validationAUC, 9) }
                print(line + f(e.imagesPerSecond, 11, 1))
            }
            if let reason = r.stopReason { print("stopped: \(reason)") }
        }
        if !r.recalibrated.isEmpty {
            print("recalibrated \(r.recalibrated.count) BatchNormalization layer\(r.recalibrated.count == 1 ? "" : "s") from the data")
        }
        if let c = r.calibration {
            print(String(format: "calibrated (Platt scaling, a %.4f, b %.4f, on %d samples): "
                         + "accuracy at 0.5 %.3f → %.3f, Brier %.4f → %.4f, ECE %.4f → %.4f",
                         c.a, c.b, c.samples, c.before.accuracyAtHalf, c.after.accuracyAtHalf, c.before.brier, c.after.brier,
                         c.before.expectedCalibrationError, c.after.expectedCalibrationError))
        }
        for part in ["training", "validation"] {
            if let b = r.before[part], let a = r.after[part] {
                print(String(format: "on the %@ samples (inference mode): accuracy at 0.5 %.3f → %.3f, AUC %.3f → %.3f", part, b.accuracy, a.accuracy,
                             b.auc, a.auc))
            }
        }
        for note in r.notes where r.history.isEmpty || note.contains("inference mode") { print("note: \(note)") }
    }

    func writeHistory(_ r: FinetuneResult, to path: String) throws {
        func number(_ v: Double?) -> Any { v.map { $0.isFinite ? $0 as Any : NSNull() } ?? NSNull() }
        let epochs: [[String: Any]] = r.history.map { e in
            ["epoch": e.epoch, "loss": number(e.loss), "accuracy": number(e.accuracy), "auc": number(e.auc), "precision": number(e.precision),
             "recall": number(e.recall), "val_loss": number(e.validationLoss), "val_accuracy": number(e.validationAccuracy),
             "val_auc": number(e.validationAUC), "learning_rate": number(e.learningRate), "images_per_second": number(e.imagesPerSecond),
             "seconds": number(e.seconds)]
        }
        let object: [String: Any] = ["model": model, "output": output, "loss": r.loss, "optimizer": r.optimizer, "training_samples": r.trainingSamples,
                                     "validation_samples": r.validationSamples, "stop_reason": r.stopReason ?? NSNull(), "epochs": epochs]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        do { try AtomicFile.write(data, to: path) } catch let e as DataIOError { throw ModelPortError(e.description) }
    }
}

/// A progress bar per epoch on a TTY (loss, images/s, time left in the epoch); silent otherwise.
final class EpochProgress: @unchecked Sendable {
    let enabled: Bool
    let epochs: Int
    var shown = false
    var epochStart = Date()
    init(enabled: Bool, epochs: Int) { self.enabled = enabled && isatty(STDERR_FILENO) != 0; self.epochs = epochs }

    func update(_ epoch: Int, _ batch: Int, _ batches: Int, _ loss: Double, _ rate: Double) {
        guard enabled else { return }
        if batch == 1 { epochStart = Date() }
        let width = 24
        let filled = min(width, batch * width / max(batches, 1))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        // The batches after this one at this epoch's pace so far (the first batch's time included).
        let left = Date().timeIntervalSince(epochStart) / Double(max(batch, 1)) * Double(max(batches - batch, 0))
        let line = String(format: "\repoch %d/%d %@ %d/%d loss %.4f %.1f img/s ETA %.0f s   ", epoch, epochs, bar, batch, batches, loss, rate, left)
        FileHandle.standardError.write(Data(line.utf8))
        shown = true
    }

    func end(_ record: EpochRecord) {
        guard enabled, shown else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    func finish() { if enabled, shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}
