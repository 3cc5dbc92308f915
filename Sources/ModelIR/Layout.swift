/// Where the channel axis sits in an image-like tensor.
public enum Layout: String, Sendable, Codable {
    /// Channels last: NHWC, NWC (Keras' `channels_last`).
    case channelsLast
    /// Channels first: NCHW, NCW (Keras' `channels_first`, ONNX's only layout).
    case channelsFirst

    /// The channel axis for a tensor of `rank` (batch included).
    public func channelAxis(rank: Int) -> Int { self == .channelsLast ? rank - 1 : 1 }

    /// The spatial axes for a tensor of `rank` (batch included).
    public func spatialAxes(rank: Int) -> [Int] {
        self == .channelsLast ? Array(1..<(rank - 1)) : Array(2..<rank)
    }
}

/// How a sliding window is padded.
public enum Padding: Hashable, Sendable, Codable {
    /// No padding: windows that do not fit are dropped.
    case valid
    /// Output size `ceil(in / stride)`; an odd total pad puts the extra element at the end
    /// (TensorFlow's `same`, ONNX `SAME_UPPER`).
    case sameUpper
    /// As `sameUpper`, the extra element at the start (ONNX `SAME_LOWER`).
    case sameLower
    /// Explicit `[begin_0, begin_1, …, end_0, end_1, …]`, ONNX's `pads` order.
    case explicit([Int])

    /// Pads (begin, end) along one spatial axis for an input length, window and stride.
    public func pads(axis: Int, spatialRank: Int, input: Int, window: Int, stride: Int, dilation: Int = 1) -> (Int, Int) {
        let effective = (window - 1) * dilation + 1
        switch self {
        case .valid: return (0, 0)
        case .sameUpper, .sameLower:
            let out = (input + stride - 1) / stride
            let total = max(0, (out - 1) * stride + effective - input)
            let small = total / 2, large = total - total / 2
            return self == .sameUpper ? (small, large) : (large, small)
        case .explicit(let p):
            return (p[axis], p[spatialRank + axis])
        }
    }

    /// Output length of a sliding window along one spatial axis.
    public func outputLength(axis: Int, spatialRank: Int, input: Int?, window: Int, stride: Int, dilation: Int = 1) -> Int? {
        guard let input else { return nil }
        let effective = (window - 1) * dilation + 1
        switch self {
        case .valid:
            return input >= effective ? (input - effective) / stride + 1 : 0
        case .sameUpper, .sameLower:
            return (input + stride - 1) / stride
        case .explicit(let p):
            let padded = input + p[axis] + p[spatialRank + axis]
            return padded >= effective ? (padded - effective) / stride + 1 : 0
        }
    }

    public var name: String {
        switch self {
        case .valid: return "valid"
        case .sameUpper: return "same_upper"
        case .sameLower: return "same_lower"
        case .explicit(let p): return "pads\(p)"
        }
    }
}
