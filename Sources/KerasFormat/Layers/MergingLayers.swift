import ModelIR

func registerMergingLayers(_ r: inout [String: KerasLayerConverter]) {
    let functions: [(String, ElementwiseFunction)] = [
        ("Add", .add), ("Subtract", .subtract), ("Multiply", .multiply), ("Average", .average),
        ("Maximum", .maximum), ("Minimum", .minimum),
    ]
    for (name, function) in functions {
        r[name] = { b, call in
            guard call.inputs.count >= 2 else { throw call.config.fail("\(name) needs at least two inputs, got \(call.inputs.count)") }
            if function == .subtract, call.inputs.count != 2 { throw call.config.fail("Subtract needs exactly two inputs") }
            return [try b.add(.elementwise(function), call.inputs, call: call)]
        }
    }
    r["Concatenate"] = { b, call in
        guard !call.inputs.isEmpty else { throw call.config.fail("Concatenate needs inputs") }
        return [try b.add(.concatenate(axis: try call.config.int("axis", default: -1)), call.inputs, call: call)]
    }
}
