import ModelIR

func registerConvolutionOps(_ r: inout [String: ONNXConverter]) {
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

func registerTransposedConvolution(_ r: inout [String: ONNXConverter]) {
    r["ConvTranspose"] = { b, n in
        let x = try b.value(n, 0)
        guard let w = b.constant(n, 1), w.shape.count >= 3 else { throw b.fail(n, "only a constant kernel is supported") }
        guard n.int("group", 1) == 1 else { throw b.fail(n, "grouped ConvTranspose is not supported") }
        let spatial = w.shape.count - 2
        let (cin, cout) = (w.shape[0], w.shape[1])
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
        // ONNX [in, out, spatial…] to Keras' [spatial…, out, in].
        let taps = kernel.reduce(1, *)
        let v = w.floats()
        var keras = [Float](repeating: 0, count: v.count)
        for i in 0..<cin { for o in 0..<cout { for t in 0..<taps { keras[(t * cout + o) * cin + i] = v[(i * cout + o) * taps + t] } } }
        b.constants[n.inputs[1] + "/keras_kernel"] = Tensor(shape: kernel + [cout, cin], floats: keras)
        let attrs = TransposedConvolution(filters: cout, kernelSize: kernel, strides: strides, dilations: dilations,
                                          padding: .explicit(pads), outputPadding: outputPadding, layout: .channelsFirst)
        let bias = n.input(2) != nil ? try b.weight(n, 2) : ""
        try b.add(.transposedConvolution(attrs), [x, b.parameter(n.inputs[1] + "/keras_kernel"), bias], output: n.outputs[0], node: n)
    }
}
