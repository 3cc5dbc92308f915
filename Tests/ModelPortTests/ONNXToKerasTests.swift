import DataIO
import Foundation
import ModelIR
import ModelPort
import Testing

/// ONNX graphs written as Keras files: channels_last layers whose outputs equal onnxruntime's
/// on the same data (read back here; CrossCheck loads them in tf_keras and Keras 3).
@Suite("ONNX → Keras")
struct ONNXToKerasTests {
    static func onnx(_ name: String) -> String { Fixtures.root.appendingPathComponent("onnx/\(name)").path }

    /// An NCHW array in Keras' NHWC order.
    static func channelsLast(_ t: Tensor) -> Tensor {
        guard t.shape.count == 4 else { return t }
        let (n, c, h, w) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        let v = t.floats()
        var out = [Float](repeating: 0, count: v.count)
        for b in 0..<n { for k in 0..<c { for y in 0..<h { for x in 0..<w {
            out[((b * h + y) * w + x) * c + k] = v[((b * c + k) * h + y) * w + x]
        } } } }
        return Tensor(shape: [n, h, w, c], floats: out)
    }

    @Test("outputs equal onnxruntime's within 1e-5",
          arguments: [("torch_cnn", "torch_cnn"), ("torch_mlp", "torch_mlp"), ("seed_sigmoid.opset13", "seed_sigmoid"),
                      ("seed_sigmoid.opset17", "seed_sigmoid"), ("mlp.opset13", "mlp"), ("tfop.opset17", "tfop")])
    func outputs(model: String, inputs: String) throws {
        let source = try Model.load(Self.onnx("\(model).onnx"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modelport-onnx-keras-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let arrays = try NumpyArchive.read(Self.onnx("\(inputs).inputs.npz"))
        let expected = try NumpyArchive.read(Self.onnx("\(model).expected.npz"))
        for (file, format) in [("m.h5", SourceFormat.kerasH5), ("m.keras", .kerasV3)] {
            let path = dir.appendingPathComponent(file).path
            try source.save(to: path, format: format)
            let keras = try Model.load(path)
            #expect(keras.graph.inputs.count == arrays.count)
            var feed: [String: Tensor] = [:]
            for (input, array) in zip(keras.graph.inputs, arrays) {
                feed[input.name] = input.shape.rank == 4 && input.shape[1] != array.tensor.shape[1] ? Self.channelsLast(array.tensor) : array.tensor
            }
            let outputs = try keras.predict(try keras.prepareInputs(feed, source: "inputs"), session: try keras.session(threads: 1))
            for (name, want) in zip(keras.graph.outputs, expected) {
                let got = try #require(outputs[name])
                #expect(got.shape == want.tensor.shape, "\(file) \(name)")
                let error = zip(got.data, want.tensor.floats()).map { abs($0 - $1) }.max() ?? .infinity
                #expect(error <= 1e-5, "\(file) \(name): max abs error \(error)")
            }
        }
    }

    @Test("ONNX → Keras → ONNX computes what the source did, within 1e-6",
          arguments: [("torch_cnn", "torch_cnn"), ("seed_sigmoid.opset17", "seed_sigmoid"), ("mlp.opset17", "mlp")])
    func roundTrip(model: String, inputs: String) throws {
        let source = try Model.load(Self.onnx("\(model).onnx"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modelport-onnx-rt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let keras = dir.appendingPathComponent("m.keras").path, onnx = dir.appendingPathComponent("m.onnx").path
        try source.save(to: keras, format: .kerasV3)
        try Model.load(keras).save(to: onnx, format: .onnx)
        let back = try Model.load(onnx)
        let arrays = try NumpyArchive.read(Self.onnx("\(inputs).inputs.npz"))
        func run(_ m: Model, channelsLast: Bool) throws -> [HostTensor] {
            var feed: [String: Tensor] = [:]
            for (input, array) in zip(m.graph.inputs, arrays) { feed[input.name] = channelsLast ? Self.channelsLast(array.tensor) : array.tensor }
            let out = try m.predict(try m.prepareInputs(feed, source: "inputs"), session: try m.session(threads: 1))
            return try m.graph.outputs.map { try #require(out[$0]) }
        }
        let want = try run(source, channelsLast: false)
        // The Keras model (and so its ONNX export) takes channels_last images.
        let got = try run(back, channelsLast: back.graph.inputs.first.map { $0.shape.rank == 4 && $0.shape[3] == arrays[0].tensor.shape[1] } ?? false)
        #expect(got.count == want.count)
        for (g, w) in zip(got, want) {
            #expect(g.shape == w.shape)
            let error = zip(g.data, w.data).map { abs($0 - $1) }.max() ?? .infinity
            #expect(error <= 1e-6, "max abs error \(error)")
        }
    }

    @Test("depthwise and grouped kernels take Keras' layouts")
    func kernelLayouts() throws {
        // OIHW [C·M, 1, kh, kw] → [kh, kw, C, M]: output channel c·M + m.
        let w = Tensor(shape: [4, 1, 1, 2], floats: [0, 1, 2, 3, 4, 5, 6, 7])
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: Shape([nil, 2, 3, 3]))]
        g.parameters = [Parameter(name: "w", tensor: w, trainable: true)]
        let conv = Convolution(filters: 4, kernelSize: [1, 2], strides: [1, 1], dilations: [1, 1], padding: .valid,
                               layout: .channelsFirst, groups: 2, kernelLayout: .outInSpatial)
        g.nodes = [Node(name: "dw", op: .convolution(conv), inputs: ["x", "w", ""], outputs: ["y"], layer: "dw")]
        g.outputs = ["y"]
        g.metadata.format = .onnx
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modelport-dw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("dw.keras").path
        try Model(graph: g, path: "dw.onnx").save(to: path, format: .kerasV3)
        let back = try Model.load(path)
        let layer = try #require(back.graph.layers.first { $0.name == "y" }, "the layer making the output takes its name")
        #expect(layer.className == "DepthwiseConv2D")
        let kernel = try #require(back.graph.parameter(named: layer.parameters[0])?.tensor)
        #expect(kernel.shape == [1, 2, 2, 2])
        // kernel[0][kx][c][m] = w[c·2 + m][0][0][kx]
        #expect(kernel.floats() == [0, 2, 4, 6, 1, 3, 5, 7])
    }

    @Test("an ONNX op with no Keras layer: exit 2 naming the node, nothing written")
    func noKerasEquivalent() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modelport-nokeras-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("old.h5").path
        #expect(throws: ModelPortError.self) { try Model.load(Self.onnx("old_opset.onnx")).save(to: path, format: .kerasH5) }
        do { try Model.load(Self.onnx("old_opset.onnx")).save(to: path, format: .kerasH5) } catch {
            #expect("\(error)".contains("Upsample_0") && "\(error)".contains(path))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
