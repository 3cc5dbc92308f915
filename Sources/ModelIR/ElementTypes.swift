/// Element types of every value: float32 data, int64 indices and shapes, bool masks. The engine
/// carries them in float32 storage, exact for integers up to 2^24 (checked where a step makes
/// integers, `InferenceSession`); they decide which values carry gradients and the type an
/// output is written in.
extension Op {
    /// The element types of the outputs, for the element types of the inputs.
    public func outputTypes(_ inputs: [DType]) -> [DType] {
        let first = inputs.first ?? .float32
        switch self {
        case .argReduce, .maxPoolIndices, .batchShape: return [.int64]
        case .elementwise(let f):
            switch f {
            case .equal, .less, .greater, .lessOrEqual, .greaterOrEqual, .and, .or, .xor: return [.bool]
            case .select:
                // Either branch a float makes the result one (ONNX requires them equal; an engine-side mix is float).
                let branches = inputs.dropFirst()
                return [branches.allSatisfy { !$0.isFloatingPoint } ? branches.first ?? .float32 : .float32]
            case .add, .subtract, .multiply, .maximum, .minimum, .power, .modulo, .remainder:
                // Integers stay integers only with integer operands.
                return [inputs.allSatisfy { !$0.isFloatingPoint && $0 != .bool } ? first : .float32]
            case .divide, .average:
                // True division (an ONNX integer Div is this, then a Cast that truncates).
                return [.float32]
            }
        case .unary(let f):
            switch f {
            case .isNonZero, .isZero, .isNaN: return [.bool]
            case .negate, .abs, .sign, .square, .floor, .ceil, .round, .truncate: return [first]
            case .sqrt, .rsqrt, .exp, .log, .reciprocal, .erf, .roundToHalf, .sin, .cos, .tan: return [.float32]
            }
        case .reduce(let f, _, _):
            // Over bools a max or min is computed as a number (∓∞ over nothing) and clamped after.
            return [f == .mean || first == .bool ? .float32 : first]
        case .concatenate: return [inputs.allSatisfy { !$0.isFloatingPoint } ? first : .float32]
        case .reshape, .reshapeAll, .flatten, .transpose, .identity, .dropout, .slice, .stridedSlice, .expand, .tile, .pad,
             .zeroPadding, .cropping:
            return [first]
        case .family(let f): return f.base.outputTypes(inputs)
        case .dense, .convolution, .depthwiseConvolution, .pooling, .globalPooling, .batchNormalization, .activation, .augmentation,
             .imageResize, .upSampling, .rescaling, .resize, .matMul:
            return [.float32]
        }
    }
}

extension Graph {
    /// Every value's element type: inputs as declared, parameters as stored, node outputs by
    /// their ops' type rules.
    public func valueTypes() -> [String: DType] {
        var types: [String: DType] = [:]
        for input in inputs { types[input.name] = input.dtype }
        for p in parameters { types[p.name] = p.tensor.dtype }
        for node in nodes {
            let given = node.inputs.map { $0.isEmpty ? DType.float32 : types[$0] ?? .float32 }
            for (output, type) in zip(node.outputs, node.op.outputTypes(given)) where !output.isEmpty { types[output] = type }
        }
        return types
    }
}
