import DataIO
import Foundation
import KerasFormat
import ModelIR
import ONNXFormat

/// Model conversion between formats.
public enum ModelConversion {
    /// The format a file name asks for: `.onnx`, `.keras`, `.weights.h5` (Keras 3 weights),
    /// `_weights.h5` (Keras 2 `save_weights`), other `.h5` (a Keras 2 full model).
    public static func format(forFileName name: String) -> SourceFormat? {
        let lower = name.lowercased()
        if lower.hasSuffix(".onnx") { return .onnx }
        if lower.hasSuffix(".keras") { return .kerasV3 }
        if lower.hasSuffix(".weights.h5") { return .kerasV3Weights }
        if lower.hasSuffix("_weights.h5") { return .kerasH5Weights }
        if lower.hasSuffix(".h5") || lower.hasSuffix(".hdf5") { return .kerasH5 }
        return nil
    }

    /// Converts the model file `input` to `output` in `format`, writing a temporary file beside
    /// `output` and renaming it, so a failure leaves nothing behind and never a half-written file.
    public static func convert(_ input: String, to output: String, format: SourceFormat, architecture: String? = nil,
                               opset: Int = 17, nchwInputs: Bool = false) throws {
        let model = try Model.load(input, architecture: architecture)
        try model.save(to: output, format: format, opset: opset, nchwInputs: nchwInputs)
    }

    /// ONNX bytes for a model. An ONNX input is re-encoded as it is (after checking that
    /// it loads), so initializers stay bit-identical and fields ModelPort does not use survive;
    /// only initializers whose values the graph changed (recalibration) are replaced.
    static func onnxData(_ model: Model, opset: Int, nchwInputs: Bool) throws -> Data {
        if model.graph.metadata.format == .onnx {
            guard let data = FileManager.default.contents(atPath: model.path) else { throw ModelPortError("\(model.path): cannot read the file") }
            do { return try ONNXPassThrough.reencode(data, file: model.path, updating: model.graph) } catch { throw ModelPortError("\(model.path): \(error)") }
        }
        var options = ONNXExportOptions()
        options.opset = opset
        options.nchwInputs = nchwInputs
        options.producerVersion = ModelPortVersion.string
        options.source = URL(fileURLWithPath: model.path).lastPathComponent
        do { return try ONNXExporter.export(model.graph, options: options) } catch {
            throw ModelPortError("\(model.path): \(error)")
        }
    }

    /// ONNX bytes for a model file.
    public static func toONNX(_ path: String, architecture: String? = nil, opset: Int = 17, nchwInputs: Bool = false) throws -> Data {
        try onnxData(try Model.load(path, architecture: architecture), opset: opset, nchwInputs: nchwInputs)
    }
}

extension Model {
    /// Saves the model as `format` at `path`, atomically: the file is made in memory, written
    /// to a temporary file in the same folder and renamed over `path`; on any failure nothing
    /// is left behind.
    public func save(to path: String, format: SourceFormat, opset: Int = 17, nchwInputs: Bool = false) throws {
        switch format {
        case .onnx:
            let data = try ModelConversion.onnxData(self, opset: opset, nchwInputs: nchwInputs)
            do { try AtomicFile.write(data, to: path) } catch let e as DataIOError { throw ModelPortError(e.description) }
        case .kerasH5, .kerasH5Weights, .kerasV3, .kerasV3Weights:
            let data: Data
            do { data = try KerasWriter.data(graph, as: format) } catch let e as KerasWriteError {
                throw ModelPortError("\(path): \(e.description)")
            }
            do { try AtomicFile.write(data, to: path) } catch let e as DataIOError { throw ModelPortError(e.description) }
        case .none:
            throw ModelPortError("\(path): no file format to write")
        }
    }
}
