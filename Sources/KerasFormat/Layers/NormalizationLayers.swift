import ModelIR

func registerNormalizationLayers(_ r: inout [String: KerasLayerConverter]) {
    r["BatchNormalization"] = { b, call in
        let x = try call.x
        let s = b.shape(x)
        let axes = try call.config.intList("axis")
        guard axes.count == 1, let axis = s.axis(axes[0]), let features = s[axis] else {
            throw KerasError.unsupportedLayer(call.config.file, layer: call.name, className: call.className,
                                              reason: "normalising over axis \(axes) of \(s) is not supported (one known axis only)")
        }
        let center = try call.config.bool("center", default: true)
        let scale = try call.config.bool("scale", default: true)
        var expected: [(role: String, shape: [Int], trainable: Bool)] = []
        if scale { expected.append((role: "gamma", shape: [features], trainable: true)) }
        if center { expected.append((role: "beta", shape: [features], trainable: true)) }
        expected.append((role: "moving_mean", shape: [features], trainable: false))
        expected.append((role: "moving_variance", shape: [features], trainable: false))
        let p = try b.parameters(call, expected)
        var inputs = [x]
        var i = 0
        inputs.append(scale ? p[i] : ""); if scale { i += 1 }
        inputs.append(center ? p[i] : ""); if center { i += 1 }
        inputs += [p[i], p[i + 1]]
        let op = Op.batchNormalization(axis: axis, epsilon: try call.config.float("epsilon", default: 1e-3),
                                       momentum: try call.config.float("momentum", default: 0.99))
        return [try b.add(op, inputs, call: call)]
    }
    r["LayerNormalization"] = { b, call in
        let x = try call.x
        let s = b.shape(x)
        if try call.config.bool("rms_scaling", default: false) {
            throw KerasError.unsupportedLayer(call.config.file, layer: call.name, className: call.className, reason: "rms_scaling is not supported")
        }
        let axes = try call.config.intList("axis").map { a -> Int in
            guard let n = s.axis(a), s[n] != nil else { throw call.config.fail("axis \(a) is not a known axis of \(s)") }
            return n
        }.sorted()
        let paramShape = axes.compactMap { s[$0] }
        let center = try call.config.bool("center", default: true)
        let scale = try call.config.bool("scale", default: true)
        var expected: [(role: String, shape: [Int], trainable: Bool)] = []
        if scale { expected.append((role: "gamma", shape: paramShape, trainable: true)) }
        if center { expected.append((role: "beta", shape: paramShape, trainable: true)) }
        let p = try b.parameters(call, expected)
        let inputs = [x, scale ? p[0] : "", center ? p[scale ? 1 : 0] : ""]
        return [try b.add(Op(LayerNormalization(axes: axes, epsilon: try call.config.float("epsilon", default: 1e-3))), inputs, call: call)]
    }
}
