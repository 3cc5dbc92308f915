import ModelIR

/// Keras 3 records plain `keras.ops` calls in a Functional model (`x + 3.0`, `ops.relu6(x)`)
/// as operation layers (module `keras.src.ops.numpy` / `.nn` / `.math`) whose positional
/// arguments hold the operands, tensors and constants alike. Arithmetic, activations and
/// reductions become ordinary graph ops; anything else is refused by name.
let kerasOperationConverters: [String: KerasLayerConverter] = {
    var r: [String: KerasLayerConverter] = [:]
    let binary: [String: ElementwiseFunction] = [
        "Add": .add, "Subtract": .subtract, "Multiply": .multiply, "Divide": .divide, "TrueDivide": .divide,
        "Maximum": .maximum, "Minimum": .minimum, "Power": .power,
    ]
    for (name, f) in binary {
        r[name] = { b, call in
            let x = try operationOperand(0, keyword: "x1", b: b, call: call)
            let y = try operationOperand(1, keyword: "x2", b: b, call: call)
            return [try b.add(.elementwise(f), [x, y], call: call)]
        }
    }
    let unary: [String: UnaryFunction] = [
        "Negative": .negate, "Absolute": .abs, "Abs": .abs, "Sqrt": .sqrt, "Square": .square, "Log": .log, "Reciprocal": .reciprocal,
        "Floor": .floor, "Ceil": .ceil, "Round": .round, "Sign": .sign, "Erf": .erf, "Rsqrt": .rsqrt,
    ]
    for (name, f) in unary {
        r[name] = { b, call in [try b.add(.unary(f), [try operationOperand(0, keyword: "x", b: b, call: call)], call: call)] }
    }
    // Keras 3's own definitions (hard_sigmoid is relu6(x + 3) / 6 there).
    let activations: [String: String] = [
        "Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid", "Tanh": "tanh", "Silu": "silu", "Swish": "silu", "Softplus": "softplus",
        "Softsign": "softsign", "Elu": "elu", "Selu": "selu", "HardSigmoid": "hard_sigmoid", "HardSilu": "hard_silu", "HardSwish": "hard_silu",
        "Exp": "exponential", "Mish": "mish",
    ]
    for (name, activation) in activations {
        r[name] = { b, call in
            guard let a = activationNamed(activation, flavour: .keras3) else { throw call.config.fail("unknown activation \(activation)") }
            return [try b.add(.activation(a), [try operationOperand(0, keyword: "x", b: b, call: call)], call: call)]
        }
    }
    r["Gelu"] = { b, call in
        let approximate = call.config.json["approximate"]?.bool ?? call.kwargs?["approximate"]?.bool ?? true
        return [try b.add(.activation(.gelu(approximate: approximate)), [try operationOperand(0, keyword: "x", b: b, call: call)], call: call)]
    }
    r["LeakyRelu"] = { b, call in
        let slope = call.config.json["negative_slope"]?.double ?? call.kwargs?["negative_slope"]?.double ?? 0.2
        return [try b.add(.activation(.leakyRelu(alpha: Float(slope))), [try operationOperand(0, keyword: "x", b: b, call: call)], call: call)]
    }
    for (name, log) in [("Softmax", false), ("LogSoftmax", true)] {
        r[name] = { b, call in
            let axis = call.config.json["axis"]?.int ?? call.kwargs?["axis"]?.int ?? -1
            return [try b.add(.activation(log ? .logSoftmax(axis: axis) : .softmax(axis: axis)), [try operationOperand(0, keyword: "x", b: b, call: call)],
                              call: call)]
        }
    }
    let reductions: [String: ReduceFunction] = ["Mean": .mean, "Sum": .sum, "Max": .max, "Min": .min, "Prod": .prod]
    for (name, f) in reductions {
        r[name] = { b, call in
            let axisValue = call.config.json["axis"] ?? call.kwargs?["axis"]
            let axes: [Int] = axisValue?.int.map { [$0] } ?? axisValue?.array?.compactMap(\.int) ?? []
            let keep = call.config.json["keepdims"]?.bool ?? call.kwargs?["keepdims"]?.bool ?? false
            return [try b.add(.reduce(f, axes: axes, keepDims: keep), [try operationOperand(0, keyword: "x", b: b, call: call)], call: call)]
        }
    }
    return r
}()

/// Operand `index` of an operation layer: a tensor, or a constant number or nested list.
private func operationOperand(_ index: Int, keyword: String, b: KerasGraphBuilder, call: LayerCall) throws -> String {
    guard let v = call.args?.array.flatMap({ index < $0.count ? $0[index] : nil }) ?? call.kwargs?[keyword] else {
        throw KerasError.unsupportedLayer(call.config.file, layer: call.name, className: call.className,
                                          reason: "the operation has no operand \(index + 1)")
    }
    return try operandValue(v, b: b, call: call, role: keyword)
}

/// A call operand: another tensor (already resolved to `{"tensor": name}`) or a constant number
/// or nested list, stored as a constant of the layer (TFOpLambda's `y=2.0`, an ops layer's `3.0`).
func operandValue(_ v: JSONValue, b: KerasGraphBuilder, call: LayerCall, role: String) throws -> String {
    if let name = v["tensor"]?.string { return name }
    func flatten(_ v: JSONValue) -> (shape: [Int], values: [Float])? {
        if let d = v.double { return ([], [Float(d)]) }
        guard let a = v.array, !a.isEmpty else { return nil }
        let parts = a.compactMap(flatten)
        guard parts.count == a.count, let first = parts.first, parts.allSatisfy({ $0.shape == first.shape }) else { return nil }
        return ([a.count] + first.shape, parts.flatMap(\.values))
    }
    guard let (shape, values) = flatten(v) else {
        throw KerasError.unsupportedLayer(call.config.file, layer: call.name, className: call.className, reason: "cannot read the operand \(v)")
    }
    return b.constant(call, Tensor(shape: shape, floats: values), role: role)
}
