import Foundation
import ModelIR

func registerMathOps(_ r: inout ONNXRegistry) {
    registerArithmeticOps(&r)
    registerUnaryOps(&r)
    registerLinearOps(&r)
    let binary: [String: ElementwiseFunction] = ["Add": .add, "Sub": .subtract, "Mul": .multiply, "Div": .divide, "Pow": .power]
    for (name, f) in binary {
        r[name] = { b, n in
            // Shape arithmetic on known integers folds at load.
            if try foldShapeVectors(b, n, { x, y in
                switch (f, x, y) {
                case let (.add, .value(a), .value(c)): return .value(a + c)
                case let (.subtract, .value(a), .value(c)): return .value(a - c)
                case let (.multiply, .value(a), .value(c)): return .value(a * c)
                case let (.divide, .value(a), .value(c)) where c != 0: return .value(a / c)
                // The batch size times (or divided back by) a known number.
                case let (.multiply, .batch, .value(k)) where k > 0, let (.multiply, .value(k), .batch) where k > 0:
                    return k == 1 ? .batch : .batchTimes(k)
                case let (.multiply, .batchTimes(a), .value(k)) where k > 0, let (.multiply, .value(k), .batchTimes(a)) where k > 0:
                    return .batchTimes(a * k)
                case let (.divide, .batchTimes(a), .value(k)) where k > 0 && a % k == 0: return a == k ? .batch : .batchTimes(a / k)
                default: return .unknown
                }
            }) { return }
            let lhs = try b.value(n, 0), rhs = try b.value(n, 1)
            let integer = [n.inputs[0], n.inputs[1]].allSatisfy { v in (b.dtypes[v] ?? b.constants[v]?.dtype).map { !$0.isFloatingPoint } ?? false }
            if f == .divide, integer {
                // Integer division truncates toward zero: the quotient cast to the operands' type.
                let type = b.dtypes[n.inputs[0]] ?? b.constants[n.inputs[0]]?.dtype ?? .int64
                try b.add(.elementwise(.divide), [lhs, rhs], output: b.temporary(n, "quotient"), node: n)
                try b.add(Op(Cast(to: type)), [b.temporary(n, "quotient")], outputs: [n.outputs[0]], types: [type], node: n)
                return
            }
            try b.add(.elementwise(f), [lhs, rhs], output: n.outputs[0], node: n)
        }
    }
    for (name, f) in [("Max", ElementwiseFunction.maximum), ("Min", .minimum), ("Sum", .add), ("Mean", .average)] {
        r[name] = { b, n in
            let inputs = try (0..<n.inputs.count).map { try b.value(n, $0) }
            if inputs.count == 1 { try b.alias(n.outputs[0], inputs[0], node: n); return }
            try b.add(.elementwise(f), inputs, output: n.outputs[0], node: n)
        }
    }
    // Comparisons and logic give 1/0 (bools held as float32).
    let logic: [String: ElementwiseFunction] = ["Equal": .equal, "Less": .less, "Greater": .greater, "LessOrEqual": .lessOrEqual,
                                                "GreaterOrEqual": .greaterOrEqual, "And": .and, "Or": .or, "Xor": .xor]
    for (name, f) in logic {
        r[name] = { b, n in
            // On shape vectors (torch's expand and reshape helpers) comparisons fold at load.
            if try foldShapeVectors(b, n, { x, y in
                func truth(_ t: Bool) -> SymbolicDim { .value(t ? 1 : 0) }
                switch (x, y) {
                case let (.value(a), .value(c)):
                    switch f {
                    case .equal: return truth(a == c)
                    case .less: return truth(a < c)
                    case .greater: return truth(a > c)
                    case .lessOrEqual: return truth(a <= c)
                    case .greaterOrEqual: return truth(a >= c)
                    case .and: return truth(a != 0 && c != 0)
                    case .or: return truth(a != 0 || c != 0)
                    case .xor: return truth((a != 0) != (c != 0))
                    default: return .unknown
                    }
                // A batch size is at least 1: never equal to 0 or a negative marker such as -1.
                case let (.batch, .value(v)) where v <= 0, let (.value(v), .batch) where v <= 0,
                     let (.batchTimes, .value(v)) where v <= 0, let (.value(v), .batchTimes) where v <= 0:
                    return f == .equal ? truth(false) : .unknown
                default: return .unknown
                }
            }) { return }
            try b.add(.elementwise(f), [try b.value(n, 0), try b.value(n, 1)], output: n.outputs[0], node: n)
        }
    }
}

func registerArithmeticOps(_ r: inout ONNXRegistry) {
    r["Mod"] = { b, n in
        let f: ElementwiseFunction = n.int("fmod", 0) == 1 ? .remainder : .modulo
        // On shape vectors (torch's attention helpers) it folds at load.
        if try foldShapeVectors(b, n, { x, y in
            guard case .value(let a) = x, case .value(let c) = y, c != 0 else { return .unknown }
            let r = a % c
            return .value(f == .modulo && r != 0 && (r < 0) != (c < 0) ? r + c : r)
        }) { return }
        try b.add(.elementwise(f), [try b.value(n, 0), try b.value(n, 1)], output: n.outputs[0], node: n)
    }
    r["Range"] = { b, n in
        // Folds when start, limit and delta are known at load (shape arithmetic); the length of a
        // run-time range would not be known to the planner.
        guard let start = b.constant(n, 0)?.floats().first ?? b.symbolicVector(n.inputs[0]).flatMap({ v in v.first.flatMap { if case .value(let x) = $0 { return Float(x) }; return nil } }),
              let limit = b.constant(n, 1)?.floats().first, let delta = b.constant(n, 2)?.floats().first, delta != 0, delta.isFinite,
              start.isFinite, limit.isFinite else {
            throw b.fail(n, "a Range whose start, limit or delta is computed at run time (or a zero delta) is not supported")
        }
        let length = ((Double(limit) - Double(start)) / Double(delta)).rounded(.up)
        guard length <= Double(1 << 24) else { throw b.fail(n, "Range of \(length) elements is too long") }
        let count = max(0, Int(length))
        let values = (0..<count).map { start + Float($0) * delta }
        let integral = b.constants[n.inputs[0]].map { !$0.dtype.isFloatingPoint } ?? (b.symbolic[n.inputs[0]] != nil)
        b.constants[n.outputs[0]] = integral ? Tensor(int64: values.map { Int($0) }, shape: [count]) : Tensor(shape: [count], floats: values)
    }
    r["CumSum", inputs: 2] = { b, n in
        let x = try b.value(n, 0)
        guard let given = b.constant(n, 1)?.integers.first else { throw b.fail(n, "CumSum needs a constant axis") }
        let rank = b.shape(x).rank, axis = given < 0 ? given + rank : given
        guard axis >= 0, axis < rank else { throw b.fail(n, "axis \(given) is out of range for a rank-\(rank) input") }
        let op = CumSum(axis: axis, exclusive: n.int("exclusive", 0) == 1, reverse: n.int("reverse", 0) == 1)
        try b.add(Op(op), [x], output: n.outputs[0], node: n)
    }
    r["Einsum"] = { b, n in
        let einsum: Einsum
        do { einsum = try Einsum(equation: n.string("equation", "")) } catch let e as ShapeError { throw b.fail(n, e.message) }
        try b.add(Op(einsum), try n.inputs.indices.map { try b.value(n, $0) }, output: n.outputs[0], node: n)
    }
    r["Where"] = { b, n in
        // A known condition over shape vectors picks entries at load.
        if let condition = b.symbolicVector(n.inputs[0]), condition.allSatisfy({ if case .value = $0 { return true }; return false }),
           let x = b.symbolicVector(n.inputs[1]), let y = b.symbolicVector(n.inputs[2]),
           n.inputs.allSatisfy({ b.constants[$0].map { $0.dtype != .float32 && $0.shape.count <= 1 } ?? true }) {
            let count = max(condition.count, x.count, y.count)
            guard [condition, x, y].allSatisfy({ $0.count == count || $0.count == 1 }) else { throw b.fail(n, "shapes do not broadcast") }
            func at(_ v: [SymbolicDim], _ i: Int) -> SymbolicDim { v[v.count == 1 ? 0 : i] }
            b.setVector(n.outputs[0], (0..<count).map { i in at(condition, i) == .value(0) ? at(y, i) : at(x, i) })
            return
        }
        try b.add(.elementwise(.select), [try b.value(n, 0), try b.value(n, 1), try b.value(n, 2)], output: n.outputs[0], node: n)
    }
}

func registerUnaryOps(_ r: inout ONNXRegistry) {
    r["TopK"] = { b, n in
        let x = try b.value(n, 0)
        let s = b.shape(x)
        guard let axis = s.axis(n.int("axis", -1)) else { throw b.fail(n, "axis \(n.int("axis", -1)) is out of range for \(s)") }
        let k = n.opset >= 10 ? b.constant(n, 1)?.integers : [n.int("k", -1)]
        guard let k, k.count == 1 else { throw b.fail(n, "TopK with k computed at run time is not supported") }
        try b.add(Op(TopK(axis: axis, k: k[0], largest: n.int("largest", 1) == 1)), [x], outputs: n.outputs, types: [.float32, .int64], node: n)
    }
    for (name, largest) in [("ArgMax", true), ("ArgMin", false)] {
        r[name] = { b, n in
            let x = try b.value(n, 0)
            guard let axis = b.shape(x).axis(n.int("axis", 0)) else { throw b.fail(n, "axis \(n.int("axis", 0)) is out of range for \(b.shape(x))") }
            try b.add(.argReduce(largest: largest, axis: axis, keepDims: n.int("keepdims", 1) == 1, selectLast: n.int("select_last_index", 0) == 1),
                      [x], output: n.outputs[0], node: n)
        }
    }
    let unary: [String: UnaryFunction] = ["Sqrt": .sqrt, "Exp": .exp, "Log": .log, "Neg": .negate, "Abs": .abs,
                                          "Reciprocal": .reciprocal, "Erf": .erf, "Floor": .floor, "Ceil": .ceil, "Round": .round, "Sign": .sign,
                                          "Not": .isZero, "IsNaN": .isNaN, "Sin": .sin, "Cos": .cos, "Tan": .tan]
    for (name, f) in unary {
        r[name] = { b, n in try b.add(.unary(f), [try b.value(n, 0)], output: n.outputs[0], node: n) }
    }
    func activation(_ name: String, _ make: @escaping @Sendable (ONNXNode) throws -> Activation) {
        r[name] = { b, n in try b.add(.activation(try make(n)), [try b.value(n, 0)], output: n.outputs[0], node: n) }
    }
    activation("Relu") { _ in .relu() }
    activation("LeakyRelu") { .leakyRelu(alpha: $0.float("alpha", 0.01)) }
    activation("Elu") { .elu(alpha: $0.float("alpha", 1)) }
    r["Selu"] = { b, n in
        let alpha = n.float("alpha", 1.67326319), gamma = n.float("gamma", 1.05070102)
        let x = try b.value(n, 0)
        if abs(alpha - 1.67326319) < 1e-6, abs(gamma - 1.05070102) < 1e-6 {
            try b.add(.activation(.selu), [x], output: n.outputs[0], node: n)
            return
        }
        // gamma · elu_alpha(x).
        try b.add(.activation(.elu(alpha: alpha)), [x], output: b.temporary(n, "elu"), node: n)
        try b.add(.rescaling(scale: gamma, offset: 0), [b.temporary(n, "elu")], output: n.outputs[0], node: n)
    }
    activation("Sigmoid") { _ in .sigmoid }
    activation("HardSigmoid") { .hardSigmoid(slope: $0.float("alpha", 0.2), offset: $0.float("beta", 0.5)) }
    activation("HardSwish") { _ in .hardSwish }
    activation("Tanh") { _ in .tanh }
    activation("Softplus") { _ in .softplus }
    activation("Softsign") { _ in .softsign }
    // ONNX: x where x > alpha (strictly); the IR's threshold keeps x >= t, so t is the next float up.
    activation("ThresholdedRelu") { .relu(maxValue: nil, negativeSlope: 0, threshold: $0.float("alpha", 1).nextUp) }
    activation("Gelu") { .gelu(approximate: $0.string("approximate", "none") == "tanh") }
    for (name, log) in [("Softmax", false), ("LogSoftmax", true)] {
        r[name] = { b, n in
            let x = try b.value(n, 0)
            let rank = b.shape(x).rank
            var axis = n.int("axis", n.opset >= 13 ? -1 : 1)
            if axis < 0 { axis += rank }
            // Before opset 13 the input was flattened to 2-D at `axis`: the same only for the last axis.
            if n.opset < 13, axis != rank - 1 { throw b.fail(n, "\(name) over axes \(axis)…\(rank - 1) together (opset \(n.opset)) is not supported") }
            try b.add(.activation(log ? .logSoftmax(axis: axis) : .softmax(axis: axis)), [x], output: n.outputs[0], node: n)
        }
    }
    r["Clip"] = { b, n in
        let x = try b.value(n, 0)
        var lower = -Float.greatestFiniteMagnitude, upper = Float.greatestFiniteMagnitude
        if n.opset < 11 {
            lower = n.float("min", lower)
            upper = n.float("max", upper)
        } else {
            if n.input(1) != nil { guard let c = b.constant(n, 1) else { throw b.fail(n, "a non-constant min is not supported") }; lower = c.floats().first ?? lower }
            if n.input(2) != nil { guard let c = b.constant(n, 2) else { throw b.fail(n, "a non-constant max is not supported") }; upper = c.floats().first ?? upper }
        }
        let act: Activation = lower == 0 ? (upper == 6 ? .relu6 : (upper == .greatestFiniteMagnitude ? .relu() : .clip(lower: lower, upper: upper)))
            : .clip(lower: lower, upper: upper)
        try b.add(.activation(act), [x], output: n.outputs[0], node: n)
    }
}

func registerLinearOps(_ r: inout ONNXRegistry) {
    r["PRelu", inputs: 2] = { b, n in
        let x = try b.value(n, 0)
        guard let slope = b.constant(n, 1) else { throw b.fail(n, "a non-constant slope is not supported") }
        let rank = b.shape(x).rank
        // The slope broadcasts to the input from the right; as the IR's alpha it covers every axis after the batch.
        var alphaShape = slope.shape
        while alphaShape.count < rank - 1 { alphaShape.insert(1, at: 0) }
        if alphaShape.count > rank - 1 {
            guard alphaShape.count == rank else { throw b.fail(n, "the slope \(slope.shape) has a higher rank than the input") }
            if alphaShape[0] != 1 {
                // A slope that varies along the first axis too: max(x, 0) + slope · min(x, 0).
                let zero = b.stored(n.name + "/zero", Tensor(scalar: 0))
                try b.add(.elementwise(.maximum), [x, zero], output: b.temporary(n, "positive"), node: n)
                try b.add(.elementwise(.minimum), [x, zero], output: b.temporary(n, "negative"), node: n)
                try b.add(.elementwise(.multiply), [b.temporary(n, "negative"), try b.weight(n, 1)], output: b.temporary(n, "sloped"), node: n)
                try b.add(.elementwise(.add), [b.temporary(n, "positive"), b.temporary(n, "sloped")], output: n.outputs[0], node: n)
                return
            }
            alphaShape.removeFirst()
        }
        guard let alphaTensor = try? Tensor(dtype: slope.dtype, shape: alphaShape, bytes: slope.bytes) else { throw b.fail(n, "the slope \(slope.shape) does not fit the input") }
        b.constants[n.inputs[1] + "/alpha"] = alphaTensor
        let alpha = b.parameter(n.inputs[1] + "/alpha")
        try b.add(Op(PReLU(sharedAxes: [])), [x, alpha], output: n.outputs[0], node: n)
    }
    r.write(PReLU.self) { w, n, _ in
        guard let alpha = w.parameters[n.input(at: 1)] else {
            throw ONNXExportError("layer '\(n.layer ?? n.name)' (PReLU) cannot be exported: alpha is not a constant")
        }
        let x = w.name(n.inputs[0]), r = w.rank(n.inputs[0])
        // α has one sample's logical shape; an image's is stored channels-first, as the data.
        var slope = n.input(at: 1)
        if w.isImage(n.inputs[0]) {
            var dims = [1] + alpha.tensor.shape
            while dims.count < r { dims.insert(1, at: 1) }
            let (outDims, out) = w.permute(alpha.tensor.floats(), dims: dims, perm: w.toPhysical(r))
            slope = w.initializer(w.unique(alpha.name + "/nchw"), Tensor(shape: Array(outDims.dropFirst()), floats: out))
        } else {
            slope = w.initializer(slope, alpha.tensor)
        }
        w.node("PRelu", [x, slope], [n.outputs[0]], name: n.name)
    }
    r["Gemm"] = { b, n in
        let alpha = n.float("alpha", 1), beta = n.float("beta", 1)
        let transA = n.int("transA", 0) == 1, transB = n.int("transB", 0) == 1
        // The common case (a Dense layer): Gemm(x, constant B, constant vector C), alpha 1.
        if alpha == 1, !transA, let w = b.constant(n, 1), w.shape.count == 2 {
            let kernel = transB ? transpose2D(w) : Tensor(shape: w.shape, floats: w.floats())
            let units = kernel.shape[1]
            var bias: [Float]?
            if let c = b.constant(n, 2) {
                let values = c.floats().map { $0 * beta }
                if c.count == units, c.shape.last == units || c.shape.count <= 1 { bias = values } else if c.count == 1 { bias = Array(repeating: values[0], count: units) }
            }
            if n.input(2) == nil || bias != nil {
                b.constants[n.inputs[1] + "/kernel"] = kernel
                var biasName = ""
                if let bias {
                    b.constants[n.inputs[2] + "/bias"] = Tensor(shape: [units], floats: bias)
                    biasName = b.parameter(n.inputs[2] + "/bias")
                }
                try b.add(.dense(units: units), [try b.value(n, 0), b.parameter(n.inputs[1] + "/kernel"), biasName], output: n.outputs[0], node: n)
                return
            }
        }
        // In general: alpha · op(A) · op(B) + beta · C, as separate steps.
        func operand(_ i: Int, transposed: Bool) throws -> String {
            if let c = b.constant(n, i), c.shape.count == 2 {
                let key = n.inputs[i] + (transposed ? "/transposed" : "/matrix")
                return b.stored(key, transposed ? transpose2D(c) : Tensor(shape: c.shape, floats: c.floats()), trainable: i == 1)
            }
            let v = try b.value(n, i)
            guard transposed else { return v }
            try b.add(.transpose(permutation: [1, 0]), [v], output: b.temporary(n, "transposed\(i)"), node: n)
            return b.temporary(n, "transposed\(i)")
        }
        let lhs = try operand(0, transposed: transA), rhs = try operand(1, transposed: transB)
        var result = n.input(2) == nil && alpha == 1 ? n.outputs[0] : b.temporary(n, "product")
        try b.add(.matMul, [lhs, rhs], output: result, node: n)
        if alpha != 1 {
            let scaled = n.input(2) == nil ? n.outputs[0] : b.temporary(n, "scaled")
            try b.add(.elementwise(.multiply), [result, b.stored(b.temporary(n, "alpha"), Tensor(scalar: alpha))], output: scaled, node: n)
            result = scaled
        }
        guard n.input(2) != nil else { return }
        var c: String
        if let constant = b.constant(n, 2) {
            c = b.stored(n.inputs[2] + "/scaled", Tensor(shape: constant.shape, floats: constant.floats().map { $0 * beta }), trainable: true)
        } else {
            c = try b.value(n, 2)
            if beta != 1 {
                try b.add(.elementwise(.multiply), [c, b.stored(b.temporary(n, "beta"), Tensor(scalar: beta))], output: b.temporary(n, "c"), node: n)
                c = b.temporary(n, "c")
            }
        }
        try b.add(.elementwise(.add), [result, c], output: n.outputs[0], node: n)
    }
    r["MatMul"] = { b, n in
        if let w = b.constant(n, 1), w.shape.count == 2, b.shape(n.inputs[0]).rank >= 2 || b.constants[n.inputs[0]] != nil {
            try b.add(.dense(units: w.shape[1]), [try b.value(n, 0), try b.weight(n, 1), ""], output: n.outputs[0], node: n)
            return
        }
        // Two computed operands, a 1-D or batched constant: numpy matmul.
        let rhs = b.constant(n, 1) != nil ? try b.weight(n, 1) : try b.value(n, 1)
        try b.add(.matMul, [try b.value(n, 0), rhs], output: n.outputs[0], node: n)
    }
}

/// Folds a binary op on shape vectors (integer constants of rank ≤ 1, or vectors known up to
/// the batch size) entry by entry at load. Returns false when an operand is not one.
func foldShapeVectors(_ b: ONNXGraphBuilder, _ n: ONNXNode, _ combine: (SymbolicDim, SymbolicDim) -> SymbolicDim) throws -> Bool {
    guard let lhs = b.symbolicVector(n.inputs[0]), let rhs = n.input(1).flatMap(b.symbolicVector),
          n.inputs.prefix(2).allSatisfy({ b.constants[$0].map { $0.dtype != .float32 && $0.shape.count <= 1 } ?? true }) else { return false }
    let count = max(lhs.count, rhs.count)
    guard lhs.count == count || lhs.count == 1, rhs.count == count || rhs.count == 1 else { throw b.fail(n, "shapes do not broadcast") }
    // Known results become constants (a scalar when both operands are), others stay symbolic.
    let scalar = n.inputs.prefix(2).allSatisfy { b.constants[$0]?.shape.isEmpty ?? false }
    b.setVector(n.outputs[0], (0..<count).map { i in combine(lhs[lhs.count == 1 ? 0 : i], rhs[rhs.count == 1 ? 0 : i]) }, scalar: scalar)
    return true
}

/// A 2-D tensor transposed (Gemm's transB), float32.
func transpose2D(_ t: Tensor) -> Tensor {
    let (r, c) = (t.shape[0], t.shape[1])
    let v = t.floats()
    var out = [Float](repeating: 0, count: v.count)
    for i in 0..<r { for j in 0..<c { out[j * r + i] = v[i * c + j] } }
    return Tensor(shape: [c, r], floats: out)
}
