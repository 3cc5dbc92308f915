/// Attributes of a transposed convolution (Keras Conv2DTranspose). Inputs: `x`, `kernel`
/// (Keras: `kh, kw, out, in`), optional `bias`.
public struct TransposedConvolution: OpFamily, Codable {
    public var filters: Int
    public var kernelSize: [Int]
    public var strides: [Int]
    public var dilations: [Int]
    /// `valid` or `sameUpper` as Keras means them for the forward convolution.
    public var padding: Padding
    public var outputPadding: [Int]?
    public var layout: Layout

    public init(filters: Int, kernelSize: [Int], strides: [Int], dilations: [Int], padding: Padding, outputPadding: [Int]?, layout: Layout) {
        self.filters = filters; self.kernelSize = kernelSize; self.strides = strides; self.dilations = dilations
        self.padding = padding; self.outputPadding = outputPadding; self.layout = layout
    }

    /// Keras' `deconv_output_length`.
    public func outputLength(axis: Int, input: Int?) -> Int? {
        guard let input else { return nil }
        let k = (kernelSize[axis] - 1) * dilations[axis] + 1
        let s = strides[axis]
        if case .explicit(let p) = padding {
            return (input - 1) * s + k - p[axis] - p[kernelSize.count + axis] + (outputPadding?[axis] ?? 0)
        }
        if let op = outputPadding {
            let pad = padding == .valid ? 0 : k / 2
            return (input - 1) * s + k - 2 * pad + op[axis]
        }
        switch padding {
        case .valid: return input * s + max(k - s, 0)
        case .sameUpper, .sameLower, .explicit: return input * s
        }
    }

    public var displayName: String { "Conv\(kernelSize.count)DTranspose" }
    public var traits: OpTraits { [.multipliesByKernel, .keepsSamplesApart] }

    public func validateAttributes() throws {
        try AttributeCheck.positive("kernel size", kernelSize)
        try AttributeCheck.positive("strides", strides, count: kernelSize.count)
        try AttributeCheck.positive("dilations", dilations, count: kernelSize.count)
        try AttributeCheck.positive("filters", [filters], limit: Shape.largestDimension)
        try AttributeCheck.nonNegative("output padding", outputPadding ?? [], count: outputPadding == nil ? nil : kernelSize.count)
        try AttributeCheck.pads(padding, spatialRank: kernelSize.count)
    }

    public func inferredShapes(_ inputs: [Shape?]) throws -> [Shape] {
        guard let x = inputs.first ?? nil else { throw ShapeError("the first input is missing") }
        let sr = kernelSize.count
        guard x.rank == sr + 2 else { throw ShapeError("Conv\(sr)DTranspose needs a rank-\(sr + 2) input, got \(x)") }
        let ca = layout.channelAxis(rank: x.rank)
        if inputs.count > 1, let k = inputs[1] {
            let fits = k.rank == sr + 2 && Array(k.dims.prefix(sr)) == kernelSize.map({ Optional($0) }) && k[sr] == filters
                && (k[sr + 1] == nil || x[ca] == nil || k[sr + 1] == x[ca])
            guard fits else { throw ShapeError("transposed-convolution kernel \(k) does not fit input \(x) and \(filters) filters") }
        }
        var out = x
        for (i, axis) in layout.spatialAxes(rank: x.rank).enumerated() { out[axis] = outputLength(axis: i, input: x[axis]) }
        out[ca] = filters
        return [out]
    }

    public func channelAxis(carried: Int?, inputRank: Int?, outputRank: Int) -> Int? { layout.channelAxis(rank: outputRank) }

    public var spatialLayout: Layout? { layout }

    public func channelsLast() -> TransposedConvolution {
        var c = self
        c.layout = .channelsLast
        return c
    }
}
