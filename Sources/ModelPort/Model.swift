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
    /// The names an ONNX file gives its inputs' and outputs' dimensions (`dim_param`: `batch`,
    /// `sequence`), by value.
    public var dimensionNames: [String: [String?]] = [:]
    /// The sizes the graph was made for, by dimension name: a model whose shape arithmetic
    /// depends on a named dimension other than the batch (a sequence length) is made again for
    /// each size it meets (`specialized(for:)`); until then for `probeLength`.
    public var dimensions: [String: Int] = [:]
    /// Values given for ONNX graph inputs at load (`load(_:architecture:bindings:)`).
    var bindings: [String: Tensor] = [:]

    /// The size a named dimension gets when the graph cannot be made without one (what `inspect` shows).
    public static let probeLength = 16

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
            if isONNX(path) { return try loadONNX(path, bindings: bindings, dimensions: [:]) }
            return Model(graph: try KerasModelLoader.load(path, architecture: architecture), path: path)
        } catch let e as KerasError {
            throw ModelPortError(e.description)
        } catch let e as ONNXError {
            throw ModelPortError(e.description)
        }
    }

    /// An ONNX graph, made for `dimensions`. When it cannot be made with named dimensions left
    /// open, it is made for `probeLength` there: first those after the first axis (a sequence
    /// length), then the batch's too (shape arithmetic over the batch size itself).
    static func loadONNX(_ path: String, bindings: [String: Tensor], dimensions: [String: Int],
                         names known: [String: [String?]]? = nil) throws -> Model {
        let names = known ?? ONNXModelLoader.dimensionNames(path)
        var model: Model
        do {
            model = Model(graph: try ONNXModelLoader.load(path, bindings: bindings, dimensions: dimensions), path: path)
            model.dimensions = dimensions
        } catch let first as ONNXError {
            let inputs = ONNXModelLoader.inputNames(path)
            let named = names.filter { inputs.contains($0.key) }.values
            let later = Set(named.flatMap { $0.dropFirst().compactMap { $0 } }).subtracting(dimensions.keys)
            let all = Set(named.flatMap { $0.compactMap { $0 } }).subtracting(dimensions.keys)
            var made: (Graph, [String: Int])?
            for open in [later, all] where !open.isEmpty && made == nil {
                var probed = dimensions
                for name in open { probed[name] = probeLength }
                if let graph = try? ONNXModelLoader.load(path, bindings: bindings, dimensions: probed) { made = (graph, probed) }
            }
            guard let (graph, probed) = made else { throw first }
            model = Model(graph: graph, path: path)
            model.dimensions = probed
        }
        model.dimensionNames = names
        model.bindings = bindings
        return model
    }

    /// The model made for the sizes of `arrays` (keyed by input name) where its graph depends on
    /// a named dimension (an ONNX `sequence` axis): itself when it already is.
    public func specialized(for arrays: [String: [Int]]) throws -> Model {
        guard !dimensions.isEmpty else { return self }
        var needed = dimensions
        for (input, names) in dimensionNames {
            guard let shape = arrays[input] else { continue }
            for (axis, name) in names.enumerated() where axis < shape.count {
                if let name, needed[name] != nil { needed[name] = shape[axis] }
            }
        }
        if needed == dimensions { return self }
        do {
            return try Self.loadONNX(path, bindings: bindings, dimensions: needed, names: dimensionNames)
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
