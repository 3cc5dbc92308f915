import ArgumentParser
import DataIO
import Diagnostics
import Foundation
import ModelPort

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Diagnose a binary classifier: collapsed outputs, dead units, BatchNormalization statistics, head/loss mismatch, threshold.",
        discussion: """
        Without data, checks the file alone: NaN or constant weights, degenerate \
        BatchNormalization, and the head against the loss in the training configuration.
        With --inputs/--labels or --data DIR (one sub-folder per class, alphabetical = label \
        0, 1), also runs the model over the data in batches and reports the score spread, \
        dead ReLU channels, the data's BatchNormalization statistics against the stored ones \
        (and the model's accuracy/AUC with statistics recomputed from the data), input range, \
        class imbalance and the threshold that maximises Youden's J.
        Findings print worst first. Exit code 1 when a finding is an error.

          $ modelport check model.h5
          $ modelport check model.h5 --data images/ --report report.html
        """
    )

    @Argument(help: "The model file.") var model: String
    @Option(help: "Inputs (.npy or .npz).") var inputs: String?
    @Option(help: "0/1 labels (.npy), one per input sample.") var labels: String?
    @Option(help: "A folder with one sub-folder of images per class.") var data: String?
    @Option(help: "Write a self-contained HTML report here.") var report: String?
    @Option(help: "Samples per batch.") var batchSize = 32
    @Option(help: "Threads (default: every core).") var threads: Int?
    @Option(help: "The architecture for a weights-only MODEL.") var architecture: String?
    @Option(help: ArgumentHelp("The loss the model was trained with, for files without a training configuration (ONNX): "
                               + "binary_crossentropy, BCEWithLogitsLoss, categorical_crossentropy, CrossEntropyLoss, … "
                               + "(Keras or PyTorch names; add _from_logits to a Keras name)."))
    var loss: String?
    @Flag(help: "Skip measuring the model with BatchNormalization statistics recomputed from the data.") var noRecalibration = false
    @Flag(help: "Print JSON (Schemas/check.schema.json).") var json = false
    @Flag(help: "No progress output.") var quiet = false

    func validate() throws {
        if (inputs == nil) != (labels == nil) { throw ValidationError("--inputs and --labels go together") }
        if data != nil, inputs != nil { throw ValidationError("give either --data or --inputs/--labels, not both") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if let loss, TrainingLoss(userName: loss) == nil {
            throw ValidationError("--loss \(loss) is not a loss check knows; use one of \(TrainingLoss.accepted.keys.sorted().joined(separator: ", "))")
        }
    }

    func run() throws {
        let loaded = try Model.load(model, architecture: architecture)
        let source: LabelledData? = data.map { .folder($0) } ?? inputs.map { .arrays(inputs: $0, labels: labels!) }
        let progress = Progress(enabled: !quiet && !json)
        let (result, description) = try loaded.check(data: source, batchSize: batchSize, threads: threads, recalibrate: !noRecalibration,
                                                     loss: loss.flatMap(TrainingLoss.init(userName:)),
                                                     progress: progress.update)
        progress.finish()
        if let report {
            do { try AtomicFile.write(Data(HTMLReport.render(result, model: model, data: description).utf8), to: report) } catch let e as DataIOError {
                throw ModelPortError(e.description)
            }
        }
        if json {
            print(result.json.pretty())
        } else {
            print(CheckText.render(result, model: model, data: description))
            if let report { print("report: \(report)") }
        }
        if result.hasErrors { throw ExitCode(1) }
    }
}

/// The terminal summary: findings worst first, then the key numbers.
enum CheckText {
    static func render(_ r: CheckReport, model: String, data: String?) -> String {
        var lines = ["\(model): head \(r.head)" + (data.map { "; data \($0)" } ?? "")]
        for f in r.findings {
            let tag = f.severity == .error ? "ERROR  " : (f.severity == .warning ? "warning" : "info   ")
            lines.append("\(tag) \(f.id)" + (f.layer.map { " [\($0)\(f.module.map { " (\($0))" } ?? "")]" } ?? "") + ": \(f.message)")
            if !f.suggestion.isEmpty { lines.append("        → \(f.suggestion)") }
        }
        if r.findings.isEmpty { lines.append("no findings") }
        for s in r.skipped { lines.append("skipped: \(s)") }
        let errors = r.findings.filter { $0.severity == .error }.count
        lines.append("\(errors) error\(errors == 1 ? "" : "s"), \(r.findings.filter { $0.severity == .warning }.count) warnings, \(r.findings.filter { $0.severity == .info }.count) info")
        return lines.joined(separator: "\n")
    }
}

/// A one-line progress display on a terminal; silent otherwise.
final class Progress: @unchecked Sendable {
    let enabled: Bool
    var shown = false
    init(enabled: Bool) { self.enabled = enabled && isatty(STDERR_FILENO) != 0 }
    func update(_ what: String, _ done: Int, _ total: Int) {
        guard enabled else { return }
        let width = 30
        let filled = total == 0 ? width : min(width, done * width / max(total, 1))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardError.write(Data("\r\(what) \(bar) \(done)/\(total)   ".utf8))
        shown = true
    }
    func finish() {
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
