import ModelIR

func registerConvolutionOps(_ r: inout ONNXRegistry) {
    registerTransposedConvolution(&r)
    r["Conv"] = { b, n in
        let x = try b.value(n, 0)
        guard let w = b.constant(n, 1), w.shape.count >= 3 else { throw b.fail(n, "only convolutions with a constant kernel are supported") }
        let spatial = w.shape.count - 2
        let kernel = n.ints("kernel_shape") ?? Array(w.shape.dropFirst(2))
        let attrs = Convolution(filters: w.shape[0], kernelSize: kernel, strides: n.ints("strides") ?? Array(repeating: 1, count: spatial),
                                dilations: n.ints("dilations") ?? Array(repeating: 1, count: spatial),
                                padding: try onnxPadding(b, n, spatial: spatial), layout: .channelsFirst,
                                groups: n.int("group", 1), kernelLayout: .outInSpatial)
        let bias = n.input(2).map { _ in (try? b.weight(n, 2)) ?? "" } ?? ""
        try b.add(.convolution(attrs), [x, try b.weight(n, 1), bias], output: n.outputs[0], node: n)
    }
}

func registerTransposedConvolution(_ r: inout ONNXRegistry) {
    r.batchNormalizationHosts.insert("ConvTranspose")
    r["ConvTranspose", inputs: 2] = { b, n in
        let x = try b.value(n, 0)
        guard let w = b.constant(n, 1), w.shape.count >= 3 else { throw b.fail(n, "only a constant kernel is supported") }
        let groups = n.int("group", 1)
        let spatial = w.shape.count - 2
        // ONNX's kernel is [in, out / group, spatial…]; cout is per group.
        let (cin, cout) = (w.shape[0], w.shape[1])
        guard groups >= 1, cin % groups == 0, b.shape(x).rank == spatial + 2, b.shape(x)[1].map({ $0 == cin }) ?? true else {
            throw b.fail(n, "group \(groups) and kernel \(w.shape) do not fit the input \(b.shape(x))")
        }
        let kernel = n.ints("kernel_shape") ?? Array(w.shape.dropFirst(2))
        let strides = n.ints("strides") ?? Array(repeating: 1, count: spatial)
        let dilations = n.ints("dilations") ?? Array(repeating: 1, count: spatial)
        var outputPadding = n.ints("output_padding") ?? Array(repeating: 0, count: spatial)
        var pads = n.ints("pads") ?? Array(repeating: 0, count: 2 * spatial)
        let autoPad = n.string("auto_pad", "NOTSET")
        if let requested = n.ints("output_shape") {
            // The pads that give the requested spatial sizes (ONNX: the start gets the smaller half
            // unless SAME_UPPER); a negative total becomes extra output at the end.
            let shape = Array(requested.suffix(spatial)), s = b.shape(x)
            guard shape.count == spatial else { throw b.fail(n, "output_shape \(requested) does not fit \(spatial) spatial axes") }
            for i in 0..<spatial {
                guard let input = s[2 + i] else { throw b.fail(n, "output_shape needs known spatial sizes") }
                let total = strides[i] * (input - 1) + outputPadding[i] + (kernel[i] - 1) * dilations[i] + 1 - shape[i]
                if total < 0 {
                    pads[i] = 0; pads[spatial + i] = 0
                    outputPadding[i] -= total
                } else {
                    pads[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                    pads[spatial + i] = total - pads[i]
                }
            }
        } else if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
            let s = b.shape(x)
            for i in 0..<spatial {
                guard let input = s[2 + i] else { throw b.fail(n, "auto_pad needs known spatial sizes") }
                let total = max(0, strides[i] * (input - 1) + outputPadding[i] + (kernel[i] - 1) * dilations[i] + 1 - input * strides[i])
                // As onnxruntime does: SAME_UPPER puts the extra element at the end.
                pads[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                pads[spatial + i] = total - pads[i]
            }
        }
        let attrs = TransposedConvolution(filters: cout, kernelSize: kernel, strides: strides, dilations: dilations,
                                          padding: .explicit(pads), outputPadding: outputPadding, layout: .channelsFirst)
        // ONNX [in, out, spatial…] to Keras' [spatial…, out, in], for the input channels of one group.
        let taps = kernel.reduce(1, *), cinG = cin / groups
        let v = w.floats()
        func kerasKernel(_ group: Int) -> String {
            var keras = [Float](repeating: 0, count: cinG * cout * taps)
            for i in 0..<cinG {
                for o in 0..<cout { for t in 0..<taps { keras[(t * cout + o) * cinG + i] = v[((group * cinG + i) * cout + o) * taps + t] } }
            }
            return b.stored(n.inputs[1] + (groups == 1 ? "/keras_kernel" : "/keras_kernel_\(group)"), Tensor(shape: kernel + [cout, cinG], floats: keras),
                            trainable: true)
        }
        if groups == 1 {
            let bias = n.input(2) != nil ? try b.weight(n, 2) : ""
            try b.add(Op(attrs), [x, kerasKernel(0), bias], output: n.outputs[0], node: n)
            return
        }
        // Groups: each group's input channels through its own transposed convolution, joined on channels.
        let bias = b.constant(n, 2)?.floats()
        if n.input(2) != nil, bias?.count != cout * groups { throw b.fail(n, "a grouped ConvTranspose needs a constant bias of \(cout * groups) values") }
        var parts: [String] = []
        for g in 0..<groups {
            let input = b.temporary(n, "group\(g)_input"), output = b.temporary(n, "group\(g)")
            try b.add(.slice(starts: [g * cinG], ends: [(g + 1) * cinG], axes: [1]), [x], output: input, node: n)
            let groupBias = bias.map { b.stored(b.temporary(n, "group\(g)_bias"), Tensor(shape: [cout], floats: Array($0[(g * cout)..<((g + 1) * cout)])), trainable: true) } ?? ""
            try b.add(Op(attrs), [input, kerasKernel(g), groupBias], output: output, node: n)
            parts.append(output)
        }
        try b.add(.concatenate(axis: 1), parts, output: n.outputs[0], node: n)
    }
    r.write(TransposedConvolution.self) { w, n, c in try w.writeTransposedConvolution(c, n) }
}

extension ONNXWriter {
    /// A Keras transposed convolution as ConvTranspose: the kernel as `[in, out, spatial…]`, Keras's
    /// output size as explicit pads and output_padding.
    mutating func writeTransposedConvolution(_ c: TransposedConvolution, _ n: Node) throws {
        let out = n.outputs[0], x = physical(n.inputs[0], node: n)
        func failure(_ why: String) -> ONNXExportError {
            ONNXExportError("layer '\(n.layer ?? n.name)' (\(c.displayName)) cannot be exported: \(why)")
        }
        guard let kernel = parameters[n.inputs[1]]?.tensor else { throw failure("the kernel is not a constant") }
        let taps = c.kernelSize.reduce(1, *), cout = kernel.shape[c.kernelSize.count], cin = kernel.shape[c.kernelSize.count + 1]
        let v = kernel.floats()
        var iohw = [Float](repeating: 0, count: v.count)
        for t in 0..<taps { for o in 0..<cout { for i in 0..<cin { iohw[(i * cout + o) * taps + t] = v[(t * cout + o) * cin + i] } } }
        let w = initializer(unique(n.inputs[1] + "/iohw"), Tensor(shape: [cin, cout] + c.kernelSize, floats: iohw))
        // Keras' output size, as explicit pads and output_padding.
        let inSizes = spatial(n.inputs[0], layout: c.layout), outSizes = spatial(out, layout: c.layout)
        var begins: [Int] = [], ends: [Int] = [], extra: [Int] = []
        for i in 0..<c.kernelSize.count {
            guard let input = inSizes[i], let output = outSizes[i] else { throw failure("needs known spatial sizes") }
            let k = (c.kernelSize[i] - 1) * c.dilations[i] + 1
            let full = (input - 1) * c.strides[i] + k
            var total = full - output
            var op = 0
            if total < 0 { op = -total; total = 0 }
            let begin: Int
            if case .explicit(let p) = c.padding { begin = p[i] } else { begin = c.padding == .valid ? 0 : total / 2 }
            begins.append(begin); ends.append(total - begin); extra.append(op)
        }
        var attrs = [attr("kernel_shape", ints: c.kernelSize), attr("strides", ints: c.strides), attr("dilations", ints: c.dilations),
                     attr("pads", ints: begins + ends)]
        if extra.contains(where: { $0 > 0 }) { attrs.append(attr("output_padding", ints: extra)) }
        let bias = n.inputs.count > 2 && !n.inputs[2].isEmpty ? [input(n.inputs[2])] : []
        node("ConvTranspose", [x, w] + bias, [out], name: n.name, attrs)
    }
}

