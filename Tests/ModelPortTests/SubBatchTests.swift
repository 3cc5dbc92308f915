import Engine
import Foundation
import ModelIR
import ModelPort
import Testing

@Suite("depth-first sub-batches give the whole batch's outputs")
struct SubBatchTests {
    @Test("5 images one at a time and together (the kernels block differently by batch size: equal to 1e-6)", arguments: ["seed_sigmoid.h5", "functional.h5"])
    func sameOutputs(_ name: String) throws {
        let model = try Model.load(Fixtures.keras(name))
        var generator = SystemRandomNumberGenerator()
        var inputs: [String: HostTensor] = [:]
        for input in model.graph.inputs {
            let shape = [5] + input.shape.dims.dropFirst().map { $0 ?? 1 }
            inputs[input.name] = HostTensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float.random(in: 0..<1, using: &generator) })
        }
        let whole = try InferenceSession(graph: model.graph, options: EngineOptions(threads: 1))
        let parts = try InferenceSession(graph: model.graph, options: EngineOptions(threads: 1))
        parts.subBatchBytes = 1    // one image per sub-batch
        let a = try whole.run(inputs), b = try parts.run(inputs)
        #expect(Set(a.keys) == Set(b.keys))
        for (k, v) in a {
            #expect(b[k]?.shape == v.shape)
            let diff = zip(b[k]?.data ?? [], v.data).map { abs($0 - $1) }.max() ?? .infinity
            #expect(diff <= 1e-6, "\(k): \(diff)")
        }
    }
}
