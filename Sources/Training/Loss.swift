import Foundation

/// A loss with Keras's semantics: per-sample values averaged over the batch with sample
/// weights as Keras's `sum_over_batch_size` does (`Σ wᵢ·lᵢ / N`), and its gradient with respect
/// to what it reads (probabilities, or logits when `fromLogits`).
public struct Loss: Sendable, Equatable {
    public enum Kind: String, Sendable { case binaryCrossentropy = "binary_crossentropy"
        case categoricalCrossentropy = "categorical_crossentropy", sparseCategoricalCrossentropy = "sparse_categorical_crossentropy" }
    public var kind: Kind
    /// The predictions are logits (the user's `from_logits=True`, or the input of a sigmoid or
    /// softmax head, which Keras reads instead of its output).
    public var fromLogits: Bool
    public var labelSmoothing: Float
    /// Keras's `backend.epsilon()`: probabilities are clipped to [ε, 1 − ε].
    public static let epsilon: Float = 1e-7

    public init(kind: Kind, fromLogits: Bool = false, labelSmoothing: Float = 0) {
        self.kind = kind; self.fromLogits = fromLogits; self.labelSmoothing = labelSmoothing
    }

    /// The batch loss and its gradient. `predictions` is `[N, K]` (or `[N]`); `labels` holds, per
    /// sample, a 0/1 target (binary, one unit), a class index (categorical, sparse, and binary over
    /// K > 1 units, whose targets Keras needs one-hot).
    public func evaluate(_ predictions: [Float], classes k: Int, labels: [Float], weights: [Float]?) -> (loss: Double, gradient: [Float]) {
        let n = labels.count
        var gradient = [Float](repeating: 0, count: predictions.count)
        var total = 0.0
        guard n > 0, k > 0 else { return (0, gradient) }
        for i in 0..<n {
            let w = weights?[i] ?? 1
            let row = i * k
            var sampleLoss = 0.0
            switch kind {
            case .binaryCrossentropy:
                for j in 0..<k {
                    let hot: Float = k == 1 ? labels[i] : (Int(labels[i]) == j ? 1 : 0)
                    let target = hot * (1 - labelSmoothing) + 0.5 * labelSmoothing
                    let z = predictions[row + j]
                    if fromLogits {
                        // max(z, 0) − z·y + log(1 + e^−|z|), TensorFlow's sigmoid_cross_entropy_with_logits.
                        sampleLoss += Double(max(z, 0) - z * target + log1p(exp(-abs(z))))
                        gradient[row + j] = (Self.sigmoid(z) - target) / Float(k)
                    } else {
                        let p = min(max(z, Self.epsilon), 1 - Self.epsilon)
                        let inside = z > Self.epsilon && z < 1 - Self.epsilon
                        sampleLoss -= Double(target * log(p + Self.epsilon) + (1 - target) * log(1 - p + Self.epsilon))
                        gradient[row + j] = inside ? (-target / (p + Self.epsilon) + (1 - target) / (1 - p + Self.epsilon)) / Float(k) : 0
                    }
                }
                sampleLoss /= Double(k)
            case .categoricalCrossentropy, .sparseCategoricalCrossentropy:
                let cls = Int(labels[i])
                let smoothing = kind == .categoricalCrossentropy ? labelSmoothing : 0
                func target(_ j: Int) -> Float { (j == cls ? 1 : 0) * (1 - smoothing) + smoothing / Float(k) }
                if fromLogits {
                    var m = -Float.infinity
                    for j in 0..<k { m = max(m, predictions[row + j]) }
                    var sum: Float = 0
                    for j in 0..<k { sum += exp(predictions[row + j] - m) }
                    let logSum = log(sum) + m
                    for j in 0..<k {
                        let t = target(j)
                        sampleLoss -= Double(t * (predictions[row + j] - logSum))
                        gradient[row + j] = exp(predictions[row + j] - logSum) - t
                    }
                } else {
                    // Keras rescales the probabilities to sum to 1, then clips them.
                    var sum: Float = 0
                    for j in 0..<k { sum += predictions[row + j] }
                    for j in 0..<k {
                        let q = predictions[row + j] / sum
                        let p = min(max(q, Self.epsilon), 1 - Self.epsilon)
                        sampleLoss -= Double(target(j) * log(p))
                    }
                    // d/dp_j of −Σ t·log(p/Σp) (inside the clip): −t_j/p_j + Σt/Σp.
                    var tSum: Float = 0
                    for j in 0..<k { tSum += target(j) }
                    for j in 0..<k {
                        let q = predictions[row + j] / sum
                        let inside = q > Self.epsilon && q < 1 - Self.epsilon
                        gradient[row + j] = inside ? -target(j) / predictions[row + j] + tSum / sum : 0
                    }
                }
            }
            total += Double(w) * sampleLoss
            for j in 0..<k { gradient[row + j] *= w / Float(n) }
        }
        return (total / Double(n), gradient)
    }

    static func sigmoid(_ z: Float) -> Float { z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)) }
}
