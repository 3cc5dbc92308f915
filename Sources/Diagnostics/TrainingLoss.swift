import ModelIR

/// The loss a classifier was trained with: from the file's training configuration, or given
/// by the user (`check --loss`) for files that do not keep one (ONNX exports, weights).
public struct TrainingLoss: Sendable, Equatable {
    /// Keras-style, lower-case (`binary_crossentropy`, `categorical_crossentropy`, …).
    public var name: String
    public var fromLogits: Bool
    /// PyTorch's NLLLoss: it reads log-probabilities (a LogSoftmax output).
    public var expectsLogProbabilities = false
    /// The name the user gave, when it is not Keras' own.
    public var givenName: String?

    public init(name: String, fromLogits: Bool, expectsLogProbabilities: Bool = false) {
        self.name = name; self.fromLogits = fromLogits; self.expectsLogProbabilities = expectsLogProbabilities
    }

    /// The names `--loss` accepts: Keras' and PyTorch's.
    public static let accepted: [String: TrainingLoss] = [
        "binary_crossentropy": .init(name: "binary_crossentropy", fromLogits: false),
        "binary_crossentropy_from_logits": .init(name: "binary_crossentropy", fromLogits: true),
        "categorical_crossentropy": .init(name: "categorical_crossentropy", fromLogits: false),
        "categorical_crossentropy_from_logits": .init(name: "categorical_crossentropy", fromLogits: true),
        "sparse_categorical_crossentropy": .init(name: "sparse_categorical_crossentropy", fromLogits: false),
        "sparse_categorical_crossentropy_from_logits": .init(name: "sparse_categorical_crossentropy", fromLogits: true),
        "mse": .init(name: "mse", fromLogits: false), "mae": .init(name: "mae", fromLogits: false),
        "bceloss": .init(name: "binary_crossentropy", fromLogits: false),
        "bcewithlogitsloss": .init(name: "binary_crossentropy", fromLogits: true),
        "crossentropyloss": .init(name: "sparse_categorical_crossentropy", fromLogits: true),
        "nllloss": .init(name: "sparse_categorical_crossentropy", fromLogits: false, expectsLogProbabilities: true),
        "mseloss": .init(name: "mse", fromLogits: false), "l1loss": .init(name: "mae", fromLogits: false),
    ]

    /// A loss named on the command line (case-insensitive), or nil when it is not one of `accepted`.
    public init?(userName: String) {
        guard var loss = Self.accepted[userName.lowercased()] else { return nil }
        if loss.name != userName.lowercased() && loss.name + "_from_logits" != userName.lowercased() { loss.givenName = userName }
        self = loss
    }

    /// The loss in a Keras training configuration for an output (by name, for several outputs).
    public init?(configuration config: JSONValue, output: String) {
        guard let name = StructuralChecks.lossName(config, output: output) else { return nil }
        self.init(name: name, fromLogits: StructuralChecks.lossFromLogits(config))
    }

    var isBinaryCrossEntropy: Bool { name.contains("binary_crossentropy") || name == "binarycrossentropy" || name.contains("binary_focal") }
    var isCategoricalCrossEntropy: Bool { name.contains("categorical_crossentropy") || name == "categoricalcrossentropy" }

    public var description: String {
        (givenName.map { "\($0) (as Keras: " } ?? "") + name + (fromLogits ? " (from_logits=True)" : "") + (givenName == nil ? "" : ")")
    }
}
