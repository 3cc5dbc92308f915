import Foundation

/// Binary-classification metrics of scores against 0/1 labels.
public struct ClassifierMetrics: Sendable {
    public var count: Int
    public var positives: Int
    public var auc: Double
    public var accuracyAtHalf: Double
    /// The threshold maximising Youden's J (sensitivity + specificity − 1).
    public var bestThreshold: Double
    public var accuracyAtBest: Double
    public var balancedAccuracyAtBest: Double
    /// ROC curve points (false-positive rate, true-positive rate), from (0,0) to (1,1).
    public var roc: [(fpr: Double, tpr: Double)]

    public init(scores: [Float], labels: [Float]) {
        let n = scores.count
        count = n
        let pos = labels.filter { $0 >= 0.5 }.count
        positives = pos
        let neg = n - pos
        accuracyAtHalf = n == 0 ? 0 : Double(zip(scores, labels).filter { ($0 >= 0.5) == ($1 >= 0.5) }.count) / Double(n)
        // Sort by score descending; walk thresholds between distinct scores.
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var tp = 0, fp = 0
        var points: [(Double, Double)] = [(0, 0)]
        var bestJ = -Double.infinity, best = 0.5
        var i = 0
        var aucSum = 0.0
        var previous = (fpr: 0.0, tpr: 0.0)
        while i < order.count {
            let s = scores[order[i]]
            // At least one sample per step, so a NaN score (never equal to itself) cannot stall the walk.
            repeat {
                if labels[order[i]] >= 0.5 { tp += 1 } else { fp += 1 }
                i += 1
            } while i < order.count && scores[order[i]] == s
            let tpr = pos == 0 ? 0 : Double(tp) / Double(pos), fpr = neg == 0 ? 0 : Double(fp) / Double(neg)
            aucSum += (fpr - previous.fpr) * (tpr + previous.tpr) / 2
            previous = (fpr, tpr)
            points.append((fpr, tpr))
            let j = tpr - fpr
            if j > bestJ {
                bestJ = j
                // Predict positive for score >= s: the cut sits at this score.
                best = Double(s)
            }
        }
        auc = (pos == 0 || neg == 0) ? .nan : aucSum
        roc = points.map { (fpr: $0.0, tpr: $0.1) }
        bestThreshold = best
        let predictions = scores.map { Double($0) >= best }
        accuracyAtBest = n == 0 ? 0 : Double(zip(predictions, labels).filter { $0 == ($1 >= 0.5) }.count) / Double(n)
        let tpBest = zip(predictions, labels).filter { $0 && $1 >= 0.5 }.count
        let tnBest = zip(predictions, labels).filter { !$0 && $1 < 0.5 }.count
        let sensitivity = pos == 0 ? 0 : Double(tpBest) / Double(pos)
        let specificity = neg == 0 ? 0 : Double(tnBest) / Double(neg)
        balancedAccuracyAtBest = (sensitivity + specificity) / 2
    }
}
