import Foundation
import Testing

@Suite("modelport finetune (BatchNormalization repair) on the command line")
struct FinetuneCommandTests {
    static func check(_ name: String) -> String { Fixtures.root.appendingPathComponent("check/\(name)").path }

    @Test("the collapsed model repaired from its image folder, saved atomically, refused without data or with epochs")
    func repair() throws {
        let dir = try temporaryFolder()
        let out = dir.appendingPathComponent("repaired.h5").path
        let ok = try ModelPortBinary.run(["finetune", Self.check("collapsed.h5"), "--data", Self.check("data"), "--recalibrate-batchnorm",
                                          "--output", out, "--quiet"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("AUC 0.557 → 1.000"), "\(ok.stdout)")
        #expect(FileManager.default.fileExists(atPath: out))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["repaired.h5"])
        let after = try ModelPortBinary.run(["check", out, "--data", Self.check("data"), "--json"])
        #expect(after.status == 0, "no error finding left: \(after.stdout.prefix(400))")
        #expect(!after.stdout.contains("collapsed-output"))
        // An existing OUT needs --force; bad usage is one error line.
        try expectCleanFailure(["finetune", Self.check("collapsed.h5"), "--data", Self.check("data"), "--recalibrate-batchnorm", "--output", out],
                               naming: out, mentions: ["--force"])
        let epochs = try ModelPortBinary.run(["finetune", Self.check("collapsed.h5"), "--data", Self.check("data"), "--epochs", "3",
                                              "--recalibrate-batchnorm", "--output", dir.appendingPathComponent("x.h5").path])
        #expect(epochs.status == 2)
        #expect(epochs.stderr.contains("not implemented"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.h5").path))
    }
}
