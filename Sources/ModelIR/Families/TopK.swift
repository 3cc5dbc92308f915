/// ONNX TopK (`torch.topk`, `keras.ops.top_k`): the `k` largest (or smallest) entries along `axis`
/// and their indices, largest first (smallest first when not `largest`); of equal values the one
/// with the lower index comes first, as ONNX specifies. Inputs: x. Outputs: values, indices.
public struct TopK: OpFamily {
    /// The axis searched (not negative).
    public var axis: Int
    public var k: Int
    public var largest: Bool

    public init(axis: Int, k: Int, largest: Bool = true) { self.axis = axis; self.k = k; self.largest = largest }

    public var displayName: String { "TopK" }
    public var traits: OpTraits { axis == 0 ? [.copiesValues] : [.keepsSamplesApart, .copiesValues] }

    public func validateAttributes() throws {
        guard axis >= 0 else { throw ShapeError("TopK axis \(axis) must not be negative here") }
        guard k >= 0 else { throw ShapeError("TopK k \(k) must not be negative") }
    }

    public func inferredShapes(_ inputs: [Shape?]) throws -> [Shape] {
        guard let x = inputs.first ?? nil else { throw ShapeError("the first input is missing") }
        guard axis < x.rank else { throw ShapeError("TopK axis \(axis) is out of range for \(x)") }
        if let n = x[axis], k > n { throw ShapeError("TopK k \(k) is more than the \(n) entries of axis \(axis) of \(x)") }
        var s = x
        s[axis] = k
        return [s, s]
    }

    public func outputTypes(_ inputs: [DType]) -> [DType] { [inputs.first ?? .float32, .int64] }

    public func channelAxis(carried: Int?, inputRank: Int?, outputRank: Int) -> Int? { carried == axis ? nil : carried }
}
