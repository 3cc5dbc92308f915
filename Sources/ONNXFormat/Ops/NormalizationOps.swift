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
                try b.add(.elementwise(.subtract), [x, meanName], output: b.temporary(n, "centred"), node: n)
                try b.add(.unary(.square), [b.temporary(n, "centred")], output: b.temporary(n, "squared"), node: n)
                try b.add(.reduce(.mean, axes: axes, keepDims: true), [b.temporary(n, "squared")], output: b.temporary(n, "variance"), node: n)
                b.constants[b.temporary(n, "epsilon")] = Tensor(scalar: epsilon)
                try b.add(.elementwise(.add), [b.temporary(n, "variance"), b.parameter(b.temporary(n, "epsilon"), trainable: false)],
                          output: b.temporary(n, "shifted"), node: n)
                try b.add(.unary(.rsqrt), [b.temporary(n, "shifted")], output: invStdDev, node: n)
            }
        }
        try b.add(.layerNormalization(axes: axes, epsilon: epsilon), [x, gamma, beta], output: n.outputs[0], node: n)
    }
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
    func constant(_ suffix: String, _ t: Tensor) -> String {
        b.constants[b.temporary(n, suffix)] = t
        return b.parameter(b.temporary(n, suffix), trainable: false)
    }
    // Per-channel vectors as [C, 1, …] so they broadcast against [N, C, spatial…].
    let channelShape = [scale.count] + Array(repeating: 1, count: rank - 2)
    let t = { (name: String) in b.temporary(n, name) }
    try b.add(.reduce(.mean, axes: axes, keepDims: true), [x], output: t("mean"), node: n)
    try b.add(.elementwise(.subtract), [x, t("mean")], output: t("centred"), node: n)
    try b.add(.unary(.square), [t("centred")], output: t("squared"), node: n)
    try b.add(.reduce(.mean, axes: axes, keepDims: true), [t("squared")], output: t("variance"), node: n)
    try b.add(.elementwise(.add), [t("variance"), constant("epsilon", Tensor(scalar: epsilon))], output: t("shifted"), node: n)
    try b.add(.unary(.rsqrt), [t("shifted")], output: t("inverse"), node: n)
    try b.add(.elementwise(.multiply), [t("centred"), t("inverse")], output: t("normalised"), node: n)
    try b.add(.elementwise(.multiply), [t("normalised"), constant("scale", Tensor(shape: channelShape, floats: scale.floats()))], output: t("scaled"), node: n)
    let updates = [(3, runningMean, "mean"), (4, runningVar, "variance")]
    for (index, running, statistic) in updates where n.outputs.count > index - 2 && !n.outputs[index - 2].isEmpty {
        // running · momentum + batch · (1 − momentum), with the batch statistic as a [C] vector.
        try b.add(.reshapeAll(targetShape: [scale.count]), [t(statistic)], output: t(statistic + "_vector"), node: n)
        try b.add(.elementwise(.multiply), [t(statistic + "_vector"), constant("keep_" + statistic, Tensor(scalar: 1 - momentum))],
                  output: t(statistic + "_part"), node: n)
        let old = constant("old_" + statistic, Tensor(shape: [running.count], floats: running.floats().map { $0 * momentum }))
        try b.add(.elementwise(.add), [t(statistic + "_part"), old], output: n.outputs[index - 2], node: n)
    }
    try b.add(.elementwise(.add), [t("scaled"), constant("bias", Tensor(shape: channelShape, floats: bias.floats()))], output: n.outputs[0], node: n)
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
    b.constants[t("epsilon")] = Tensor(scalar: n.float("epsilon", 1e-5))
    try b.add(.elementwise(.add), [variance, b.parameter(t("epsilon"), trainable: false)], output: t("shifted"), node: n)
    try b.add(.unary(.rsqrt), [t("shifted")], output: t("inverse"), node: n)
    try b.add(.elementwise(.subtract), [x, mean], output: t("centred"), node: n)
    try b.add(.elementwise(.multiply), [t("centred"), t("inverse")], output: t("normalised"), node: n)
    try b.add(.elementwise(.multiply), [t("normalised"), scale], output: t("scaled"), node: n)
    try b.add(.elementwise(.add), [t("scaled"), bias], output: n.outputs[0], node: n)
}
