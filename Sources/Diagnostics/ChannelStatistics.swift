import Engine

/// Streaming per-channel statistics over every sample and position (channel = last axis).
struct ChannelStatistics {
    var sum: [Double]
    var sumOfSquares: [Double]
    var maximum: [Float]
    var minimum: [Float]
    var count = 0

    init(channels: Int) {
        sum = [Double](repeating: 0, count: channels)
        sumOfSquares = sum
        maximum = [Float](repeating: -.infinity, count: channels)
        minimum = [Float](repeating: .infinity, count: channels)
    }

    mutating func add(_ t: HostTensor) {
        let c = sum.count
        guard c > 0, t.count % c == 0 else { return }
        t.data.withUnsafeBufferPointer { p in
            var i = 0
            while i < p.count {
                for ch in 0..<c {
                    let v = p[i + ch]
                    sum[ch] += Double(v)
                    sumOfSquares[ch] += Double(v) * Double(v)
                    if v > maximum[ch] { maximum[ch] = v }
                    if v < minimum[ch] { minimum[ch] = v }
                }
                i += c
            }
        }
        count += t.count / c
    }

    var mean: [Double] { sum.map { count == 0 ? 0 : $0 / Double(count) } }
    var standardDeviation: [Double] { variance.map { $0.squareRoot() } }

    /// Population (biased) variance, as TensorFlow's moments.
    var variance: [Double] {
        zip(sum, sumOfSquares).map { s, q in
            guard count > 0 else { return 0 }
            let m = s / Double(count)
            return max(0, q / Double(count) - m * m)
        }
    }
}
