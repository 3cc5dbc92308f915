@testable import Engine
import ModelIR
import Testing

/// Small cases whose answers follow from the definitions (checked by hand); the per-layer
/// comparisons against Keras are in KerasReferenceTests.
@Suite("engine kernels")
struct KernelTests {
    @Test func transposeMovesChannelsLast() {
        let x: [Float] = Array(0..<24).map(Float.init)  // [1, 2, 3, 4] NCHW
        var y = [Float](repeating: 0, count: 24)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { TensorKernels.transpose(xp, shape: [1, 2, 3, 4], permutation: [0, 2, 3, 1], $0) } }
        // y[0, h, w, c] = x[0, c, h, w]
        #expect(y[0] == 0 && y[1] == 12 && y[2] == 1 && y[3] == 13)
        #expect(y[23] == 23)
    }

    @Test("TF 'same' max pooling pads at the bottom/right and ignores the padding")
    func samePooling() {
        let k = PoolingKernel(kind: .average, size: [2, 2], strides: [2, 2], padding: .sameUpper, countIncludePad: false)
        let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]  // 1×3×3×1
        var y = [Float](repeating: 0, count: 4)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { k.run(xp, shape: [1, 3, 3, 1], $0, outShape: [1, 2, 2, 1], threads: 1) } }
        #expect(y == [3, 4.5, 7.5, 9])
    }

    @Test func convolutionMatchesADirectSum() {
        // 1×3×3×1 input, 2×2 kernel with two filters, valid padding.
        let k = ConvolutionKernel(kernel: [2, 2], strides: [1, 1], dilations: [1, 1], padding: .valid, groups: 1, inChannels: 1,
                                  outChannels: 2, weights: [1, 0, 2, 1, 3, 0, 4, 1], epilogue: Epilogue(bias: [0.5, -1]))
        let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        var y = [Float](repeating: 0, count: 8)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { k.run(xp, shape: [1, 3, 3, 1], $0, outShape: [1, 2, 2, 2], threads: 1) } }
        // filter 0 = [[1, 2], [3, 4]], filter 1 = [[0, 1], [0, 1]]
        let expected: [Float] = [37.5, 6, 47.5, 8, 67.5, 12, 77.5, 14]
        #expect(y == expected)
    }

    @Test("the direct path (few inputs per output) equals the im2col path")
    func directEqualsIm2col() {
        // 1 input channel, 3×3, 16 filters takes the direct path; compare with im2col + GEMM by hand.
        let weights = (0..<(9 * 16)).map { Float($0 % 7) - 3 }
        let direct = ConvolutionKernel(kernel: [3, 3], strides: [1, 1], dilations: [1, 1], padding: .sameUpper, groups: 1, inChannels: 1,
                                       outChannels: 16, weights: weights, epilogue: Epilogue(bias: (0..<16).map(Float.init), activation: .relu()))
        let x = (0..<(2 * 5 * 6)).map { Float($0 % 11) / 11 }
        var a = [Float](repeating: 0, count: 2 * 5 * 6 * 16), b = a
        x.withUnsafeBufferPointer { xp in
            a.withUnsafeMutableBufferPointer { direct.run(xp, shape: [2, 5, 6, 1], $0, outShape: [2, 5, 6, 16], threads: 2) }
            // Reference: im2col + GEMM on the same weights, one tile.
            b.withUnsafeMutableBufferPointer { yp in
                let g = ConvolutionKernel.Geometry(h: 5, w: 6, c: 1, kh: 3, kw: 3, strides: [1, 1], dilations: [1, 1], padTop: 1, padLeft: 1, oh: 5, ow: 6)
                var cols = [Float](repeating: 0, count: 30 * 9)
                for image in 0..<2 {
                    cols.withUnsafeMutableBufferPointer { c in
                        ConvolutionKernel.im2col(xp.baseAddress! + image * 30, g, channelOffset: 0, channels: 1, rows: 0..<30, into: c.baseAddress!)
                        weights.withUnsafeBufferPointer { w in
                            BLAS.gemm(m: 30, n: 16, k: 9, a: c.baseAddress!, lda: 9, b: w.baseAddress!, ldb: 16, c: yp.baseAddress! + image * 480, ldc: 16)
                        }
                    }
                    direct.epilogue.apply(yp.baseAddress! + image * 480, rows: 30, channels: 16)
                }
            }
        }
        #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 })
    }

    @Test func softmaxAlongAnAxis() {
        var x: [Float] = [0, 0, 1, 1, 2, 2]  // shape [3, 2], softmax over axis 0
        x.withUnsafeMutableBufferPointer { ActivationKernel.softmax($0, shape: [3, 2], axis: 0, log: false) }
        let e: [Float] = [1, 2.718281828, 7.389056099]
        let s = e.reduce(0, +)
        #expect(abs(x[0] - e[0] / s) < 1e-6 && abs(x[5] - e[2] / s) < 1e-6)
    }

    @Test("ReLU with max_value, negative_slope and threshold follows Keras' definition")
    func parametricRelu() {
        var x: [Float] = [-1, 0.2, 0.5, 3, 7]
        x.withUnsafeMutableBufferPointer { ActivationKernel.apply(.relu(maxValue: 6, negativeSlope: 0.1, threshold: 0.5), $0) }
        #expect(x.map { ($0 * 1e5).rounded() / 1e5 } == [-0.15, -0.03, 0.5, 3, 6])
    }
}

@Suite("engine plans")
struct PlanTests {
    @Test("an op whose data input is a stored value runs (a Transpose of a constant, as unfolded ONNX graphs have)")
    func storedFirstInput() throws {
        var g = Graph()
        g.parameters = [Parameter(name: "c", tensor: Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]), trainable: false)]
        g.nodes = [Node(name: "t", op: .transpose(permutation: [1, 0]), inputs: ["c"], outputs: ["t"])]
        g.outputs = ["t"]
        let session = try InferenceSession(graph: g, options: EngineOptions(threads: 1, optimize: true))
        let out = try session.run([:])
        #expect(out["t"]?.shape == [3, 2])
        #expect(out["t"]?.data == [1, 4, 2, 5, 3, 6])
    }

    @Test("concatenating an empty tensor leaves it out instead of zeroing the result")
    func concatenateWithEmpty() throws {
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [2, 3])]
        g.parameters = [Parameter(name: "e", tensor: Tensor(shape: [2, 0], floats: []), trainable: false)]
        g.nodes = [Node(name: "c", op: .concatenate(axis: -1), inputs: ["x", "e"], outputs: ["c"])]
        g.outputs = ["c"]
        let session = try InferenceSession(graph: g, options: EngineOptions(threads: 1, optimize: true))
        let out = try session.run(["x": HostTensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])])
        #expect(out["c"]?.shape == [2, 3])
        #expect(out["c"]?.data == [1, 2, 3, 4, 5, 6])
    }
}

@Suite("host tensors")
struct HostTensorTests {
    @Test("values written as a declared integer or bool type truncate, clamp and map NaN to 0")
    func typedOutputs() {
        let t = HostTensor(shape: [5], data: [2.7, -2.7, .nan, 1e20, -1e20])
        #expect(t.tensor(as: .int64).integersForTest == [2, -2, 0, Int(Int64.max), Int(Int64.min)])
        #expect(t.tensor(as: .uint8).bytes == [2, 0, 0, 255, 0])
        #expect(t.tensor(as: .bool).bytes == [1, 1, 1, 1, 1])
        #expect(HostTensor(shape: [2], data: [0, -0.0]).tensor(as: .bool).bytes == [0, 0])
        #expect(t.tensor(as: .float32).floats().prefix(2) == [2.7, -2.7])
    }
}

private extension Tensor {
    var integersForTest: [Int] { bytes.withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Int($0) } } }
}
