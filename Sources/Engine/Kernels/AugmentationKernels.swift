import Foundation
import ModelIR

/// Keras's random augmentation layers in training (the identity at inference): one random draw per
/// sample from the layer's factor ranges, images NHWC. The geometric ones sample the input with
/// bilinear interpolation and Keras's default `fill_mode="reflect"` (the edge pixel repeated in
/// the mirror, TensorFlow's `d c b a | a b c d | d c b a`), as `ImageProjectiveTransformV3`
/// computes an output pixel at (x, y) from the input at the transformed (x′, y′).
enum AugmentationKernels {
    /// `x′ = a0·x + a1·y + a2`, `y′ = b0·x + b1·y + b2` (output pixel → input position).
    struct Affine { var a0, a1, a2, b0, b1, b2: Float }

    static func uniform(_ g: inout SeededGenerator, _ low: Float, _ high: Float) -> Float { low + (high - low) * g.uniform() }

    /// The ranges of axis `i` (0 height, 1 width) of a two-range layer; width defaults to height's.
    static func range(_ factors: [Float], axis: Int) -> (Float, Float) {
        let base = factors.count >= 4 && axis == 1 ? 2 : 0
        guard factors.count >= base + 2 else { return (0, 0) }
        return (factors[base], factors[base + 1])
    }

    /// The transform of one sample, or nil for the kinds that are not geometric.
    static func transform(_ a: Augmentation, h: Int, w: Int, generator g: inout SeededGenerator) -> Affine? {
        let cx = Float(w - 1) / 2, cy = Float(h - 1) / 2
        switch a.kind {
        case .rotation:
            // factor: a fraction of a full turn.
            let (lo, hi) = range(a.factors, axis: 0)
            let angle = uniform(&g, lo, hi) * 2 * .pi
            let c = cos(angle), s = sin(angle)
            return Affine(a0: c, a1: -s, a2: cx - c * cx + s * cy, b0: s, b1: c, b2: cy - s * cx - c * cy)
        case .zoom:
            // 1 + factor: above 1 the output shows more of the input (zoom out).
            let (hl, hh) = range(a.factors, axis: 0), (wl, wh) = range(a.factors, axis: 1)
            let zy = 1 + uniform(&g, hl, hh)
            let zx = a.factors.count >= 4 ? 1 + uniform(&g, wl, wh) : zy
            return Affine(a0: zx, a1: 0, a2: cx - zx * cx, b0: 0, b1: zy, b2: cy - zy * cy)
        case .translation:
            let (hl, hh) = range(a.factors, axis: 0), (wl, wh) = range(a.factors, axis: 1)
            let dy = uniform(&g, hl, hh) * Float(h), dx = uniform(&g, wl, wh) * Float(w)
            return Affine(a0: 1, a1: 0, a2: -dx, b0: 0, b1: 1, b2: -dy)
        case .flip, .contrast, .brightness, .crop:
            return nil
        }
    }

    /// TensorFlow's reflect fill: a coordinate outside [0, n − 1] mirrored back into it.
    @inline(__always) static func reflect(_ v: Float, _ n: Int) -> Float {
        guard n > 1 else { return 0 }
        let size = Float(n)
        var x = v
        if x < 0 {
            let period = 2 * size
            x = x.truncatingRemainder(dividingBy: period)
            if x < -size { x += period } else { x = -x - 1 }
        }
        if x > size - 1 {
            let period = 2 * size
            x = x.truncatingRemainder(dividingBy: period)
            if x >= size { x = period - x - 1 }
        }
        return min(max(x, 0), size - 1)
    }

    /// One image warped by `t`, bilinear, reflect fill.
    static func warp(_ x: UnsafeBufferPointer<Float>, h: Int, w: Int, c: Int, _ t: Affine, into y: UnsafeMutableBufferPointer<Float>) {
        for oy in 0..<h {
            for ox in 0..<w {
                let fx = reflect(t.a0 * Float(ox) + t.a1 * Float(oy) + t.a2, w), fy = reflect(t.b0 * Float(ox) + t.b1 * Float(oy) + t.b2, h)
                let x0 = Int(fx.rounded(.down)), y0 = Int(fy.rounded(.down))
                let x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1)
                let ax = fx - Float(x0), ay = fy - Float(y0)
                let out = (oy * w + ox) * c
                for ch in 0..<c {
                    let top = x[(y0 * w + x0) * c + ch] * (1 - ax) + x[(y0 * w + x1) * c + ch] * ax
                    let bottom = x[(y1 * w + x0) * c + ch] * (1 - ax) + x[(y1 * w + x1) * c + ch] * ax
                    y[out + ch] = top * (1 - ay) + bottom * ay
                }
            }
        }
    }

    /// The batch augmented, or nil for a kind training leaves alone (RandomCrop).
    static func apply(_ a: Augmentation, mode: String?, valueRange: (Float, Float), _ x: HostTensor, generator g: inout SeededGenerator) -> [Float]? {
        guard x.shape.count == 4 else { return nil }
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let per = h * w * c
        var out = x.data
        for i in 0..<n {
            let base = i * per
            switch a.kind {
            case .flip:
                let mode = mode ?? "horizontal_and_vertical"
                let flipH = mode.contains("horizontal") && g.uniform() < 0.5
                let flipV = mode.contains("vertical") && g.uniform() < 0.5
                for yy in 0..<h { for xx in 0..<w {
                    let sy = flipV ? h - 1 - yy : yy, sx = flipH ? w - 1 - xx : xx
                    for ch in 0..<c { out[base + (yy * w + xx) * c + ch] = x.data[base + (sy * w + sx) * c + ch] }
                } }
            case .contrast:
                let (lo, hi) = range(a.factors, axis: 0)
                let f = 1 + uniform(&g, lo, hi)
                for ch in 0..<c {
                    var mean: Float = 0
                    for p in 0..<(h * w) { mean += x.data[base + p * c + ch] }
                    mean /= Float(max(h * w, 1))
                    for p in 0..<(h * w) { let k = base + p * c + ch; out[k] = (x.data[k] - mean) * f + mean }
                }
            case .brightness:
                let (lo, hi) = range(a.factors, axis: 0)
                let delta = uniform(&g, lo, hi) * (valueRange.1 - valueRange.0)
                for k in base..<(base + per) { out[k] = min(max(x.data[k] + delta, valueRange.0), valueRange.1) }
            case .rotation, .zoom, .translation:
                guard let t = transform(a, h: h, w: w, generator: &g) else { continue }
                x.data.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
                    warp(UnsafeBufferPointer(rebasing: xp[base..<(base + per)]), h: h, w: w, c: c, t,
                         into: UnsafeMutableBufferPointer(rebasing: op[base..<(base + per)]))
                } }
            case .crop:
                return nil
            }
        }
        return out
    }
}
