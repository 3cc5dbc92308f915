import Foundation
import Testing

@Suite("run, validate and bench from the command line")
struct RunValidateTests {
    @Test("help prints the usage and exits 0", arguments: [["--help"], ["-h"], ["help"], ["run", "--help"], ["help", "convert"]])
    func help(_ arguments: [String]) throws {
        let r = try ModelPortBinary.run(arguments)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("USAGE:"), "\(r.stdout)")
        #expect(r.stderr.isEmpty)
    }

    @Test func runPrintsScoresAndClasses() throws {
        let r = try ModelPortBinary.run(["run", Fixtures.keras("seed_sigmoid.h5"), "--input", Fixtures.keras("seed_sigmoid.input.npy")])
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("index  score     class"))
        #expect(r.stdout.split(separator: "\n").count == 3)
    }

    @Test func runWritesOutputsAtomically() throws {
        let dir = try temporaryFolder()
        let out = dir.appendingPathComponent("scores.npz").path
        let r = try ModelPortBinary.run(["run", Fixtures.keras("functional.keras"), "--input", Fixtures.keras("functional.inputs.npz"),
                                         "--output", out, "--batch-size", "2", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["scores.npz"])
    }

    @Test func validatePassesWithExitZero() throws {
        let r = try ModelPortBinary.run(["validate", Fixtures.keras("mlp.h5"), "--inputs", Fixtures.keras("mlp.input.npy"),
                                         "--expected", Fixtures.keras("mlp.keras2.layers.npz"), "--json"])
        #expect(r.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(json?["passed"] as? Bool == true)
        #expect((json?["layers"] as? [Any])?.count == 7)
        #expect(json?["first_failure"] is NSNull)
    }

    @Test("validate exits 1 and names the first failing layer when outputs differ")
    func validateFailsWithExitOne() throws {
        // tf_keras and Keras 3 define hard_sigmoid differently, so the Keras 3 model differs from tf_keras from there on.
        let r = try ModelPortBinary.run(["validate", Fixtures.keras("activations.keras"), "--inputs", Fixtures.keras("activations.input.npy"),
                                         "--expected", Fixtures.keras("activations.keras2.layers.npz")])
        #expect(r.status == 1)
        #expect(r.stdout.contains("first failing layer: act_hard_sigmoid"))
    }

    @Test func validateUnknownLayerIsBadInput() throws {
        // The Keras 3 reference names a layer tf_keras' model does not have (act_hard_swish).
        let expected = Fixtures.keras("activations.keras3.layers.npz")
        try expectCleanFailure(["validate", Fixtures.keras("activations.h5"), "--inputs", Fixtures.keras("activations.input.npy"),
                                "--expected", expected], naming: expected, mentions: ["act_hard_swish"])
    }

    @Test func wrongInputShape() throws {
        let input = Fixtures.keras("mlp.input.npy")
        try expectCleanFailure(["run", Fixtures.keras("seed_sigmoid.h5"), "--input", input], naming: input, mentions: ["expects (None, 128, 156, 1)"])
    }

    @Test func wrongInputRankAndDType() throws {
        let dir = try temporaryFolder()
        let boolInput = dir.appendingPathComponent("flags.npy").path
        try FileManager.default.copyItem(atPath: Fixtures.root.appendingPathComponent("npy/bool.npy").path, toPath: boolInput)
        try expectCleanFailure(["run", Fixtures.keras("mlp.h5"), "--input", boolInput], naming: boolInput, mentions: ["bool"])
        let rank = Fixtures.root.appendingPathComponent("npy/float32.npy").path
        try expectCleanFailure(["run", Fixtures.keras("mlp.h5"), "--input", rank], naming: rank, mentions: ["shape"])
    }

    @Test func brokenNpyHeader() throws {
        let dir = try temporaryFolder()
        let path = dir.appendingPathComponent("broken.npy").path
        var data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.keras("mlp.input.npy")))
        data.replaceSubrange(10..<30, with: Data(repeating: UInt8(ascii: "?"), count: 20))
        try data.write(to: URL(fileURLWithPath: path))
        try expectCleanFailure(["run", Fixtures.keras("mlp.h5"), "--input", path], naming: path)
    }

    @Test func npzMissingAnInput() throws {
        let inputs = Fixtures.keras("nested.inputs.npz")
        try expectCleanFailure(["run", Fixtures.keras("functional.h5"), "--input", inputs], naming: inputs, mentions: ["image"])
    }

    @Test func nanInputWarnsAndRuns() throws {
        let dir = try temporaryFolder()
        let path = dir.appendingPathComponent("nan.npy").path
        var data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.keras("mlp.input.npy")))
        let nan = Float.nan.bitPattern
        data.replaceSubrange((data.count - 4)..<data.count, with: withUnsafeBytes(of: nan.littleEndian) { Data($0) })
        try data.write(to: URL(fileURLWithPath: path))
        let r = try ModelPortBinary.run(["run", Fixtures.keras("mlp.h5"), "--input", path])
        #expect(r.status == 0)
        #expect(r.stderr.hasPrefix("warning: \(path): input 'features' has 1 NaN values"))
        #expect(r.stdout.split(separator: "\n").count == 4)
    }

    @Test func benchReportsJSON() throws {
        let r = try ModelPortBinary.run(["bench", Fixtures.keras("mlp.h5"), "--batch-size", "4", "--threads", "1", "--seconds", "0.2", "--json"])
        #expect(r.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(json?["batch_size"] as? Int == 4)
        #expect(json?["threads"] as? Int == 1)
        #expect((json?["images_per_second"] as? Double ?? 0) > 0)
        let latency = json?["latency_ms"] as? [String: Double]
        #expect(latency?["min"] != nil && latency?["median"] != nil && latency?["max"] != nil)
    }

    @Test func runOnAFolderOfImages() throws {
        let r = try ModelPortBinary.run(["run", Fixtures.keras("seed_sigmoid.h5"), "--input", Fixtures.root.appendingPathComponent("images").path])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 9)
        #expect(lines.first?.hasPrefix("file") == true)
        #expect(lines[1].hasPrefix("cat/a.png"))
    }

    @Test func imageThatFailsToDecode() throws {
        let path = Fixtures.root.appendingPathComponent("bad/broken.png").path
        try expectCleanFailure(["run", Fixtures.keras("seed_sigmoid.h5"), "--input", path], naming: path, mentions: ["decode"])
    }

    @Test func emptyFolder() throws {
        let dir = try temporaryFolder()
        try expectCleanFailure(["run", Fixtures.keras("seed_sigmoid.h5"), "--input", dir.path], naming: dir.path, mentions: ["no PNG or JPEG"])
    }
}

@Suite("check from the command line")
struct CheckCommandTests {
    static func checkFixture(_ name: String) -> String { Fixtures.root.appendingPathComponent("check/\(name)").path }

    @Test func collapsedModelExitsOneWithReportAndJSON() throws {
        let dir = try temporaryFolder()
        let report = dir.appendingPathComponent("report.html").path
        let r = try ModelPortBinary.run(["check", Self.checkFixture("collapsed.h5"), "--inputs", Self.checkFixture("data_x.npy"),
                                         "--labels", Self.checkFixture("data_y.npy"), "--report", report, "--json", "--threads", "1"])
        #expect(r.status == 1)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let findings = json?["findings"] as? [[String: Any]] ?? []
        #expect(findings.first?["severity"] as? String == "error")
        #expect(findings.contains { $0["id"] as? String == "collapsed-output" })
        let metrics = json?["metrics"] as? [String: Any]
        for key in ["auc", "accuracy_at_0_5", "best_threshold", "score_min", "score_max", "class_0_mean", "class_1_mean"] {
            #expect(metrics?[key] != nil, "\(key)")
        }
        #expect(FileManager.default.fileExists(atPath: report))
    }

    @Test func labelsThatAreNotBinary() throws {
        let dir = try temporaryFolder()
        let labels = dir.appendingPathComponent("labels.npy").path
        try FileManager.default.copyItem(atPath: Fixtures.root.appendingPathComponent("npy/float32.npy").path, toPath: labels)
        let r = try ModelPortBinary.run(["check", Self.checkFixture("healthy.h5"), "--inputs", Self.checkFixture("data_x.npy"), "--labels", labels])
        #expect(r.status == 2)
        #expect(r.stderrLines.count == 1 && r.stderrLines[0].hasPrefix("error: \(labels)"))
    }

    @Test func labelCountThatDiffers() throws {
        // A valid .npy of five 0/1 labels, for 64 samples.
        let dir = try temporaryFolder()
        let labels = dir.appendingPathComponent("five.npy").path
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }"
        header += String(repeating: " ", count: 63 - (10 + header.utf8.count) % 64) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8)
        for v: Float in [0, 1, 0, 1, 1] { bytes += withUnsafeBytes(of: v) { Array($0) } }
        try Data(bytes).write(to: URL(fileURLWithPath: labels))
        let r = try ModelPortBinary.run(["check", Self.checkFixture("healthy.h5"), "--inputs", Self.checkFixture("data_x.npy"),
                                         "--labels", labels])
        #expect(r.status == 2)
        #expect(r.stderrLines.count == 1 && r.stderrLines[0].contains("labels for"))
    }

    @Test func classFolderWithoutImages() throws {
        let dir = try temporaryFolder()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("a"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("b"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.root.appendingPathComponent("images/cat/a.png").path,
                                         toPath: dir.appendingPathComponent("a/x.png").path)
        let r = try ModelPortBinary.run(["check", Self.checkFixture("healthy.h5"), "--data", dir.path])
        #expect(r.status == 2)
        #expect(r.stderrLines.count == 1 && r.stderrLines[0].contains("/b") && r.stderrLines[0].contains("no PNG or JPEG"))
    }
}

@Suite("ONNX from the command line")
struct ONNXCommandTests {
    static func onnx(_ name: String) -> String { Fixtures.root.appendingPathComponent("onnx/\(name)").path }

    @Test func validateAndInspectAnONNXModel() throws {
        let v = try ModelPortBinary.run(["validate", Self.onnx("torch_cnn.onnx"), "--inputs", Self.onnx("torch_cnn.inputs.npz"),
                                         "--expected", Self.onnx("torch_cnn.expected.npz")])
        #expect(v.status == 0, "\(v.stdout)\(v.stderr)")
        let i = try ModelPortBinary.run(["inspect", Self.onnx("torch_cnn.onnx"), "--json"])
        #expect(i.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(i.stdout.utf8)) as? [String: Any]
        #expect(json?["format"] as? String == "onnx")
        #expect(json?["parameters"] as? Int == 346)
    }

    @Test("bad ONNX files exit 2 with one error line", arguments: ["unknown_op.onnx", "cycle.onnx", "escaping_external.onnx", "future_opset.onnx"])
    func badFile(_ file: String) throws {
        try expectCleanFailure(["inspect", Self.onnx("bad/\(file)")], naming: Self.onnx("bad/\(file)"))
    }
}

@Suite("convert to ONNX")
struct ConvertCommandTests {
    @Test("a converted Keras model runs in ModelPort with Keras' outputs", arguments: ["seed_sigmoid", "mlp", "nested", "tfop"])
    func convertThenRun(model: String) throws {
        let dir = try temporaryFolder()
        let onnx = dir.appendingPathComponent("\(model).onnx").path
        let c = try ModelPortBinary.run(["convert", Fixtures.keras("\(model).h5"), onnx])
        #expect(c.status == 0, "\(c.stderr)")
        let input = FileManager.default.fileExists(atPath: Fixtures.keras("\(model).input.npy")) ? "\(model).input.npy" : "\(model).inputs.npz"
        let v = try ModelPortBinary.run(["validate", onnx, "--inputs", Fixtures.keras(input), "--expected", Fixtures.keras("\(model).keras2.output.npy")])
        #expect(v.status == 0, "\(v.stdout)\(v.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["\(model).onnx"])
    }

    @Test func refusesToOverwriteWithoutForce() throws {
        let dir = try temporaryFolder()
        let onnx = dir.appendingPathComponent("m.onnx").path
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: onnx))
        try expectCleanFailure(["convert", Fixtures.keras("mlp.h5"), onnx], naming: onnx, mentions: ["--force"])
        #expect(try String(contentsOfFile: onnx, encoding: .utf8) == "keep me")
        let forced = try ModelPortBinary.run(["convert", Fixtures.keras("mlp.h5"), onnx, "--force"])
        #expect(forced.status == 0)
    }

    @Test("ONNX to ONNX keeps every byte of the model")
    func onnxRoundTrip() throws {
        let dir = try temporaryFolder()
        let source = Fixtures.root.appendingPathComponent("onnx/torch_cnn.onnx").path
        let copy = dir.appendingPathComponent("copy.onnx").path
        let r = try ModelPortBinary.run(["convert", source, copy])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == Data(contentsOf: URL(fileURLWithPath: source)))
    }

    @Test func unsupportedTargetAndOpset() throws {
        let a = try ModelPortBinary.run(["convert", Fixtures.keras("mlp.h5"), "/tmp/x.txt"])
        #expect(a.status == 2 && a.stderrLines.first?.hasPrefix("error: ") == true)
        let b = try ModelPortBinary.run(["convert", Fixtures.keras("mlp.h5"), "/tmp/x.onnx", "--opset", "9"])
        #expect(b.status == 2 && b.stderrLines.first?.hasPrefix("error: ") == true)
    }
}

/// Writing Keras files from the command line: the format from OUT's name, nothing half-written.
@Suite("convert to Keras files")
struct ConvertToKerasTests {
    @Test("each Keras kind from OUT's name, loadable again", arguments: ["m.h5", "m_weights.h5", "m.keras", "m.weights.h5"])
    func eachKind(_ name: String) throws {
        let dir = try temporaryFolder()
        let out = dir.appendingPathComponent(name).path
        let r = try ModelPortBinary.run(["convert", Fixtures.keras("mlp.h5"), out])
        #expect(r.status == 0, "\(r.stderr)")
        let architecture = name.contains("weights") ? ["--architecture", Fixtures.keras(name.hasSuffix(".weights.h5") ? "mlp.keras" : "mlp.h5")] : []
        let v = try ModelPortBinary.run(["validate", out, "--inputs", Fixtures.keras("mlp.input.npy"),
                                         "--expected", Fixtures.keras("mlp.keras2.output.npy")] + architecture)
        #expect(v.status == 0, "\(v.stdout)\(v.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [name], "no temporary file left")
    }

    @Test func existingTargetNeedsForce() throws {
        let dir = try temporaryFolder()
        let out = dir.appendingPathComponent("m.keras").path
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: out))
        try expectCleanFailure(["convert", Fixtures.keras("mlp.h5"), out], naming: out, mentions: ["--force"])
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "keep me")
    }

    @Test func onnxOpWithoutKerasLayer() throws {
        let dir = try temporaryFolder()
        let out = dir.appendingPathComponent("old.keras").path
        try expectCleanFailure(["convert", Fixtures.root.appendingPathComponent("onnx/old_opset.onnx").path, out],
                               naming: out, mentions: ["Upsample_0", "no Keras equivalent"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func unwritableFolder() throws {
        let out = "/proc/modelport-cannot-write-here/m.h5"
        try expectCleanFailure(["convert", Fixtures.keras("mlp.h5"), out], naming: out, mentions: ["cannot write"])
    }

    /// Runs `/bin/<tool> arguments`; true on exit 0.
    static func system(_ tool: String, _ arguments: [String]) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/\(tool)")
        p.arguments = arguments
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    /// A 64 KB tmpfs for `body`, when this machine lets a test mount one (root with the capability).
    static func withTinyDisk(_ body: (URL) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modelport-full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        guard system("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir.path]) else { return }
        defer {
            _ = system("umount", [dir.path])
            try? FileManager.default.removeItem(at: dir)
        }
        try body(dir)
    }

    static let canMountTinyDisk: Bool = {
        var mounted = false
        try? withTinyDisk { _ in mounted = true }
        return mounted
    }()

    @Test("a full disk: exit 2, nothing half-written", .enabled(if: canMountTinyDisk, "needs root and a tmpfs mount"),
          arguments: ["seed.h5", "seed.keras"])
    func fullDisk(_ name: String) throws {
        try Self.withTinyDisk { dir in
            let out = dir.appendingPathComponent(name).path
            try expectCleanFailure(["convert", Fixtures.keras(name.hasSuffix(".keras") ? "seed_sigmoid.keras" : "seed_sigmoid.h5"), out],
                                   naming: out, mentions: ["space"])
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "nothing half-written")
        }
    }
}
