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
        if n.outputs.count > 1, n.outputs.dropFirst().contains(where: { !$0.isEmpty }) { throw b.fail(n, "Mean/InvStdDev outputs are not supported") }
        let gamma = n.input(1) != nil ? try b.weight(n, 1) : ""
        let beta = n.input(2) != nil ? try b.weight(n, 2) : ""
        try b.add(.layerNormalization(axes: Array(axis..<rank), epsilon: n.float("epsilon", 1e-5)), [x, gamma, beta], output: n.outputs[0], node: n)
    }
}
