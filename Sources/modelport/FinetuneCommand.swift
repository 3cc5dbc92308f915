import ArgumentParser
import Foundation
import ModelIR
import ModelPort

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Repair a model's BatchNormalization statistics from data and save it (gradient training is not built yet).",
        discussion: """
        --recalibrate-batchnorm recomputes every BatchNormalization layer's moving mean and \\
        variance from the data: exact population statistics over all batches, in order, each \\
        layer through the already-recalibrated layers before it. This is the repair `check` \\
        measures when it reports batchnorm-statistics. No weight changes. OUT's name picks the \\
        format (as `convert`); it is written to a temporary file beside OUT and renamed.
        Training with --epochs N > 0 is not implemented yet and is refused.

          $ modelport finetune collapsed.h5 --data images/ --recalibrate-batchnorm --output repaired.h5
        """
    )

    @Argument(help: "The model file.") var model: String
    @Option(help: "Inputs (.npy or .npz).") var inputs: String?
    @Option(help: "0/1 labels (.npy), one per input sample.") var labels: String?
    @Option(help: "A folder with one sub-folder of images per class.") var data: String?
    @Option(help: "The file to write (.h5, .keras, .weights.h5, NAME_weights.h5, .onnx).") var output: String
    @Option(help: "Epochs of training; only 0 (recalibration alone) is supported for now.") var epochs = 0
    @Flag(help: "Recompute the BatchNormalization moving statistics from the data.") var recalibrateBatchnorm = false
    @Option(help: "Samples per batch.") var batchSize = 32
    @Option(help: "Threads (default: every core).") var threads: Int?
    @Option(help: "The architecture for a weights-only MODEL.") var architecture: String?
    @Flag(help: "Overwrite OUT if it exists.") var force = false
    @Flag(help: "No progress output.") var quiet = false

    func validate() throws {
        if (inputs == nil) != (labels == nil) { throw ValidationError("--inputs and --labels go together") }
        if data != nil, inputs != nil { throw ValidationError("give either --data or --inputs/--labels, not both") }
        if data == nil, inputs == nil { throw ValidationError("give the data: --data DIR or --inputs X --labels y") }
        guard epochs == 0 else {
            throw ValidationError("--epochs \(epochs): gradient training is not implemented yet; only --epochs 0 --recalibrate-batchnorm runs")
        }
        guard recalibrateBatchnorm else { throw ValidationError("nothing to do: add --recalibrate-batchnorm (training is not implemented yet)") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
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
        let progress = Progress(enabled: !quiet)
        let result = try loaded.recalibratingBatchNormalization(data: source, batchSize: batchSize, threads: threads) {
            progress.update("recomputing BatchNormalization statistics", $0, $1)
        }
        progress.finish()
        try result.model.save(to: output, format: format)
        print("recalibrated \(result.layers.count) BatchNormalization layer\(result.layers.count == 1 ? "" : "s") from \(result.samples) samples")
        if let b = result.before, let a = result.after {
            print(String(format: "on these samples: accuracy at 0.5 %.3f → %.3f, AUC %.3f → %.3f", b.accuracy, a.accuracy, b.auc, a.auc))
        }
        print("saved: \(output)")
    }
}
