import DataIO
import Engine
import Foundation
import ModelIR
import ModelPort
import Testing
import Training

/// LayerNormalization's gradients and one SGD step over every axis list, against tf_keras
/// (Fixtures/make_layout_fixtures.py: `NAME.grads.npz`, `NAME.step.sgd.npz`).
@Suite("LayerNormalization trains as tf_keras does over any axes")
struct LayerNormalizationParityTests {
    static func layout(_ name: String) -> String {
        TrainingFixtures.root.appendingPathComponent("layout").appendingPathComponent(name).path
    }

    static func arrays(_ file: String) throws -> [String: Tensor] {
        Dictionary(try NumpyArchive.read(layout(file)).map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    }

    @Test("one train_on_batch with SGD(0.1): loss and every weight within 1e-5", arguments: LayoutCases.layerNorm)
    func oneStep(_ name: String) throws {
        let model = try Model.load(Self.layout("\(name).h5"))
        let session = try model.trainingSession(threads: 1, seed: 0)
        let trainer = Trainer(session: session, optimizer: Optimizer(.sgd, learningRate: 0.1),
                              target: try LossTarget(graph: session.graph, loss: Loss(kind: .binaryCrossentropy)))
        let batch = try Self.arrays("\(name).batch.npz")
        let x = try #require(batch["x"]), y = try #require(batch["y"])
        let (loss, _) = try trainer.trainOnBatch(Samples(inputs: [model.graph.inputs[0].name: HostTensor(x)], labels: y.floats()))
        let reference = try Self.arrays("\(name).step.sgd.npz")
        #expect(abs(loss - Double(reference["loss"]?.floats().first ?? .nan)) <= 1e-5, "\(name) loss \(loss)")
        var compared = 0
        for p in model.graph.parameters {
            guard let k = TrainingFixtures.key(p), let ref = reference[k]?.floats(), let ours = session.parameters[p.name] else { continue }
            compared += 1
            let worst = zip(ours.data, ref).map { Double(abs($0 - $1)) / max(1, Double(abs($1))) }.max() ?? .infinity
            #expect(worst <= 1e-5, "\(name) \(k): worst \(worst)")
        }
        #expect(compared == reference.keys.filter { $0 != "loss" }.count)
    }
}

enum LayoutCases {
    static let layerNorm = ["ln_axis1", "ln_axis_m2", "ln_axis12", "ln_r4_axis1", "ln_r4_axis2", "ln_r4_axis13", "ln_r4_axis23",
                            "ln_r4_last", "ln_noscale", "ln_nocenter"]
}
