import ArgumentParser
import Foundation
import DataIO
import ModelIR
import ModelPort

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model on inputs and print or save its outputs.",
        discussion: """
        INPUT is an .npy array (a model with one input), an .npz with one array per model \
        input keyed by input name, a PNG or JPEG image, or a folder of images (searched with \
        its sub-folders, sorted by path). Arrays are converted to float32.

        Images are decoded to gray or RGB to match the model's channels, resized to its input \
        height and width with bilinear interpolation (as tf.image.resize), and scaled to [0, 1] \
        (pixel / 255) -- unless the model's first layer is Rescaling, which then receives the \
        raw 0-255 values, as Keras' image_dataset_from_directory yields them.

        Samples run in batches of --batch-size. Without --output, a table prints one row per \
        sample: for a binary classifier its score and predicted class (score >= 0.5).

          $ modelport run seed.h5 --input x.npy
          $ modelport run seed.h5 --input photos/ --output scores.npy
        """
    )

    @Argument(help: "The model file.") var model: String
    @Option(help: "Inputs: .npy, .npz, an image, or a folder of images.") var input: String
    @Option(help: "Where to write the outputs: .npy (one output) or .npz (keyed by output name).") var output: String?
    @Option(help: "Samples per batch.") var batchSize = 32
    @Option(help: "Threads (default: every core).") var threads: Int?
    @Option(help: "The architecture for a weights-only MODEL.") var architecture: String?
    @Flag(help: "No progress output.") var quiet = false

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        // An ONNX graph may take weights, shapes or axes as inputs: the .npz's arrays for those
        // are bound at load (only where an op needs a constant; data inputs still run).
        let arrays = input.lowercased().hasSuffix(".npz") ? try Model.readArchive(input) : nil
        let loaded = try Model.load(model, architecture: architecture, bindings: arrays ?? [:])
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: input, isDirectory: &isFolder)
        var labels: [String]?
        let inputs: [String: HostTensor]
        if exists && isFolder.boolValue || ImageFile.isImage(input) {
            let files: [String]
            do { files = isFolder.boolValue ? try ImageFile.list(folder: input) : [input] } catch let e as DataIOError {
                throw ModelPortError(e.description)
            }
            labels = files.map { isFolder.boolValue ? String($0.dropFirst(input.count).drop { $0 == "/" }) : $0 }
            inputs = try loaded.imageInputs(files)
        } else {
            inputs = try loaded.prepareInputs(try arrays ?? loaded.readInputArrays(input), source: input)
        }
        for (name, t) in inputs.sorted(by: { $0.key < $1.key }) where t.nanCount > 0 {
            warn("\(input): input '\(name)' has \(t.nanCount) NaN values; the run goes on")
        }
        let session = try loaded.session(threads: threads)
        let progress = Progress(enabled: !quiet)
        let outputs = try loaded.predict(inputs, session: session, batchSize: batchSize, source: input) { progress.update("running", $0, $1) }
        progress.finish()
        if let output {
            try loaded.writeOutputs(outputs, to: output)
            return
        }
        for name in loaded.graph.outputs {
            guard let t = outputs[name] else { continue }
            if loaded.graph.outputs.count > 1 { print("output \(name) \(t.shape)") }
            print(ResultTable.render(t, labels: labels))
        }
    }
}

/// The readable table `run` prints: one row per sample.
enum ResultTable {
    static func render(_ t: HostTensor, labels: [String]? = nil) -> String {
        let n = t.shape.first ?? 0
        let per = t.shape.dropFirst().reduce(1, *)
        let names = labels ?? (0..<n).map(String.init)
        let width = max(7, (names.map(\.count).max() ?? 0) + 2)
        var lines: [String] = []
        if per == 1 {
            lines.append(pad(labels == nil ? "index" : "file", width) + "score     class")
            for i in 0..<n { lines.append(pad(names[i], width) + pad(format(t.data[i]), 10) + (t.data[i] >= 0.5 ? "1" : "0")) }
        } else if t.shape.count == 2 {
            lines.append(pad(labels == nil ? "index" : "file", width) + "class  probability  scores")
            for i in 0..<n {
                let row = Array(t.data[(i * per)..<((i + 1) * per)])
                let best = row.indices.max { row[$0] < row[$1] } ?? 0
                lines.append(pad(names[i], width) + pad("\(best)", 7) + pad(format(row[best]), 13) + row.prefix(8).map(format).joined(separator: " "))
            }
        } else {
            for i in 0..<n {
                let row = t.data[(i * per)..<((i + 1) * per)]
                lines.append("\(names[i]): " + row.prefix(8).map(format).joined(separator: " ") + (per > 8 ? " …" : ""))
            }
        }
        return lines.joined(separator: "\n")
    }

    static func format(_ v: Float) -> String { String(format: "%.6f", v) }
    static func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : s + String(repeating: " ", count: w - s.count) }
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
}
