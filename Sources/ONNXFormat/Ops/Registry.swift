import ModelIR

/// Every ONNX operator ModelPort imports, by op type. One file per op family adds its entries.
let onnxConverters: [String: ONNXConverter] = {
    var r: [String: ONNXConverter] = [:]
    registerConvolutionOps(&r)
    registerTransposedConvolution(&r)
    registerPoolingOps(&r)
    registerNormalizationOps(&r)
    registerMathOps(&r)
    registerShapeOps(&r)
    registerSplit(&r)
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
