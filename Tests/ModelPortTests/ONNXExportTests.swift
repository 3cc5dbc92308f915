import Foundation
import ModelIR
import ModelPort
import Testing

/// The exporter's layout choices, checked on the graph it writes (read back with ModelPort).
@Suite("ONNX export")
struct ONNXExportTests {
    func exported(_ model: String, nchw: Bool = false, opset: Int = 17) throws -> Model {
        try exported(path: Fixtures.keras(model), nchw: nchw, opset: opset)
    }

    func exported(path source: String, nchw: Bool = false, opset: Int = 17) throws -> Model {
        let data = try ModelConversion.toONNX(source, opset: opset, nchwInputs: nchw)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString).onnx").path
        try data.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try Model.load(path)
    }

    @Test("the seed model: one Transpose at the input, none inside; none with NCHW inputs")
    func transposes() throws {
        let nhwc = try exported("seed_sigmoid.h5")
        #expect(nhwc.graph.nodes.filter { if case .transpose = $0.op { return true }; return false }.count == 1)
        #expect(nhwc.graph.inputs.first?.shape == [nil, 128, 156, 1])
        let nchw = try exported("seed_sigmoid.h5", nchw: true)
        #expect(!nchw.graph.nodes.contains { if case .transpose = $0.op { return true }; return false })
        #expect(nchw.graph.inputs.first?.shape == [nil, 1, 128, 156])
    }

    @Test("layout from the IR: a sequence read by Dense stays (batch, time, features), no Transpose; Conv1D's input and output are moved once; an image reduced over H, W is reduced where it is stored",
          arguments: [("seq_dense", 0), ("seq_conv1d", 3), ("img_mean", 1)])
    func sequenceLayout(_ name: String, _ transposes: Int) throws {
        let layout = Fixtures.root.appendingPathComponent("layout")
        let onnx = try exported(path: layout.appendingPathComponent("\(name).h5").path)
        #expect(onnx.graph.nodes.filter { if case .transpose = $0.op { return true }; return false }.count == transposes)
        // What was written computes what Keras does (onnxruntime is checked too, in CrossCheck).
        let source = layout.appendingPathComponent("\(name).input.npy").path
        let inputs = try onnx.prepareInputs(try onnx.readInputArrays(source), source: source)
        let out = try #require(try onnx.predict(inputs, session: try onnx.session(threads: 1)).values.first)
        let keras = try #require(try onnx.readExpectedArrays(layout.appendingPathComponent("\(name).layers.npz").path).first { $0.name == "out" })
        let worst = zip(out.data, keras.tensor.floats()).map { abs($0 - $1) }.max() ?? .infinity
        #expect(out.shape == keras.tensor.shape && worst <= 1e-5, "\(name): max |exported − Keras| \(worst)")
    }

    @Test("Keras layer names become ONNX value names, and weights are all there")
    func namesAndParameters() throws {
        let source = try Model.load(Fixtures.keras("seed_sigmoid.h5"))
        let onnx = try exported("seed_sigmoid.h5", opset: 13)
        for layer in ["conv_1", "bn_1", "pool_1", "conv_3", "output"] {
            #expect(onnx.valueName(forLayer: layer) != nil, "\(layer)")
        }
        #expect(onnx.summary().parameters == source.summary().parameters)
    }
}
