import Foundation
import ModelIR
import ModelPort
import Testing

/// A Keras model written back to its own Keras generation is the file it came from: the same
/// configs, every weight and optimizer slot bit-identical, the same names.
@Suite("Keras files written back to their own format")
struct KerasRoundTripTests {
    static let keras2Models = ["mlp", "seed_sigmoid", "seed_softmax", "functional", "nested", "mobilenet_transfer", "tfop",
                               "many_layers", "activations", "channels_first"]
    static let keras3Models = ["mlp", "seed_sigmoid", "seed_softmax", "functional", "nested", "mobilenet_transfer",
                               "activations", "channels_first"]

    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("modelport-write-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Saves `source` as `format`, loads the result and checks it equals the source.
    func expectRoundTrip(_ source: Model, format: SourceFormat, name: String, architecture: String? = nil) throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent(name).path
        try source.save(to: out, format: format)
        let back = try Model.load(out, architecture: architecture)
        #expect(back.graph.metadata.format == format)
        let sameParameters = back.graph.parameters == source.graph.parameters
        #expect(sameParameters, "every weight bit-identical, same names and roles")
        #expect(back.graph.layers.map(\.name) == source.graph.layers.map(\.name))
        #expect(back.graph.metadata.trainingConfig == source.graph.metadata.trainingConfig)
        let sameTree = back.graph.metadata.source.weights == source.graph.metadata.source.weights
        #expect(sameTree, "the whole weights tree: attributes, names, optimizer slots")
        if format == .kerasH5 {
            let sameOptimizer = back.graph.metadata.source.optimizerWeights == source.graph.metadata.source.optimizerWeights
            #expect(sameOptimizer, "Keras 2 optimizer_weights")
        }
        if format.holdsArchitecture {
            #expect(back.graph.metadata.source.modelConfig == source.graph.metadata.source.modelConfig)
            #expect(back.graph.metadata.source.trainingConfig == source.graph.metadata.source.trainingConfig)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [name], "no temporary file left")
    }

    @Test("Keras 2 .h5 → .h5", arguments: keras2Models)
    func keras2Full(model: String) throws {
        let source = try Model.load(Fixtures.keras("\(model).h5"))
        try expectRoundTrip(source, format: .kerasH5, name: "\(model).h5")
    }

    @Test("Keras 2 weights → weights", arguments: keras2Models)
    func keras2Weights(model: String) throws {
        let source = try Model.load(Fixtures.keras("\(model)_weights.h5"), architecture: Fixtures.keras("\(model).h5"))
        try expectRoundTrip(source, format: .kerasH5Weights, name: "\(model)_weights.h5", architecture: Fixtures.keras("\(model).h5"))
    }

    @Test("Keras 3 .keras → .keras", arguments: keras3Models)
    func keras3Archive(model: String) throws {
        let source = try Model.load(Fixtures.keras("\(model).keras"))
        try expectRoundTrip(source, format: .kerasV3, name: "\(model).keras")
    }

    @Test("Keras 3 .weights.h5 → .weights.h5", arguments: keras3Models)
    func keras3Weights(model: String) throws {
        let source = try Model.load(Fixtures.keras("\(model).weights.h5"), architecture: Fixtures.keras("\(model).keras"))
        try expectRoundTrip(source, format: .kerasV3Weights, name: "\(model).weights.h5", architecture: Fixtures.keras("\(model).keras"))
    }

    @Test("a full model's weights alone, and a weights file made whole with its architecture")
    func betweenFullAndWeights() throws {
        let full = try Model.load(Fixtures.keras("functional.h5"))
        try expectRoundTrip(full, format: .kerasH5Weights, name: "functional_weights.h5", architecture: Fixtures.keras("functional.h5"))
        let weights = try Model.load(Fixtures.keras("functional.weights.h5"), architecture: Fixtures.keras("functional.keras"))
        try expectRoundTrip(weights, format: .kerasV3, name: "functional.keras")
    }

    @Test("changed weights are what the written file holds")
    func changedWeightsAreWritten() throws {
        var model = try Model.load(Fixtures.keras("mlp.h5"))
        let index = try #require(model.graph.parameters.firstIndex { $0.name == "dense_1/bias" })
        let bias = model.graph.parameters[index].tensor
        model.graph.parameters[index].tensor = Tensor(shape: bias.shape, floats: bias.floats().map { $0 + 1 })
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("changed.h5").path
        try model.save(to: out, format: .kerasH5)
        let back = try Model.load(out)
        #expect(back.graph.parameter(named: "dense_1/bias")?.tensor.floats() == bias.floats().map { $0 + 1 })
        let sameOptimizer = back.graph.metadata.source.optimizerWeights == model.graph.metadata.source.optimizerWeights
        #expect(sameOptimizer)
    }
}

/// tf_keras files written as Keras 3 ones and back: configs translated, weights laid out by the
/// other generation's rules, optimizer state carried over (CrossCheck loads them in both).
@Suite("Keras 2 ⇄ Keras 3")
struct KerasGenerationTests {
    static let models = ["mlp", "seed_sigmoid", "functional", "nested", "mobilenet_transfer"]

    func write(_ model: Model, _ format: SourceFormat, _ name: String, in dir: URL) throws -> Model {
        let path = dir.appendingPathComponent(name).path
        try model.save(to: path, format: format)
        return try Model.load(path)
    }

    @Test("weights and outputs survive both ways", arguments: models)
    func bothWays(model name: String) throws {
        let dir = try KerasRoundTripTests.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let k2 = try Model.load(Fixtures.keras("\(name).h5"))
        let k3 = try write(k2, .kerasV3, "\(name).keras", in: dir)
        let back = try write(k3, .kerasH5, "\(name).h5", in: dir)
        for model in [k3, back] {
            #expect(model.graph.parameterCount == k2.graph.parameterCount)
            let same = zip(model.graph.parameters, k2.graph.parameters).allSatisfy { $0.tensor == $1.tensor && $0.trainable == $1.trainable }
            #expect(same && model.graph.parameters.count == k2.graph.parameters.count, "every weight, in Keras' order")
            #expect(model.graph.metadata.trainingConfig?["loss"] == k2.graph.metadata.trainingConfig?["loss"])
        }
    }

    @Test("the optimizer state goes along: counter and slots")
    func optimizerState() throws {
        let dir = try KerasRoundTripTests.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let k2 = try Model.load(Fixtures.keras("functional.h5"))
        let k3 = try write(k2, .kerasV3, "functional.keras", in: dir)
        let source = try #require(k2.graph.metadata.source.optimizerWeights)
        let vars = try #require(k3.graph.metadata.source.weights?.group("optimizer")?.group("vars"))
        let trainable = k2.graph.parameters.filter(\.trainable).count
        // Adam: [iteration, learning_rate, (m, v) per trainable variable].
        #expect(vars.members.count == 2 + 2 * trainable)
        guard case .tensor(_, let iteration)? = vars.members.first(where: { $0.name == "0" }),
              case .tensor(_, let k2Iteration)? = source.array(at: "iteration:0") else {
            Issue.record("no iteration counter")
            return
        }
        #expect(iteration == k2Iteration)
        guard case .tensor(_, let firstSlot)? = vars.members.first(where: { $0.name == "2" }),
              case .tensor(_, let k2Slot)? = source.array(at: "Adam/m/conv_s2/kernel:0") else {
            Issue.record("no first slot")
            return
        }
        #expect(firstSlot == k2Slot)
        let back = try write(k3, .kerasH5, "functional.h5", in: dir)
        let again = try #require(back.graph.metadata.source.optimizerWeights)
        #expect(again.attribute("weight_names") == source.attribute("weight_names"))
        guard case .tensor(_, let slot)? = again.array(at: "Adam/m/conv_s2/kernel:0") else {
            Issue.record("no slot after the round trip")
            return
        }
        #expect(slot == k2Slot)
    }

    @Test("what the other generation cannot express is refused, naming the layer",
          arguments: [("activations.h5", SourceFormat.kerasV3, "hard_sigmoid"), ("tfop.h5", .kerasV3, "TFOpLambda"),
                      ("activations.keras", .kerasH5, "hard_sigmoid")])
    func refusals(file: String, format: SourceFormat, mentions: String) throws {
        let dir = try KerasRoundTripTests.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out").path
        do {
            try Model.load(Fixtures.keras(file)).save(to: out, format: format)
            Issue.record("written, should be refused")
        } catch {
            #expect("\(error)".contains(mentions) && "\(error)".contains(out), "\(error)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
