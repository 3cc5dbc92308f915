import Diagnostics
import Engine
import Foundation
import ModelIR
import ModelPort
import Testing

/// `finetune --epochs 0 --recalibrate-batchnorm`: the repair `check` measures, applied and saved.
@Suite("BatchNormalization recalibration repairs the collapsed models and saves them")
struct RepairTests {
    static func path(_ name: String) -> String { Fixtures.root.appendingPathComponent("check/\(name)").path }

    @Test("collapsed.h5: AUC 0.557 → ≥ 0.95, no collapsed-output after, the saved .h5 gives the same scores", arguments: ["h5", "onnx"])
    func collapsed(_ kind: String) throws {
        let (file, inputs) = kind == "h5" ? ("collapsed.h5", "data_x.npy") : ("onnx/torch_collapsed.onnx", "onnx/data_x_nchw.npy")
        let data = LabelledData.arrays(inputs: Self.path(inputs), labels: Self.path("data_y.npy"))
        let model = try Model.load(Self.path(file))
        let result = try model.recalibratingBatchNormalization(data: data, batchSize: 16, threads: 1)
        let before = try #require(result.before), after = try #require(result.after)
        #expect(before.auc < 0.7)
        #expect(after.auc >= 0.95)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("modelport-repaired-\(getpid()).\(kind)").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        try result.model.save(to: out, format: kind == "h5" ? .kerasH5 : .onnx)
        let reloaded = try Model.load(out)
        let report = try reloaded.check(data: data, batchSize: 16, threads: 1).report
        #expect(!report.findings.contains { $0.id == "collapsed-output" })
        #expect(abs((report.metrics["auc"] ?? 0) - after.auc) < 1e-6)
        // The moving statistics in the saved file are the recomputed ones.
        for layer in result.layers {
            let node = try #require(reloaded.graph.nodes.first { $0.layer == layer.layer && { if case .batchNormalization = $0.op { return true }; return false }($0) })
            let mean = try #require(reloaded.graph.parameters.first { $0.name == node.inputs[3] }).tensor.floats()
            #expect(zip(mean, layer.mean).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) })
        }
    }

    @Test("a model without BatchNormalization is refused, saying so")
    func noBatchNorm() throws {
        let model = try Model.load(Self.path("onnx/torch_collapsed_folded.onnx"))
        let data = LabelledData.arrays(inputs: Self.path("onnx/data_x_nchw.npy"), labels: Self.path("data_y.npy"))
        #expect(throws: ModelPortError.self) { try model.recalibratingBatchNormalization(data: data) }
    }
}
