import DataIO
import Foundation
import ModelIR
import ModelPort
import Testing

/// A model file, the inputs Keras was given and what Keras computed from them
/// (Fixtures/make_reference_outputs.py).
struct ReferenceCase: CustomTestStringConvertible, Sendable {
    var file: String
    var architecture: String?
    var inputs: String
    var expected: String
    var testDescription: String { "\(file) vs \(expected)" }
}

func inputsFile(_ model: String) -> String {
    FileManager.default.fileExists(atPath: Fixtures.keras("\(model).input.npy")) ? "\(model).input.npy" : "\(model).inputs.npz"
}

func outputsFile(_ model: String, _ framework: String) -> String {
    let npy = "\(model).\(framework).output.npy"
    return FileManager.default.fileExists(atPath: Fixtures.keras(npy)) ? npy : "\(model).\(framework).outputs.npz"
}

let referenceModels = ["seed_sigmoid", "seed_softmax", "functional", "nested", "mobilenet_transfer", "mlp", "activations"]

/// Every model in every format against the final outputs of the framework that wrote it.
let finalOutputCases: [ReferenceCase] = referenceModels.flatMap { m in [
    ReferenceCase(file: "\(m).h5", inputs: inputsFile(m), expected: outputsFile(m, "keras2")),
    ReferenceCase(file: "\(m)_weights.h5", architecture: "\(m).json", inputs: inputsFile(m), expected: outputsFile(m, "keras2")),
    ReferenceCase(file: "\(m).keras", inputs: inputsFile(m), expected: outputsFile(m, "keras3")),
    ReferenceCase(file: "\(m).weights.h5", architecture: "\(m).keras", inputs: inputsFile(m), expected: outputsFile(m, "keras3")),
] } + [ReferenceCase(file: "tfop.h5", inputs: "tfop.input.npy", expected: "tfop.keras2.output.npy")]

/// Every layer's output, where Keras' per-layer outputs are committed.
let layerCases: [ReferenceCase] = [
    ReferenceCase(file: "seed_sigmoid.h5", inputs: "seed_sigmoid.layers_input.npy", expected: "seed_sigmoid.keras2.layers.npz"),
    ReferenceCase(file: "seed_sigmoid.keras", inputs: "seed_sigmoid.layers_input.npy", expected: "seed_sigmoid.keras2.layers.npz"),
    ReferenceCase(file: "functional.h5", inputs: "functional.inputs.npz", expected: "functional.keras2.layers.npz"),
    ReferenceCase(file: "functional.weights.h5", architecture: "functional.keras", inputs: "functional.inputs.npz", expected: "functional.keras2.layers.npz"),
    ReferenceCase(file: "tfop.h5", inputs: "tfop.input.npy", expected: "tfop.keras2.layers.npz"),
] + ["nested", "mlp", "activations"].flatMap { m in [
    ReferenceCase(file: "\(m).h5", inputs: inputsFile(m), expected: "\(m).keras2.layers.npz"),
    ReferenceCase(file: "\(m).keras", inputs: inputsFile(m), expected: "\(m).keras3.layers.npz"),
] }

@Suite("the engine computes what Keras computes")
struct KerasReferenceTests {
    func load(_ c: ReferenceCase) throws -> (Model, [String: HostTensor]) {
        let model = try Model.load(Fixtures.keras(c.file), architecture: c.architecture.map(Fixtures.keras))
        let inputs = try model.prepareInputs(try model.readInputArrays(Fixtures.keras(c.inputs)), source: c.inputs)
        return (model, inputs)
    }

    @Test("final outputs within 1e-5 (optimised plan: BN folded, activations fused)", arguments: finalOutputCases)
    func finalOutputs(_ c: ReferenceCase) throws {
        let (model, inputs) = try load(c)
        let expected = try model.readExpectedArrays(Fixtures.keras(c.expected))
        let outputs = try model.predict(inputs, session: try model.session(threads: 1), batchSize: 2)
        for (name, tensor) in expected {
            let value = try #require(model.valueName(forLayer: name))
            let ours = try #require(outputs[value], "output \(name)")
            #expect(ours.shape == tensor.shape)
            let maxError = zip(ours.data, tensor.floats()).map { abs($0 - $1) }.max() ?? 0
            #expect(maxError <= 1e-5, "\(name): max abs error \(maxError)")
        }
    }

    @Test("every layer within atol 1e-5 + rtol 1e-4 (validate)", arguments: layerCases)
    func everyLayer(_ c: ReferenceCase) throws {
        let (model, inputs) = try load(c)
        let expected = try model.readExpectedArrays(Fixtures.keras(c.expected))
        let report = try model.validate(inputs: inputs, expected: expected, expectedSource: c.expected)
        #expect(report.layers.count == expected.count)
        #expect(report.passed, "first failing layer: \(report.firstFailure ?? "")")
        for layer in report.layers where !layer.passed {
            Issue.record("\(layer.name): max abs \(layer.maxAbsoluteError) \(layer.note ?? "")")
        }
    }

    @Test("two threads give the same results as one")
    func threadsAgree() throws {
        let c = ReferenceCase(file: "mobilenet_transfer.h5", inputs: "mobilenet_transfer.input.npy", expected: "")
        let (model, inputs) = try load(c)
        let one = try model.predict(inputs, session: try model.session(threads: 1), batchSize: 1)
        let two = try model.predict(inputs, session: try model.session(threads: 2), batchSize: 2)
        for (k, v) in one {
            let w = try #require(two[k])
            #expect(zip(v.data, w.data).allSatisfy { abs($0 - $1) <= 1e-6 })
        }
    }

    @Test("a channels_first model runs end to end")
    func channelsFirstRuns() throws {
        // TensorFlow cannot run NCHW convolutions on the CPU, so there is no Keras reference for
        // this model yet: this only checks that the channels-first plan (transposes around
        // channels-last kernels) runs and keeps the output shape.
        let model = try Model.load(Fixtures.keras("channels_first.h5"))
        let x = HostTensor(shape: [2, 3, 16, 16], data: (0..<(2 * 3 * 16 * 16)).map { Float($0 % 17) / 17 })
        let out = try model.predict(["image_nchw": x], session: try model.session(threads: 1))
        let y = try #require(out[model.graph.outputs[0]])
        #expect(y.shape == [2, 1])
        #expect(y.data.allSatisfy { $0 > 0 && $0 < 1 })
    }
}

@Suite("the optimised plan")
struct OptimisedPlanTests {
    @Test("the seed model's max pools are fused into its convolutions, and the results do not change")
    func fusedPoolingKeepsResults() throws {
        let model = try Model.load(Fixtures.keras("seed_sigmoid.h5"))
        let inputs = try model.prepareInputs(try model.readInputArrays(Fixtures.keras("seed_sigmoid.input.npy")), source: "input")
        let optimised = try model.session(threads: 2, optimize: true)
        #expect(optimised.profile.filter { $0.kind.contains("+maxpool") }.count == 3)
        #expect(!optimised.profile.contains { $0.kind == "max pool" || $0.kind == "batch norm" })
        let fast = try model.predict(inputs, session: optimised, batchSize: 2)
        let plain = try model.predict(inputs, session: try model.session(threads: 1, optimize: false), batchSize: 2)
        for (name, value) in plain {
            let other = try #require(fast[name])
            #expect(zip(value.data, other.data).allSatisfy { abs($0 - $1) <= 1e-6 })
        }
    }
}

/// Pieces keras.applications bases bring: Normalization (adapted), ConvNeXt's LayerScale, and
/// plain ops (Keras 3 operation layers / Keras 2 TFOpLambda) — Fixtures/make_keras_extra_fixtures.py.
@Suite("Keras preprocessing and operation layers match Keras")
struct KerasExtraLayerTests {
    static func file(_ name: String) -> String { Fixtures.root.appendingPathComponent("keras_extra").appendingPathComponent(name).path }

    @Test("outputs within 1e-5 of the framework's", arguments: [("preprocess.k2.h5", "k2"), ("preprocess.k3.keras", "k3"), ("preprocess.k3.h5", "k3")])
    func matchesKeras(_ file: String, _ flavour: String) throws {
        let model = try Model.load(Self.file(file))
        let inputs = try model.prepareInputs(try model.readInputArrays(Self.file("preprocess.input.npy")), source: "preprocess.input.npy")
        let outputs = try model.predict(inputs, session: try model.session(threads: 1))
        let expected = try model.readExpectedArrays(Self.file("preprocess.\(flavour).output.npy"))
        let ours = try #require(outputs[model.graph.outputs[0]])
        let want = try #require(expected.first).tensor.floats()
        #expect(ours.data.count == want.count)
        #expect(zip(ours.data, want).allSatisfy { abs($0 - $1) <= 1e-5 }, "\(ours.data) vs \(want)")
        // Normalization's statistics and count, LayerScale's gamma: counted as Keras counts them.
        #expect(model.summary().parameters == 280)
    }
}
