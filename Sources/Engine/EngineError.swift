import ModelIR

/// Why the engine cannot plan or run a model.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case unsupported(layer: String, reason: String)
    /// Training cannot go through this layer (no gradient, or not in training mode yet).
    case notTrainable(layer: String, reason: String)
    case missingInput(String)
    case inputShape(name: String, expected: Shape, given: [Int])
    case graph(GraphError)
    /// A value computed or given at run time that the layer cannot take (a token id outside the table).
    case invalidValue(layer: String, reason: String)

    public var description: String {
        switch self {
        case let .unsupported(layer, reason): return "layer '\(layer)' cannot run on the CPU engine: \(reason)"
        case let .notTrainable(layer, reason): return "layer '\(layer)' cannot be trained through: \(reason)"
        case let .missingInput(name): return "no data for the model input '\(name)'"
        case let .inputShape(name, expected, given):
            return "input '\(name)' expects shape \(expected), got \(Shape(given.map { Optional($0) }))"
        case let .graph(e): return e.description
        case let .invalidValue(layer, reason): return "layer '\(layer)': \(reason)"
        }
    }
}
