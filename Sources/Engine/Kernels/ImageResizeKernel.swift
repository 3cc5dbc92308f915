import Foundation
import ModelIR

/// Keras `Resizing` as TensorFlow's CPU kernels compute it (`ResizeBilinear`,
/// `ResizeNearestNeighbor`, `ResizeBicubic` with half-pixel centres, `ResizeArea`, and
/// `ScaleAndTranslate` for lanczos, gaussian, mitchellcubic and antialiased resampling).
/// Every method is separable: each axis gets a list of weighted input taps per output index,
/// computed in float32 as TensorFlow does; rows are resampled first, then columns.
enum ImageResizeKernel {
    /// The input taps of one output index along an axis.
    struct Taps {
        var first: Int
        var weights: [Float]
    }

    /// One axis: taps per output index over a source of `length` indices, of which those in
    /// `valid` are the image (the rest is `pad_to_aspect_ratio`'s fill).
    struct Axis {
        var taps: [Taps]
        var offset: Int
        var valid: Int
    }

    static func run(_ r: ImageResize, _ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>) {
        let (batch, height, width, channels) = (shape[0], shape[1], shape[2], shape[3])
        let rows = axis(r, input: height, other: width, output: r.height, otherOutput: r.width)
        let cols = axis(r, input: width, other: height, output: r.width, otherOutput: r.height)
        let fill: Float = if case .pad(let f) = r.aspectRatio { f } else { 0 }
        // Rows: [B, H, W·C] → [B, outH, W·C]; then columns: [B·outH, W, C] → [B·outH, outW, C].
        var middle = [Float](repeating: 0, count: batch * r.height * width * channels)
        middle.withUnsafeMutableBufferPointer { m in
            resample(rows, x, outer: batch, length: height, inner: width * channels, fill: fill, into: m)
        }
        middle.withUnsafeBufferPointer { m in
            resample(cols, m, outer: batch * r.height, length: width, inner: channels, fill: fill, into: y)
        }
    }

    /// Resamples the middle axis of a `[outer, length, inner]` array along `axis`'s taps.
    static func resample(_ axis: Axis, _ x: UnsafeBufferPointer<Float>, outer: Int, length: Int, inner: Int, fill: Float,
                         into y: UnsafeMutableBufferPointer<Float>) {
        let output = axis.taps.count
        for b in 0..<outer {
            for o in 0..<output {
                let dst = (b * output + o) * inner
                for i in 0..<inner { y[dst + i] = 0 }
                let t = axis.taps[o]
                for (k, w) in t.weights.enumerated() {
                    let source = t.first + k - axis.offset
                    if source < 0 || source >= axis.valid {
                        for i in 0..<inner { y[dst + i] += w * fill }
                        continue
                    }
                    let src = (b * length + source) * inner
                    for i in 0..<inner { y[dst + i] += w * x[src + i] }
                }
            }
        }
    }

    /// The taps of an axis of `input` pixels resized to `output`, after the aspect-ratio crop or
    /// pad, which depends on the other axis (`other` → `otherOutput`) too.
    static func axis(_ r: ImageResize, input: Int, other: Int, output: Int, otherOutput: Int) -> Axis {
        switch r.aspectRatio {
        case .stretch:
            return Axis(taps: taps(r, input: input, output: output), offset: 0, valid: input)
        case .crop:
            // smart_resize: crop = int(float32(other * output) / otherOutput), centred.
            let wanted = Int(Float(other * output) / Float(otherOutput))
            let size = max(min(input, wanted), 1)
            let start = (input - size) / 2
            return Axis(taps: taps(r, input: size, output: output), offset: -start, valid: input)
        case .pad:
            let wanted = Int(Float(other * output) / Float(otherOutput))
            let padded = max(input, wanted)
            // Keras 3 pads int((padded - input) / 2) on both sides (an odd difference loses one).
            let side = (padded - input) / 2
            return Axis(taps: taps(r, input: input + 2 * side, output: output), offset: side, valid: input)
        }
    }

    static func taps(_ r: ImageResize, input: Int, output: Int) -> [Taps] {
        switch r.interpolation {
        case .bilinear: return r.antialias ? scaleAndTranslate(.triangle, input, output, antialias: true) : bilinear(input, output)
        case .nearest: return nearest(input, output)
        case .bicubic: return r.antialias ? scaleAndTranslate(.keysCubic, input, output, antialias: true) : bicubic(input, output)
        case .area: return area(input, output)
        case .lanczos3: return scaleAndTranslate(.lanczos3, input, output, antialias: r.antialias)
        case .lanczos5: return scaleAndTranslate(.lanczos5, input, output, antialias: r.antialias)
        case .gaussian: return scaleAndTranslate(.gaussian, input, output, antialias: r.antialias)
        case .mitchellcubic: return scaleAndTranslate(.mitchellCubic, input, output, antialias: r.antialias)
        }
    }

    /// `ResizeBilinear(half_pixel_centers)`: two taps, edge-clamped.
    static func bilinear(_ n: Int, _ m: Int) -> [Taps] {
        let scale = Float(n) / Float(m)
        return (0..<m).map { x in
            let source = (Float(x) + 0.5) * scale - 0.5
            let floor = source.rounded(.down)
            let lo = max(Int(floor), 0), hi = min(Int(source.rounded(.up)), n - 1)
            let t = source - floor
            if lo == hi { return Taps(first: lo, weights: [1]) }
            if hi < lo { return Taps(first: hi, weights: [1]) }
            return Taps(first: lo, weights: [1 - t] + [Float](repeating: 0, count: hi - lo - 1) + [t])
        }
    }

    /// `ResizeNearestNeighbor(half_pixel_centers)`: `min(floor((x + 0.5) · n/m), n - 1)`.
    static func nearest(_ n: Int, _ m: Int) -> [Taps] {
        let scale = Float(n) / Float(m)
        return (0..<m).map { x in
            Taps(first: max(min(Int(((Float(x) + 0.5) * scale).rounded(.down)), n - 1), 0), weights: [1])
        }
    }

    /// Keys' cubic coefficients (a = -0.5) at 1/1024 steps, as `ResizeBicubic` tabulates them.
    static let bicubicTable: [Float] = {
        let a = -0.5
        var table = [Float](repeating: 0, count: 2 * 1025)
        for i in 0...1024 {
            var x = Double(i) / 1024
            table[2 * i] = Float(((a + 2) * x - (a + 3)) * x * x + 1)
            x += 1
            table[2 * i + 1] = Float(((a * x - 5 * a) * x + 8 * a) * x - 4 * a)
        }
        return table
    }()

    /// `ResizeBicubic(half_pixel_centers)`: four taps from the table, those outside the image
    /// dropped and the rest renormalised.
    static func bicubic(_ n: Int, _ m: Int) -> [Taps] {
        let scale = Float(n) / Float(m)
        let t = bicubicTable
        return (0..<m).map { x in
            let source = (Float(x) + 0.5) * scale - 0.5
            let i0 = Int(source.rounded(.down))
            let offset = Int(((source - Float(i0)) * 1024).rounded(.toNearestOrEven))
            let table = [t[offset * 2 + 1], t[offset * 2], t[(1024 - offset) * 2], t[(1024 - offset) * 2 + 1]]
            var weights = [Float](repeating: 0, count: 4)
            for k in 0..<4 where (0..<n).contains(i0 - 1 + k) { weights[k] = table[k] }
            let inverse = 1 / (weights[0] + weights[1] + weights[2] + weights[3])
            let lo = max(i0 - 1, 0), hi = min(i0 + 2, n - 1)
            var w = [Float](repeating: 0, count: hi - lo + 1)
            for k in 0..<4 where (0..<n).contains(i0 - 1 + k) { w[i0 - 1 + k - lo] = weights[k] * inverse }
            return Taps(first: lo, weights: w)
        }
    }

    /// `ResizeArea`: each input pixel weighted by its overlap with the output pixel's footprint,
    /// over the footprint's length.
    static func area(_ n: Int, _ m: Int) -> [Taps] {
        let s = Float(n) / Float(m)
        return (0..<m).map { x in
            let a = Float(x) * s, b = Float(x + 1) * s
            let first = Int(a.rounded(.down)), last = Int(b.rounded(.up)) - 1
            let lo = min(max(first, 0), n - 1)
            var weights = [Float](repeating: 0, count: max(min(max(last, 0), n - 1) - lo + 1, 1))
            if last >= first {
                for i in first...last {
                    let w: Float
                    if Float(i) < a {
                        w = Float(i + 1) > b ? s : Float(i + 1) - a
                    } else {
                        w = Float(i + 1) > b ? b - Float(i) : 1
                    }
                    weights[min(max(i, 0), n - 1) - lo] += w
                }
            }
            return Taps(first: lo, weights: weights.map { $0 / s })
        }
    }

    enum SamplingKernel {
        case triangle, keysCubic, lanczos3, lanczos5, gaussian, mitchellCubic

        var radius: Float {
            switch self {
            case .triangle: return 1
            case .keysCubic, .mitchellCubic: return 2
            case .lanczos3: return 3
            case .lanczos5: return 5
            case .gaussian: return 1.5
            }
        }

        /// TensorFlow's `sampling_kernels.h`, in float32.
        func callAsFunction(_ v: Float) -> Float {
            let x = abs(v)
            switch self {
            case .triangle: return x < 1 ? 1 - x : 0
            case .keysCubic:
                if x >= 2 { return 0 }
                if x >= 1 { return ((-0.5 * x + 2.5) * x - 4) * x + 2 }
                return ((1.5 * x - 2.5) * x) * x + 1
            case .lanczos3, .lanczos5:
                let r = radius
                if x > r { return 0 }
                if x <= 1e-3 { return 1 }
                let pi: Float = 3.14159265359
                return r * Float(sin(Double(pi * x))) * Float(sin(Double(pi * x / r))) / (pi * pi * x * x)
            case .gaussian:
                let sigma: Float = 1.5 / 3
                if x >= 1.5 { return 0 }
                return Float(exp(Double(-x * x) / (2 * Double(sigma) * Double(sigma))))
            case .mitchellCubic:
                if x >= 2 { return 0 }
                if x >= 1 { return ((-Float(7) / 18 * x + 2) * x - Float(10) / 3) * x + Float(16) / 9 }
                return ((Float(7) / 6 * x - 2) * x) * x + Float(8) / 9
            }
        }
    }

    /// `ScaleAndTranslate` (translation 0): the kernel centred on each output pixel's source
    /// coordinate, widened by the down-sampling factor when antialiasing, weights normalised.
    static func scaleAndTranslate(_ kernel: SamplingKernel, _ n: Int, _ m: Int, antialias: Bool) -> [Taps] {
        let scale = Float(m) / Float(n)
        let inverseScale = Float(1 / Double(scale))
        let kernelScale = antialias ? max(inverseScale, 1) : 1
        let support = kernel.radius * kernelScale
        return (0..<m).map { x in
            let sample = (Float(x) + 0.5) * inverseScale
            let start = min(max(Int((sample - support - 0.5).rounded(.up)), 0), n - 1)
            let end = min(max(Int((sample + support - 0.5).rounded(.down)), 0), n - 1) + 1
            var weights: [Float] = []
            var total: Float = 0
            for i in start..<end {
                let w = kernel(abs((Float(i) + 0.5 - sample) * (1 / kernelScale)))
                total += w
                weights.append(w)
            }
            if abs(total) >= 1000 * Float.leastNormalMagnitude {
                let inverse = 1 / total
                weights = weights.map { $0 * inverse }
            } else {
                weights = weights.map { _ in 0 }
            }
            return Taps(first: start, weights: weights.isEmpty ? [0] : weights)
        }
    }
}
