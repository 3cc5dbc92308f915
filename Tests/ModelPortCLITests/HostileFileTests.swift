import Foundation
import Testing

/// Hostile and malformed files (Fixtures/hostile, made by make_hostile_fixtures.py): each gets
/// exit 2 and one `error:` line naming it, within seconds and far less than a gigabyte —
/// never a trap, an abort or a runaway allocation.
@Suite("hostile files are refused cleanly")
struct HostileFileTests {
    struct Entry: CustomTestStringConvertible, Sendable {
        var file: String
        var command: String
        var what: String
        /// The model `run` reads the file with (relative to Fixtures/), when not the MLP.
        var model: String?
        var testDescription: String { "\(file): \(what)" }
    }

    static let folder = Fixtures.root.appendingPathComponent("hostile")

    static let entries: [Entry] = {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("manifest.json")),
              let list = try? JSONSerialization.jsonObject(with: data) as? [[String: String]] else { return [] }
        return list.compactMap { e in
            guard let file = e["file"], let command = e["command"], let what = e["what"] else { return nil }
            return Entry(file: file, command: command, what: what, model: e["model"])
        }
    }()

    @Test func theManifestListsEveryFile() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter { $0 != "manifest.json" }
        #expect(Set(files) == Set(Self.entries.map(\.file)))
        #expect(Self.entries.count >= 20)
    }

    @Test("exit 2, one error line, bounded time and memory", arguments: entries)
    func refused(_ e: Entry) throws {
        let path = Self.folder.appendingPathComponent(e.file).path
        let model = e.model.map { Fixtures.root.appendingPathComponent($0).path } ?? Fixtures.keras("mlp.h5")
        let arguments = e.command == "run" ? ["run", model, "--input", path] : [e.command, path]
        let start = Date()
        try expectCleanFailure(arguments, naming: path)
        #expect(Date().timeIntervalSince(start) < 20, "an answer within seconds")
        // This command's own peak (RUSAGE_CHILDREN would be the largest child of any test running in this process).
        let peak = try ModelPortBinary.peakKilobytes(arguments)
        #expect(peak > 1_000 && peak < 1_000_000, "peak memory \(peak / 1024) MB")
    }

    @Test("without the helper (MODELPORT_HDF5_CHECK=fork) the command forks for the HDF5 check, with the same limits")
    func forkFallback() throws {
        let fork = ["MODELPORT_HDF5_CHECK": "fork"]
        let memory = Self.folder.appendingPathComponent("libhdf5_memory_keras.keras").path
        try expectCleanFailure(["inspect", memory], naming: memory, mentions: ["in a separate check process"], environment: fork)
        let sound = try ModelPortBinary.run(["inspect", Fixtures.keras("mlp.h5")], environment: fork)
        #expect(sound.status == 0, "\(sound.stderr)")
    }

    @Test("zip members named outside the folder are never written, wherever they point")
    func escapingNamesWriteNothing() throws {
        let path = Self.folder.appendingPathComponent("keras_escaping_names.keras").path
        try expectCleanFailure(["inspect", path], naming: path)
        let folder = Self.folder.deletingLastPathComponent().deletingLastPathComponent()
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        for place in ["/tmp/modelport-escape.h5", folder.appendingPathComponent("modelport-escape").path,
                      cwd.appendingPathComponent("../../modelport-escape").standardized.path,
                      FileManager.default.temporaryDirectory.appendingPathComponent("../../modelport-escape").standardized.path] {
            #expect(!FileManager.default.fileExists(atPath: place), "\(place) was written")
        }
    }
}
