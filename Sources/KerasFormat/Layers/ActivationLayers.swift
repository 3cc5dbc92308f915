import ModelIR

/// Reads a Keras `activation` field (a name, or Keras 3's serialized function) as an IR activation;
/// nil for linear.
func kerasActivation(_ value: JSONValue?, call: LayerCall, flavour: KerasFlavour) throws -> Activation? {
    guard let value, !value.isNull else { return nil }
    let name: String
    if let s = value.string {
        name = s
    } else if let s = value["config"]?.string ?? value["config"]?["name"]?.string ?? value["class_name"]?.string {
        name = s
    } else {
        throw call.config.fail("cannot read its activation \(value)")
    }
    guard let activation = activationNamed(name, flavour: flavour) else {
        throw KerasError.unsupportedLayer(call.config.file, layer: call.name, className: call.className,
                                          reason: "the activation '\(name)' is not supported")
    }
    return activation == .linear ? nil : activation
}

/// Keras' activation functions by name, with each framework's own definition where they differ.
func activationNamed(_ name: String, flavour: KerasFlavour) -> Activation? {
    switch name {
    case "linear": return .linear
    case "relu": return .relu()
    case "relu6": return .relu6
    case "leaky_relu": return .leakyRelu(alpha: 0.2)
    case "elu": return .elu(alpha: 1)
    case "selu": return .selu
    case "sigmoid": return .sigmoid
    // Keras 2: clip(0.2x + 0.5, 0, 1); Keras 3: relu6(x + 3) / 6.
    case "hard_sigmoid": return flavour == .keras2 ? .hardSigmoid(slope: 0.2, offset: 0.5) : .hardSigmoid(slope: 1.0 / 6.0, offset: 0.5)
    case "hard_swish", "hard_silu": return .hardSwish
    case "tanh": return .tanh
    case "softplus": return .softplus
    case "softsign": return .softsign
    case "swish", "silu": return .swish
    case "gelu": return .gelu(approximate: false)
    case "exponential": return .exponential
    case "softmax": return .softmax(axis: -1)
    case "log_softmax": return .logSoftmax(axis: -1)
    default: return nil
    }
}

func registerActivationLayers(_ r: inout [String: KerasLayerConverter]) {
    r["Activation"] = { b, call in
        let act = try kerasActivation(call.config.json["activation"], call: call, flavour: b.flavour) ?? .linear
        return [try b.add(.activation(act), [try call.x], call: call)]
    }
    r["ReLU"] = { b, call in
        let act = Activation.relu(maxValue: try call.config.optionalFloat("max_value"),
                                  negativeSlope: try call.config.float("negative_slope", default: 0),
                                  threshold: try call.config.float("threshold", default: 0))
        return [try b.add(.activation(act), [try call.x], call: call)]
    }
    r["LeakyReLU"] = { b, call in
        let alpha = try call.config.optionalFloat("negative_slope") ?? call.config.float("alpha", default: 0.3)
        return [try b.add(.activation(.leakyRelu(alpha: alpha)), [try call.x], call: call)]
    }
    r["ELU"] = { b, call in
        [try b.add(.activation(.elu(alpha: try call.config.float("alpha", default: 1))), [try call.x], call: call)]
    }
    r["Softmax"] = { b, call in
        let axis = try call.config.intList("axis")
        guard axis.count == 1 else { throw call.config.fail("softmax over several axes is not supported") }
        return [try b.add(.activation(.softmax(axis: axis[0])), [try call.x], call: call)]
    }
    r["PReLU"] = { b, call in
        let x = try call.x
        let s = b.shape(x)
        let shared = call.config.has("shared_axes") ? try call.config.intList("shared_axes") : []
        var alphaShape: [Int] = []
        for axis in 1..<s.rank {
            if shared.contains(axis) { alphaShape.append(1); continue }
            guard let d = s[axis] else { throw call.config.fail("PReLU needs known dimensions outside shared_axes, input is \(s)") }
            alphaShape.append(d)
        }
        let p = try b.parameters(call, [(role: "alpha", shape: alphaShape, trainable: true)])
        return [try b.add(Op(PReLU(sharedAxes: shared)), [x] + p, call: call)]
    }
}
