import Foundation
import ONNXFormat

/// Model conversion between formats.
public enum ModelConversion {
    /// ONNX bytes for a model file. An ONNX input is re-encoded as it is (after checking that
    /// it loads), so initializers stay bit-identical and fields ModelPort does not use survive.
    public static func toONNX(_ path: String, architecture: String? = nil, opset: Int = 17, nchwInputs: Bool = false) throws -> Data {
        let model = try Model.load(path, architecture: architecture)
        if model.graph.metadata.format == "onnx" {
            guard let data = FileManager.default.contents(atPath: path) else { throw ModelPortError("\(path): cannot read the file") }
            do { return try ONNXPassThrough.reencode(data) } catch { throw ModelPortError("\(path): \(error)") }
        }
        var options = ONNXExportOptions()
        options.opset = opset
        options.nchwInputs = nchwInputs
        options.producerVersion = ModelPortVersion.string
        options.source = URL(fileURLWithPath: path).lastPathComponent
        do { return try ONNXExporter.export(model.graph, options: options) } catch {
            throw ModelPortError("\(path): \(error)")
        }
    }
}
