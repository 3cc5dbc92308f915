import ModelIR

/// Keras 2 records plain TensorFlow calls in a Functional model (`x * 2.0`, `tf.nn.relu6(x)`)
/// as `TFOpLambda` layers whose `function` names the TF symbol. The arithmetic and
/// activation ones are ordinary graph ops; anything else is refused by name.
func registerTFOpLambda(_ r: inout [String: KerasLayerConverter]) {
    r["TFOpLambda"] = { b, call in
        let function = try call.config.string("function")
        let x = try call.x
        let binary: [String: ElementwiseFunction] = [
            "__operators__.add": .add, "math.add": .add, "math.add_n": .add,
            "math.subtract": .subtract, "__operators__.sub": .subtract,
            "math.multiply": .multiply, "__operators__.mul": .multiply,
            "math.truediv": .divide, "math.divide": .divide, "__operators__.truediv": .divide,
            "math.maximum": .maximum, "math.minimum": .minimum, "math.pow": .power, "__operators__.pow": .power,
        ]
        let activations: [String: Activation] = [
            "nn.relu": .relu(), "nn.relu6": .relu6, "math.sigmoid": .sigmoid, "nn.sigmoid": .sigmoid,
            "math.tanh": .tanh, "nn.tanh": .tanh, "nn.silu": .swish, "nn.swish": .swish, "math.softplus": .softplus,
            "nn.softplus": .softplus, "nn.elu": .elu(alpha: 1), "nn.selu": .selu, "nn.softsign": .softsign,
            "math.softsign": .softsign, "nn.gelu": .gelu(approximate: false), "nn.softmax": .softmax(axis: -1),
            "nn.log_softmax": .logSoftmax(axis: -1), "math.exp": .exponential,
        ]
        let unary: [String: UnaryFunction] = [
            "math.negative": .negate, "__operators__.neg": .negate, "math.abs": .abs, "math.sqrt": .sqrt,
            "math.rsqrt": .rsqrt, "math.square": .square, "math.log": .log, "math.reciprocal": .reciprocal,
            "math.floor": .floor, "math.ceil": .ceil, "math.round": .round, "math.erf": .erf, "math.sign": .sign,
        ]
        if let f = binary[function] {
            guard let operand = call.kwargs?["y"] else {
                throw KerasError.unsupportedLayer(call.config.file, layer: call.name, className: "TFOpLambda",
                                                  reason: "\(function) without a 'y' operand is not supported")
            }
            let y = try operandValue(operand, b: b, call: call, role: "y")
            return [try b.add(.elementwise(f), [x, y], call: call)]
        }
        if let a = activations[function] {
            if case .softmax = a, let axis = call.kwargs?["axis"]?.int { return [try b.add(.activation(.softmax(axis: axis)), [x], call: call)] }
            return [try b.add(.activation(a), [x], call: call)]
        }
        if let u = unary[function] { return [try b.add(.unary(u), [x], call: call)] }
        let reductions: [String: ReduceFunction] = [
            "math.reduce_mean": .mean, "math.reduce_sum": .sum, "math.reduce_max": .max, "math.reduce_min": .min, "math.reduce_prod": .prod,
        ]
        if let f = reductions[function] {
            let axisValue = call.kwargs?["axis"]
            let axes: [Int] = axisValue?.int.map { [$0] } ?? axisValue?.array?.compactMap(\.int) ?? []
            let keep = call.kwargs?["keepdims"]?.bool ?? false
            return [try b.add(.reduce(f, axes: axes, keepDims: keep), [x], call: call)]
        }
        throw KerasError.unsupportedLayer(call.config.file, layer: call.name, className: "TFOpLambda",
                                          reason: "the TensorFlow function tf.\(function) is not supported (arithmetic, activations and reductions are)")
    }
}
