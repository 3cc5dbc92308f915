/// ONNX Cast and CastLike (`tf.cast`, `keras.ops.cast`, torch's `.long()`, `.bool()`): the values in
/// another element type. To an integer type floats truncate toward zero; to bool anything non-zero
/// is true; to float16 they round to the nearest half. Inputs: x.
public struct Cast: OpFamily {
    public var to: DType

    public init(to: DType) { self.to = to }

    public var displayName: String { "Cast" }
    /// A cast to a float type keeps the values (uint8 pixels read as floats stay 0–255).
    public var traits: OpTraits { to.isFloatingPoint ? [.keepsSamplesApart, .keepsValueScale, .copiesValues] : [.keepsSamplesApart] }

    public func validateAttributes() throws {}

    public func inferredShapes(_ inputs: [Shape?]) throws -> [Shape] {
        guard let x = inputs.first ?? nil else { throw ShapeError("the first input is missing") }
        return [x]
    }

    public func outputTypes(_ inputs: [DType]) -> [DType] { [to] }

    public func channelAxis(carried: Int?, inputRank: Int?, outputRank: Int) -> Int? { carried }
}
