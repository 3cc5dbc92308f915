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

    /// The IR tensor (float32) holding the same values.
    public var tensor: Tensor { Tensor(shape: shape, floats: data) }
}
