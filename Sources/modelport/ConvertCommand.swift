import ArgumentParser
import Foundation
import ModelIR
import ModelPort

extension SourceFormat: ExpressibleByArgument {}

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a model to ONNX or to any Keras file kind; the format comes from OUT's name.",
        discussion: """
        OUT's name picks the format (--format overrides): .onnx; .keras (Keras 3 model); \\
        .weights.h5 (Keras 3 weights); NAME_weights.h5 (Keras 2 save_weights); other .h5 \\
        (Keras 2 full model). A Keras model written back to its own Keras generation keeps its \\
        configs verbatim, every weight bit-identical and its optimizer state. Keras models become \\
        ONNX graphs in ONNX's channels-first layout: the input keeps Keras' NHWC signature with \\
        one Transpose after it (--nchw-inputs: NCHW input, no Transpose). An ONNX input written as \\
        ONNX is re-encoded unchanged. The file is written to a temporary name beside OUT and \\
        renamed; an existing OUT needs --force.

          $ modelport convert seed.h5 seed.onnx
          $ modelport convert seed.h5 repaired.h5
          $ modelport convert seed.keras seed.onnx --opset 13 --nchw-inputs
          $ modelport convert seed.h5 seed_weights.h5 --format keras-h5-weights
        """
    )

    @Argument(help: "The model to convert (.h5, .keras, .weights.h5 with --architecture, .onnx).") var input: String
    @Argument(help: "The file to write (.onnx, .keras, .weights.h5, .h5).") var output: String
    @Option(help: "keras-h5, keras-h5-weights, keras-v3, keras-v3-weights or onnx (default: from OUT's name).")
    var format: SourceFormat?
    @Option(help: "ONNX opset, 13–21.") var opset = 17
    @Flag(help: "Make the ONNX input NCHW (no Transpose at all).") var nchwInputs = false
    @Flag(help: "Overwrite OUT if it exists.") var force = false
    @Option(help: "The architecture for a weights-only IN.") var architecture: String?

    func validate() throws {
        guard (13...21).contains(opset) else { throw ValidationError("--opset must be between 13 and 21") }
        if format == SourceFormat.none { throw ValidationError("--format must be keras-h5, keras-h5-weights, keras-v3, keras-v3-weights or onnx") }
        if format == nil, ModelConversion.format(forFileName: output) == nil {
            throw ValidationError("\(output): cannot tell the format from the name; end it in .onnx, .keras, .weights.h5 or .h5, or give --format")
        }
    }

    func run() throws {
        if FileManager.default.fileExists(atPath: output), !force {
            throw ModelPortError("\(output): the file exists; add --force to overwrite it")
        }
        guard let target = format ?? ModelConversion.format(forFileName: output) else { return }
        try ModelConversion.convert(input, to: output, format: target, architecture: architecture, opset: opset, nchwInputs: nchwInputs)
    }
}
