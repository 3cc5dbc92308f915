/// ONNX CumSum (and `keras.ops.cumsum`): running sums along `axis`; `exclusive` leaves each
/// element out of its own sum, `reverse` sums from the end. Inputs: x.
public struct CumSum: OpFamily {
    /// The axis summed along (not negative).
    public var axis: Int
    public var exclusive: Bool
    public var reverse: Bool

    public init(axis: Int, exclusive: Bool = false, reverse: Bool = false) {
        self.axis = axis; self.exclusive = exclusive; self.reverse = reverse
    }

    public var displayName: String { "CumSum" }
    public var traits: OpTraits { axis == 0 ? [] : [.keepsSamplesApart] }

    public func validateAttributes() throws {
        guard axis >= 0 else { throw ShapeError("CumSum axis \(axis) must not be negative here") }
    }

    public func inferredShapes(_ inputs: [Shape?]) throws -> [Shape] {
        guard let x = inputs.first ?? nil else { throw ShapeError("the first input is missing") }
        guard axis < x.rank else { throw ShapeError("CumSum axis \(axis) is out of range for \(x)") }
        return [x]
    }

    public func channelAxis(carried: Int?, inputRank: Int?, outputRank: Int) -> Int? { inputRank == outputRank ? carried : nil }
}
