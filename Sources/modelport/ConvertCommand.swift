import ArgumentParser
import DataIO
import Foundation
import ModelPort

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a model; the format comes from OUT's extension (.onnx).",
        discussion: """
        Keras models become ONNX graphs in ONNX's channels-first layout: the input keeps Keras' \\
        NHWC signature with one Transpose after it (--nchw-inputs: NCHW input, no Transpose), \\
        and Keras layer names become node and value names, so `validate` works on the result. \\
        An ONNX input is re-encoded unchanged (initializers bit-identical, unknown fields kept). \\
        The file is written to a temporary name and renamed; an existing OUT needs --force.

          $ modelport convert seed.h5 seed.onnx
          $ modelport convert seed.keras seed.onnx --opset 13 --nchw-inputs
        """
    )

    @Argument(help: "The model to convert (.h5, .keras, .weights.h5 with --architecture, .onnx).") var input: String
    @Argument(help: "The file to write (.onnx).") var output: String
    @Option(help: "ONNX opset, 13–21.") var opset = 17
    @Flag(help: "Make the ONNX input NCHW (no Transpose at all).") var nchwInputs = false
    @Flag(help: "Overwrite OUT if it exists.") var force = false
    @Option(help: "The architecture for a weights-only IN.") var architecture: String?

    func validate() throws {
        guard output.lowercased().hasSuffix(".onnx") else { throw ValidationError("OUT must end in .onnx (writing Keras files is not available yet)") }
        guard (13...21).contains(opset) else { throw ValidationError("--opset must be between 13 and 21") }
    }

    func run() throws {
        if FileManager.default.fileExists(atPath: output), !force {
            throw ModelPortError("\(output): the file exists; add --force to overwrite it")
        }
        let data = try ModelConversion.toONNX(input, architecture: architecture, opset: opset, nchwInputs: nchwInputs)
        do { try AtomicFile.write(data, to: output) } catch let e as DataIOError { throw ModelPortError(e.description) }
    }
}
