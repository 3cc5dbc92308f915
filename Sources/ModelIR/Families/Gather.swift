/// ONNX Gather and the lookup of Keras's Embedding: `y[outer, index…, inner] = x[outer, indices[index…], inner]`
/// along `axis`. Inputs: data, indices (integers, constant or computed at run time: token ids);
/// every index must lie in `-n..<n` for an axis of `n` (negative ones count from the end), or in
/// `0..<n` for token ids.
public struct Gather: OpFamily {
    /// The axis of the data indexed (not negative).
    public var axis: Int
    /// Whether negative indices count from the end (ONNX); token ids fed to a model must not be
    /// negative (PyTorch's and Keras's Embedding refuse them).
    public var negativeIndices: Bool

    public init(axis: Int, negativeIndices: Bool = true) { self.axis = axis; self.negativeIndices = negativeIndices }

    public var displayName: String { "Gather" }
    public var traits: OpTraits { [.copiesValues] }

    public func validateAttributes() throws {
        guard axis >= 0 else { throw ShapeError("Gather axis \(axis) must not be negative here") }
    }

    public func inferredShapes(_ inputs: [Shape?]) throws -> [Shape] {
        guard let x = inputs.first ?? nil else { throw ShapeError("the first input is missing") }
        guard axis < x.rank, inputs.count > 1, let indices = inputs[1] else { throw ShapeError("Gather axis \(axis) does not fit \(x)") }
        return [Shape(Array(x.dims[..<axis]) + indices.dims + Array(x.dims[(axis + 1)...]))]
    }

    public func channelAxis(carried: Int?, inputRank: Int?, outputRank: Int) -> Int? { nil }
}
