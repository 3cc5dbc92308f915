import Engine
import ModelIR
import Foundation
import Training

extension ClassifierMetrics {
    /// The metrics of `graph`'s scores (read through `head`) on every batch of `source`.
    public static func measure(_ graph: Graph, head: ClassifierHead, source: SampleSource, batchSize: Int, threads: Int) throws -> ClassifierMetrics {
        let session = try InferenceSession(graph: graph, options: EngineOptions(threads: threads, optimize: true))
        var scores: [Float] = [], labels: [Float] = []
        try source.forEachBatch(size: batchSize) { inputs, y in
            if let o = try session.run(inputs)[head.output] { scores += head.scores(o.data) }
            labels += y
        }
        return ClassifierMetrics(scores: scores, labels: labels)
    }
}

/// Quantiles of a sample (linear interpolation, as numpy's default).
func quantile(_ sorted: [Float], _ q: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let position = q * Double(sorted.count - 1)
    let lo = Int(position.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
    let f = position - Double(lo)
    return Double(sorted[lo]) * (1 - f) + Double(sorted[hi]) * f
}
