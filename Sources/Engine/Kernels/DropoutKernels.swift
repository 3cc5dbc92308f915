import Foundation
import ModelIR

/// A small seeded generator (SplitMix64) for dropout masks and augmentation: the same seed
/// gives the same masks on every machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    /// Standard normal (Box–Muller).
    mutating func normal() -> Float {
        let u = max(uniform(), 1e-7), v = uniform()
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * .pi * v)
    }
}

/// Keras's noise layers in training: each makes a multiplicative mask (and, for GaussianNoise,
/// an additive one) that backward reuses. Inference leaves them out.
enum DropoutKernels {
    enum Noise { case multiply([Float]), add([Float]) }

    /// The noise layers training makes noise for (others would silently be identities).
    enum Kind: String {
        case dropout = "Dropout", spatial1D = "SpatialDropout1D", spatial2D = "SpatialDropout2D", spatial3D = "SpatialDropout3D"
        case gaussianDropout = "GaussianDropout", gaussianNoise = "GaussianNoise"
    }

    /// The noise for `kind` over `shape` (NHWC): Dropout keeps each element with 1 − rate and
    /// scales it by 1/(1 − rate); SpatialDropout drops whole channels of a sample; GaussianDropout
    /// multiplies by N(1, rate/(1 − rate)); GaussianNoise adds N(0, rate²).
    static func noise(kind: String, rate: Float, shape: [Int], generator: inout SeededGenerator) -> Noise? {
        let count = shape.reduce(1, *)
        guard let kind = Kind(rawValue: kind) else { return nil }
        switch kind {
        case .dropout:
            guard rate > 0 else { return nil }
            let keep = 1 / (1 - rate)
            return .multiply((0..<count).map { _ in generator.uniform() >= rate ? keep : 0 })
        case .spatial1D, .spatial2D, .spatial3D:
            guard rate > 0, let n = shape.first, let c = shape.last else { return nil }
            let keep = 1 / (1 - rate)
            let channels = (0..<(n * c)).map { _ in generator.uniform() >= rate ? keep : Float(0) }
            let spatial = count / max(n * c, 1)
            var mask = [Float](repeating: 0, count: count)
            for i in 0..<n { for p in 0..<spatial { for ch in 0..<c { mask[(i * spatial + p) * c + ch] = channels[i * c + ch] } } }
            return .multiply(mask)
        case .gaussianDropout:
            guard rate > 0 else { return nil }
            let sd = (rate / (1 - rate)).squareRoot()
            return .multiply((0..<count).map { _ in 1 + sd * generator.normal() })
        case .gaussianNoise:
            guard rate > 0 else { return nil }
            return .add((0..<count).map { _ in rate * generator.normal() })
        }
    }

    /// Whether training knows how to make `kind`'s noise.
    static func isKnown(_ kind: String) -> Bool { Kind(rawValue: kind) != nil }
}
