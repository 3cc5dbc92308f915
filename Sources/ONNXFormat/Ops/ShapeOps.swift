import Foundation
import ModelIR

func registerShapeOps(_ r: inout ONNXRegistry) {
    registerIndexOps(&r)
    registerReshapeOps(&r)
    registerSliceAndPadOps(&r)
    registerReduceOps(&r)
    registerResizeOps(&r)
    r["Identity"] = { b, n in try b.alias(n.outputs[0], n.inputs[0], node: n) }
    r["Dropout"] = { b, n in
        // The mask output (all ones at inference) is not produced; a node that reads it fails to load.
        if let training = b.constant(n, 2), training.floats().first == 1 { throw b.fail(n, "training-mode Dropout is random and not supported") }
        try b.alias(n.outputs[0], n.inputs[0], node: n)
        if n.outputs.count > 1, !n.outputs[1].isEmpty {
            // At inference the mask keeps everything: all true, in the input's (known) shape.
            let known = b.shape(n.inputs[0]).dims.compactMap { $0 }
            guard let dims = b.constants[n.inputs[0]]?.shape ?? (known.count == b.shape(n.inputs[0]).rank ? known : nil) else {
                throw b.fail(n, "the mask output of an input with a size known only at run time is not supported")
            }
            let count: Int
            do { count = try Sizes.byteCount(dims, elementSize: 1) } catch let e as SizeError { throw b.fail(n, e.message) }
            b.constants[n.outputs[1]] = try Tensor(dtype: .bool, shape: dims, bytes: Array(repeating: 1, count: count))
        }
    }
    r["Cast"] = { b, n in
        guard let to = DType(onnx: Int32(n.int("to", 1))) else { throw b.fail(n, "Cast to ONNX element type \(n.int("to", 1)) is not supported") }
        try cast(b, n, to: to)
    }
    r["CastLike"] = { b, n in
        guard let like = n.input(1), let to = b.dtypes[like] ?? b.constants[like]?.dtype ?? b.bindings[like]?.dtype else {
            throw b.fail(n, "CastLike needs a target whose element type is known")
        }
        try cast(b, n, to: to)
    }
    r["Constant"] = { b, n in
        guard let a = n.proto.attribute.first else { throw b.fail(n, "Constant without a value") }
        let reader = ONNXTensorReader(file: b.file, folder: URL(fileURLWithPath: b.file).deletingLastPathComponent())
        switch a.name {
        case "value": b.constants[n.outputs[0]] = try reader.tensor(a.t, name: n.outputs[0])
        case "value_float": b.constants[n.outputs[0]] = Tensor(scalar: a.f)
        case "value_floats": b.constants[n.outputs[0]] = Tensor(shape: [a.floats.count], floats: a.floats)
        case "value_int": b.constants[n.outputs[0]] = Tensor(int64: [Int(a.i)], shape: [])
        case "value_ints": b.constants[n.outputs[0]] = Tensor(int64: a.ints.map { Int($0) })
        default: throw b.fail(n, "Constant with '\(a.name)' is not supported")
        }
    }
    r["ConstantOfShape"] = { b, n in
        guard let dims = b.shapeOperand(n, 0) else { throw b.fail(n, "ConstantOfShape needs a shape known at load time") }
        let reader = ONNXTensorReader(file: b.file, folder: URL(fileURLWithPath: b.file).deletingLastPathComponent())
        let fill = try n.attribute("value").map { try reader.tensor($0.t, name: n.name) }
        let v = fill?.floats().first ?? 0
        guard dims.allSatisfy({ if case .value = $0 { return true }; return false }) else {
            // A size that is a multiple of the batch: the fill value expanded at run time.
            try expand(b, n, b.stored(b.temporary(n, "fill"), Tensor(scalar: v)), to: dims)
            return
        }
        let shape = dims.map { if case .value(let v) = $0 { return v }; return 0 }
        do { _ = try Sizes.byteCount(shape, elementSize: 8) } catch let e as SizeError { throw b.fail(n, e.message) }
        if fill?.dtype == .int64 { b.constants[n.outputs[0]] = Tensor(int64: Array(repeating: Int(v), count: shape.reduce(1, *)), shape: shape) } else {
            b.constants[n.outputs[0]] = Tensor(shape: shape, floats: Array(repeating: v, count: shape.reduce(1, *)))
        }
    }
    r["Size"] = { b, n in
        // The element count: known, or a multiple of the batch size.
        let input = n.inputs[0]
        let dims: [SymbolicDim] = b.constants[input].map { $0.shape.map { .value($0) } }
            ?? (b.shapes[input] == nil ? b.symbolic[input].map { [.value($0.count)] } : nil)
            ?? b.shape(input).dims.enumerated().map { i, d in d.map { .value($0) } ?? (i == 0 ? .batch : .unknown) }
        b.setVector(n.outputs[0], [SymbolicDim.product(dims)], scalar: true)
    }
    r["Tile"] = { b, n in
        let x = try b.value(n, 0)
        guard let repeats = b.constant(n, 1)?.integers, repeats.count == b.shape(x).rank, repeats.allSatisfy({ $0 >= 0 }) else {
            throw b.fail(n, "Tile needs constant, non-negative repeats, one per axis")
        }
        try b.add(.tile(repeats: repeats), [x], output: n.outputs[0], node: n)
    }
    r["Shape"] = { b, n in
        let dims: [SymbolicDim]
        if let c = b.constants[n.inputs[0]] { dims = c.shape.map { .value($0) } } else if b.shapes[n.inputs[0]] == nil, let v = b.symbolic[n.inputs[0]] {
            dims = [.value(v.count)]
        } else {
            dims = b.shape(n.inputs[0]).dims.enumerated().map { i, d in d.map { .value($0) } ?? (i == 0 ? .batch : .unknown) }
        }
        let start = n.int("start", 0), end = n.attribute("end").map { Int($0.i) } ?? dims.count
        func clamp(_ v: Int) -> Int { min(max(fromEnd(v, count: dims.count), 0), dims.count) }
        let slice = Array(dims[clamp(start)..<max(clamp(start), clamp(end))])
        b.setVector(n.outputs[0], slice)
    }
}

func registerIndexOps(_ r: inout ONNXRegistry) {
    r["Gather", inputs: 2] = { b, n in
        // Indices given for a graph input are data (token ids), never folded in as a binding.
        let stored = b.constants[n.inputs[1]]
        let vectorData = b.constants[n.inputs[0]].map { $0.shape.count <= 1 } ?? true
        if let indices = stored, let vector = b.symbolicVector(n.inputs[0]), n.int("axis", 0) == 0, vectorData {
            let picked = try indices.integers.map { i -> SymbolicDim in
                let k = i < 0 ? i + vector.count : i
                guard k >= 0, k < vector.count else { throw b.fail(n, "index \(i) out of range") }
                return vector[k]
            }
            let scalar = indices.shape.isEmpty
            b.setVector(n.outputs[0], picked, scalar: scalar)
            return
        }
        let x = try b.value(n, 0)
        let xs = b.shape(x)
        guard let axis = xs.axis(n.int("axis", 0)) else { throw b.fail(n, "axis \(n.int("axis", 0)) is out of range for \(xs)") }
        guard let indices = stored else {
            // Indices computed at run time: each is checked when the model runs. A stored table
            // indexed by a graph input is an embedding looked up by token ids, which may not be
            // negative (torch's and Keras's Embedding refuse them; ONNX's Gather would count them from the end).
            let lookup = b.graph.inputs.contains { $0.name == n.inputs[1] } && b.constants[n.inputs[0]] != nil
            try b.add(Op(Gather(axis: axis, negativeIndices: !lookup)), [x, try b.value(n, 1)], output: n.outputs[0], node: n)
            return
        }
        if let dim = xs[axis], let bad = indices.integers.first(where: { $0 < -dim || $0 >= dim }) {
            throw b.fail(n, "index \(bad) is out of range for axis \(axis) of size \(dim)")
        }
        try b.add(Op(Gather(axis: axis)), [x, b.stored(n.inputs[1] + "/indices", indices)], output: n.outputs[0], node: n)
    }
    r["GatherND", inputs: 2] = { b, n in
        try b.add(Op(GatherND(batchDims: n.int("batch_dims", 0))), [try b.value(n, 0), try b.value(n, 1)], output: n.outputs[0], node: n)
    }
    r["Unsqueeze"] = { b, n in
        let axes = n.opset >= 13 ? b.constant(n, 1)?.integers : n.ints("axes")
        guard let axes else { throw b.fail(n, "Unsqueeze needs constant axes") }
        // A shape vector known up to the batch size stays symbolic (constants reshape below, at load).
        if b.constants[n.inputs[0]] == nil, let v = b.symbolic[n.inputs[0]] {
            b.symbolic[n.outputs[0]] = v
            return
        }
        let outRank = b.shape(n.inputs[0]).rank + axes.count
        let normalised = axes.map { fromEnd($0, count: outRank) }
        guard Set(normalised).count == axes.count, normalised.allSatisfy({ (0..<outRank).contains($0) }) else {
            throw b.fail(n, "axes \(axes) are repeated or out of range for a rank-\(outRank) result")
        }
        try reshapeTo(b, n, newShape: { s in
            var dims = s.dims
            let rank = dims.count + axes.count
            for a in axes.map({ $0 < 0 ? $0 + rank : $0 }).sorted() { dims.insert(1, at: a) }
            return dims
        })
    }
    r["Squeeze"] = { b, n in
        let axes = n.opset >= 13 ? b.constant(n, 1)?.integers : n.ints("axes")
        // A shape entry known up to the batch size stays symbolic.
        if let s = b.symbolic[n.inputs[0]] { b.symbolic[n.outputs[0]] = s; return }
        let inRank = b.shape(n.inputs[0]).rank
        if let axes, !axes.allSatisfy({ (-inRank..<inRank).contains($0) }) {
            throw b.fail(n, "axes \(axes) are out of range for a rank-\(inRank) input")
        }
        try reshapeTo(b, n, newShape: { s in
            let rank = s.rank
            let drop = Set((axes ?? s.dims.indices.filter { s.dims[$0] == 1 }).map { fromEnd($0, count: rank) })
            return s.dims.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
        })
    }
    r["Flatten"] = { b, n in
        let x = try b.value(n, 0)
        let s = b.shape(x)
        var axis = n.int("axis", 1)
        guard (-s.rank...s.rank).contains(axis) else { throw b.fail(n, "axis \(axis) is out of range for \(s)") }
        if axis < 0 { axis += s.rank }
        if axis == 1 { try b.add(.flatten(layout: .channelsLast), [x], output: n.outputs[0], node: n); return }
        try reshapeTo(b, n, newShape: { s in
            let outer = s.dims.prefix(axis).reduce(Optional(1)) { a, d in a.flatMap { a in d.map { a * $0 } } }
            let inner = s.dims.dropFirst(axis).reduce(Optional(1)) { a, d in a.flatMap { a in d.map { a * $0 } } }
            return [outer, inner]
        })
    }
}

func registerReshapeOps(_ r: inout ONNXRegistry) {
    r["Reshape"] = { b, n in
        let target: [SymbolicDim]
        if n.opset < 5 {
            guard let s = n.ints("shape") else { throw b.fail(n, "Reshape without shape") }
            target = s.map { .value($0) }
        } else {
            guard let s = b.shapeOperand(n, 1) else { throw b.fail(n, "Reshape needs a shape known at load time") }
            target = s
        }
        let allowZero = n.int("allowzero", 0) == 1
        if b.shapes[n.inputs[0]] == nil, b.constants[n.inputs[0]] == nil, let v = b.symbolic[n.inputs[0]], target.count <= 1 {
            // A shape vector reshaped to a vector (or a one-entry one to a scalar) stays a shape vector.
            b.symbolic[n.outputs[0]] = v
            return
        }
        if let c = b.constants[n.inputs[0]] {
            // Reshaping a constant (a weight) folds.
            var dims = target.enumerated().map { i, d -> Int in
                if case .value(let v) = d { return v == 0 && !allowZero ? c.shape[i] : v }
                return -1
            }
            if let wild = dims.firstIndex(of: -1) {
                dims[wild] = c.count / max(1, (try? Sizes.elementCount(dims.filter { $0 != -1 })) ?? 1)
            }
            b.constants[n.outputs[0]] = try Tensor(dtype: c.dtype, shape: dims, bytes: c.bytes)
            return
        }
        let x = try b.value(n, 0)
        let s = b.shape(x)
        guard let first = target.first else { throw b.fail(n, "empty target shape") }
        // Usually the batch axis stays where it is (the IR's Reshape keeps it); otherwise the
        // whole target must be known but for one entry, which becomes -1 (a run-time size).
        var keepsBatch = false
        switch first {
        case .batch: keepsBatch = true
        case .value(let v) where v == 0 && !allowZero: keepsBatch = true
        case .value(let v) where v == -1 && target.dropFirst().allSatisfy({ if case .value(let w) = $0 { return w >= 0 }; return false }): keepsBatch = true
        case .value(let v) where s.rank > 0 && s[0] == v: keepsBatch = true
        default: break
        }
        // Axis 0 of the input may not be the batch (a transposed sequence-first tensor): the IR's
        // per-sample Reshape only fits when the sizes after axis 0 hold the same count.
        let restKnown = target.dropFirst().map { d -> Int? in if case .value(let v) = d, v > 0 { return v }; return nil }
        if keepsBatch, let perSample = s.sampleElementCount, restKnown.allSatisfy({ $0 != nil }),
           (try? Sizes.elementCount(restKnown.compactMap { $0 })) != perSample {
            keepsBatch = false
        }
        if !keepsBatch || s.rank > 0 && s[0] != nil || target.dropFirst().contains(where: { if case .value = $0 { return false }; return true }) {
            var full: [Int] = []
            for (i, d) in target.enumerated() {
                switch d {
                case .value(let v) where v == 0 && !allowZero:
                    guard i < s.rank, let dim = s[i] else { throw b.fail(n, "0 in the target copies an unknown dimension") }
                    full.append(dim)
                case .value(let v): full.append(v)
                default: full.append(-1)
                }
            }
            guard full.filter({ $0 == -1 }).count <= 1 else {
                let shown = target.map(\.description).joined(separator: ", ")
                throw b.fail(n, "the target shape [\(shown)] has more than one -1 or size known only at run time")
            }
            try b.add(.reshapeAll(targetShape: full), [x], output: n.outputs[0], node: n)
            return
        }
        let rest = try target.dropFirst().enumerated().map { i, d -> Int in
            switch d {
            case .value(let v) where v == 0 && !allowZero:
                guard let dim = s.dims.count > i + 1 ? s.dims[i + 1] : nil else { throw b.fail(n, "0 in the target copies an unknown dimension") }
                return dim
            case .value(let v): return v
            default: throw b.fail(n, "a target dimension is only known at run time")
            }
        }
        try b.add(.reshape(targetShape: rest), [x], output: n.outputs[0], node: n)
    }
    r["Transpose"] = { b, n in
        let rank = b.constants[n.inputs[0]]?.shape.count ?? b.shape(n.inputs[0]).rank
        let perm = n.ints("perm") ?? Array((0..<rank).reversed())
        if let c = b.constants[n.inputs[0]], c.shape.count == 2, perm == [1, 0] { b.constants[n.outputs[0]] = transpose2D(c); return }
        try b.add(.transpose(permutation: perm), [try b.value(n, 0)], output: n.outputs[0], node: n)
    }
    r["Concat"] = { b, n in
        let axis = n.int("axis", 0)
        let vectors = n.inputs.map(b.symbolicVector)
        if vectors.allSatisfy({ $0 != nil }), n.inputs.allSatisfy({ b.constants[$0].map { $0.shape.count <= 1 } ?? true }) {
            let joined = vectors.flatMap { $0! }
            b.setVector(n.outputs[0], joined)
            return
        }
        try b.add(.concatenate(axis: axis), try (0..<n.inputs.count).map { try b.value(n, $0) }, output: n.outputs[0], node: n)
    }
}

func registerSliceAndPadOps(_ r: inout ONNXRegistry) {
    r["Slice"] = { b, n in
        let starts = n.opset >= 10 ? b.constant(n, 1)?.integers : n.ints("starts")
        let ends = n.opset >= 10 ? b.constant(n, 2)?.integers : n.ints("ends")
        let steps = n.opset >= 10 ? b.constant(n, 4)?.integers : nil
        guard let vector = b.symbolicVector(n.inputs[0]) else {
            // On data: a crop of spatial axes (what tf2onnx makes of Cropping2D).
            let x = try b.value(n, 0)
            let s = b.shape(x)
            guard let starts, let ends, starts.count == ends.count else { throw b.fail(n, "Slice needs constant starts and ends") }
            let axes = (n.opset >= 10 ? b.constant(n, 3)?.integers : n.ints("axes")) ?? Array(0..<starts.count)
            let stepList = steps ?? Array(repeating: 1, count: starts.count)
            guard axes.count == starts.count, stepList.count == starts.count, !stepList.contains(0),
                  Set(axes.map { fromEnd($0, count: s.rank) }).count == axes.count, axes.allSatisfy({ s.axis($0) != nil }) else {
                throw b.fail(n, "Slice starts \(starts), ends \(ends), axes \(axes), steps \(stepList) do not fit \(s)")
            }
            // Steps, the batch axis, sizes known only at run time or an empty result: the general slice.
            let simple = stepList.allSatisfy { $0 == 1 } && axes.enumerated().allSatisfy { k, a in
                let axis = a < 0 ? a + s.rank : a
                if axis == 0 { return starts[k] == 0 && (ends[k] >= Int(Int32.max) || (s[0].map { ends[k] >= $0 } ?? false)) }
                guard let dim = s[axis] else { return false }
                return !stridedRange(start: starts[k], end: ends[k], step: 1, length: dim).isEmpty
            }
            if !simple {
                try b.add(.stridedSlice(starts: starts, ends: ends, steps: stepList, axes: axes.map { $0 < 0 ? $0 + s.rank : $0 }), [x],
                          output: n.outputs[0], node: n)
                return
            }
            var sliceStarts: [Int] = [], sliceEnds: [Int] = [], sliceAxes: [Int] = []
            for (k, a) in axes.enumerated() {
                let axis = a < 0 ? a + s.rank : a
                if axis == 0, starts[k] == 0, ends[k] >= Int(Int32.max) || (s[axis].map { ends[k] >= $0 } ?? false) { continue }
                guard axis >= 1, axis < s.rank, let dim = s[axis] else { throw b.fail(n, "Slice of data needs a known, non-batch axis") }
                func clamp(_ v: Int) -> Int { v < 0 ? max(v, -dim) + dim : min(v, dim) }
                let lo = clamp(starts[k]), hi = clamp(ends[k])
                guard lo < hi else { throw b.fail(n, "an empty slice is not supported") }
                if lo == 0, hi == dim { continue }
                sliceStarts.append(lo); sliceEnds.append(hi); sliceAxes.append(axis)
            }
            if sliceAxes.isEmpty { try b.alias(n.outputs[0], x, node: n); return }
            try b.add(.slice(starts: sliceStarts, ends: sliceEnds, axes: sliceAxes), [x], output: n.outputs[0], node: n)
            return
        }
        guard let s = starts?.first, let e = ends?.first else { throw b.fail(n, "Slice needs constant starts and ends") }
        let step = steps?.first ?? 1
        guard step == 1 else { throw b.fail(n, "Slice with steps is not supported") }
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + vector.count : v, 0), vector.count) }
        let slice = Array(vector[clamp(s)..<max(clamp(s), clamp(e))])
        b.setVector(n.outputs[0], slice)
    }
    r["Pad"] = { b, n in
        let x = try b.value(n, 0)
        let rank = b.shape(x).rank
        guard var pads = n.opset >= 11 ? b.constant(n, 1)?.integers : n.ints("pads") else { throw b.fail(n, "Pad needs constant pads") }
        if n.opset >= 18, n.input(3) != nil {
            // Pads for the listed axes only.
            guard let axes = b.constant(n, 3)?.integers, pads.count == 2 * axes.count else { throw b.fail(n, "Pad needs constant axes that fit its pads") }
            var all = [Int](repeating: 0, count: 2 * rank)
            for (k, a) in axes.enumerated() {
                guard let axis = b.shape(x).axis(a) else { throw b.fail(n, "axis \(a) is out of range") }
                all[axis] = pads[k]; all[rank + axis] = pads[axes.count + k]
            }
            pads = all
        }
        guard pads.count == 2 * rank else { throw b.fail(n, "pads \(pads) do not fit a rank-\(rank) input") }
        let value = n.opset >= 11 ? (b.constant(n, 2)?.floats().first ?? 0) : n.float("value", 0)
        let modeName = n.string("mode", "constant")
        guard let mode = PadMode(rawValue: modeName) else { throw b.fail(n, "unknown Pad mode '\(modeName)'") }
        guard mode == .constant, rank >= 3, pads[0] == 0, pads[1] == 0, pads[rank] == 0, pads[rank + 1] == 0, pads.allSatisfy({ $0 >= 0 }) else {
            // Any axis, any mode, negative pads: the general pad.
            try b.add(.pad(pads: pads, mode: mode, value: value), [x], output: n.outputs[0], node: n)
            return
        }
        let spatial = (2..<rank).map { [pads[$0], pads[rank + $0]] }
        if value == 0 {
            try b.add(.zeroPadding(pads: spatial, layout: .channelsFirst), [x], output: n.outputs[0], node: n)
            return
        }
        // Padding with v: (x − v) padded with zeros, plus v.
        b.constants[n.name + "/value"] = Tensor(scalar: value)
        let v = b.parameter(n.name + "/value", trainable: false)
        try b.add(.elementwise(.subtract), [x, v], output: b.temporary(n, "shifted"), node: n)
        try b.add(.zeroPadding(pads: spatial, layout: .channelsFirst), [b.temporary(n, "shifted")], output: b.temporary(n, "padded"), node: n)
        try b.add(.elementwise(.add), [b.temporary(n, "padded"), v], output: n.outputs[0], node: n)
    }
}

func registerReduceOps(_ r: inout ONNXRegistry) {
    for (name, f) in [("ReduceMean", ReduceFunction.mean), ("ReduceMax", .max), ("ReduceSum", .sum), ("ReduceMin", .min), ("ReduceProd", .prod),
                      ("ReduceSumSquare", .sum)] {
        r[name] = { b, n in
            if f == .prod, let v = b.symbolicVector(n.inputs[0]), b.constants[n.inputs[0]].map({ $0.dtype != .float32 }) ?? true {
                // The product of shape entries (an element count), known up to the batch size.
                let product = SymbolicDim.product(v)
                let keep = n.int("keepdims", 1) == 1
                if case .value(let p) = product { b.constants[n.outputs[0]] = Tensor(int64: [p], shape: keep ? [1] : []) } else { b.symbolic[n.outputs[0]] = [product] }
                return
            }
            let axesFromInput = name == "ReduceSum" ? n.opset >= 13 : n.opset >= 18
            if axesFromInput, n.input(1) != nil, b.constant(n, 1) == nil { throw b.fail(n, "\(name) with axes computed at run time is not supported") }
            let axes = axesFromInput ? (b.constant(n, 1)?.integers ?? []) : (n.ints("axes") ?? [])
            var x = try b.value(n, 0)
            if name == "ReduceSumSquare" {
                try b.add(.unary(.square), [x], output: b.temporary(n, "squared"), node: n)
                x = b.temporary(n, "squared")
            }
            if axes.isEmpty, n.int("noop_with_empty_axes", 0) == 1 { try b.alias(n.outputs[0], x, node: n); return }
            if b.dtypes[x] == .bool, f == .max || f == .min {
                // Over bools the max of nothing is false and the min true, not ∓∞: clamp to 0…1.
                try b.add(.reduce(f, axes: axes, keepDims: n.int("keepdims", 1) == 1), [x], output: b.temporary(n, "reduced"), node: n)
                try b.add(.activation(.clip(lower: 0, upper: 1)), [b.temporary(n, "reduced")], output: n.outputs[0], node: n)
                return
            }
            try b.add(.reduce(f, axes: axes, keepDims: n.int("keepdims", 1) == 1), [x], output: n.outputs[0], node: n)
        }
    }
    r["Expand"] = { b, n in
        guard let target = b.shapeOperand(n, 1) else { throw b.fail(n, "Expand needs a shape known at load time") }
        try expand(b, n, try b.value(n, 0), to: target)
    }
}

func registerResizeOps(_ r: inout ONNXRegistry) {
    for name in ["Resize", "Upsample"] {
        r[name] = { b, n in
            let x = try b.value(n, 0)
            let s = b.shape(x)
            let rank = s.rank
            let mode = n.string("mode", "nearest")
            let modern = name == "Resize" && n.opset >= 11
            var scales: [Float]?, sizes: [Int]?, roi: [Float]?
            if name == "Upsample" {
                scales = n.opset >= 9 ? b.constant(n, 1)?.floats() : n.attribute("scales")?.floats
            } else if !modern {
                scales = b.constant(n, 1)?.floats()
            } else {
                roi = b.constant(n, 1)?.floats()
                scales = b.constant(n, 2)?.floats()
                if scales?.isEmpty ?? true { scales = nil; sizes = b.constant(n, 3)?.integers }
            }
            if n.input(modern ? 2 : 1) != nil, scales == nil, sizes == nil { throw b.fail(n, "\(name) needs scales or sizes known at load time") }
            // Scales, sizes and roi listed for `axes` only (opset 18) cover every axis here.
            let axes = try (n.ints("axes") ?? Array(0..<rank)).map { a -> Int in
                guard let axis = s.axis(a) else { throw b.fail(n, "axis \(a) is out of range for \(s)") }
                return axis
            }
            func spread<T>(_ v: [T]?, _ fill: (Int) -> T) throws -> [T]? {
                guard let v else { return nil }
                guard v.count == axes.count else { throw b.fail(n, "\(v.count) values do not fit the \(axes.count) resized axes") }
                var all = (0..<rank).map(fill)
                for (k, a) in axes.enumerated() { all[a] = v[k] }
                return all
            }
            scales = try spread(scales) { _ in 1 }
            let fullSizes: [Int?]? = try spread(sizes.map { $0.map { Optional($0) } }) { s[$0] }
            if let r = roi, r.count == 2 * axes.count {
                var all = [Float](repeating: 0, count: rank) + [Float](repeating: 1, count: rank)
                for (k, a) in axes.enumerated() { all[a] = r[k]; all[rank + a] = r[axes.count + k] }
                roi = all
            } else if roi?.count != 2 * rank {
                roi = nil
            }
            guard scales != nil || fullSizes != nil else { throw b.fail(n, "\(name) needs scales or sizes") }
            guard (scales ?? []).allSatisfy({ $0 > 0 && $0.isFinite }), (fullSizes ?? []).allSatisfy({ ($0 ?? 0) >= 0 }) else {
                throw b.fail(n, "\(name) scales \(scales ?? []) or sizes must be positive")
            }
            let transform = modern ? n.string("coordinate_transformation_mode", "half_pixel") : "asymmetric"
            let nearestMode = modern ? n.string("nearest_mode", "round_prefer_floor") : "floor"
            let antialias = n.int("antialias", 0) == 1

            // Whole-number up-sampling of NCHW spatial axes that the channels-last kernel computes the same way.
            var fastScales = scales
            if let sz = fullSizes, fastScales == nil {
                fastScales = zip(sz, s.dims).map { size, d in (size.flatMap { size in d.map { Float(size) / Float($0) } }) ?? 0 }
            }
            if let f = fastScales, rank >= 3, rank <= 4, f[0] == 1, f[1] == 1, !antialias, n.string("keep_aspect_ratio_policy", "stretch") == "stretch",
               f.dropFirst(2).allSatisfy({ $0 >= 1 && $0 <= 64 && $0 == $0.rounded() }), let interpolation = fastInterpolation(mode: mode, transform: transform,
               nearestMode: nearestMode, scales: f.dropFirst(2).map { Int($0) }) {
                try b.add(.upSampling(size: f.dropFirst(2).map { Int($0) }, interpolation: interpolation, layout: .channelsFirst), [x],
                          output: n.outputs[0], node: n)
                return
            }

            guard let resizeMode = Resize.Mode(rawValue: mode == "bilinear" ? "linear" : mode) else { throw b.fail(n, "unknown \(name) mode '\(mode)'") }
            let known = ["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_crop_and_resize", "tf_half_pixel_for_nn"]
            guard known.contains(transform) else { throw b.fail(n, "unknown coordinate_transformation_mode '\(transform)'") }
            guard ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"].contains(nearestMode) else { throw b.fail(n, "unknown nearest_mode '\(nearestMode)'") }
            var resolvedScales = (scales ?? Array(repeating: 1, count: rank)).map { Double($0) }
            var resolvedSizes: [Int?] = fullSizes ?? Array(repeating: nil, count: rank)
            var fromSizes = fullSizes != nil
            let policy = n.string("keep_aspect_ratio_policy", "stretch")
            if let sz = fullSizes, policy != "stretch" {
                // One scale for every resized axis: the smallest (not_larger) or largest (not_smaller).
                let ratios = try axes.map { a -> Double in
                    guard let size = sz[a], let d = s[a], d > 0 else { throw b.fail(n, "keep_aspect_ratio_policy needs known sizes") }
                    return Double(size) / Double(d)
                }
                guard let scale = policy == "not_larger" ? ratios.min() : policy == "not_smaller" ? ratios.max() : nil else {
                    throw b.fail(n, "unknown keep_aspect_ratio_policy '\(policy)'")
                }
                resolvedScales = (0..<rank).map { axes.contains($0) ? scale : 1 }
                resolvedSizes = (0..<rank).map { a in axes.contains(a) ? s[a].map { Int(scale * Double($0) + 0.5) } : s[a] }
                fromSizes = false
            }
            let spec = Resize(mode: resizeMode, coordinates: transform, nearestMode: nearestMode, cubicCoefficient: n.float("cubic_coeff_a", -0.75),
                              excludeOutside: n.int("exclude_outside", 0) == 1, extrapolationValue: n.float("extrapolation_value", 0),
                              antialias: antialias, scales: resolvedScales, sizes: resolvedSizes, scalesFromSizes: fromSizes, roi: roi)
            try b.add(.resize(spec), [x], output: n.outputs[0], node: n)
        }
    }
}

/// The channels-last up-sampling kernel's interpolation when it computes what ONNX asks for:
/// nearest picks `floor(o / s)`, bilinear uses half-pixel centres.
private func fastInterpolation(mode: String, transform: String, nearestMode: String, scales: [Int]) -> String? {
    switch mode {
    case "nearest":
        for s in scales {
            for o in 0..<(4 * s) {
                let x: Double
                switch transform {
                case "asymmetric": x = Double(o) / Double(s)
                case "half_pixel", "pytorch_half_pixel": x = (Double(o) + 0.5) / Double(s) - 0.5
                case "tf_half_pixel_for_nn": x = (Double(o) + 0.5) / Double(s)
                default: return nil
                }
                let picked: Double
                switch nearestMode {
                case "floor": picked = x.rounded(.down)
                case "ceil": picked = x.rounded(.up)
                case "round_prefer_ceil": picked = (x + 0.5).rounded(.down)
                default: picked = x == x.rounded(.down) + 0.5 ? x.rounded(.down) : x.rounded()
                }
                if max(0, Int(picked)) != o / s { return nil }
            }
        }
        return "nearest"
    case "linear", "bilinear":
        return transform == "half_pixel" || transform == "pytorch_half_pixel" ? "bilinear" : nil
    default: return nil
    }
}

/// Broadcasts `x` to `target`: known sizes, or multiples of the batch size (taken at run time
/// from the graph input it belongs to).
private func expand(_ b: ONNXGraphBuilder, _ n: ONNXNode, _ x: String, to target: [SymbolicDim]) throws {
    let dims = try target.map { d -> Int in
        switch d {
        case .value(let v) where v >= 0: return v
        case .batch: return -1
        case .batchTimes(let k): return -k
        default: throw b.fail(n, "\(n.proto.opType) needs a shape known at load time (up to the batch size)")
        }
    }
    guard let source = dims.contains(where: { $0 < 0 }) ? b.batchSource : "" else {
        throw b.fail(n, "\(n.proto.opType) needs a batch size, but no graph input has one")
    }
    try b.add(.expand(shape: dims), [x] + (source.isEmpty ? [] : [source]), output: n.outputs[0], node: n)
}

/// Cast (and CastLike): constants fold; computed values stay float32 in the engine, rounded as
/// the target type would hold them.
private func cast(_ b: ONNXGraphBuilder, _ n: ONNXNode, to: DType) throws {
    if let c = b.constant(n, 0) {
        // Casts inside shape computations fold.
        if to.isFloatingPoint {
            let values = c.floats()
            b.constants[n.outputs[0]] = Tensor(shape: c.shape, floats: to == .float16 ? values.map { Float(Float16($0)) } : values)
        } else if to == .bool {
            b.constants[n.outputs[0]] = Tensor(int64: c.floats().map { $0 != 0 ? 1 : 0 }, shape: c.shape)
        } else {
            b.constants[n.outputs[0]] = Tensor(int64: c.integers, shape: c.shape)
        }
        return
    }
    if let s = b.symbolic[n.inputs[0]] { b.symbolic[n.outputs[0]] = s; return }
    let from = b.dtypes[n.inputs[0]] ?? .float32
    // A cast that keeps the type, or from one 32/64-bit float to another, changes nothing here.
    let wide: Set<DType> = [.float32, .float64]
    if from == to || wide.contains(from) && wide.contains(to) {
        try b.alias(n.outputs[0], n.inputs[0], node: n)
        return
    }
    try b.add(Op(Cast(to: to)), [try b.value(n, 0)], outputs: [n.outputs[0]], types: [to], node: n)
}

/// Adds a Reshape to a shape computed from the input's (Squeeze, Unsqueeze, Flatten with axis ≠ 1).
private func reshapeTo(_ b: ONNXGraphBuilder, _ n: ONNXNode, newShape: (Shape) -> [Int?]) throws {
    if let c = b.constants[n.inputs[0]] {
        let dims = newShape(Shape(c.shape.map { Optional($0) })).map { $0 ?? 1 }
        b.constants[n.outputs[0]] = try Tensor(dtype: c.dtype, shape: dims, bytes: c.bytes)
        return
    }
    let x = try b.value(n, 0)
    let s = b.shape(x)
    guard s.rank >= 1 else { throw b.fail(n, "reshaping a scalar computed at run time is not supported") }
    let out = newShape(s)
    let runTimeSizes = out.filter { $0 == nil }.count
    let batchStays = s[0] == nil && out.first.map { $0 == nil } == true
    if runTimeSizes == 0 || runTimeSizes == 1 && !batchStays {
        // A reshape of the whole tensor (the batch axis may move): every size known but at most
        // one, which is computed at run time (Squeeze of [1, batch, 1, 1] to [batch]).
        try b.add(.reshapeAll(targetShape: out.map { $0 ?? -1 }), [x], output: n.outputs[0], node: n)
        return
    }
    guard out.first.map({ $0 == nil || $0 == s[0] }) ?? false, out.dropFirst().allSatisfy({ $0 != nil }) else {
        throw b.fail(n, "a reshape that changes the batch axis or needs run-time sizes is not supported")
    }
    try b.add(.reshape(targetShape: out.dropFirst().map { $0! }), [x], output: n.outputs[0], node: n)
}

func registerSplit(_ r: inout ONNXRegistry) {
    r["Split"] = { b, n in
        let x = try b.value(n, 0)
        let s = b.shape(x)
        var axis = n.int("axis", 0)
        if axis < 0 { axis += s.rank }
        guard axis >= 0, axis < s.rank else { throw b.fail(n, "axis \(n.int("axis", 0)) is out of range for \(s)") }
        if n.opset >= 13, n.input(1) != nil, b.constant(n, 1) == nil { throw b.fail(n, "Split with sizes computed at run time is not supported") }
        let sizes = n.opset >= 13 ? b.constant(n, 1)?.integers : n.ints("split")
        let split = sizes.map { Split(axis: axis, sizes: $0) } ?? Split(axis: axis, parts: n.int("num_outputs", n.outputs.count))
        guard split.parts == n.outputs.count else { throw b.fail(n, "it has \(n.outputs.count) outputs for \(split.parts) parts") }
        try b.add(Op(split), [x], outputs: n.outputs, node: n)
    }
}
