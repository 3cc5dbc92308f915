import ModelIR

func registerPoolingOps(_ r: inout ONNXRegistry) {
    for (name, kind) in [("MaxPool", Pooling.Kind.max), ("AveragePool", .average)] {
        r[name] = { b, n in
            let x = try b.value(n, 0)
            guard let size = n.ints("kernel_shape") else { throw b.fail(n, "kernel_shape is required") }
            let dilations = n.ints("dilations")
            guard dilations.map({ $0.count == size.count && $0.allSatisfy { $0 >= 1 } }) ?? true else { throw b.fail(n, "dilations \(dilations ?? []) do not fit kernel_shape \(size)") }
            let p = Pooling(kind: kind, poolSize: size, strides: n.ints("strides") ?? Array(repeating: 1, count: size.count),
                            padding: try onnxPadding(b, n, spatial: size.count), layout: .channelsFirst,
                            countIncludePad: n.int("count_include_pad", 0) == 1, ceilMode: n.int("ceil_mode", 0) == 1,
                            dilations: dilations.flatMap { $0.allSatisfy { $0 == 1 } ? nil : $0 })
            var q = p
            if p.ceilMode, case .valid = p.padding { q.padding = .explicit(Array(repeating: 0, count: 2 * size.count)) }
            if n.outputs.count > 1, !n.outputs[1].isEmpty {
                // The Indices output first, so the layer's output stays Y.
                try b.add(.maxPoolIndices(q, columnMajor: n.int("storage_order", 0) == 1), [x], output: n.outputs[1], node: n)
            }
            try b.add(.pooling(q), [x], output: n.outputs[0], node: n)
        }
    }
    r["GlobalAveragePool"] = { b, n in
        try b.add(.globalPooling(kind: .average, layout: .channelsFirst, keepDims: true), [try b.value(n, 0)], output: n.outputs[0], node: n)
    }
    r["GlobalMaxPool"] = { b, n in
        try b.add(.globalPooling(kind: .max, layout: .channelsFirst, keepDims: true), [try b.value(n, 0)], output: n.outputs[0], node: n)
    }
}
