import ModelIR

/// What follows a convolution or Dense in the same pass over its output, while it is still in
/// cache: bias, activation, and an affine map per channel (a BatchNormalization that comes
/// after the activation, which cannot be folded into the weights).
struct Epilogue {
    var bias: [Float]?
    var activation: Activation?
    var postScale: [Float]?
    var postShift: [Float]?

    var isEmpty: Bool { bias == nil && activation == nil && postScale == nil }

    var isPlainRelu: Bool { if case .relu(nil, 0, 0)? = activation { return true }; return false }

    /// Applies to `rows × channels` values at `y`.
    func apply(_ y: UnsafeMutablePointer<Float>, rows: Int, channels: Int) {
        if channels % 16 == 0, activation == nil || isPlainRelu {
            applyVectorized(y, rows: rows, channels: channels)
            return
        }
        let count = rows * channels
        if let bias {
            bias.withUnsafeBufferPointer { b in
                for r in 0..<rows {
                    let row = y + r * channels
                    for c in 0..<channels { row[c] += b[c] }
                }
            }
        }
        if let activation {
            let buffer = UnsafeMutableBufferPointer(start: y, count: count)
            if case .relu(nil, 0, 0) = activation {
                for i in 0..<count { buffer[i] = max(buffer[i], 0) }
            } else {
                ActivationKernel.apply(activation, buffer)
            }
        }
        if let postScale, let postShift {
            postScale.withUnsafeBufferPointer { s in
                postShift.withUnsafeBufferPointer { t in
                    for r in 0..<rows {
                        let row = y + r * channels
                        for c in 0..<channels { row[c] = row[c] * s[c] + t[c] }
                    }
                }
            }
        }
    }

    /// One pass with 16-wide vectors: bias, ReLU and the per-channel affine together.
    func applyVectorized(_ y: UnsafeMutablePointer<Float>, rows: Int, channels: Int) {
        let blocks = channels / 16
        let relu = isPlainRelu
        withBytes(bias) { b in
            withBytes(postScale) { s in
                withBytes(postShift) { t in
                    for r in 0..<rows {
                        let row = UnsafeMutableRawPointer(y + r * channels)
                        for v in 0..<blocks {
                            let offset = v * 64
                            var x = row.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
                            if let b { x += b.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self) }
                            if relu { x = x.replacing(with: 0, where: x .< 0) }
                            if let s, let t {
                                x = x * s.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
                                    + t.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
                            }
                            row.storeBytes(of: x, toByteOffset: offset, as: SIMD16<Float>.self)
                        }
                    }
                }
            }
        }
    }
}

/// The bytes of an optional array, or nil, for the duration of `body`.
private func withBytes<R>(_ a: [Float]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let a else { return body(nil) }
    return a.withUnsafeBytes { body($0) }
}
