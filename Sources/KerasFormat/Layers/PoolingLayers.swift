import ModelIR

func registerPoolingLayers(_ r: inout [String: KerasLayerConverter]) {
    for rank in 1...3 {
        r["MaxPooling\(rank)D"] = { b, call in try pooling(b, call, kind: .max, rank: rank) }
        r["AveragePooling\(rank)D"] = { b, call in try pooling(b, call, kind: .average, rank: rank) }
        r["MaxPool\(rank)D"] = r["MaxPooling\(rank)D"]
        r["AvgPool\(rank)D"] = r["AveragePooling\(rank)D"]
        r["GlobalAveragePooling\(rank)D"] = { b, call in try globalPooling(b, call, kind: .average) }
        r["GlobalMaxPooling\(rank)D"] = { b, call in try globalPooling(b, call, kind: .max) }
        r["GlobalAvgPool\(rank)D"] = r["GlobalAveragePooling\(rank)D"]
        r["GlobalMaxPool\(rank)D"] = r["GlobalMaxPooling\(rank)D"]
    }
}

private func pooling(_ b: KerasGraphBuilder, _ call: LayerCall, kind: Pooling.Kind, rank: Int) throws -> [String] {
    let c = call.config
    let size = try c.ints("pool_size", count: rank, default: Array(repeating: 2, count: rank))
    let strides = try c.ints("strides", count: rank, default: size)
    let attrs = Pooling(kind: kind, poolSize: size, strides: strides, padding: try c.padding(), layout: try c.layout)
    return [try b.add(.pooling(attrs), [try call.x], call: call)]
}

private func globalPooling(_ b: KerasGraphBuilder, _ call: LayerCall, kind: Pooling.Kind) throws -> [String] {
    let keep = try call.config.bool("keepdims", default: false)
    return [try b.add(.globalPooling(kind: kind, layout: try call.config.layout, keepDims: keep), [try call.x], call: call)]
}
