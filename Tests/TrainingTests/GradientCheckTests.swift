@testable import Engine
import Foundation
import ModelIR
import Testing

/// Finite-difference checks of every op family's gradient: the loss is `Σ r·y` for a fixed
/// random `r`, and each trainable parameter's and the input's analytic gradient is compared
/// with the central difference (float64 sums of float32 values, step 1e-3 · scale).
struct GradientCheck {
    var graph = Graph()
    var rng = SeededGenerator(seed: 7)
    var inputShape: [Int]

    init(input shape: [Int]) {
        inputShape = shape
        graph.inputs = [ValueInfo(name: "x", shape: Shape([nil] + shape.dropFirst().map { Optional($0) }))]
    }

    mutating func random(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in (Float(rng.next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
    }

    mutating func parameter(_ name: String, _ shape: [Int], scale: Float = 0.5, trainable: Bool = true, positive: Bool = false) -> String {
        var values = random(shape.reduce(1, *), scale: scale)
        if positive { values = values.map { abs($0) + 0.5 } }
        graph.parameters.append(Parameter(name: name, tensor: Tensor(shape: shape, floats: values), trainable: trainable, layer: name))
        return name
    }

    var last = "x"
    var count = 0

    /// Multiplies the input by a trainable tensor, so the gradient reaching it checks the data
    /// gradient of every op after it.
    mutating func probeInput() {
        let p = parameter("probe", Array(inputShape.dropFirst()), scale: 1, positive: true)
        add(.elementwise(.multiply), [p])
    }
    @discardableResult
    mutating func add(_ op: Op, _ extra: [String] = [], inputs: [String]? = nil) -> String {
        count += 1
        let name = "n\(count)"
        graph.nodes.append(Node(name: name, op: op, inputs: (inputs ?? [last]) + extra, outputs: [name], layer: name))
        last = name
        return name
    }

    /// Worst relative error over the input's and every trainable parameter's gradient.
    mutating func check(training: Bool = true, step: Double = 1e-3) throws -> (Double, String) {
        graph.outputs = [last]
        let x = HostTensor(shape: inputShape, data: random(inputShape.reduce(1, *)))
        let session = try TrainingSession(graph: graph, options: TrainingOptions(threads: 1))
        let y = try session.forward(["x": x], training: training)
        guard let out = y[last] else { return (.infinity, "no output") }
        let r = random(out.count)
        let grads = try session.backward([last: HostTensor(shape: out.shape, data: r)])
        func loss(_ s: TrainingSession) throws -> Double {
            let o = try s.forward(["x": x], training: training)[last]?.data ?? []
            return zip(o, r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        var worst = 0.0, at = ""
        for name in session.trainable {
            guard let p = session.parameters[name], let analytic = grads[name] else { continue }
            let original = p.data
            let scale = max(1.0, Double(original.map { abs($0) }.max() ?? 1))
            let h = step * scale
            let probe = session
            var numeric = [Double](repeating: 0, count: original.count)
            for i in 0..<original.count {
                var plus = original; plus[i] += Float(h)
                probe.setParameter(name, plus)
                let a = try loss(probe)
                var minus = original; minus[i] -= Float(h)
                probe.setParameter(name, minus)
                let b = try loss(probe)
                numeric[i] = (a - b) / (2 * h)
            }
            probe.setParameter(name, original)
            let norm = max(numeric.map { abs($0) }.max() ?? 0, 1e-2)
            for i in 0..<original.count {
                let e = abs(numeric[i] - Double(analytic[i])) / norm
                if e > worst { worst = e; at = "\(name)[\(i)] numeric \(numeric[i]) analytic \(analytic[i])" }
            }
        }
        return (worst, at)
    }
}

@Suite("Gradients against finite differences")
struct GradientCheckTests {
    static func expectClose(_ build: (inout GradientCheck) -> Void, input: [Int], training: Bool = true, tolerance: Double = 2e-3,
                            _ label: String) throws {
        var c = GradientCheck(input: input)
        c.probeInput()
        build(&c)
        let (worst, at) = try c.check(training: training)
        #expect(worst <= tolerance, "\(label): worst \(worst) at \(at)")
    }

    @Test("Dense, MatMul, PReLU")
    func linear() throws {
        try Self.expectClose({ c in c.add(.dense(units: 3), [c.parameter("k", [4, 3]), c.parameter("b", [3])]) }, input: [2, 4], "dense")
        try Self.expectClose({ c in c.add(.dense(units: 2), [c.parameter("k", [3, 2]), ""]) }, input: [2, 5, 3], "dense, rank 3, no bias")
        try Self.expectClose({ c in c.add(.matMul, [c.parameter("k", [4, 3])]) }, input: [3, 4], "matmul")
        try Self.expectClose({ c in c.add(Op(PReLU(sharedAxes: [1])), [c.parameter("a", [1, 3], scale: 0.3)]) }, input: [2, 4, 3], "prelu shared")
    }

    @Test("several outputs per node: Split's parts read by different ops (one not at all), TopK's values")
    func severalOutputs() throws {
        try Self.expectClose({ c in
            c.add(.dense(units: 7), [c.parameter("k", [3, 7]), c.parameter("b", [7])])
            c.graph.nodes.append(Node(name: "split", op: Op(Split(axis: 2, sizes: [2, 4, 1])), inputs: [c.last], outputs: ["a", "m", "unread"],
                                      layer: "split"))
            c.graph.nodes.append(Node(name: "topk", op: Op(TopK(axis: 2, k: 2)), inputs: ["m"], outputs: ["v", "i"], layer: "topk"))
            c.add(.elementwise(.multiply), inputs: ["a", "v"])
        }, input: [2, 5, 3], "split, topk")
        try Self.expectClose({ c in
            c.graph.nodes.append(Node(name: "split", op: Op(Split(axis: 1, parts: 3)), inputs: [c.last], outputs: ["p", "q", "r"], layer: "split"))
            c.graph.nodes.append(Node(name: "topk", op: Op(TopK(axis: 1, k: 3, largest: false)), inputs: ["p"], outputs: ["v", ""], layer: "topk"))
            c.add(.concatenate(axis: 1), ["q", "r"], inputs: ["v"])
        }, input: [2, 8, 3], "split in equal parts (the last shorter), smallest 3")
    }

    @Test("Einsum: attention scores and values, batched matmul, transpose, dot, diagonal, broadcast ellipsis", arguments: [
        ("bhid,bhjd->bhij", [2, 2, 3, 4], [2, 2, 5, 4]), ("bhij,bhjd->bhid", [2, 2, 3, 5], [2, 2, 5, 4]), ("bij,bjk->bik", [2, 3, 4], [2, 4, 5]),
        ("ij->ji", [3, 4], []), ("bi,bi->b", [3, 4], [3, 4]), ("ii->i", [4, 4], []), ("...ij,jk->...ik", [2, 3, 4], [4, 2]),
        ("bij,ij->bij", [2, 3, 4], [1, 4]),
    ])
    func einsum(_ equation: String, _ x: [Int], _ other: [Int]) throws {
        let op = Op(try Einsum(equation: equation))
        try Self.expectClose({ c in c.add(op, other.isEmpty ? [] : [c.parameter("b", other)]) }, input: x, equation)
    }

    @Test("Einsum computes what a batched matrix product does, CumSum the running sums ONNX defines")
    func einsumAndCumSumValues() throws {
        let a = (0..<24).map { Float($0) * 0.1 - 1 }, b = (0..<40).map { Float($0 % 7) * 0.3 - 0.8 }
        let kernel = EinsumKernel(einsum: try Einsum(equation: "bij,bjk->bik"))
        var y = [Float](repeating: 0, count: 2 * 3 * 5)
        y.withUnsafeMutableBufferPointer {
            kernel.run([HostTensor(shape: [2, 3, 4], data: a), HostTensor(shape: [2, 4, 5], data: b)], $0, outShape: [2, 3, 5], threads: 1)
        }
        var worst: Float = 0
        for n in 0..<2 { for i in 0..<3 { for k in 0..<5 {
            let ref = (0..<4).reduce(Float(0)) { $0 + a[(n * 3 + i) * 4 + $1] * b[(n * 4 + $1) * 5 + k] }
            worst = max(worst, abs(y[(n * 3 + i) * 5 + k] - ref))
        } } }
        #expect(worst <= 1e-5)
        // ONNX's CumSum example: [1, 2, 3, 4, 5] → exclusive [0, 1, 3, 6, 10], reverse [15, 14, 12, 9, 5].
        func cumsum(_ c: CumSum) -> [Float] {
            var out = [Float](repeating: 0, count: 5)
            out.withUnsafeMutableBufferPointer { CumSumKernel(cumsum: c).run([HostTensor(shape: [5], data: [1, 2, 3, 4, 5])], $0, outShape: [5], threads: 1) }
            return out
        }
        #expect(cumsum(CumSum(axis: 0)) == [1, 3, 6, 10, 15])
        #expect(cumsum(CumSum(axis: 0, exclusive: true)) == [0, 1, 3, 6, 10])
        #expect(cumsum(CumSum(axis: 0, reverse: true)) == [15, 14, 12, 9, 5])
        #expect(cumsum(CumSum(axis: 0, exclusive: true, reverse: true)) == [14, 12, 9, 5, 0])
    }

    @Test("CumSum: forward, exclusive, reverse", arguments: [(1, false, false), (2, true, false), (1, false, true), (2, true, true)])
    func cumsum(_ axis: Int, _ exclusive: Bool, _ reverse: Bool) throws {
        try Self.expectClose({ c in c.add(Op(CumSum(axis: axis, exclusive: exclusive, reverse: reverse))); c.add(.activation(.tanh)) },
                             input: [2, 3, 4], "cumsum axis \(axis) exclusive \(exclusive) reverse \(reverse)")
    }

    @Test("convolutions: strides, dilations, padding, groups, 1-D, depthwise, ONNX kernels")
    func convolutions() throws {
        let cases: [(String, Convolution, [Int])] = [
            ("3x3 same", Convolution(filters: 4, kernelSize: [3, 3], strides: [1, 1], dilations: [1, 1], padding: .sameUpper, layout: .channelsLast), [2, 5, 6, 3]),
            ("3x3 s2 valid", Convolution(filters: 3, kernelSize: [3, 3], strides: [2, 2], dilations: [1, 1], padding: .valid, layout: .channelsLast), [2, 7, 6, 2]),
            ("dilated", Convolution(filters: 2, kernelSize: [3, 3], strides: [1, 1], dilations: [2, 2], padding: .sameUpper, layout: .channelsLast), [1, 7, 7, 2]),
            ("groups 2", Convolution(filters: 4, kernelSize: [3, 3], strides: [1, 1], dilations: [1, 1], padding: .sameUpper, layout: .channelsLast,
                                     groups: 2), [2, 4, 4, 4]),
            ("1-channel input", Convolution(filters: 16, kernelSize: [3, 3], strides: [1, 1], dilations: [1, 1], padding: .sameUpper,
                                            layout: .channelsLast), [2, 6, 7, 1]),
            ("1-D", Convolution(filters: 3, kernelSize: [3], strides: [1], dilations: [2], padding: .valid, layout: .channelsLast), [2, 9, 2]),
            ("explicit pads", Convolution(filters: 2, kernelSize: [2, 3], strides: [1, 2], dilations: [1, 1], padding: .explicit([1, 0, 0, 2]),
                                          layout: .channelsLast), [1, 5, 6, 2]),
        ]
        for (label, conv, shape) in cases {
            let cin = shape.last ?? 1
            let kernel = conv.kernelSize + [cin / conv.groups, conv.filters]
            try Self.expectClose({ c in c.add(.convolution(conv), [c.parameter("k", kernel), c.parameter("b", [conv.filters])]) }, input: shape, label)
        }
        var onnx = Convolution(filters: 3, kernelSize: [3, 3], strides: [1, 1], dilations: [1, 1], padding: .explicit([1, 1, 1, 1]), layout: .channelsLast)
        onnx.kernelLayout = .outInSpatial
        try Self.expectClose({ c in c.add(.convolution(onnx), [c.parameter("k", [3, 2, 3, 3]), c.parameter("b", [3])]) }, input: [2, 4, 5, 2], "OIHW kernel")
        for (label, t, shape) in [
            ("transposed 3x3 s2 same", TransposedConvolution(filters: 3, kernelSize: [3, 3], strides: [2, 2], dilations: [1, 1], padding: .sameUpper,
                                                             outputPadding: nil, layout: .channelsLast), [2, 3, 4, 2]),
            ("transposed 2x2 valid", TransposedConvolution(filters: 2, kernelSize: [2, 3], strides: [1, 2], dilations: [1, 1], padding: .valid,
                                                           outputPadding: nil, layout: .channelsLast), [1, 3, 3, 3]),
        ] {
            let kernel = t.kernelSize + [t.filters, shape.last ?? 1]
            try Self.expectClose({ c in c.add(Op(t), [c.parameter("k", kernel), c.parameter("b", [t.filters])]) }, input: shape, label)
        }
        let dw = DepthwiseConvolution(kernelSize: [3, 3], strides: [2, 2], dilations: [1, 1], padding: .sameUpper, layout: .channelsLast, depthMultiplier: 2)
        try Self.expectClose({ c in c.add(.depthwiseConvolution(dw), [c.parameter("k", [3, 3, 3, 2]), c.parameter("b", [6])]) }, input: [2, 5, 5, 3],
                             "depthwise ×2 s2")
    }

    @Test("BatchNormalization in training and frozen, LayerNormalization")
    func normalization() throws {
        for shape in [[4, 3], [2, 3, 4, 2]] {
            let c = shape.last ?? 1
            try Self.expectClose({ g in
                g.add(.batchNormalization(axis: shape.count - 1, epsilon: 1e-3, momentum: 0.99),
                      [g.parameter("gamma", [c]), g.parameter("beta", [c]), g.parameter("mean", [c], trainable: false),
                       g.parameter("var", [c], trainable: false, positive: true)])
                g.add(.activation(.tanh))
            }, input: shape, "batch norm \(shape)")
            try Self.expectClose({ g in
                g.add(.batchNormalization(axis: shape.count - 1, epsilon: 1e-3, momentum: 0.99),
                      [g.parameter("gamma", [c]), g.parameter("beta", [c]), g.parameter("mean", [c], trainable: false),
                       g.parameter("var", [c], trainable: false, positive: true)])
            }, input: shape, training: false, "batch norm inference \(shape)")
        }
        // Any axes Keras allows: the trailing one, a middle one, and two apart.
        for (axes, shape) in [([2], [2, 3, 4]), ([1], [2, 3, 4]), ([1, 3], [2, 3, 2, 4])] {
            let gammaShape = axes.map { shape[$0] }
            try Self.expectClose({ g in
                g.add(Op(LayerNormalization(axes: axes, epsilon: 1e-3)), [g.parameter("gamma", gammaShape), g.parameter("beta", gammaShape)])
                g.add(.activation(.sigmoid))
            }, input: shape, "layer norm over \(axes) of \(shape)")
        }
    }

    @Test("every activation", arguments: [
        Activation.linear, .relu(), .relu6, .relu(maxValue: 6, negativeSlope: 0.1, threshold: 0.5), .leakyRelu(alpha: 0.2), .elu(alpha: 1.3), .selu,
        .sigmoid, .hardSigmoid(slope: 0.2, offset: 0.5), .hardSwish, .tanh, .softplus, .softsign, .swish, .gelu(approximate: false),
        .gelu(approximate: true), .exponential, .softmax(axis: -1), .logSoftmax(axis: 1), .clip(lower: -0.5, upper: 0.5),
    ])
    func activations(_ a: Activation) throws {
        try Self.expectClose({ c in c.add(.activation(a)) }, input: [3, 5], "\(a)")
    }

    @Test("pooling, global pooling, up-sampling")
    func pooling() throws {
        for kind in [Pooling.Kind.max, .average] {
            try Self.expectClose({ c in c.add(.pooling(Pooling(kind: kind, poolSize: [2, 2], strides: [2, 2], padding: .valid, layout: .channelsLast))) },
                                 input: [2, 5, 7, 3], "\(kind) 2x2 valid")
            try Self.expectClose({ c in c.add(.pooling(Pooling(kind: kind, poolSize: [3, 3], strides: [2, 2], padding: .sameUpper, layout: .channelsLast))) },
                                 input: [2, 6, 5, 2], "\(kind) 3x3 s2 same")
            try Self.expectClose({ c in c.add(.pooling(Pooling(kind: kind, poolSize: [2], strides: [2], padding: .valid, layout: .channelsLast))) },
                                 input: [2, 6, 3], "\(kind) 1-D")
            try Self.expectClose({ c in c.add(.globalPooling(kind: kind, layout: .channelsLast, keepDims: false)) }, input: [2, 3, 4, 3], "global \(kind)")
        }
        try Self.expectClose({ c in c.add(.upSampling(size: [2, 3], interpolation: "nearest", layout: .channelsLast)) }, input: [1, 2, 3, 2], "upsampling")
    }

    @Test("merges, reshapes, padding, cropping, transposes, slices, reductions, unary functions")
    func dataMovement() throws {
        for f in [ElementwiseFunction.add, .subtract, .multiply, .maximum, .minimum, .average, .divide] {
            try Self.expectClose({ c in
                let a = c.last
                let b = c.add(.dense(units: 3), [c.parameter("k", [3, 3]), c.parameter("bias", [3], positive: true)], inputs: [a])
                c.add(.elementwise(f), inputs: [a, b])
            }, input: [2, 3], "\(f)")
        }
        try Self.expectClose({ c in c.add(.elementwise(.add), [c.parameter("bias", [1, 3])]) }, input: [2, 4, 3], "broadcast add")
        try Self.expectClose({ c in
            let a = c.last
            let b = c.add(.activation(.tanh), inputs: [a])
            c.add(.concatenate(axis: -1), inputs: [a, b, a])
        }, input: [2, 3, 2], "concatenate")
        try Self.expectClose({ c in c.add(.flatten(layout: .channelsLast)); c.add(.reshape(targetShape: [3, -1])) }, input: [2, 2, 3, 2], "flatten, reshape")
        try Self.expectClose({ c in c.add(.transpose(permutation: [0, 2, 1, 3])) }, input: [2, 3, 4, 2], "transpose")
        try Self.expectClose({ c in c.add(.zeroPadding(pads: [[1, 2], [0, 1]], layout: .channelsLast)) }, input: [1, 3, 3, 2], "zero padding")
        try Self.expectClose({ c in c.add(.cropping(crops: [[1, 0], [1, 1]], layout: .channelsLast)) }, input: [1, 4, 5, 2], "cropping")
        try Self.expectClose({ c in c.add(.slice(starts: [1], ends: [3], axes: [1])) }, input: [2, 4, 3], "slice")
        try Self.expectClose({ c in c.add(.rescaling(scale: 0.5, offset: -1)) }, input: [2, 3], "rescaling")
        try Self.expectClose({ c in c.add(.reduce(.mean, axes: [1], keepDims: true)) }, input: [2, 3, 4], "reduce mean")
        try Self.expectClose({ c in c.add(.reduce(.sum, axes: [2], keepDims: false)) }, input: [2, 3, 4], "reduce sum")
        for f in [UnaryFunction.square, .exp, .negate, .sqrt, .abs, .erf] {
            try Self.expectClose({ c in c.add(.unary(f)) }, input: [2, 3], "\(f)")
        }
        try Self.expectClose({ c in c.add(.dropout(kind: "Dropout", rate: 0)) }, input: [2, 3], "dropout rate 0")
    }

    /// Swish rather than ReLU: a central difference across ReLU's kink, amplified by the batch
    /// statistics, is off by percents; the ReLU version is checked against TensorFlow (KerasParityTests).
    @Test("a seed-shaped stack: Conv(swish) → BatchNorm → MaxPool → Flatten → Dense")
    func seedStack() throws {
        try Self.expectClose({ c in
            let conv = Convolution(filters: 4, kernelSize: [3, 3], strides: [1, 1], dilations: [1, 1], padding: .sameUpper, layout: .channelsLast)
            c.add(.convolution(conv), [c.parameter("k", [3, 3, 1, 4]), c.parameter("b", [4])])
            c.add(.activation(.swish))
            c.add(.batchNormalization(axis: 3, epsilon: 1e-3, momentum: 0.99),
                  [c.parameter("gamma", [4]), c.parameter("beta", [4]), c.parameter("mean", [4], trainable: false),
                   c.parameter("var", [4], trainable: false, positive: true)])
            c.add(.pooling(Pooling(kind: .max, poolSize: [2, 2], strides: [2, 2], padding: .valid, layout: .channelsLast)))
            c.add(.flatten(layout: .channelsLast))
            c.add(.dense(units: 1), [c.parameter("dk", [24, 1]), c.parameter("db", [1])])
        }, input: [3, 4, 6, 1], "seed stack")
    }
}
