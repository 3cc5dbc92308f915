import Foundation
import ModelPort
import Testing

/// ONNX models made by tf2onnx (from the Keras fixtures) and by onnx.helper in torch.onnx's
/// style, run against onnxruntime's outputs (Fixtures/make_onnx_fixtures.py).
@Suite("ONNX import runs what onnxruntime runs")
struct ONNXImportTests {
    static func onnx(_ name: String) -> String { Fixtures.root.appendingPathComponent("onnx/\(name)").path }

    struct Case: CustomTestStringConvertible, Sendable {
        var model: String
        var inputs: String
        var expected: String
        var testDescription: String { model }
    }

    static let cases: [Case] = ["seed_sigmoid", "mlp", "tfop"].flatMap { m in [13, 17].map { o in
        Case(model: "\(m).opset\(o).onnx", inputs: "\(m).inputs.npz", expected: "\(m).opset\(o).expected.npz")
    } } + [13, 17].map { o in
        Case(model: "nested.opset\(o).onnx", inputs: "../keras/nested.inputs.npz", expected: "nested.opset\(o).expected.npz")
    } + ["torch_cnn", "torch_mlp", "old_opset", "external_data"].map {
        Case(model: "\($0).onnx", inputs: "\($0).inputs.npz", expected: "\($0).expected.npz")
    }

    @Test("every output within atol 1e-5 + rtol 1e-4 of onnxruntime", arguments: cases)
    func matchesOnnxRuntime(_ c: Case) throws {
        let model = try Model.load(Self.onnx(c.model))
        let inputs = try model.prepareInputs(try model.readInputArrays(Self.onnx(c.inputs)), source: c.inputs)
        let expected = try model.readExpectedArrays(Self.onnx(c.expected))
        let report = try model.validate(inputs: inputs, expected: expected, expectedSource: c.expected, threads: 1)
        #expect(report.passed, "\(report.layers.map { "\($0.name): \($0.maxAbsoluteError) \($0.note ?? "")" })")
        #expect(report.layers.count == expected.count)
        // The optimised plan agrees too.
        let outputs = try model.predict(inputs, session: try model.session(threads: 1))
        for (name, tensor) in expected {
            let ours = try #require(outputs[name])
            #expect(zip(ours.data, tensor.floats()).allSatisfy { abs($0 - $1) <= 1e-5 + 1e-4 * abs($1) }, "\(name)")
        }
    }

    @Test("the shape subgraph (Shape → Gather → Unsqueeze → Concat → Reshape) folds at load")
    func shapeSubgraphFolds() throws {
        let model = try Model.load(Self.onnx("torch_cnn.onnx"))
        #expect(!model.graph.nodes.contains { $0.layer?.contains("Shape") ?? false })
        #expect(model.graph.inputs.first?.shape.dims.first == .some(nil))
        #expect(model.summary().parameters == 346)
    }

    @Test("bad ONNX files are errors naming the file and the problem", arguments: [
        ("cycle.onnx", "cycle"), ("escaping_external.onnx", "outside the model's folder"), ("future_opset.onnx", "opset 99"),
        ("missing_external.onnx", "does not exist"), ("undefined_input.onnx", "nothing produces"), ("unknown_op.onnx", "FooBar"),
    ])
    func badFiles(file: String, words: String) throws {
        let path = Self.onnx("bad/\(file)")
        do {
            _ = try Model.load(path)
            Issue.record("\(file) loaded")
        } catch {
            let message = String(describing: error)
            #expect(message.hasPrefix(path), "\(message)")
            #expect(message.contains(words), "\(message)")
        }
    }

    @Test func truncatedAndNotProtobuf() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = try Data(contentsOf: URL(fileURLWithPath: Self.onnx("mlp.opset13.onnx")))
        let truncated = dir.appendingPathComponent("truncated.onnx").path
        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: truncated))
        let text = dir.appendingPathComponent("text.onnx").path
        try Data("not a model at all".utf8).write(to: URL(fileURLWithPath: text))
        for path in [truncated, text] {
            #expect(throws: ModelPortError.self) { try Model.load(path) }
        }
    }
}
