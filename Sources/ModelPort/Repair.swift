import Training
import Diagnostics
import Engine
import Foundation
import ModelIR

/// What `finetune --recalibrate-batchnorm` did.
public struct RecalibrationResult: Sendable {
    public var model: Model
    public var layers: [BatchNormRecalibration.LayerStatistics]
    /// Accuracy at 0.5 and AUC on the data before and after (binary heads only).
    public var before: (accuracy: Double, auc: Double)?
    public var after: (accuracy: Double, auc: Double)?
    public var samples: Int
}

extension Model {
    /// Recomputes every BatchNormalization's moving mean and variance from labelled data (exact
    /// population statistics over all batches, layer by layer through the already-recalibrated
    /// earlier layers) — the repair `check` measures for `batchnorm-statistics`.
    public func recalibratingBatchNormalization(data: LabelledData, batchSize: Int = 32, threads: Int? = nil,
                                                progress: ((Int, Int) -> Void)? = nil) throws -> RecalibrationResult {
        let threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
        let opened = try labelledSource(data)
        guard graph.nodes.contains(where: { if case .batchNormalization = $0.op { return true }; return false }) else {
            let folded = graph.metadata.foldedBatchNormalization.isEmpty ? "" : " (the exporter folded it into other layers)"
            throw ModelPortError("\(path): the model has no BatchNormalization layer to recalibrate\(folded)")
        }
        do {
            let head = ClassifierHead(graph: graph)
            func measure(_ g: Graph) throws -> (accuracy: Double, auc: Double)? {
                guard head.isBinary else { return nil }
                let m = try ClassifierMetrics.measure(g, head: head, source: opened.source, batchSize: batchSize, threads: threads)
                return (m.accuracyAtHalf, m.auc)
            }
            let before = try measure(graph)
            let (recalibrated, layers) = try BatchNormRecalibration.recalibrate(graph, source: opened.source, batchSize: batchSize,
                                                                                threads: threads, progress: progress)
            var repaired = self
            repaired.graph = recalibrated
            return RecalibrationResult(model: repaired, layers: layers, before: before, after: try measure(recalibrated),
                                       samples: opened.source.count)
        } catch let e as ModelPortError {
            throw e
        } catch {
            throw ModelPortError("\(path): \(error)")
        }
    }
}
