import DataIO
import Diagnostics
import Foundation
import ModelIR
import ModelPort
import Testing

/// A tiny DistilBERT classifier exported by torch.onnx both ways (Fixtures/make_distilbert_fixtures.py):
/// token ids and an attention mask with named batch and sequence axes, against onnxruntime.
@Suite("text models: a tiny DistilBERT from both torch.onnx exporters")
struct TextModelTests {
    static func text(_ name: String) -> String { Fixtures.root.appendingPathComponent("text").appendingPathComponent(name).path }
    static let cases = ["L16_B1", "L16_B3", "L32_B8", "L50_B3", "L50_B1"]

    static func arrays(_ file: String) throws -> [String: Tensor] { try Fixtures.arrays(text(file)) }

    @Test("logits within 1e-5 of onnxruntime at lengths 16, 32 and 50, batches of 1, 3 and 8 run 3 at a time, one session for all",
          arguments: ["torchscript", "dynamo"])
    func logits(_ exporter: String) throws {
        let model = try Model.load(Self.text("distilbert.\(exporter).onnx"))
        let session = try model.session(threads: 1)
        let inputs = try Self.arrays("distilbert.inputs.npz"), expected = try Self.arrays("distilbert.expected.npz")
        for c in Self.cases {
            let given = ["input_ids": try #require(inputs["\(c)/input_ids"]), "attention_mask": try #require(inputs["\(c)/attention_mask"])]
            let prepared = try model.prepareInputs(given, source: c)
            // Batches of 3: an uneven last batch where there are 8 samples.
            let logits = try #require(try model.predict(prepared, session: session, batchSize: 3)["logits"])
            let reference = try #require(expected["\(c)/\(exporter)"])
            #expect(logits.shape == reference.shape)
            let worst = zip(logits.data, reference.floats()).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= 1e-5, "\(exporter) \(c): max |ours − onnxruntime| \(worst)")
        }
    }

    @Test("inspect names the symbolic dimensions", arguments: ["torchscript", "dynamo"])
    func namedDimensions(_ exporter: String) throws {
        let summary = try Model.load(Self.text("distilbert.\(exporter).onnx")).summary()
        #expect(summary.inputs.map(\.shapeText) == ["(batch, sequence)", "(batch, sequence)"])
        #expect(summary.inputs.map(\.shape) == [Shape([nil, nil]), Shape([nil, nil])])
        #expect(summary.outputs.map(\.shapeText) == ["(batch, 2)"])
        #expect(summary.text.contains("layer shapes below are for"))
    }

    @Test("check --loss CrossEntropyLoss reads the two logits as softmax(logits)[1] and judges no token id as a pixel")
    func checkReadsTwoLogits() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modelport-text-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputs = try Self.arrays("distilbert.inputs.npz")
        let x = dir.appendingPathComponent("x.npz").path, y = dir.appendingPathComponent("y.npy").path
        try NumpyArchive.write([("input_ids", try #require(inputs["L32_B8/input_ids"])),
                                ("attention_mask", try #require(inputs["L32_B8/attention_mask"]))], to: x)
        try NumpyFormat.write(Tensor(shape: [8], floats: [0, 1, 0, 1, 1, 0, 1, 0]), to: y)
        let model = try Model.load(Self.text("distilbert.torchscript.onnx"))
        let (report, _) = try model.check(data: .arrays(inputs: x, labels: y), threads: 1, loss: TrainingLoss(userName: "CrossEntropyLoss"))
        #expect(report.head.contains("softmax(logits)[1]"), "\(report.head)")
        #expect(report.samples == 8)
        #expect(report.metrics["auc"] != nil)
        let ids = Set(report.findings.map(\.id))
        #expect(!ids.contains("input-range") && !ids.contains("nan-weights"), "\(ids)")
        // The scores are class 1's softmax probabilities of the logits onnxruntime gives.
        let expected = try #require(try Self.arrays("distilbert.expected.npz")["L32_B8/torchscript"]).floats()
        let probabilities = stride(from: 1, to: expected.count, by: 2).map { 1 / (1 + exp(Double(expected[$0 - 1] - expected[$0]))) }
        let ours = (report.scoresByClass[0] + report.scoresByClass[1]).map(Double.init).sorted()
        let worst = zip(ours, probabilities.sorted()).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5, "scores: \(worst)")
    }
}
