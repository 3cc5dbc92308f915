import ModelIR

func registerNormalizationOps(_ r: inout [String: ONNXConverter]) {
    r["BatchNormalization"] = { b, n in
        if n.outputs.count > 1, n.outputs.dropFirst().contains(where: { !$0.isEmpty }) {
            throw b.fail(n, "training-mode BatchNormalization (running mean/var outputs) is not supported")
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
