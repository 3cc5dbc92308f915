import ArgumentParser
import Foundation
import ModelPort

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model on inputs and print or save its outputs.",
        discussion: """
        INPUT is an .npy array (a model with one input) or an .npz with one array per model \
        input, keyed by input name. Inputs are converted to float32 and run in batches of \
        --batch-size samples. Without --output, a table prints one row per sample: for a \
        binary classifier its score and predicted class (score >= 0.5).

          $ modelport run seed.h5 --input x.npy
          $ modelport run seed.h5 --input x.npy --output scores.npy
        """
    )

    @Argument(help: "The model file.") var model: String
    @Option(help: "Inputs: .npy or .npz.") var input: String
    @Option(help: "Where to write the outputs: .npy (one output) or .npz (keyed by output name).") var output: String?
    @Option(help: "Samples per batch.") var batchSize = 32
    @Option(help: "Threads (default: every core).") var threads: Int?
    @Option(help: "The architecture for a weights-only MODEL.") var architecture: String?

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let loaded = try Model.load(model, architecture: architecture)
        let arrays = try loaded.readInputArrays(input)
        let inputs = try loaded.prepareInputs(arrays, source: input)
        for (name, t) in inputs.sorted(by: { $0.key < $1.key }) where t.nanCount > 0 {
            warn("\(input): input '\(name)' has \(t.nanCount) NaN values; the run goes on")
        }
        let session = try loaded.session(threads: threads)
        let outputs = try loaded.predict(inputs, session: session, batchSize: batchSize)
        if let output {
            try loaded.writeOutputs(outputs, to: output)
            return
        }
        for name in loaded.graph.outputs {
            guard let t = outputs[name] else { continue }
            if loaded.graph.outputs.count > 1 { print("output \(name) \(t.shape)") }
            print(ResultTable.render(t))
        }
    }
}

/// The readable table `run` prints: one row per sample.
enum ResultTable {
    static func render(_ t: HostTensor) -> String {
        let n = t.shape.first ?? 0
        let per = t.shape.dropFirst().reduce(1, *)
        var lines: [String] = []
        if per == 1 {
            lines.append("index  score     class")
            for i in 0..<n { lines.append(pad("\(i)", 7) + pad(format(t.data[i]), 10) + (t.data[i] >= 0.5 ? "1" : "0")) }
        } else if t.shape.count == 2 {
            lines.append("index  class  probability  scores")
            for i in 0..<n {
                let row = Array(t.data[(i * per)..<((i + 1) * per)])
                let best = row.indices.max { row[$0] < row[$1] } ?? 0
                lines.append(pad("\(i)", 7) + pad("\(best)", 7) + pad(format(row[best]), 13) + row.prefix(8).map(format).joined(separator: " "))
            }
        } else {
            for i in 0..<n {
                let row = t.data[(i * per)..<((i + 1) * per)]
                lines.append("\(i): " + row.prefix(8).map(format).joined(separator: " ") + (per > 8 ? " …" : ""))
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
