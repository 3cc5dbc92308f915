@testable import Engine
import DataIO
import Foundation
import ModelIR
import ModelPort
import Testing

/// A torch classifier whose graph has a Split with three outputs and a TopK with two, exported by
/// both torch.onnx exporters (Fixtures/make_multi_output_fixtures.py): ONNX nodes with several
/// outputs run, sub-batch and train.
@Suite("nodes with several outputs: torch.split and torch.topk from both torch.onnx exporters")
struct MultiOutputTests {
    static func file(_ name: String) -> String { TrainingFixtures.root.appendingPathComponent("multi_output").appendingPathComponent(name).path }

    static func arrays(_ name: String) throws -> [String: Tensor] {
        Dictionary(try NumpyArchive.read(file(name)).map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    }

    @Test("both outputs within 1e-5 of onnxruntime (TopK's indices equal, ties by lower index), whole and 3 at a time",
          arguments: ["torchscript", "dynamo"])
    func outputs(_ exporter: String) throws {
        let model = try Model.load(Self.file("split_topk.\(exporter).onnx"))
        let inputs = try Self.arrays("inputs.npz"), expected = try Self.arrays("expected.npz")
        let prepared = try model.prepareInputs(["x": try #require(inputs["x"])], source: "inputs.npz")
        for batchSize in [8, 3] {
            let out = try model.predict(prepared, session: try model.session(threads: 1), batchSize: batchSize)
            let prob = try #require(out["prob"]), top = try #require(out["top"])
            let reference = try #require(expected["\(exporter)/prob"]).floats()
            #expect(prob.shape == [8, 1])
            let worst = zip(prob.data, reference).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= 1e-5, "\(exporter), batches of \(batchSize): max |ours − onnxruntime| \(worst)")
            #expect(top.shape == [8, 3])
            let indices = try #require(expected["\(exporter)/top"]).floats()
            #expect(top.data == indices, "\(exporter), batches of \(batchSize)")
        }
        #expect(model.graph.nodes.contains { $0.op.as(Split.self) != nil && $0.outputs.count == 3 })
        #expect(model.graph.nodes.contains { $0.op.as(TopK.self) != nil && $0.outputs.count == 2 })
    }

    @Test("one training step's gradients equal PyTorch's within 1e-5 (binary cross-entropy through Split and TopK)",
          arguments: ["torchscript", "dynamo"])
    func gradients(_ exporter: String) throws {
        let model = try Model.load(Self.file("split_topk.\(exporter).onnx"))
        let inputs = try Self.arrays("inputs.npz"), expected = try Self.arrays("expected.npz")
        let x = try #require(inputs["x"]), y = try #require(inputs["y"]).floats()
        let session = try TrainingSession(graph: model.graph, options: TrainingOptions(threads: 1))
        let p = try #require(try session.forward(["x": HostTensor(x)], training: true)["prob"]).data
        // d(mean BCE)/dp = (p − y) / (p (1 − p)) / n
        let n = Float(p.count)
        var dp = [Float](repeating: 0, count: p.count)
        for i in 0..<p.count { dp[i] = (p[i] - y[i]) / (p[i] * (1 - p[i])) / n }
        let grads = try session.backward(["prob": HostTensor(shape: [p.count, 1], data: dp)])
        // Gemm's weights are Dense kernels here ([in, out], named "fc.weight/kernel"): torch's [out, in] transposed.
        for (name, transposed) in [("fc.weight", true), ("fc.bias", false), ("head.weight", true), ("head.bias", false)] {
            let ours = try #require(grads[name + (transposed ? "/kernel" : "/bias")], "no gradient for \(name); trainable: \(session.trainable)")
            let reference = try #require(expected["grad/\(name)"])
            var torch = reference.floats()
            if transposed, reference.shape.count == 2 {
                let (rows, columns) = (reference.shape[0], reference.shape[1])
                torch = (0..<(rows * columns)).map { k in torch[(k % rows) * columns + k / rows] }
            }
            #expect(ours.count == torch.count)
            let scale = max(torch.map { abs($0) }.max() ?? 0, 1e-3)
            let worst = zip(ours, torch).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst / scale <= 1e-5, "\(exporter) \(name): max |ours − torch| \(worst) of \(scale)")
        }
    }
}
