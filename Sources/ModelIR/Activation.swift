/// Elementwise activation functions, with Keras' parameters and definitions.
public enum Activation: Hashable, Sendable, Codable {
    case linear
    /// Keras `ReLU`: `max_value` caps it, `negative_slope` leaks below `threshold`.
    case relu(maxValue: Float? = nil, negativeSlope: Float = 0, threshold: Float = 0)
    case leakyRelu(alpha: Float)
    case elu(alpha: Float)
    case selu
    case sigmoid
    /// Keras: `relu6(x + 3) / 6` (Keras 3) — Keras 2 used `clip(0.2x + 0.5)`, stored as `slope`/`offset`.
    case hardSigmoid(slope: Float, offset: Float)
    /// `x * relu6(x + 3) / 6`.
    case hardSwish
    case tanh
    case softplus
    case softsign
    /// `x * sigmoid(x)`.
    case swish
    /// `approximate` selects the tanh form.
    case gelu(approximate: Bool)
    case exponential
    case softmax(axis: Int)
    case logSoftmax(axis: Int)
    /// `min(max(x, lower), upper)` (ONNX Clip).
    case clip(lower: Float, upper: Float)

    public static let relu6 = Activation.relu(maxValue: 6)
    public static let plainRelu = Activation.relu()

    /// The Keras activation name for this function.
    public var kerasName: String {
        switch self {
        case .linear: return "linear"
        case .relu(let m, let s, let t):
            if m == 6, s == 0, t == 0 { return "relu6" }
            return "relu"
        case .leakyRelu: return "leaky_relu"
        case .elu: return "elu"
        case .selu: return "selu"
        case .sigmoid: return "sigmoid"
        case .hardSigmoid: return "hard_sigmoid"
        case .hardSwish: return "hard_swish"
        case .tanh: return "tanh"
        case .softplus: return "softplus"
        case .softsign: return "softsign"
        case .swish: return "swish"
        case .gelu: return "gelu"
        case .exponential: return "exponential"
        case .softmax: return "softmax"
        case .logSoftmax: return "log_softmax"
        case .clip: return "clip"
        }
    }
}

/// Elementwise functions of one tensor that are not activations (from TFOpLambda / ONNX).
public enum UnaryFunction: String, Sendable, Codable {
    case negate, abs, sqrt, rsqrt, square, exp, log, reciprocal, floor, ceil, round, erf, sign
    /// Toward zero (integer division's rounding, a cast to an integer type).
    case truncate
    /// Rounded to the nearest float16 value (a cast to float16).
    case roundToHalf
    /// 1 where the input is non-zero, else 0 (a cast to bool).
    case isNonZero
    /// 1 where the input is zero, else 0 (logical not).
    case isZero
    /// 1 where the input is NaN, else 0 (ONNX IsNaN).
    case isNaN
    case sin, cos, tan
}

/// Elementwise functions of several broadcast tensors.
public enum ElementwiseFunction: String, Sendable, Codable {
    case add, subtract, multiply, divide, maximum, minimum, power
    /// The mean of the operands (Keras `Average`).
    case average
    /// Comparisons and logic (ONNX Equal, Less, …, And, Or, Xor): 1 for true, 0 for false; two operands.
    case equal, less, greater, lessOrEqual, greaterOrEqual, and, or, xor
    /// ONNX Mod: `modulo` takes the divisor's sign (Python's %), `remainder` the dividend's (C fmod).
    case modulo, remainder
    /// ONNX Where: operands condition, then, else.
    case select
}

/// Reductions over axes.
public enum ReduceFunction: String, Sendable, Codable {
    case mean, sum, max, min, prod
}
