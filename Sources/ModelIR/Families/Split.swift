/// ONNX Split (`torch.split`, `torch.chunk`, `keras.ops.split`): the input cut along `axis` into
/// consecutive parts, one output each. `sizes` gives each part's length; when empty, the axis is
/// cut into `parts` parts of `ceil(length / parts)` (the last one shorter), as ONNX's
/// `num_outputs` does, so a run-time length splits too. Inputs: x.
public struct Split: OpFamily {
    /// The axis cut (not negative).
    public var axis: Int
    public var sizes: [Int]
    public var parts: Int

    public init(axis: Int, sizes: [Int]) { self.axis = axis; self.sizes = sizes; self.parts = sizes.count }
    public init(axis: Int, parts: Int) { self.axis = axis; self.sizes = []; self.parts = parts }

    public var displayName: String { "Split" }
    public var traits: OpTraits { axis == 0 ? [.copiesValues] : [.keepsSamplesApart, .copiesValues] }

    public func validateAttributes() throws {
        guard axis >= 0 else { throw ShapeError("Split axis \(axis) must not be negative here") }
        guard parts >= 1, parts <= 1024 else { throw ShapeError("Split into \(parts) parts (at most 1,024)") }
        guard sizes.isEmpty || sizes.count == parts, sizes.allSatisfy({ $0 >= 0 }) else { throw ShapeError("Split sizes \(sizes) are not lengths") }
    }

    /// Each part's length, for an axis of `length`; nil when they do not add up to it.
    public func lengths(_ length: Int) -> [Int]? {
        if !sizes.isEmpty { return sizes.reduce(0, +) == length ? sizes : nil }
        let chunk = (length + parts - 1) / parts
        return (0..<parts).map { max(0, min(chunk, length - $0 * chunk)) }
    }

    public func inferredShapes(_ inputs: [Shape?]) throws -> [Shape] {
        guard let x = inputs.first ?? nil else { throw ShapeError("the first input is missing") }
        guard axis < x.rank else { throw ShapeError("Split axis \(axis) is out of range for \(x)") }
        let known: [Int?]
        if let length = x[axis] {
            guard let l = lengths(length) else { throw ShapeError("Split sizes \(sizes) do not add up to \(length), axis \(axis) of \(x)") }
            known = l
        } else {
            known = sizes.isEmpty ? [Int?](repeating: nil, count: parts) : sizes
        }
        return known.map { length in
            var s = x
            s[axis] = length
            return s
        }
    }

    public func outputTypes(_ inputs: [DType]) -> [DType] { Array(repeating: inputs.first ?? .float32, count: parts) }

    public func channelAxis(carried: Int?, inputRank: Int?, outputRank: Int) -> Int? { carried == axis ? nil : carried }
}
