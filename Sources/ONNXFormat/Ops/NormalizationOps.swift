import ModelIR

func registerNormalizationOps(_ r: inout [String: ONNXConverter]) {
    r["BatchNormalization"] = { b, n in
        if n.int("training_mode", 0) == 1 || n.outputs.count > 1 && n.outputs.dropFirst().contains(where: { !$0.isEmpty }) {
            try trainingBatchNormalization(b, n)
            return
        }
        if (1...4).contains(where: { b.constant(n, $0) == nil }) {
            try computedStatisticsBatchNormalization(b, n)
            return
        }
        let inputs = [try b.value(n, 0), try b.weight(n, 1), try b.weight(n, 2),
                      try b.weight(n, 3, trainable: false), try b.weight(n, 4, trainable: false)]
        try b.add(.batchNormalization(axis: 1, epsilon: n.float("epsilon", 1e-5), momentum: n.float("momentum", 0.9)), inputs,
                  output: n.outputs[0], node: n)
    }
    r["LayerNormalization"] = { b, n in
        let x = try b.value(n, 0)
        let rank = b.shape(x).rank
        var axis = n.int("axis", -1)
        if axis < 0 { axis += rank }
        guard axis >= 0, axis < rank else { throw b.fail(n, "axis out of range") }
        let gamma = n.input(1) != nil ? try b.weight(n, 1) : ""
        let beta = n.input(2) != nil ? try b.weight(n, 2) : ""
        let axes = Array(axis..<rank), epsilon = n.float("epsilon", 1e-5)
        // The optional Mean and InvStdDev outputs (kept dims) come first, so the layer's output stays Y.
        let mean = n.outputs.count > 1 && !n.outputs[1].isEmpty ? n.outputs[1] : nil
        let invStdDev = n.outputs.count > 2 && !n.outputs[2].isEmpty ? n.outputs[2] : nil
        if mean != nil || invStdDev != nil {
            let meanName = mean ?? b.temporary(n, "mean")
            try b.add(.reduce(.mean, axes: axes, keepDims: true), [x], output: meanName, node: n)
            if let invStdDev {
                let (_, variance) = try centredVariance(b, n, x, mean: meanName, axes: axes)
                _ = try inverseStdDev(b, n, variance, epsilon: epsilon, output: invStdDev)
            }
        }
        try b.add(.layerNormalization(axes: axes, epsilon: epsilon), [x, gamma, beta], output: n.outputs[0], node: n)
    }
}

/// `x − mean` and the mean of its squares over `axes` (kept dims): the population variance.
private func centredVariance(_ b: ONNXGraphBuilder, _ n: ONNXNode, _ x: String, mean: String, axes: [Int]) throws -> (centred: String, variance: String) {
    let t = { (name: String) in b.temporary(n, name) }
    try b.add(.elementwise(.subtract), [x, mean], output: t("centred"), node: n)
    try b.add(.unary(.square), [t("centred")], output: t("squared"), node: n)
    try b.add(.reduce(.mean, axes: axes, keepDims: true), [t("squared")], output: t("variance"), node: n)
    return (t("centred"), t("variance"))
}

/// `1 / √(variance + ε)`.
private func inverseStdDev(_ b: ONNXGraphBuilder, _ n: ONNXNode, _ variance: String, epsilon: Float, output: String? = nil) throws -> String {
    let epsilonName = b.stored(b.temporary(n, "epsilon"), Tensor(scalar: epsilon))
    try b.add(.elementwise(.add), [variance, epsilonName], output: b.temporary(n, "shifted"), node: n)
    let result = output ?? b.temporary(n, "inverse")
    try b.add(.unary(.rsqrt), [b.temporary(n, "shifted")], output: result, node: n)
    return result
}

/// `(x − mean) · inverse · scale + bias`, the last step writing the node's output.
private func normalise(_ b: ONNXGraphBuilder, _ n: ONNXNode, centred: String, inverse: String, scale: String, bias: String) throws {
    let t = { (name: String) in b.temporary(n, name) }
    try b.add(.elementwise(.multiply), [centred, inverse], output: t("normalised"), node: n)
    try b.add(.elementwise(.multiply), [t("normalised"), scale], output: t("scaled"), node: n)
    try b.add(.elementwise(.add), [t("scaled"), bias], output: n.outputs[0], node: n)
}

/// Training-mode BatchNormalization: normalises with the batch's statistics (over every axis
/// but the channels, axis 1) and outputs the updated running mean and (population) variance:
/// `running = running · momentum + batch · (1 − momentum)`.
private func trainingBatchNormalization(_ b: ONNXGraphBuilder, _ n: ONNXNode) throws {
    if n.opset < 14, n.outputs.count > 3, n.outputs.dropFirst(3).contains(where: { !$0.isEmpty }) {
        throw b.fail(n, "the saved mean/variance outputs of BatchNormalization (opset \(n.opset)) are not supported")
    }
    let x = try b.value(n, 0)
    let rank = b.shape(x).rank
    guard rank >= 2, let scale = b.constant(n, 1), let bias = b.constant(n, 2), let runningMean = b.constant(n, 3),
          let runningVar = b.constant(n, 4) else {
        throw b.fail(n, "training-mode BatchNormalization needs constant scale, bias, mean and variance")
    }
    let axes = [0] + Array(2..<rank)
    let epsilon = n.float("epsilon", 1e-5), momentum = n.float("momentum", 0.9)
    let t = { (name: String) in b.temporary(n, name) }
    // Per-channel vectors as [C, 1, …] so they broadcast against [N, C, spatial…].
    let channelShape = [scale.count] + Array(repeating: 1, count: rank - 2)
    try b.add(.reduce(.mean, axes: axes, keepDims: true), [x], output: t("mean"), node: n)
    let (centred, variance) = try centredVariance(b, n, x, mean: t("mean"), axes: axes)
    let inverse = try inverseStdDev(b, n, variance, epsilon: epsilon)
    for (index, running, statistic) in [(1, runningMean, t("mean")), (2, runningVar, variance)] where n.outputs.count > index && !n.outputs[index].isEmpty {
        // running · momentum + batch · (1 − momentum), with the batch statistic as a [C] vector.
        try b.add(.reshapeAll(targetShape: [scale.count]), [statistic], output: statistic + "/vector", node: n)
        try b.add(.elementwise(.multiply), [statistic + "/vector", b.stored(statistic + "/keep", Tensor(scalar: 1 - momentum))],
                  output: statistic + "/part", node: n)
        let old = b.stored(statistic + "/running", Tensor(shape: [running.count], floats: running.floats().map { $0 * momentum }))
        try b.add(.elementwise(.add), [statistic + "/part", old], output: n.outputs[index], node: n)
    }
    try normalise(b, n, centred: centred, inverse: inverse, scale: b.stored(t("scale"), Tensor(shape: channelShape, floats: scale.floats())),
                  bias: b.stored(t("bias"), Tensor(shape: channelShape, floats: bias.floats())))
}

/// Inference BatchNormalization whose scale, bias, mean or variance are computed at run time
/// (tf2onnx lowers LayerNormalization that way): `(x − mean) / √(var + ε) · scale + bias`, each
/// per-channel vector reshaped to `[C, 1, …]` to broadcast over `[N, C, spatial…]`.
private func computedStatisticsBatchNormalization(_ b: ONNXGraphBuilder, _ n: ONNXNode) throws {
    let x = try b.value(n, 0)
    let rank = b.shape(x).rank
    guard rank >= 2 else { throw b.fail(n, "BatchNormalization needs an input of rank >= 2") }
    let t = { (name: String) in b.temporary(n, name) }
    func channels(_ i: Int, _ name: String) throws -> String {
        try b.add(.reshapeAll(targetShape: [-1] + Array(repeating: 1, count: rank - 2)), [try b.value(n, i)], output: t(name), node: n)
        return t(name)
    }
    let mean = try channels(3, "mean"), variance = try channels(4, "variance"), scale = try channels(1, "scale"), bias = try channels(2, "bias")
    let inverse = try inverseStdDev(b, n, variance, epsilon: n.float("epsilon", 1e-5))
    try b.add(.elementwise(.subtract), [x, mean], output: t("centred"), node: n)
    try normalise(b, n, centred: t("centred"), inverse: inverse, scale: scale, bias: bias)
}
