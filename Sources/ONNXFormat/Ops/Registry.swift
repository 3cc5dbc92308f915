import ModelIR

/// What ModelPort reads and writes of ONNX, one file per op family adding its entries: a converter
/// per operator read (with the inputs it cannot do without), a writer per `OpFamily` exported.
struct ONNXRegistry: Sendable {
    var converters: [String: ONNXConverter] = [:]
    /// Inputs an op cannot do without (ONNX's operator specs), where more than one.
    var minimumInputs: [String: Int] = [:]
    var writers: [ObjectIdentifier: ONNXFamilyWriter] = [:]
    /// Ops an exporter folds a BatchNormalization into (`foldedBatchNormalizationEvidence`).
    var batchNormalizationHosts: Set<String> = []

    subscript(op: String) -> ONNXConverter? {
        get { converters[op] }
        set { converters[op] = newValue }
    }

    /// A converter for an op that needs at least `inputs` inputs.
    subscript(op: String, inputs count: Int) -> ONNXConverter? {
        get { converters[op] }
        set { converters[op] = newValue; minimumInputs[op] = count }
    }

    /// The exporter's writer of family `F`.
    mutating func write<F: OpFamily>(_ type: F.Type, _ writer: @escaping @Sendable (inout ONNXWriter, Node, F) throws -> Void) {
        writers[ObjectIdentifier(type)] = { w, node, family in
            guard let f = family as? F else { throw ONNXExportError("layer '\(node.layer ?? node.name)': not a \(F.self)") }
            try writer(&w, node, f)
        }
    }
}

typealias ONNXFamilyWriter = @Sendable (inout ONNXWriter, Node, any OpFamily) throws -> Void

/// Every ONNX operator ModelPort imports, and every op family it exports.
let onnxRegistry: ONNXRegistry = {
    var r = ONNXRegistry()
    registerConvolutionOps(&r)
    registerPoolingOps(&r)
    registerNormalizationOps(&r)
    registerMathOps(&r)
    registerShapeOps(&r)
    registerSplit(&r)
    // Families not yet in the new shape say here what they cannot do without.
    for op in ["Add", "Sub", "Mul", "Div", "Pow", "MatMul", "Gemm", "Conv", "Reshape", "Expand", "Tile",
               "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Mod", "CastLike"] { r.minimumInputs[op] = 2 }
    for op in ["Where", "Range"] { r.minimumInputs[op] = 3 }
    r.minimumInputs["BatchNormalization"] = 5
    r.batchNormalizationHosts.formUnion(["Conv", "Gemm"])
    return r
}()

/// ONNX `pads`/`auto_pad` as an IR padding over `spatial` axes.
func onnxPadding(_ b: ONNXGraphBuilder, _ n: ONNXNode, spatial: Int) throws -> Padding {
    switch n.string("auto_pad", "NOTSET") {
    case "SAME_UPPER": return .sameUpper
    case "SAME_LOWER": return .sameLower
    case "VALID": return .valid
    case "NOTSET", "":
        let pads = n.ints("pads") ?? Array(repeating: 0, count: 2 * spatial)
        guard pads.count == 2 * spatial else { throw b.fail(n, "pads \(pads) does not fit \(spatial) spatial axes") }
        return pads.allSatisfy { $0 == 0 } ? .valid : .explicit(pads)
    case let other: throw b.fail(n, "unknown auto_pad '\(other)'")
    }
}
