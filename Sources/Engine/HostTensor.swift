import ModelIR

/// A float32 tensor in memory, C-ordered: what the engine computes with.
public struct HostTensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// Converts any numeric IR tensor to float32.
    public init(_ tensor: Tensor) {
        shape = tensor.shape
        data = tensor.floats()
    }

    public var count: Int { data.count }

    /// Samples `range` along the first axis.
    public func slice(_ range: Range<Int>) -> HostTensor {
        let per = shape.dropFirst().reduce(1, *)
        var s = shape
        s[0] = range.count
        return HostTensor(shape: s, data: Array(data[(range.lowerBound * per)..<(range.upperBound * per)]))
    }

    /// The IR tensor (float32) holding the same values.
    public var tensor: Tensor { Tensor(shape: shape, floats: data) }

    /// The values as a tensor of `dtype`: floats rounded to it, integers truncated toward zero
    /// and clamped to the type's range (NaN becomes 0), bools 0/1.
    public func tensor(as dtype: DType) -> Tensor {
        func integers<T: FixedWidthInteger>(_: T.Type) -> [UInt8] {
            let lo = Float(T.min), hi = Float(T.max)
            let values = data.map { v -> T in v.isNaN ? 0 : (v <= lo ? T.min : (v >= hi ? T.max : T(v.rounded(.towardZero)))) }
            return values.withUnsafeBytes { Array($0) }
        }
        let bytes: [UInt8]
        switch dtype {
        case .float32: return tensor
        case .float16: bytes = data.map { Float16($0) }.withUnsafeBytes { Array($0) }
        case .float64: bytes = data.map { Double($0) }.withUnsafeBytes { Array($0) }
        case .bool: bytes = data.map { $0 != 0 ? 1 : 0 }
        case .int8: bytes = integers(Int8.self)
        case .int16: bytes = integers(Int16.self)
        case .int32: bytes = integers(Int32.self)
        case .int64: bytes = integers(Int64.self)
        case .uint8: bytes = integers(UInt8.self)
        case .uint16: bytes = integers(UInt16.self)
        case .uint32: bytes = integers(UInt32.self)
        case .uint64: bytes = integers(UInt64.self)
        }
        return (try? Tensor(dtype: dtype, shape: shape, bytes: bytes)) ?? tensor
    }
}
