/// ONNX GatherND: slices of the data picked by index tuples along its first axes. Inputs: data,
/// indices (integers, the last axis holding a tuple of `k` coordinates, each in `-n..<n`). The
/// first `batchDims` axes of both are a batch taken in step. Output: `indices.shape[..<last] +
/// data.shape[(batchDims + k)...]`.
public struct GatherND: OpFamily {
    public var batchDims: Int

    public init(batchDims: Int) { self.batchDims = batchDims }

    public var displayName: String { "GatherND" }
    public var traits: OpTraits { [.copiesValues] }

    public func validateAttributes() throws {
        guard batchDims >= 0 else { throw ShapeError("GatherND batch_dims \(batchDims) must not be negative") }
    }

    public func inferredShapes(_ inputs: [Shape?]) throws -> [Shape] {
        guard let x = inputs.first ?? nil, inputs.count > 1, let indices = inputs[1] else { throw ShapeError("GatherND needs data and indices") }
        guard indices.rank >= 1, indices.rank > batchDims, x.rank > batchDims, let k = indices.dims.last ?? nil,
              batchDims + k <= x.rank, k >= 1 else {
            throw ShapeError("GatherND indices \(indices) do not fit data \(x) with batch_dims \(batchDims)")
        }
        for a in 0..<batchDims where x[a] != nil && indices[a] != nil && x[a] != indices[a] {
            throw ShapeError("GatherND batch axis \(a) differs: data \(x), indices \(indices)")
        }
        return [Shape(Array(indices.dims.dropLast()) + Array(x.dims[(batchDims + k)...]))]
    }

    public func channelAxis(carried: Int?, inputRank: Int?, outputRank: Int) -> Int? { nil }
}
