import ModelIR

func registerReshapingLayers(_ r: inout [String: KerasLayerConverter]) {
    for rank in 1...3 {
        r["ZeroPadding\(rank)D"] = { b, call in
            let pads = try pairs(call.config, key: "padding", rank: rank)
            return [try b.add(.zeroPadding(pads: pads, layout: try call.config.layout), [try call.x], call: call)]
        }
        r["Cropping\(rank)D"] = { b, call in
            let crops = try pairs(call.config, key: "cropping", rank: rank)
            return [try b.add(.cropping(crops: crops, layout: try call.config.layout), [try call.x], call: call)]
        }
        r["UpSampling\(rank)D"] = { b, call in
            let size = try call.config.ints("size", count: rank, default: Array(repeating: 2, count: rank))
            let interpolation = try call.config.string("interpolation", default: "nearest")
            guard interpolation == "nearest" || interpolation == "bilinear" else {
                throw KerasError.unsupportedLayer(call.config.file, layer: call.name, className: call.className,
                                                  reason: "interpolation '\(interpolation)' is not supported (nearest and bilinear are)")
            }
            return [try b.add(.upSampling(size: size, interpolation: interpolation, layout: try call.config.layout), [try call.x], call: call)]
        }
    }
}

/// Keras' padding/cropping argument: an int, one (begin, end) pair for 1D, a value per
/// axis, or a (begin, end) pair per axis.
private func pairs(_ c: LayerConfig, key: String, rank: Int) throws -> [[Int]] {
    let v = c.json[key]
    if let i = v?.int { return Array(repeating: [i, i], count: rank) }
    guard let a = v?.array else { throw c.fail("'\(key)' is missing") }
    if rank == 1, a.count == 2, let p = a[0].int, let q = a[1].int { return [[p, q]] }
    guard a.count == rank else { throw c.fail("'\(key)' should have \(rank) entries") }
    return try a.map { item in
        if let i = item.int { return [i, i] }
        if let pair = item.array, pair.count == 2, let p = pair[0].int, let q = pair[1].int { return [p, q] }
        throw c.fail("'\(key)' has an entry that is not an integer or a pair")
    }
}
