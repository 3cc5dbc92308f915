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
    } } + ["nested", "functional"].flatMap { m in [13, 17].map { o in
        Case(model: "\(m).opset\(o).onnx", inputs: "../keras/\(m).inputs.npz", expected: "\(m).opset\(o).expected.npz")
    } } + ["torch_cnn", "torch_mlp", "old_opset", "external_data"].map {
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

    /// One- or two-node graphs of the ops real models use beyond the CNN basics (Resize in every
    /// mode, Pad modes, strided Slice, Gather, Expand, MatMul, Gemm, dilated and 3-D pooling, grouped ConvTranspose,
    /// casts, LayerNormalization statistics), outputs from onnxruntime
    /// (Fixtures/make_onnx_op_fixtures.py).
    static let opCases = ["resize_cubic_antialias", "resize_linear_align_corners", "resize_nearest_ceil_asymmetric", "resize_crop",
                          "resize_axes_not_larger", "pad_reflect", "pad_edge", "pad_wrap", "pad_negative", "slice_steps", "split_axis0",
                          "gather_axis1", "expand", "matmul_batched", "matmul_1d", "gemm_general", "maxpool_dilated", "avgpool_3d",
                          "avgpool_dilated_ceil", "cast_chain", "layernorm_stats", "selu_params", "prelu_full", "conv_weights_as_input", "batch_shape_as_data", "convtranspose_grouped", "convtranspose_3d", "maxpool_indices", "logic_and_index",
                          "reshape_dynamic_batch"]

    @Test("single ops match onnxruntime within atol 1e-5 + rtol 1e-4", arguments: opCases)
    func opMatchesOnnxRuntime(_ name: String) throws {
        let inputsPath = Self.onnx("ops/\(name).inputs.npz")
        let arrays = try Model.readArchive(inputsPath)
        // Graph inputs used as weights (conv_weights_as_input) are bound from the same arrays.
        let model = try Model.load(Self.onnx("ops/\(name).onnx"), bindings: arrays)
        let inputs = try model.prepareInputs(arrays, source: inputsPath)
        let outputs = try model.predict(inputs, session: try model.session(threads: 1))
        let expected = try model.readExpectedArrays(Self.onnx("ops/\(name).expected.npz"))
        #expect(!expected.isEmpty)
        for (output, tensor) in expected {
            let ours = try #require(outputs[output], "\(output) missing")
            #expect(ours.shape == tensor.shape, "\(output): \(ours.shape) vs \(tensor.shape)")
            let worst = zip(ours.data, tensor.floats()).map { abs($0 - $1) - 1e-4 * abs($1) }.max() ?? 0
            #expect(worst <= 1e-5, "\(output): worst excess \(worst)")
        }
    }

    @Test("a weight fed as a graph input is bound at load and leaves the input list")
    func bindingWeights() throws {
        let path = Self.onnx("ops/conv_weights_as_input.onnx")
        let arrays = try Model.readArchive(Self.onnx("ops/conv_weights_as_input.inputs.npz"))
        // Without a value the Conv has no kernel to plan with: a clean refusal.
        #expect(throws: (any Error).self) { try Model.load(path) }
        let bound = try Model.load(path, bindings: arrays)
        #expect(bound.graph.inputs.map(\.name) == ["X"])
        // Data inputs are never folded, even when a value is given for them.
        let gather = try Model.load(Self.onnx("ops/gather_axis1.onnx"), bindings: try Model.readArchive(Self.onnx("ops/gather_axis1.inputs.npz")))
        #expect(gather.graph.inputs.map(\.name) == ["X"])
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
