@_exported import Engine
import Foundation
import KerasFormat
import ONNXFormat
import ModelIR

/// Any failure ModelPort reports to a user: one line that names the file and the problem.
public struct ModelPortError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A loaded model: the graph IR plus where it came from. The façade over every format.
///
/// ```swift
/// let model = try Model.load("seed.h5")
/// print(model.summary().text)
/// ```
public struct Model: Sendable {
    public var graph: Graph
    public var path: String

    public init(graph: Graph, path: String) {
        self.graph = graph
        self.path = path
    }

    /// Loads a Keras (`.h5`, `.keras`, `.weights.h5` with `architecture`) or ONNX model,
    /// telling formats apart by content (an ONNX protobuf has no magic number: a file that is
    /// neither HDF5, zip nor JSON is tried as ONNX when it parses as one or is named `.onnx`).
    ///
    /// `bindings` (ONNX only; a Keras model ignores them) gives values for graph inputs that the model's ops need as
    /// constants (weights, shapes or axes fed as graph inputs); see `ONNXModelLoader.load`.
    public static func load(_ path: String, architecture: String? = nil, bindings: [String: Tensor] = [:]) throws -> Model {
        do {
            if isONNX(path) { return Model(graph: try ONNXModelLoader.load(path, bindings: bindings), path: path) }
            return Model(graph: try KerasModelLoader.load(path, architecture: architecture), path: path)
        } catch let e as KerasError {
            throw ModelPortError(e.description)
        } catch let e as ONNXError {
            throw ModelPortError(e.description)
        }
    }

    static func isONNX(_ path: String) -> Bool {
        guard FileManager.default.fileExists(atPath: path), let handle = FileHandle(forReadingAtPath: path) else { return false }
        let head = [UInt8]((try? handle.read(upToCount: 8)) ?? Data())
        try? handle.close()
        if head.starts(with: [0x89, 0x48, 0x44, 0x46]) || head.starts(with: [0x50, 0x4B]) || head.first == UInt8(ascii: "{") { return false }
        return path.lowercased().hasSuffix(".onnx") || ONNXModelLoader.looksLikeONNX(path)
    }
}
