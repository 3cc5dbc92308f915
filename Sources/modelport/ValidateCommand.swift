import ArgumentParser
import Foundation
import ModelPort

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Compare every layer's output with the original framework's.",
        discussion: """
        Runs the model once on --inputs and compares each array of --expected with the output \
        of the layer of the same name (an .npy is compared with the final output). A layer \
        passes when every element satisfies |ours - theirs| <= atol + rtol * |theirs|. \
        Exit code 1 when any layer fails.

          $ modelport validate seed.h5 --inputs x.npy --expected seed.layers.npz
        """
    )

    @Argument(help: "The model file.") var model: String
    @Option(help: "Inputs: .npy or .npz keyed by input name.") var inputs: String
    @Option(help: "Expected outputs: .npz keyed by layer name, or .npy for the final output.") var expected: String
    @Option(help: "Absolute tolerance.") var atol: Float = 1e-5
    @Option(help: "Relative tolerance.") var rtol: Float = 1e-4
    @Option(help: "Threads (default: every core).") var threads: Int?
    @Option(help: "The architecture for a weights-only MODEL.") var architecture: String?
    @Flag(help: "Print JSON (Schemas/validate.schema.json).") var json = false

    func run() throws {
        let loaded = try Model.load(model, architecture: architecture)
        let prepared = try loaded.prepareInputs(try loaded.readInputArrays(inputs), source: inputs)
        let arrays = try loaded.readExpectedArrays(expected)
        let report = try loaded.validate(inputs: prepared, expected: arrays, expectedSource: expected, atol: atol, rtol: rtol, threads: threads)
        if json {
            print(report.json.pretty())
        } else {
            let width = max(24, (report.layers.map(\.name.count).max() ?? 0) + 2)
            print(ResultTable.pad("Layer", width) + ResultTable.pad("Shape", 22) + ResultTable.pad("Max abs err", 14) + ResultTable.pad("Max rel err", 14) + "Pass")
            for l in report.layers {
                let shape = "(" + l.shape.map(String.init).joined(separator: ", ") + ")"
                print(ResultTable.pad(l.name, width) + ResultTable.pad(shape, 22) + ResultTable.pad(String(format: "%.3e", l.maxAbsoluteError), 14)
                      + ResultTable.pad(String(format: "%.3e", l.maxRelativeError), 14) + (l.passed ? "ok" : "FAIL") + (l.note.map { "  (\($0))" } ?? ""))
            }
            let failed = report.layers.filter { !$0.passed }.count
            if let first = report.firstFailure {
                print("\(failed) of \(report.layers.count) layers differ (atol \(atol), rtol \(rtol)); first failing layer: \(first)")
            } else {
                print("all \(report.layers.count) layers match (atol \(atol), rtol \(rtol))")
            }
        }
        if !report.passed { throw ExitCode(1) }
    }
}
