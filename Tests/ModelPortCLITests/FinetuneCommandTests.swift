import Foundation
import Testing

@Suite("modelport finetune on the command line")
struct FinetuneCommandTests {
    static func check(_ name: String) -> String { Fixtures.root.appendingPathComponent("check/\(name)").path }

    /// A float32 `.npy` of shape (n,).
    static func writeVector(_ values: [Float], to url: URL) throws {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(values.count),), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        try Data(bytes).write(to: url)
    }

    @Test("the collapsed model repaired from its image folder, saved atomically; an existing OUT needs --force")
    func repair() throws {
        let dir = try temporaryFolder()
        let out = dir.appendingPathComponent("repaired.h5").path
        let ok = try ModelPortBinary.run(["finetune", Self.check("collapsed.h5"), "--data", Self.check("data"), "--recalibrate-batchnorm",
                                          "--output", out, "--quiet"])
        #expect(ok.status == 0, "\(ok.stderr)")
        // The collapsed model's 64 scores lie within 4.8e-5 of each other and many tie exactly, so its AUC
        // (0.557 in onnxruntime and here) moves by 0.0005 per tie formed or broken across CPUs: the test
        // reads "near chance → separated" (CheckONNXTests compares the value with onnxruntime's, 1e-3).
        let auc = try #require(ok.stdout.firstMatch(of: /AUC ([0-9.]+) → ([0-9.]+)/), "\(ok.stdout)")
        #expect(try #require(Double(auc.1)) < 0.6 && auc.2 == "1.000", "\(ok.stdout)")
        #expect(FileManager.default.fileExists(atPath: out))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["repaired.h5"])
        let after = try ModelPortBinary.run(["check", out, "--data", Self.check("data"), "--json"])
        #expect(after.status == 0, "no error finding left: \(after.stdout.prefix(400))")
        #expect(!after.stdout.contains("collapsed-output"))
        try expectCleanFailure(["finetune", Self.check("collapsed.h5"), "--data", Self.check("data"), "--recalibrate-batchnorm", "--output", out],
                               naming: out, mentions: ["--force"])
    }

    @Test("training with a validation split, class weights and a history, then recalibration: a model check accepts")
    func train() throws {
        let dir = try temporaryFolder()
        let out = dir.appendingPathComponent("tuned.keras").path, history = dir.appendingPathComponent("history.json").path
        let r = try ModelPortBinary.run(["finetune", Self.check("collapsed.h5"), "--data", Self.check("data"), "--epochs", "2", "--batch-size", "16",
                                         "--validation-split", "0.25", "--class-weight", "balanced", "--seed", "3", "--recalibrate-batchnorm",
                                         "--history", history, "--output", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty, "quiet when stderr is not a terminal: \(r.stderr)")
        #expect(r.stdout.contains("trained 102337 parameters on 48 samples, validated on 16"), "\(r.stdout)")
        #expect(r.stdout.contains("val_loss"))
        #expect(r.stdout.contains("saved: \(out)"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: history))) as? [String: Any]
        let epochs = json?["epochs"] as? [[String: Any]] ?? []
        #expect(epochs.count == 2)
        #expect(epochs.allSatisfy { ($0["loss"] as? Double)?.isFinite == true && $0["val_loss"] is Double })
        let after = try ModelPortBinary.run(["check", out, "--data", Self.check("data"), "--json"])
        #expect(!after.stdout.contains("collapsed-output"), "\(after.stdout.prefix(600))")
    }

    @Test("bad input: exit 2, one error line, nothing written")
    func badInput() throws {
        let dir = try temporaryFolder()
        let out = dir.appendingPathComponent("x.h5").path
        let model = Self.check("collapsed.h5")
        let twos = dir.appendingPathComponent("twos.npy"), short = dir.appendingPathComponent("short.npy")
        try Self.writeVector([Float](repeating: 2, count: 64), to: twos)
        try Self.writeVector([0, 1, 0], to: short)
        let x = Self.check("data_x.npy")
        try expectCleanFailure(["finetune", model, "--inputs", x, "--labels", twos.path, "--epochs", "1", "--output", out],
                               naming: twos.path, mentions: ["0 or 1"])
        try expectCleanFailure(["finetune", model, "--inputs", x, "--labels", short.path, "--epochs", "1", "--output", out],
                               naming: short.path, mentions: ["3 labels"])
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty.appendingPathComponent("a"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: empty.appendingPathComponent("b"), withIntermediateDirectories: true)
        try expectCleanFailure(["finetune", model, "--data", empty.path, "--epochs", "1", "--output", out], naming: empty.path)
        try expectCleanFailure(["finetune", model, "--data", Self.check("data"), "--epochs", "1", "--freeze", "nope", "--output", out],
                               naming: model, mentions: ["no layer 'nope'"])
        try expectCleanFailure(["finetune", model, "--data", Self.check("data"), "--epochs", "1", "--loss", "categorical_crossentropy", "--output", out],
                               naming: model, mentions: ["one output unit per class"])
        try expectCleanFailure(["finetune", model, "--data", Self.check("data"), "--epochs", "1", "--optimizer", "sgd", "--learning-rate", "1e30",
                                "--batch-size", "8", "--output", out], naming: model, mentions: ["loss became", "nothing was written"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["empty", "short.npy", "twos.npy"])
    }
}
