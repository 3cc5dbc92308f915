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
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { k.run(xp, shape: [1, 3, 3, 1], $0, outShape: [1, 2, 2, 1]) } }
        #expect(y == [3, 4.5, 7.5, 9])
    }

    @Test func convolutionMatchesADirectSum() {
        // 1×3×3×1 input, 2×2 kernel with two filters, valid padding.
        let k = ConvolutionKernel(kernel: [2, 2], strides: [1, 1], dilations: [1, 1], padding: .valid, groups: 1, inChannels: 1,
                                  outChannels: 2, weights: [1, 0, 2, 1, 3, 0, 4, 1], bias: [0.5, -1], activation: nil)
        let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        var y = [Float](repeating: 0, count: 8)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { k.run(xp, shape: [1, 3, 3, 1], $0, outShape: [1, 2, 2, 2]) } }
        // filter 0 = [[1, 2], [3, 4]], filter 1 = [[0, 1], [0, 1]]
        let expected: [Float] = [37.5, 6, 47.5, 8, 67.5, 12, 77.5, 14]
        #expect(y == expected)
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
