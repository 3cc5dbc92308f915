@_exported import Engine
import Foundation
import KerasFormat
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

    /// Loads a Keras (`.h5`, `.keras`, `.weights.h5` with `architecture`) model, telling formats apart by content.
    public static func load(_ path: String, architecture: String? = nil) throws -> Model {
        do {
            return Model(graph: try KerasModelLoader.load(path, architecture: architecture), path: path)
        } catch let e as KerasError {
            throw ModelPortError(e.description)
        }
    }
}
