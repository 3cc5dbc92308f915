import ModelIR

/// How bad a finding is: an error makes `check` exit 1.
public enum Severity: String, Sendable, Comparable {
    case error, warning, info

    var rank: Int { self == .error ? 0 : (self == .warning ? 1 : 2) }
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// One thing `check` found, with the numbers behind it and what to do.
public struct Finding: Sendable {
    /// A stable kebab-case id (`collapsed-output`, `dead-units`, …).
    public var id: String
    public var severity: Severity
    /// The layer (Keras) or node (ONNX) the finding is about.
    public var layer: String?
    /// The Keras layer or PyTorch module an exported node came from, when its name or the
    /// exporter's notes carry it (tf2onnx: `sequential/conv_1/Relu` → `conv_1`; torch.onnx:
    /// `/features/features.0/Conv` → `features.0`); set by `ModelCheck`.
    public var module: String?
    public var message: String
    public var suggestion: String

    public init(_ id: String, _ severity: Severity, layer: String? = nil, _ message: String, suggestion: String = "") {
        self.id = id; self.severity = severity; self.layer = layer; self.message = message; self.suggestion = suggestion
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = ["id": .string(id), "severity": .string(severity.rawValue), "message": .string(message),
                                      "suggestion": .string(suggestion)]
        if let layer { o["layer"] = .string(layer) }
        if let module { o["module"] = .string(module) }
        return .object(o)
    }
}

/// Formats numbers in messages: enough digits to see a collapse (0.52178 vs 0.52181).
func fmt(_ v: Double, _ digits: Int = 5) -> String {
    if v.isNaN { return "nan" }
    if v != 0, abs(v) < 1e-4 || abs(v) >= 1e5 { return String(format: "%.3e", v) }
    return String(format: "%.\(digits)f", v)
}

func percent(_ part: Int, _ whole: Int) -> String {
    whole == 0 ? "0%" : String(format: "%.0f%%", 100 * Double(part) / Double(whole))
}

/// The layer or module an exported node's scoped name carries: the path component before the
/// op's own name (`model/dense/Sigmoid` → `dense`, `/classifier/classifier.2/Gemm` →
/// `classifier.2`); nil for a plain layer name.
public func sourceModule(_ name: String) -> String? {
    let parts = name.split(separator: "/")
    guard parts.count >= 2 else { return nil }
    return String(parts[parts.count - 2])
}
