import Foundation
@testable import KerasFormat
import HDF5
import ModelIR
import Testing

func kerasFixture(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/keras").appendingPathComponent(name).path
}

@Suite("Keras weights")
struct KerasWeightTests {
    @Test("Keras 3's fallback group keys are its snake-case class names")
    func snakeCase() {
        #expect(Keras3WeightSource.snakeCase("Conv2DTranspose") == "conv2d_transpose")
        #expect(Keras3WeightSource.snakeCase("PReLU") == "p_re_lu")
        #expect(Keras3WeightSource.snakeCase("LeakyReLU") == "leaky_re_lu")
        #expect(Keras3WeightSource.snakeCase("BatchNormalization") == "batch_normalization")
        #expect(Keras3WeightSource.snakeCase("UpSampling2D") == "up_sampling2d")
        #expect(Keras3WeightSource.snakeCase("GlobalAveragePooling2D") == "global_average_pooling2d")
        #expect(Keras3WeightSource.snakeCase("InputLayer") == "input_layer")
    }

    @Test("every format of a model yields the same weights, bit for bit", arguments: ["seed_sigmoid", "functional", "nested", "mobilenet_transfer", "mlp"])
    func sameWeightsInEveryFormat(model: String) throws {
        let h5 = try KerasModelLoader.load(kerasFixture("\(model).h5"))
        let k2 = try KerasModelLoader.load(kerasFixture("\(model)_weights.h5"), architecture: kerasFixture("\(model).json"))
        let k3 = try KerasModelLoader.load(kerasFixture("\(model).keras"))
        let k3w = try KerasModelLoader.load(kerasFixture("\(model).weights.h5"), architecture: kerasFixture("\(model).keras"))
        func byLayerRole(_ g: Graph) -> [String: [UInt8]] {
            Dictionary(g.parameters.filter { !$0.isConstant }.map { ($0.name, $0.tensor.bytes) }, uniquingKeysWith: { a, _ in a })
        }
        let reference = byLayerRole(h5)
        #expect(reference.count == h5.parameters.count)
        #expect(byLayerRole(k2) == reference)
        // The fixture script copies the tf_keras weights into the Keras 3 model layer by layer.
        #expect(byLayerRole(k3) == reference)
        #expect(byLayerRole(k3w) == reference)
    }

    @Test("a Keras 2 nested model's weights are matched by layer, though stored trainable-first")
    func nestedWeightsAreMatchedByLayer() throws {
        let g = try KerasModelLoader.load(kerasFixture("nested.h5"))
        let bn = try #require(g.parameters.first { $0.name == "enc_bn/moving_variance" })
        #expect(bn.sourceName == "enc_bn/moving_variance:0")
        #expect(!bn.trainable)
        let gamma = try #require(g.parameters.first { $0.name == "enc_bn/gamma" })
        #expect(gamma.trainable)
    }

    @Test("the Keras 3 fallback finds layers in files without vars@name")
    func fallbackWithoutNameAttributes() throws {
        // Copy the Keras 3 weights without the name attributes, as older Keras 3 wrote them.
        let source = try HDF5File(reading: kerasFixture("mlp.weights.h5")).root
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("noname-\(UUID().uuidString).weights.h5").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let out = try HDF5File(creating: path).root
            let layers = try source.group("layers")
            for member in try layers.memberNames() {
                let vars = try layers.group("\(member)/vars")
                _ = try out.groupCreatingIfNeeded("layers/\(member)/vars")
                for v in try vars.memberNames() { try out.writeDataset("layers/\(member)/vars/\(v)", try vars.readDataset(v)) }
            }
        }
        let stripped = try KerasModelLoader.load(path, architecture: kerasFixture("mlp.keras"))
        let original = try KerasModelLoader.load(kerasFixture("mlp.weights.h5"), architecture: kerasFixture("mlp.keras"))
        #expect(stripped.parameters.map(\.tensor) == original.parameters.map(\.tensor))
    }

    @Test("training configuration is kept as metadata")
    func trainingConfig() throws {
        let k2 = try KerasModelLoader.load(kerasFixture("seed_softmax.h5"))
        #expect(k2.metadata.trainingConfig?["loss"]?.string == "binary_crossentropy")
        #expect(k2.metadata.trainingConfig?["optimizer"]?.string == "Adamax")
        #expect(k2.metadata.trainingConfig?["metrics"]?.array?.first?.string == "accuracy")
        let k3 = try KerasModelLoader.load(kerasFixture("functional.keras"))
        #expect(k3.metadata.trainingConfig?["loss"]?["out_class"]?.string == "categorical_crossentropy")
        #expect(k3.metadata.trainingConfig?["optimizer"]?.string == "Adam")
        #expect(k3.metadata.frameworkVersion == "3.15.1")
    }

    @Test("TFOpLambda constants are graph constants, not parameters")
    func tfOpConstants() throws {
        let g = try KerasModelLoader.load(kerasFixture("tfop.h5"))
        #expect(g.parameters.filter(\.isConstant).count == 3)
        #expect(g.parameterCount == 14)
        #expect(g.nodes.contains { $0.op == .elementwise(.subtract) && $0.inputs.count == 2 && !$0.inputs[1].contains("/y") })
    }
}
