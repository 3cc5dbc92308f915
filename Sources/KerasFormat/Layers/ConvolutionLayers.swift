import ModelIR

func registerConvolutionLayers(_ r: inout [String: KerasLayerConverter]) {
    for rank in 1...3 {
        r["Conv\(rank)D"] = { b, call in try convolution(b, call, rank: rank) }
        r["Convolution\(rank)D"] = r["Conv\(rank)D"]
    }
    r["DepthwiseConv2D"] = { b, call in try depthwise(b, call, rank: 2) }
    r["DepthwiseConv1D"] = { b, call in try depthwise(b, call, rank: 1) }
    r["SeparableConv2D"] = { b, call in try separable(b, call, rank: 2) }
    r["SeparableConv1D"] = { b, call in try separable(b, call, rank: 1) }
    r["Conv2DTranspose"] = { b, call in try transposed(b, call, rank: 2) }
    r["Conv1DTranspose"] = { b, call in try transposed(b, call, rank: 1) }
    r["Conv3DTranspose"] = { b, call in try transposed(b, call, rank: 3) }
}

/// Keras' padding for a convolution, including Conv1D's `causal` (all the padding on the left).
private func convPadding(_ call: LayerCall, rank: Int, kernel: [Int], dilations: [Int]) throws -> Padding {
    if rank == 1, call.config.json["padding"]?.string == "causal" {
        return .explicit([(kernel[0] - 1) * dilations[0], 0])
    }
    return try call.config.padding()
}

private func convolution(_ b: KerasGraphBuilder, _ call: LayerCall, rank: Int) throws -> [String] {
    let x = try call.x
    let c = call.config
    let layout = try c.layout
    let filters = try c.int("filters")
    let kernel = try c.ints("kernel_size", count: rank)
    let dilations = try c.ints("dilation_rate", count: rank, default: Array(repeating: 1, count: rank))
    let groups = try c.int("groups", default: 1)
    let inChannels = try b.channels(x, layout: layout, call: call)
    guard groups >= 1, inChannels % groups == 0, filters % groups == 0 else {
        throw c.fail("\(inChannels) input channels and \(filters) filters cannot be split into \(groups) groups")
    }
    let attrs = Convolution(filters: filters, kernelSize: kernel, strides: try c.ints("strides", count: rank, default: Array(repeating: 1, count: rank)),
                            dilations: dilations, padding: try convPadding(call, rank: rank, kernel: kernel, dilations: dilations),
                            layout: layout, groups: groups)
    let useBias = try c.bool("use_bias", default: true)
    var expected = [(role: "kernel", shape: kernel + [inChannels / groups, filters], trainable: true)]
    if useBias { expected.append((role: "bias", shape: [filters], trainable: true)) }
    let p = try b.parameters(call, expected)
    let act = try kerasActivation(c.json["activation"], call: call, flavour: b.flavour)
    return [try b.addWithActivation(.convolution(attrs), [x] + p + (useBias ? [] : [""]), activation: act, call: call, suffix: "conv")]
}

private func depthwiseAttributes(_ c: LayerConfig, rank: Int, call: LayerCall) throws -> DepthwiseConvolution {
    let kernel = try c.ints("kernel_size", count: rank)
    let dilations = try c.ints("dilation_rate", count: rank, default: Array(repeating: 1, count: rank))
    return DepthwiseConvolution(kernelSize: kernel, strides: try c.ints("strides", count: rank, default: Array(repeating: 1, count: rank)),
                                dilations: dilations, padding: try convPadding(call, rank: rank, kernel: kernel, dilations: dilations),
                                layout: try c.layout, depthMultiplier: try c.int("depth_multiplier", default: 1))
}

private func depthwise(_ b: KerasGraphBuilder, _ call: LayerCall, rank: Int) throws -> [String] {
    let x = try call.x
    let attrs = try depthwiseAttributes(call.config, rank: rank, call: call)
    let channels = try b.channels(x, layout: attrs.layout, call: call)
    let useBias = try call.config.bool("use_bias", default: true)
    var expected = [(role: "depthwise_kernel", shape: attrs.kernelSize + [channels, attrs.depthMultiplier], trainable: true)]
    if useBias { expected.append((role: "bias", shape: [channels * attrs.depthMultiplier], trainable: true)) }
    let p = try b.parameters(call, expected)
    let act = try kerasActivation(call.config.json["activation"], call: call, flavour: b.flavour)
    return [try b.addWithActivation(.depthwiseConvolution(attrs), [x] + p + (useBias ? [] : [""]), activation: act, call: call, suffix: "depthwise")]
}

/// SeparableConv = a depthwise convolution (strides, dilation) then a 1×1 convolution (bias).
private func separable(_ b: KerasGraphBuilder, _ call: LayerCall, rank: Int) throws -> [String] {
    let x = try call.x
    let attrs = try depthwiseAttributes(call.config, rank: rank, call: call)
    let channels = try b.channels(x, layout: attrs.layout, call: call)
    let filters = try call.config.int("filters")
    let useBias = try call.config.bool("use_bias", default: true)
    var expected = [(role: "depthwise_kernel", shape: attrs.kernelSize + [channels, attrs.depthMultiplier], trainable: true),
                    (role: "pointwise_kernel", shape: Array(repeating: 1, count: rank) + [channels * attrs.depthMultiplier, filters], trainable: true)]
    if useBias { expected.append((role: "bias", shape: [filters], trainable: true)) }
    let p = try b.parameters(call, expected)
    let dw = try b.add(.depthwiseConvolution(attrs), [x, p[0], ""], call: call, suffix: "depthwise")
    let pointwise = Convolution(filters: filters, kernelSize: Array(repeating: 1, count: rank), strides: Array(repeating: 1, count: rank),
                                dilations: Array(repeating: 1, count: rank), padding: .valid, layout: attrs.layout)
    let act = try kerasActivation(call.config.json["activation"], call: call, flavour: b.flavour)
    return [try b.addWithActivation(.convolution(pointwise), [dw, p[1], useBias ? p[2] : ""], activation: act, call: call, suffix: "pointwise")]
}

private func transposed(_ b: KerasGraphBuilder, _ call: LayerCall, rank: Int) throws -> [String] {
    let x = try call.x
    let c = call.config
    let layout = try c.layout
    let filters = try c.int("filters")
    let kernel = try c.ints("kernel_size", count: rank)
    let outputPadding = c.has("output_padding") ? try c.ints("output_padding", count: rank) : nil
    let attrs = TransposedConvolution(filters: filters, kernelSize: kernel,
                                      strides: try c.ints("strides", count: rank, default: Array(repeating: 1, count: rank)),
                                      dilations: try c.ints("dilation_rate", count: rank, default: Array(repeating: 1, count: rank)),
                                      padding: try c.padding(), outputPadding: outputPadding, layout: layout)
    let inChannels = try b.channels(x, layout: layout, call: call)
    let useBias = try c.bool("use_bias", default: true)
    var expected = [(role: "kernel", shape: kernel + [filters, inChannels], trainable: true)]
    if useBias { expected.append((role: "bias", shape: [filters], trainable: true)) }
    let p = try b.parameters(call, expected)
    let act = try kerasActivation(c.json["activation"], call: call, flavour: b.flavour)
    return [try b.addWithActivation(Op(attrs), [x] + p + (useBias ? [] : [""]), activation: act, call: call, suffix: "conv_transpose")]
}
