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
    public var layer: String?
    public var message: String
    public var suggestion: String

    public init(_ id: String, _ severity: Severity, layer: String? = nil, _ message: String, suggestion: String = "") {
        self.id = id; self.severity = severity; self.layer = layer; self.message = message; self.suggestion = suggestion
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = ["id": .string(id), "severity": .string(severity.rawValue), "message": .string(message),
                                      "suggestion": .string(suggestion)]
        if let layer { o["layer"] = .string(layer) }
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
