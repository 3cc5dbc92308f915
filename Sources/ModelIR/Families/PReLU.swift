/// Keras PReLU and ONNX PRelu: `x` where `x > 0`, else `α·x`. Inputs: x, α (shaped as one sample,
/// the batch axis left out, broadcasting from the right; 1 along Keras's `shared_axes`).
public struct PReLU: OpFamily {
    /// The axes α is shared across (Keras's `shared_axes`, batch axis counted).
    public var sharedAxes: [Int]

    public init(sharedAxes: [Int]) { self.sharedAxes = sharedAxes }

    public var displayName: String { "PReLU" }
    public var traits: OpTraits { [.keepsSamplesApart] }

    public func validateAttributes() throws {
        guard sharedAxes.allSatisfy({ $0 >= 1 }) else { throw ShapeError("PReLU shared axes \(sharedAxes) must leave out the batch axis") }
    }

    public func inferredShapes(_ inputs: [Shape?]) throws -> [Shape] {
        guard let x = inputs.first ?? nil else { throw ShapeError("the first input is missing") }
        if inputs.count > 1, let alpha = inputs[1] {
            let sample: [Int?] = Array(x.dims.dropFirst())
            var fits = alpha.rank <= sample.count
            for (a, d) in zip(alpha.dims.reversed(), sample.reversed()) where a != 1 && a != nil && d != nil && a != d { fits = false }
            guard fits else { throw ShapeError("PReLU alpha \(alpha) does not fit the input \(x)") }
        }
        return [x]
    }

    public func channelAxis(carried: Int?, inputRank: Int?, outputRank: Int) -> Int? { inputRank == outputRank ? carried : nil }
}
