/// The file formats ModelPort reads and writes.
public enum SourceFormat: String, Sendable, CaseIterable {
    /// Keras 2 `model.save('m.h5')`: config, weights, training config, optimizer state.
    case kerasH5 = "keras-h5"
    /// Keras 2 `model.save_weights('w.h5')`.
    case kerasH5Weights = "keras-h5-weights"
    /// Keras 3 `model.save('m.keras')`: a zip of config.json, metadata.json, model.weights.h5.
    case kerasV3 = "keras-v3"
    /// Keras 3 `model.save_weights('m.weights.h5')`.
    case kerasV3Weights = "keras-v3-weights"
    case onnx
    /// A graph built in memory.
    case none = ""

    /// Whether a file of this format holds the architecture (not weights only).
    public var holdsArchitecture: Bool { self == .kerasH5 || self == .kerasV3 || self == .onnx }
}

/// An attribute value as a stored tree keeps it.
public enum StoredAttributeValue: Equatable, Sendable {
    case string(String)
    case strings([String])
    case int(Int64)
    case ints([Int64])
    case double(Double)
    case doubles([Double])
}

public struct StoredAttribute: Equatable, Sendable {
    public var name: String
    public var value: StoredAttributeValue
    /// Stored as fixed-length strings (numpy `S`), not variable-length ones.
    public var fixedLength: Bool
    public init(name: String, value: StoredAttributeValue, fixedLength: Bool = false) {
        self.name = name; self.value = value; self.fixedLength = fixedLength
    }
}

/// A group of a hierarchical file (HDF5) as the source wrote it: its attributes and its
/// members in order. A writer replays it, filling arrays that are graph parameters with
/// their current values, so everything else (optimizer slots, counters, names) survives.
public struct StoredGroup: Equatable, Sendable {
    public enum Member: Equatable, Sendable {
        case group(String, StoredGroup)
        /// An array that holds the graph parameter of this name.
        case parameter(String, parameter: String)
        /// An array kept as it was (an optimizer slot, a counter).
        case tensor(String, Tensor)

        public var name: String {
            switch self {
            case .group(let n, _), .parameter(let n, _), .tensor(let n, _): return n
            }
        }
    }

    public var attributes: [StoredAttribute] = []
    public var members: [Member] = []
    public init(attributes: [StoredAttribute] = [], members: [Member] = []) {
        self.attributes = attributes; self.members = members
    }

    public func attribute(_ name: String) -> StoredAttributeValue? { attributes.first { $0.name == name }?.value }

    public func group(_ name: String) -> StoredGroup? {
        for case .group(let n, let g) in members where n == name { return g }
        return nil
    }

    /// The array at a `/`-separated path.
    public func array(at path: String) -> Member? {
        let parts = path.split(separator: "/").map(String.init)
        guard let first = parts.first else { return nil }
        if parts.count == 1 { return members.first { $0.name == first } }
        return group(first)?.array(at: parts.dropFirst().joined(separator: "/"))
    }
}

/// What a source file says besides the graph, kept verbatim so the model can be written
/// back to its own format unchanged but for its current weights.
public struct SourceRecord: Equatable, Sendable {
    /// The model config JSON text (Keras 2 `model_config`, Keras 3 `config.json`).
    public var modelConfig: String?
    /// Whether `modelConfig` is in Keras 3's dialect (`module`, `batch_shape`, `args`/`kwargs`).
    public var modelConfigIsKeras3 = false
    /// Keras 2 `training_config` JSON text (Keras 3 keeps `compile_config` in the model config).
    public var trainingConfig: String?
    /// Keras 3 `metadata.json` text.
    public var fileMetadata: String?
    /// The weights tree: Keras 2 `model_weights/` (or a weights file's root), Keras 3
    /// `model.weights.h5` (its `optimizer/` group included).
    public var weights: StoredGroup?
    /// Keras 2 `optimizer_weights/`.
    public var optimizerWeights: StoredGroup?
    public init() {}
}
