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
    r["Rescaling"] = { b, call in
        guard let scale = call.config.json["scale"]?.double else {
            throw KerasError.unsupportedLayer(call.config.file, layer: call.name, className: "Rescaling", reason: "only a scalar scale is supported")
        }
        let offset = call.config.json["offset"]?.double ?? 0
        return [try b.add(.rescaling(scale: Float(scale), offset: Float(offset)), [try call.x], call: call)]
    }
}
