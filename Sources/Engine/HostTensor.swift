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
}
