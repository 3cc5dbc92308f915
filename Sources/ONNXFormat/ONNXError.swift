import ModelIR

/// Why an ONNX file cannot be loaded; each case prints one line naming the file.
public enum ONNXError: Error, CustomStringConvertible {
    case unreadable(String, reason: String)
    case unsupportedOp(String, op: String, node: String, opset: Int)
    case unsupportedOpset(String, domain: String, version: Int)
    case invalidNode(String, node: String, reason: String)
    case externalData(String, reason: String)
    case graph(String, GraphError)

    public var description: String {
        switch self {
        case let .unreadable(f, reason): return "\(f): \(reason)"
        case let .unsupportedOp(f, op, node, opset): return "\(f): operator \(op) (node '\(node)', opset \(opset)) is not supported"
        case let .unsupportedOpset(f, domain, version):
            return "\(f): opset \(version) of domain '\(domain.isEmpty ? "ai.onnx" : domain)' is not supported (ai.onnx 7–28)"
        case let .invalidNode(f, node, reason): return "\(f): node '\(node)': \(reason)"
        case let .externalData(f, reason): return "\(f): external data: \(reason)"
        case let .graph(f, e): return "\(f): \(e.description)"
        }
    }
}
