/// Element types a tensor can hold, named as numpy and Keras name them.
public enum DType: String, Sendable, Codable, CaseIterable {
    case float16, float32, float64
    case int8, int16, int32, int64
    case uint8, uint16, uint32, uint64
    case bool

    public var byteCount: Int {
        switch self {
        case .int8, .uint8, .bool: return 1
        case .float16, .int16, .uint16: return 2
        case .float32, .int32, .uint32: return 4
        case .float64, .int64, .uint64: return 8
        }
    }

    public var isFloatingPoint: Bool { self == .float16 || self == .float32 || self == .float64 }

    /// Parses a Keras / numpy dtype name (`"float32"`, `"float"`, `"int64"`, …).
    public init?(kerasName: String) {
        switch kerasName {
        case "float", "float32": self = .float32
        case "half", "float16": self = .float16
        case "double", "float64": self = .float64
        case "bool": self = .bool
        default: self.init(rawValue: kerasName)
        }
    }
}
