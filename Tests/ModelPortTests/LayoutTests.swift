import DataIO
import Foundation
import ModelIR
import ModelPort
import Testing

/// Layers Keras applies along axes other than the last, and inputs read through preprocessing,
/// against the real Keras (Fixtures/make_layout_fixtures.py).
@Suite("axes and layouts as Keras computes them")
struct LayoutTests {
    static func layout(_ name: String) -> String { Fixtures.root.appendingPathComponent("layout").appendingPathComponent(name).path }

    static let layerNormCases = ["ln_axis1", "ln_axis_m2", "ln_axis12", "ln_r4_axis1", "ln_r4_axis2", "ln_r4_axis13", "ln_r4_axis23",
                                 "ln_r4_last", "ln_noscale", "ln_nocenter"]

    @Test("LayerNormalization over every axis list Keras allows, Keras 2 .h5 and Keras 3 .keras (atol 1e-5 + rtol 1e-4 per layer)",
          arguments: layerNormCases, ["h5", "keras"])
    func layerNormalization(_ name: String, _ ext: String) throws {
        try Self.expectEveryLayer(name, ext, count: 2)
    }

    /// `validate` of every layer in `NAME.layers.npz` on `NAME.input.npy`, default tolerances.
    static func expectEveryLayer(_ name: String, _ ext: String, count: Int? = nil) throws {
        let model = try Model.load(layout("\(name).\(ext)"))
        let source = "\(name).input.npy"
        let inputs = try model.prepareInputs(try model.readInputArrays(layout(source)), source: source)
        let expected = try model.readExpectedArrays(layout("\(name).layers.npz"))
        let report = try model.validate(inputs: inputs, expected: expected, expectedSource: "\(name).layers.npz")
        #expect(report.layers.count == count ?? expected.count)
        for layer in report.layers { #expect(layer.passed, "\(name).\(ext) \(layer.name): max abs \(layer.maxAbsoluteError)") }
    }

    @Test("sequence-shaped Keras models: Dense on (batch, time, features), Conv1D with a Dense between, GlobalAveragePooling1D channels_first",
          arguments: ["seq_dense", "seq_conv1d", "seq_gap_cf"], ["h5", "keras"])
    func sequenceLayouts(_ name: String, _ ext: String) throws {
        try Self.expectEveryLayer(name, ext)
    }

    @Test("an image reduced over its spatial axes (tf.reduce_mean, keras.ops.mean) and read by Dense, Keras 2 and 3")
    func imageReduction() throws {
        try Self.expectEveryLayer("img_mean", "h5")
        // Keras 3 does not list the op as a layer: its model's output is compared.
        let model = try Model.load(Self.layout("img_mean.keras"))
        let inputs = try model.prepareInputs(try model.readInputArrays(Self.layout("img_mean.input.npy")), source: "img_mean.input.npy")
        let out = try #require(try model.predict(inputs, session: try model.session(threads: 1)).values.first)
        let expected = try #require(try model.readExpectedArrays(Self.layout("img_mean.layers.npz")).first { $0.name == "out" }?.tensor)
        let worst = zip(out.data, expected.floats()).map { abs($0 - $1) }.max() ?? .infinity
        #expect(out.shape == [3, 1] && worst <= 1e-6, "max |ours − Keras 3| \(worst)")
    }

    @Test("raw pixels reach a Rescaling behind augmentation and Resizing (keras.io transfer learning), Keras 2 and 3",
          arguments: ["augment_rescale.h5", "augment_rescale.keras"], ["cat/a.png", "dog/a.png"])
    func rawPixelsThroughPreprocessing(_ file: String, _ image: String) throws {
        let model = try Model.load(Self.layout(file))
        #expect(model.expectsRawPixels)
        let expected = try NumpyArchive.read(Self.layout("augment_rescale.expected.npz"))
        func array(_ key: String) throws -> [Float] { try #require(expected.first { $0.name == key }?.tensor.floats(), "\(key)") }
        let x = try #require(try model.imageInputs([Fixtures.root.appendingPathComponent("images/\(image)").path])["image"])
        // Decoded as image_dataset_from_directory does (tf.io.decode_image, tf.image.resize): 0–255, not divided.
        let pixelError = zip(x.data, try array("input:\(image)")).map { abs($0 - $1) }.max() ?? .infinity
        #expect(pixelError <= 1.5, "max error \(pixelError) grey levels")
        let outputs = try model.predict(["image": x], session: try model.session(threads: 1), batchSize: 1)
        let score = try #require(outputs[model.graph.outputs[0]]?.data.first)
        let keras = try array((file.hasSuffix(".h5") ? "k2:" : "k3:") + image)[0]
        // Keras on the same decoded pixels; a grey level's rounding moves the score by ~1e-5 at most here.
        #expect(abs(score - keras) <= 1e-4, "ours \(score), Keras \(keras)")
    }
}
