import Training
import DataIO
import Diagnostics
import Engine
import ModelIR
import Foundation
import ModelPort
import Testing

/// `check` on ONNX graphs (NCHW): each Keras check fixture converted with tf2onnx gives the same
/// findings and numbers as its Keras twin, and PyTorch exports (BatchNorm kept, folded by the
/// TorchScript exporter, folded by the dynamo exporter) are diagnosed from their own ops.
/// Reference numbers are onnxruntime's (Fixtures/make_check_onnx_fixtures.py → NAME.facts.json).
@Suite("check on ONNX and PyTorch exports")
struct CheckONNXTests {
    static func path(_ name: String) -> String { Fixtures.root.appendingPathComponent("check/\(name)").path }
    static let labels = path("data_y.npy")

    static func facts(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path("onnx/\(name).facts.json")))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func check(_ model: String, inputs: String, loss: TrainingLoss? = nil) throws -> CheckReport {
        try Model.load(Self.path(model)).check(data: .arrays(inputs: Self.path(inputs), labels: Self.labels), batchSize: 16, threads: 1,
                                               loss: loss).report
    }

    func findings(_ r: CheckReport) -> Set<String> { Set(r.findings.map { "\($0.id):\($0.severity.rawValue)" }) }

    /// Dead units per Keras layer or PyTorch module.
    func dead(_ r: CheckReport) -> [String: Int] {
        Dictionary(r.deadUnits.map { (r.modules[$0.layer] ?? $0.layer, $0.dead) }, uniquingKeysWith: { a, _ in a })
    }

    static let twins = ["collapsed", "collapsed_dead", "healthy", "bn_lag", "softmax_bce", "raw_pixels", "no_head"]

    @Test("tf2onnx twin gives the Keras model's findings, dead units and AUCs", arguments: twins)
    func tf2onnxTwin(_ name: String) throws {
        let inputs = name == "raw_pixels" ? "data_x_255.npy" : "data_x.npy"
        let keras = try check("\(name).h5", inputs: inputs)
        // The ONNX file has no training configuration: the loss the Keras file names is given.
        let loss = name == "softmax_bce" ? TrainingLoss(userName: "binary_crossentropy") : nil
        let onnx = try check("onnx/\(name).onnx", inputs: inputs, loss: loss)
        #expect(findings(onnx) == findings(keras))
        #expect(dead(onnx) == dead(keras))
        for key in ["auc", "recalibrated_auc", "accuracy_at_0_5", "recalibrated_accuracy_at_0_5", "dead_unit_fraction", "constant_feature_fraction"] {
            let a = keras.metrics[key], b = onnx.metrics[key]
            #expect((a == nil) == (b == nil), "\(key)")
            if let a, let b, a.isFinite || b.isFinite { #expect(abs(a - b) <= 1e-3, "\(key): Keras \(a), ONNX \(b)") }
        }
        // And onnxruntime's own counts on the NCHW tensors (a head that is not binary skips the data checks).
        let f = try Self.facts(name)
        #expect(onnx.samples == (name == "no_head" ? 0 : 64))
        guard onnx.samples > 0 else { return }
        for relu in try #require(f["relu"] as? [[String: Any]]) {
            let node = try #require(relu["node"] as? String)
            #expect(onnx.deadUnits.first { $0.layer == node }.map { [$0.dead, $0.total] } == [relu["dead"] as? Int, relu["channels"] as? Int].compactMap { $0 },
                    "\(node)")
        }
        if let auc = (f["inference"] as? [String: Any])?["auc"] as? Double { #expect(abs((onnx.metrics["auc"] ?? .nan) - auc) < 1e-3) }
    }

    @Test("a PyTorch export with BatchNorm kept: collapse, stale BatchNorm statistics and the repair, by module name")
    func torchCollapsed() throws {
        let r = try check("onnx/torch_collapsed.onnx", inputs: "onnx/data_x_nchw.npy")
        let errors = Set(r.findings.filter { $0.severity == .error }.map(\.id))
        #expect(errors == ["collapsed-output", "batchnorm-statistics"])
        let f = try Self.facts("torch_collapsed")
        let repaired = try #require(f["after_bn_recalibration"] as? [String: Any])
        #expect(abs((r.metrics["recalibrated_auc"] ?? 0) - (repaired["auc"] as? Double ?? -1)) < 1e-3)
        #expect(abs((r.metrics["recalibrated_accuracy_at_0_5"] ?? 0) - (repaired["accuracy"] as? Double ?? -1)) < 1e-3)
        #expect(abs((r.metrics["auc"] ?? 0) - ((f["inference"] as? [String: Any])?["auc"] as? Double ?? -1)) < 1e-3)
        #expect(dead(r) == ["features.2": 7, "features.6": 31, "classifier.1": 5])
        #expect(r.findings.first { $0.id == "batchnorm-statistics" }?.module == "features.1")
        #expect(r.head.contains("logit"))
    }

    @Test("folded BatchNorm (TorchScript and dynamo exporters) is said, and the rest of the diagnosis is unchanged",
          arguments: ["torch_collapsed_folded", "torch_collapsed_dynamo"])
    func torchFolded(_ name: String) throws {
        let kept = try check("onnx/torch_collapsed.onnx", inputs: "onnx/data_x_nchw.npy")
        let r = try check("onnx/\(name).onnx", inputs: "onnx/data_x_nchw.npy")
        let folded = try #require(r.findings.first { $0.id == "batchnorm-folded" })
        #expect(folded.severity == .info)
        #expect(folded.message.contains("2 BatchNormalization layers"))
        #expect(!r.findings.contains { $0.id == "batchnorm-statistics" })
        #expect(r.findings.contains { $0.id == "collapsed-output" && $0.severity == .error })
        // The dynamo exporter names nodes node_relu_1; its notes give the modules.
        #expect(dead(r) == dead(kept))
        #expect(abs((r.metrics["auc"] ?? 0) - (kept.metrics["auc"] ?? 1)) < 1e-3)
    }

    @Test("a healthy PyTorch export gets no error or warning", arguments: ["torch_healthy", "torch_healthy_folded", "torch_healthy_dynamo"])
    func torchHealthy(_ name: String) throws {
        let r = try check("onnx/\(name).onnx", inputs: "onnx/data_x_nchw.npy")
        #expect(r.findings.allSatisfy { $0.severity == .info }, "\(r.findings.map(\.message))")
        #expect((r.metrics["auc"] ?? 0) >= 0.99)
    }

    @Test("without data: the head a graph implies, and --loss checks it")
    func structuralOnly() throws {
        let onnx = try Model.load(Self.path("onnx/softmax_bce.onnx"))
        let alone = try onnx.check(data: nil).report
        let info = try #require(alone.findings.first { $0.id == "head-loss" })
        #expect(info.message.contains("categorical cross-entropy"))
        let given = try onnx.check(data: nil, loss: TrainingLoss(userName: "binary_crossentropy")).report
        #expect(given.findings.contains { $0.id == "head-loss-mismatch" && $0.severity == .error })
        let torch = try Model.load(Self.path("onnx/torch_healthy.onnx")).check(data: nil, loss: TrainingLoss(userName: "BCEWithLogitsLoss")).report
        #expect(torch.findings.contains { $0.id == "head-loss" && $0.message.contains("fits") })
        let wrong = try Model.load(Self.path("onnx/torch_healthy.onnx")).check(data: nil, loss: TrainingLoss(userName: "BCELoss")).report
        #expect(wrong.findings.contains { $0.id == "head-loss-mismatch" })
    }

    @Test("NaN: inputs holding one are refused naming the sample; a NaN score is a finding, not a hang")
    func nonFinite() throws {
        var x = try NumpyFormat.read(Self.path("onnx/data_x_nchw.npy")).floats()
        x[3 * 64 * 78 + 5] = .nan
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("modelport-nan-\(getpid()).npy").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try NumpyFormat.write(Tensor(shape: [64, 1, 64, 78], floats: x), to: file)
        let model = try Model.load(Self.path("onnx/torch_healthy.onnx"))
        #expect(throws: ModelPortError.self) { try model.check(data: .arrays(inputs: file, labels: Self.labels)) }
        do {
            _ = try model.check(data: .arrays(inputs: file, labels: Self.labels))
        } catch {
            #expect("\(error)".contains("sample 3"))
        }
        // Past the input check (a model whose activations overflow): the metrics skip the NaN scores.
        let labels = try NumpyFormat.read(Self.labels).floats()
        let source = ArraySource(inputs: [model.graph.inputs[0].name: HostTensor(shape: [64, 1, 64, 78], data: x)], labels: labels)
        let r = try ModelCheck.run(model.graph, source: source)
        #expect(r.findings.contains { $0.id == "non-finite-output" && $0.severity == .error })
        #expect(r.samples == 63)
        #expect(ClassifierMetrics(scores: [.nan, 0.2, 0.7, .nan], labels: [0, 0, 1, 1]).auc.isFinite)
    }
}
