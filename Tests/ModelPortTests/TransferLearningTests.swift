import DataIO
import Foundation
import ModelIR
import ModelPort
import Testing

/// The transfer-learning pattern from Keras' guide, as a new user meets it: a keras.applications
/// base (MobileNetV3Small, whose tf_keras layer names hold `/`) nested in a Sequential, and
/// models that start with preprocessing and augmentation layers (Fixtures/transfer).
@Suite("transfer-learning models load, run as Keras does and write back")
struct TransferLearningTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var file: String
        var architecture: String?
        var framework: String
        var testDescription: String { file }
    }

    static func cases(_ model: String) -> [Case] {
        [Case(file: "\(model).h5", framework: "keras2"),
         Case(file: "\(model)_weights.h5", architecture: "\(model).h5", framework: "keras2"),
         Case(file: "\(model).keras", framework: "keras3"),
         Case(file: "\(model).weights.h5", architecture: "\(model).keras", framework: "keras3")]
    }

    static func expectedFile(_ model: String, _ framework: String) -> String {
        let npy = "\(model).\(framework).output.npy"
        return FileManager.default.fileExists(atPath: Fixtures.transfer(npy)) ? npy : "\(model).\(framework).outputs.npz"
    }

    func expectKerasOutputs(_ model: Model, modelName: String, framework: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let inputs = try model.prepareInputs(try model.readInputArrays(Fixtures.transfer("\(modelName).input.npy")), source: "input")
        let expected = try model.readExpectedArrays(Fixtures.transfer(Self.expectedFile(modelName, framework)))
        let outputs = try model.predict(inputs, session: try model.session(threads: 1), batchSize: 2)
        for (name, tensor) in expected {
            let value = try #require(model.valueName(forLayer: name), sourceLocation: sourceLocation)
            let ours = try #require(outputs[value], "output \(name)", sourceLocation: sourceLocation)
            #expect(ours.shape == tensor.shape, "\(name)", sourceLocation: sourceLocation)
            let maxError = zip(ours.data, tensor.floats()).map { abs($0 - $1) }.max() ?? .infinity
            #expect(maxError <= 1e-5, "\(name): max abs error \(maxError)", sourceLocation: sourceLocation)
        }
    }

    @Test("outputs within 1e-5 of the framework that saved them",
          arguments: ["v3small_transfer", "augment", "resizing"].flatMap { m in cases(m).map { (m, $0) } })
    func outputs(model name: String, _ c: Case) throws {
        let model = try Model.load(Fixtures.transfer(c.file), architecture: c.architecture.map(Fixtures.transfer))
        try expectKerasOutputs(model, modelName: name, framework: c.framework)
    }

    @Test("a nested base with '/' in its layer names keeps its structure")
    func nestedBaseStructure() throws {
        let model = try Model.load(Fixtures.transfer("v3small_transfer.h5"))
        let nested = model.graph.layers.filter { $0.parent != nil }
        #expect(nested.contains { $0.name == "Conv/BatchNorm" })
        #expect(model.graph.parameterCount == 100_593)
        let conv = try #require(model.graph.layers.first { $0.name == "Conv" })
        #expect(conv.parameters.count == 1, "Conv has only its kernel, not Conv/BatchNorm's weights")
    }

    @Test("augment: every layer within the validate tolerances", arguments: ["keras2", "keras3"])
    func augmentLayers(framework: String) throws {
        let model = try Model.load(Fixtures.transfer(framework == "keras2" ? "augment.h5" : "augment.keras"))
        let inputs = try model.prepareInputs(try model.readInputArrays(Fixtures.transfer("augment.input.npy")), source: "input")
        let expected = try model.readExpectedArrays(Fixtures.transfer("augment.\(framework).layers.npz"))
        let report = try model.validate(inputs: inputs, expected: expected, expectedSource: "layers")
        #expect(report.passed, "first failing layer: \(report.firstFailure ?? "")")
    }

    @Test("written back to the same kind, then run again: same outputs", arguments: ["v3small_transfer", "augment"])
    func writeBack(model name: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modelport-transfer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (file, format, framework) in [("\(name).h5", SourceFormat.kerasH5, "keras2"), ("\(name).keras", .kerasV3, "keras3")] {
            let source = try Model.load(Fixtures.transfer(file))
            let out = dir.appendingPathComponent(file).path
            try source.save(to: out, format: format)
            let back = try Model.load(out)
            #expect(back.graph.parameters == source.graph.parameters)
            try expectKerasOutputs(back, modelName: name, framework: framework)
        }
    }

    @Test("inspect shows float32 hyperparameters as Keras does")
    func learningRateAsTyped() throws {
        let summary = try Model.load(Fixtures.transfer("augment.h5")).summary().text
        #expect(summary.contains("learning_rate 0.001)"), "\(summary.suffix(200))")
    }
}
