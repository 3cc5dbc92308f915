@testable import Engine
import ModelIR
import Testing

/// The oneDNN convolutions against the engine's own kernels (which the Keras reference tests
/// check against Keras), and new weights without re-planning.
@Suite("oneDNN convolutions")
struct DNNLTests {
    static func random(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
        }
    }

    func run(_ k: ConvolutionKernel, _ x: [Float], shape: [Int], out: [Int]) -> [Float] {
        var y = [Float](repeating: .nan, count: out.reduce(1, *))
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { k.run(xp, shape: shape, $0, outShape: out, threads: 1) } }
        return y
    }

    @Test("direct and Winograd, with ReLU, affine and max pooling; weights updated after the primitives exist",
          arguments: [(1, 3, 8), (16, 3, 16), (32, 1, 8), (16, 3, 24)])
    func matchesBuiltIn(_ inChannels: Int, _ kernelSize: Int, _ outChannels: Int) throws {
        let shape = [3, 12, 10, inChannels], out = [3, 6, 5, outChannels]
        let x = Self.random(shape.reduce(1, *), seed: 1)
        func kernel(_ seed: UInt64, accelerated: DNNLConvolution?) -> ConvolutionKernel {
            var e = Epilogue(bias: Self.random(outChannels, seed: seed + 1))
            e.activation = .relu()
            e.postScale = Self.random(outChannels, seed: seed + 2)
            e.postShift = Self.random(outChannels, seed: seed + 3)
            var k = ConvolutionKernel(kernel: [kernelSize, kernelSize], strides: [1, 1], dilations: [1, 1], padding: .sameUpper, groups: 1,
                                      inChannels: inChannels, outChannels: outChannels,
                                      weights: Self.random(kernelSize * kernelSize * inChannels * outChannels, seed: seed), epilogue: e)
            k.maxPool = [2, 2]
            k.accelerated = accelerated
            return k
        }
        let fast = DNNLConvolution()
        for seed: UInt64 in [10, 20] {
            let reference = run(kernel(seed, accelerated: nil), x, shape: shape, out: out)
            let k = kernel(seed, accelerated: fast)
            if seed == 20 { #expect(fast.update(k)) }     // the primitives made with seed 10 get seed 20's weights
            let y = run(k, x, shape: shape, out: out)
            let worst = zip(y, reference).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
            #expect(worst < 1e-5, "seed \(seed): \(worst)")
        }
        #expect(fast.implementation != nil)
    }
}
