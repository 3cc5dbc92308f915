import Engine

/// Streaming per-channel statistics over every sample and position along one channel axis
/// (the last for NHWC and Dense outputs, 1 for NCHW).
public struct ChannelStatistics {
    public var sum: [Double]
    public var sumOfSquares: [Double]
    public var maximum: [Float]
    public var minimum: [Float]
    public var count = 0

    public init(channels: Int) {
        sum = [Double](repeating: 0, count: channels)
        sumOfSquares = sum
        maximum = [Float](repeating: -.infinity, count: channels)
        minimum = [Float](repeating: .infinity, count: channels)
    }

    /// Statistics for `t` with its channels on `axis`, or nil when the axis is not one of its.
    public init?(for t: HostTensor, axis: Int) {
        guard axis >= 0, axis < t.shape.count else { return nil }
        self.init(channels: t.shape[axis])
    }

    /// Adds a batch whose channels lie on `axis` (the last when nil).
    public mutating func add(_ t: HostTensor, axis: Int? = nil) {
        let c = sum.count
        let a = axis ?? t.shape.count - 1
        guard c > 0, a >= 0, a < t.shape.count, t.shape[a] == c else { return }
        // Row-major: [outer, channels, inner].
        let inner = t.shape[(a + 1)...].reduce(1, *)
        t.data.withUnsafeBufferPointer { p in
            var i = 0
            while i < p.count {
                for ch in 0..<c {
                    var s = 0.0, q = 0.0
                    var hi = maximum[ch], lo = minimum[ch]
                    for k in i + ch * inner ..< i + (ch + 1) * inner {
                        let v = p[k]
                        s += Double(v)
                        q += Double(v) * Double(v)
                        if v > hi { hi = v }
                        if v < lo { lo = v }
                    }
                    sum[ch] += s; sumOfSquares[ch] += q; maximum[ch] = hi; minimum[ch] = lo
                }
                i += c * inner
            }
        }
        count += t.count / c
    }

    public var mean: [Double] { sum.map { count == 0 ? 0 : $0 / Double(count) } }
    public var standardDeviation: [Double] { variance.map { $0.squareRoot() } }

    /// Population (biased) variance, as TensorFlow's moments.
    public var variance: [Double] {
        zip(sum, sumOfSquares).map { s, q in
            guard count > 0 else { return 0 }
            let m = s / Double(count)
            return max(0, q / Double(count) - m * m)
        }
    }
}
