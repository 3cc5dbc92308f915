import Foundation

/// Platt scaling: `p = sigmoid(a·s + b)` on a head's logit `s`, with `a, b` fitted by maximum
/// likelihood (Newton's method on the log-loss) against Platt's smoothed targets —
/// `(N₊ + 1)/(N₊ + 2)` for positives, `1/(N₋ + 2)` for negatives, as scikit-learn does — so
/// separable data still has a finite answer; and the figures that say whether it helped.
public struct PlattCalibration: Sendable {
    public var a: Double
    public var b: Double
    public var samples: Int
    public var before: CalibrationFigures
    public var after: CalibrationFigures

    /// Fits `a, b` on logits and 0/1 labels.
    public init(logits: [Float], labels: [Float]) {
        var a = 1.0, b = 0.0
        let s = logits.map(Double.init), y = labels.map { Double($0 >= 0.5 ? 1 : 0) }
        let positives = y.reduce(0, +), negatives = Double(y.count) - positives
        let targets = y.map { $0 == 1 ? (positives + 1) / (positives + 2) : 1 / (negatives + 2) }
        // The negative log-likelihood, computed stably: log(1 + e^z) − t·z.
        func loss(_ a: Double, _ b: Double) -> Double {
            var total = 0.0
            for i in 0..<s.count {
                let z = a * s[i] + b
                total += max(z, 0) + log1p(exp(-abs(z))) - targets[i] * z
            }
            return total
        }
        // Newton's method with a backtracking line search: every accepted step lowers the loss.
        var current = loss(a, b)
        for _ in 0..<200 {
            var ga = 0.0, gb = 0.0, haa = 1e-12, hab = 0.0, hbb = 1e-12
            for i in 0..<s.count {
                let z = a * s[i] + b
                let p = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z))
                let d = p - targets[i], w = p * (1 - p)
                ga += d * s[i]; gb += d
                haa += w * s[i] * s[i]; hab += w * s[i]; hbb += w
            }
            if abs(ga) + abs(gb) < 1e-10 { break }
            let det = haa * hbb - hab * hab
            var da: Double, db: Double
            if det.isFinite, det > 1e-300 {
                da = (hbb * ga - hab * gb) / det; db = (haa * gb - hab * ga) / det
            } else {
                da = ga; db = gb
            }
            var step = 1.0, accepted = false
            for _ in 0..<60 {
                let next = loss(a - step * da, b - step * db)
                if next < current { a -= step * da; b -= step * db; current = next; accepted = true; break }
                step /= 2
            }
            if !accepted { break }
        }
        self.a = a; self.b = b
        samples = s.count
        before = CalibrationFigures(probabilities: s.map { 1 / (1 + exp(-$0)) }, labels: y)
        after = CalibrationFigures(probabilities: s.map { 1 / (1 + exp(-(a * $0 + b))) }, labels: y)
    }
}

/// Accuracy at 0.5, Brier score and expected calibration error (10 equal-width bins).
public struct CalibrationFigures: Sendable {
    public var accuracyAtHalf: Double
    public var brier: Double
    public var expectedCalibrationError: Double

    public init(probabilities p: [Double], labels y: [Double]) {
        let n = Double(max(p.count, 1))
        accuracyAtHalf = Double(zip(p, y).filter { ($0 >= 0.5) == ($1 >= 0.5) }.count) / n
        brier = zip(p, y).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / n
        var ece = 0.0
        for bin in 0..<10 {
            let lo = Double(bin) / 10, hi = Double(bin + 1) / 10
            let members = zip(p, y).filter { $0.0 >= lo && ($0.0 < hi || (bin == 9 && $0.0 <= hi)) }
            guard !members.isEmpty else { continue }
            let confidence = members.reduce(0) { $0 + $1.0 } / Double(members.count)
            let frequency = members.reduce(0) { $0 + $1.1 } / Double(members.count)
            ece += Double(members.count) / n * abs(confidence - frequency)
        }
        expectedCalibrationError = ece
    }
}
