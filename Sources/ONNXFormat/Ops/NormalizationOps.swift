import ModelIR

func registerNormalizationOps(_ r: inout ONNXRegistry) {
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
    r["LayerNormalization", inputs: 2] = { b, n in
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
        try b.add(Op(LayerNormalization(axes: axes, epsilon: epsilon)), [x, gamma, beta], output: n.outputs[0], node: n)
    }
    r.write(LayerNormalization.self) { w, n, ln in try w.writeLayerNormalization(ln, n) }
}

extension ONNXWriter {
    /// ONNX's LayerNormalization (opset 17+) when the normalised axes are the trailing ones where they
    /// sit in the file; otherwise mean and variance by ReduceMean over those axes, wherever they sit
    /// (a channels-last image's channel axis is axis 1 here), γ and β stored in that layout.
    mutating func writeLayerNormalization(_ ln: LayerNormalization, _ n: Node) throws {
        let out = n.outputs[0], x = name(n.inputs[0]), layer = n.layer ?? n.name
        let r = rank(n.inputs[0])
        let dims = shapes[n.inputs[0]]?.dims ?? []
        let physical = ln.axes.map { physicalAxis($0, of: n.inputs[0]) }
        let normalized = ln.axes.map { $0 < dims.count ? dims[$0] : nil }
        let known = normalized.compactMap { $0 }.count == normalized.count ? normalized.compactMap { $0 } : nil
        /// γ or β with one value per normalised element, in the order of the axes.
        func spread(_ i: Int) throws -> [Float]? {
            guard !n.input(at: i).isEmpty else { return nil }
            guard let p = parameters[n.input(at: i)]?.tensor, let known else {
                throw ONNXExportError("layer '\(layer)' (LayerNormalization) cannot be exported: gamma and beta must be constants over known axes")
            }
            guard let values = LayerNormalization.values(of: p, over: known) else {
                throw ONNXExportError("layer '\(layer)' (LayerNormalization): a parameter \(p.shape) does not broadcast to \(known)")
            }
            return values
        }
        let gamma = try spread(1), beta = try spread(2)
        if options.opset >= 17, let known, physical == Array((r - physical.count)..<r), physical == physical.sorted() {
            /// The parameter itself when it has the normalised shape (its bytes unchanged), else its spread copy.
            func stored(_ i: Int, _ values: [Float], _ role: String) -> String {
                if parameters[n.input(at: i)]?.tensor.shape == known { return input(n.input(at: i)) }
                return initializer(unique(layer + "/" + role), Tensor(shape: known, floats: values))
            }
            let scale = stored(1, gamma ?? Array(repeating: 1, count: known.reduce(1, *)), "gamma")
            var inputs = [x, scale]
            if let beta { inputs.append(stored(2, beta, "beta")) }
            node("LayerNormalization", inputs, [out], name: n.name, [attr("axis", physical[0]), attr("epsilon", ln.epsilon)])
            return
        }
        let axes = physical.sorted()
        func reduceMean(_ input: String, _ output: String, _ suffix: String) {
            if options.opset >= 18 {
                node("ReduceMean", [input, ints(layer + "/axes", axes)], [output], name: n.name + suffix, [attr("keepdims", 1)])
            } else {
                node("ReduceMean", [input], [output], name: n.name + suffix, [attr("axes", ints: axes), attr("keepdims", 1)])
            }
        }
        /// γ or β as a full-rank tensor broadcasting over the other axes, in the file's layout.
        func operand(_ values: [Float], _ role: String) -> String {
            var full = [Int](repeating: 1, count: r)
            for (a, d) in zip(ln.axes, known ?? []) { full[a] = d }
            guard isImage(n.inputs[0]) else { return initializer(unique(layer + "/" + role), Tensor(shape: full, floats: values)) }
            let (physicalDims, permuted) = permute(values, dims: full, perm: toPhysical(r))
            return initializer(unique(layer + "/" + role), Tensor(shape: physicalDims, floats: permuted))
        }
        reduceMean(x, out + "/mean", "/mean")
        node("Sub", [x, out + "/mean"], [out + "/centered"], name: n.name + "/center")
        node("Mul", [out + "/centered", out + "/centered"], [out + "/squared"], name: n.name + "/square")
        reduceMean(out + "/squared", out + "/variance", "/variance")
        node("Add", [out + "/variance", scalar(layer + "/epsilon", ln.epsilon)], [out + "/variance_eps"], name: n.name + "/epsilon")
        node("Sqrt", [out + "/variance_eps"], [out + "/std"], name: n.name + "/std")
        var last = out + "/normalized"
        node("Div", [out + "/centered", out + "/std"], [last], name: n.name + "/normalize")
        if let gamma {
            let target = beta != nil ? out + "/scaled" : out
            node("Mul", [last, operand(gamma, "gamma")], [target], name: beta != nil ? n.name + "/gamma" : n.name)
            last = target
        }
        if let beta { node("Add", [last, operand(beta, "beta")], [out], name: n.name) }
        else if gamma == nil { node("Identity", [last], [out], name: n.name) }
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
