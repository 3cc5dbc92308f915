import ModelIR

func registerCoreLayers(_ r: inout [String: KerasLayerConverter]) {
    r["Dense"] = { b, call in
        let x = try call.x
        let units = try call.config.int("units")
        guard let inFeatures = b.shape(x).dims.last ?? nil else { throw call.config.fail("the input \(b.shape(x)) has no known last dimension") }
        let useBias = try call.config.bool("use_bias", default: true)
        var expected = [(role: "kernel", shape: [inFeatures, units], trainable: true)]
        if useBias { expected.append((role: "bias", shape: [units], trainable: true)) }
        let p = try b.parameters(call, expected)
        let act = try kerasActivation(call.config.json["activation"], call: call, flavour: b.flavour)
        return [try b.addWithActivation(.dense(units: units), [x] + p + (useBias ? [] : [""]), activation: act, call: call, suffix: "dense")]
    }
    r["InputLayer"] = { b, call in [try b.add(.identity, [try call.x], call: call)] }
    for name in ["Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"] {
        r[name] = { b, call in
            let rate = try call.config.optionalFloat("rate") ?? call.config.optionalFloat("stddev") ?? 0
            return [try b.add(.dropout(kind: name, rate: rate), [try call.x], call: call)]
        }
    }
    r["Flatten"] = { b, call in [try b.add(.flatten(layout: try call.config.layout), [try call.x], call: call)] }
    r["Reshape"] = { b, call in [try b.add(.reshape(targetShape: try call.config.intList("target_shape")), [try call.x], call: call)] }
    r["Permute"] = { b, call in
        let dims = try call.config.intList("dims")
        return [try b.add(.transpose(permutation: [0] + dims), [try call.x], call: call)]
    }
    r["Normalization"] = { b, call in
        // (x − mean) / max(√variance, ε) per feature (ε = Keras' backend epsilon, 1e-7); with
        // `invert`, x · max(√variance, ε) + mean. Adapted statistics are weights, given ones config.
        let x = try call.x
        let s = b.shape(x)
        // `axis=None` (saved as [] or null) keeps no axis: one mean and variance for every value.
        let global = (call.config.json["axis"]?.isNull ?? false) || call.config.json["axis"]?.array?.isEmpty == true
        let axes = call.config.json["axis"]?.array?.compactMap(\.int) ?? call.config.json["axis"]?.int.map { [$0] } ?? [-1]
        let features: Int
        if global {
            features = 1
        } else {
            guard axes.count == 1, let axis = s.axis(axes[0]), axis == s.rank - 1, let last = s[axis] else {
                throw KerasError.unsupportedLayer(call.config.file, layer: call.name, className: call.className,
                                                  reason: "normalising over axis \(axes) of \(s) is not supported (the last axis, or none)")
            }
            features = last
        }
        let statShape = global ? [] : [features]
        func configVector(_ key: String) -> [Float]? {
            guard let v = call.config.json[key], v.double != nil || v.array != nil else { return nil }
            let values = v.double.map { [Float($0)] } ?? v.array?.compactMap(\.double).map(Float.init) ?? []
            return values.count == 1 ? Array(repeating: values[0], count: features) : values
        }
        let mean: [Float], variance: [Float]
        var meanName: String?
        if let m = configVector("mean"), let v = configVector("variance") {
            mean = m; variance = v
        } else {
            let p = try b.parameters(call, [(role: "mean", shape: statShape, trainable: false), (role: "variance", shape: statShape, trainable: false),
                                            (role: "count", shape: [], trainable: false)])
            guard let m = b.parameterTensor(p[0])?.floats(), let v = b.parameterTensor(p[1])?.floats() else { throw call.config.fail("missing statistics") }
            mean = m; variance = v
            meanName = p[0]
        }
        guard mean.count == features, variance.count == features else { throw call.config.fail("mean/variance do not have \(features) values") }
        let scale = variance.map { max($0.squareRoot(), 1e-7) }
        if try call.config.bool("invert", default: false) {
            let scaled = try b.add(.elementwise(.multiply), [x, b.constant(call, Tensor(shape: statShape, floats: scale), role: "std")], call: call, suffix: "scaled")
            return [try b.add(.elementwise(.add), [scaled, b.constant(call, Tensor(shape: statShape, floats: mean), role: "mean_offset")], call: call)]
        }
        let centred = try b.add(.elementwise(.subtract), [x, meanName ?? b.constant(call, Tensor(shape: statShape, floats: mean), role: "mean_offset")],
                                call: call, suffix: "centred")
        return [try b.add(.elementwise(.multiply), [centred, b.constant(call, Tensor(shape: statShape, floats: scale.map { 1 / $0 }), role: "inverse_std")],
                          call: call)]
    }
    r["LayerScale"] = { b, call in
        // keras.applications' ConvNeXt: x · gamma per channel.
        let x = try call.x
        let s = b.shape(x)
        guard let features = s.dims.last ?? nil else { throw call.config.fail("the input \(s) has no known last dimension") }
        let p = try b.parameters(call, [(role: "gamma", shape: [features], trainable: true)])
        return [try b.add(.elementwise(.multiply), [x, p[0]], call: call)]
    }
    r["Rescaling"] = { b, call in
        guard let scale = call.config.json["scale"]?.double else {
            throw KerasError.unsupportedLayer(call.config.file, layer: call.name, className: "Rescaling", reason: "only a scalar scale is supported")
        }
        let offset = call.config.json["offset"]?.double ?? 0
        return [try b.add(.rescaling(scale: Float(scale), offset: Float(offset)), [try call.x], call: call)]
    }
}
