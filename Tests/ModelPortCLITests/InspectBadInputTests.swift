import Foundation
import Testing
import ZIPFoundation

/// Bad input is normal input: each case exits 2 with one `error:` line naming the file.
@Suite("inspect rejects bad input with exit code 2 and one error line")
struct InspectBadInputTests {
    @Test func missingFile() throws {
        try expectCleanFailure(["inspect", "/nonexistent/model.h5"], naming: "/nonexistent/model.h5", mentions: ["no such file"])
    }

    @Test func fileThatIsNotHDF5() throws {
        let dir = try temporaryFolder()
        let path = dir.appendingPathComponent("notes.h5").path
        try Data("these are not the weights you are looking for\n".utf8).write(to: URL(fileURLWithPath: path))
        try expectCleanFailure(["inspect", path], naming: path, mentions: ["not a Keras model"])
    }

    @Test("a truncated .h5", arguments: [0.1, 0.5, 0.9])
    func truncatedH5(fraction: Double) throws {
        let dir = try temporaryFolder()
        let full = try Data(contentsOf: URL(fileURLWithPath: Fixtures.keras("seed_sigmoid.h5")))
        let path = dir.appendingPathComponent("truncated.h5").path
        try full.prefix(Int(Double(full.count) * fraction)).write(to: URL(fileURLWithPath: path))
        try expectCleanFailure(["inspect", path], naming: path)
    }

    @Test func emptyKerasFile() throws {
        let dir = try temporaryFolder()
        let path = dir.appendingPathComponent("empty.keras").path
        FileManager.default.createFile(atPath: path, contents: Data())
        try expectCleanFailure(["inspect", path], naming: path, mentions: ["empty"])
    }

    @Test func kerasFileThatIsNotAZip() throws {
        let dir = try temporaryFolder()
        let path = dir.appendingPathComponent("model.keras").path
        try Data(repeating: 7, count: 300).write(to: URL(fileURLWithPath: path))
        try expectCleanFailure(["inspect", path], naming: path)
    }

    @Test func truncatedKerasZip() throws {
        let dir = try temporaryFolder()
        let full = try Data(contentsOf: URL(fileURLWithPath: Fixtures.keras("mlp.keras")))
        let path = dir.appendingPathComponent("truncated.keras").path
        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: path))
        try expectCleanFailure(["inspect", path], naming: path)
    }

    @Test func kerasZipWithoutConfig() throws {
        let dir = try temporaryFolder()
        let url = dir.appendingPathComponent("noconfig.keras")
        let archive = try Archive(url: url, accessMode: .create)
        let payload = Data("{\"keras_version\": \"3.15.1\"}".utf8)
        try archive.addEntry(with: "metadata.json", type: .file, uncompressedSize: Int64(payload.count)) { position, size in
            payload.subdata(in: Int(position)..<Int(position) + size)
        }
        try expectCleanFailure(["inspect", url.path], naming: url.path, mentions: ["config.json"])
    }

    @Test func hdf5WithoutKerasStructure() throws {
        try expectCleanFailure(["inspect", Fixtures.keras("plain.h5")], naming: Fixtures.keras("plain.h5"), mentions: ["no model_config"])
    }

    @Test func weightsOnlyWithoutArchitecture() throws {
        try expectCleanFailure(["inspect", Fixtures.keras("mlp_weights.h5")], naming: Fixtures.keras("mlp_weights.h5"), mentions: ["--architecture"])
        try expectCleanFailure(["inspect", Fixtures.keras("mlp.weights.h5")], naming: Fixtures.keras("mlp.weights.h5"), mentions: ["--architecture"])
    }

    @Test("Keras 2 weights whose layers are not the architecture's")
    func keras2WeightsForAnotherModel() throws {
        let weights = Fixtures.keras("mlp_weights.h5")
        try expectCleanFailure(["inspect", weights, "--architecture", Fixtures.keras("seed_sigmoid.json")], naming: weights,
                               mentions: ["do not match"])
    }

    @Test("Keras 3 weights whose shapes are not the architecture's")
    func keras3WeightsWithOtherShapes() throws {
        let weights = Fixtures.keras("seed_sigmoid.weights.h5")
        try expectCleanFailure(["inspect", weights, "--architecture", Fixtures.keras("seed_softmax.keras")], naming: weights,
                               mentions: ["shape"])
    }

    @Test("an unsupported layer is named with its class", arguments: [("unsupported_lambda.h5", "Lambda"), ("unsupported_lstm.h5", "LSTM")])
    func unsupportedLayer(file: String, className: String) throws {
        try expectCleanFailure(["inspect", Fixtures.keras(file)], naming: Fixtures.keras(file), mentions: ["(\(className))", "not supported"])
    }

    @Test func unknownOption() throws {
        let result = try ModelPortBinary.run(["inspect", Fixtures.keras("mlp.h5"), "--frobnicate"])
        #expect(result.status == 2)
        #expect(result.stderrLines.count == 1)
        #expect(result.stderrLines.first?.hasPrefix("error: ") == true)
    }
}

@Suite("inspect on the shipped models")
struct InspectCommandTests {
    @Test func seedModelTable() throws {
        let result = try ModelPortBinary.run(["inspect", Fixtures.keras("seed_sigmoid.h5")])
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty)
        #expect(result.stdout.contains("conv_1 (Conv2D)"))
        #expect(result.stdout.contains("(None, 128, 156, 32)"))
        #expect(result.stdout.contains("Total params: 132,481"))
        #expect(result.stdout.contains("loss binary_crossentropy"))
        #expect(result.stdout.contains("optimizer Adamax"))
    }

    @Test func seedModelJSON() throws {
        let result = try ModelPortBinary.run(["inspect", Fixtures.keras("seed_sigmoid.keras"), "--json"])
        #expect(result.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["format"] as? String == "keras-v3")
        #expect(object?["parameters"] as? Int == 132_481)
        #expect((object?["layers"] as? [Any])?.count == 11)
        let inputs = object?["inputs"] as? [[String: Any]]
        #expect(inputs?.first?["dtype"] as? String == "float32")
        let training = object?["training_config"] as? [String: Any]
        #expect(training?["loss"] as? String == "binary_crossentropy")
    }
}
