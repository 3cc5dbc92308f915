/// Keras and ONNX LayerNormalization: `(x − mean)·rsqrt(var + ε)·γ + β`, the mean and variance taken
/// over `axes` for every index of the other axes. Inputs: x, γ?, β?, each shaped as the normalised
/// axes in order (Keras), or broadcasting to them from the right (ONNX's `axis..<rank`).
public struct LayerNormalization: OpFamily {
    /// The normalised axes, ascending and non-negative (Keras allows any set of them).
    public var axes: [Int]
    public var epsilon: Float

    public init(axes: [Int], epsilon: Float) {
        self.axes = axes.sorted(); self.epsilon = epsilon
    }

    public var displayName: String { "LayerNormalization" }

    public var traits: OpTraits { axes.contains(0) ? [] : [.keepsSamplesApart] }

    public func validateAttributes() throws {
        guard !axes.isEmpty else { throw ShapeError("LayerNormalization needs at least one axis") }
        guard axes.allSatisfy({ $0 >= 0 }), Set(axes).count == axes.count else {
            throw ShapeError("LayerNormalization axes \(axes) must be distinct and not negative")
        }
        guard epsilon.isFinite, epsilon >= 0 else { throw ShapeError("LayerNormalization epsilon \(epsilon) must be a finite number >= 0") }
    }

    public func inferredShapes(_ inputs: [Shape?]) throws -> [Shape] {
        guard let x = inputs.first ?? nil else { throw ShapeError("the first input is missing") }
        for a in axes where a >= x.rank { throw ShapeError("axis \(a) is out of range for \(x)") }
        let normalized = axes.map { x[$0] }
        for (i, role) in ["gamma", "beta"].enumerated() where i + 1 < inputs.count {
            guard let p = inputs[i + 1] else { continue }
            guard Self.broadcasts(p, to: normalized) else {
                throw ShapeError("LayerNormalization \(role) \(p) does not fit the normalised axes \(Shape(normalized))")
            }
        }
        return [x]
    }

    public func channelAxis(carried: Int?, inputRank: Int?, outputRank: Int) -> Int? {
        inputRank == outputRank ? carried : nil
    }

    /// True when `p` broadcasts to `target` from the right, each of its dimensions 1 or equal.
    static func broadcasts(_ p: Shape, to target: [Int?]) -> Bool {
        let extra = max(0, p.rank - target.count)
        guard p.dims.prefix(extra).allSatisfy({ $0 == 1 }) else { return false }
        for (d, t) in zip(p.dims.reversed(), target.reversed()) where d != 1 && d != nil && t != nil && d != t { return false }
        return true
    }

    /// γ or β with one value per normalised element (`dims`, in the order of the axes), broadcast
    /// from the right as ONNX allows; nil when `p` does not broadcast to `dims`.
    public static func values(of p: Tensor, over dims: [Int]) -> [Float]? {
        let values = p.floats(), count = dims.reduce(1, *)
        var shape = p.shape
        while shape.count > dims.count, shape.first == 1 { shape.removeFirst() }
        shape = [Int](repeating: 1, count: max(0, dims.count - shape.count)) + shape
        guard shape.count == dims.count, zip(shape, dims).allSatisfy({ $0 == 1 || $0 == $1 }) else { return nil }
        if shape == dims { return values }
        var strides = [Int](repeating: 0, count: dims.count), step = 1
        for a in stride(from: dims.count - 1, through: 0, by: -1) { strides[a] = shape[a] == 1 ? 0 : step; step *= shape[a] }
        var out = [Float](repeating: 0, count: count), index = [Int](repeating: 0, count: dims.count)
        for o in 0..<count {
            out[o] = values[zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 }]
            var a = dims.count - 1
            while a >= 0 { index[a] += 1; if index[a] < dims[a] { break }; index[a] = 0; a -= 1 }
        }
        return out
    }
}
