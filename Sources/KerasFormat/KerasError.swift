import HDF5
import ModelIR

/// Why a Keras file cannot be loaded. Each case prints one line naming the file.
public enum KerasError: Error, CustomStringConvertible {
    case fileNotFound(String)
    case unrecognizedFile(String, reason: String)
    case notAKerasFile(String, reason: String)
    case needsArchitecture(String, kind: String)
    case invalidConfig(String, reason: String)
    case unsupportedLayer(String, layer: String, className: String, reason: String)
    case invalidLayer(String, layer: String, reason: String)
    case weightsMismatch(String, reason: String)
    case hdf5(HDF5Error)
    case graph(String, GraphError)

    public var description: String {
        switch self {
        case let .fileNotFound(f): return "\(f): no such file"
        case let .unrecognizedFile(f, reason): return "\(f): \(reason)"
        case let .notAKerasFile(f, reason): return "\(f): not a Keras model file (\(reason))"
        case let .needsArchitecture(f, kind):
            return "\(f): this is a \(kind) file with weights only; give the architecture with --architecture MODEL.h5|MODEL.keras|MODEL.json"
        case let .invalidConfig(f, reason): return "\(f): invalid model configuration: \(reason)"
        case let .unsupportedLayer(f, layer, className, reason):
            return "\(f): layer '\(layer)' (\(className)) is not supported: \(reason)"
        case let .invalidLayer(f, layer, reason): return "\(f): layer '\(layer)': \(reason)"
        case let .weightsMismatch(f, reason): return "\(f): the weights do not match the architecture: \(reason)"
        case let .hdf5(e): return e.description
        case let .graph(f, e): return "\(f): \(e.description)"
        }
    }
}
