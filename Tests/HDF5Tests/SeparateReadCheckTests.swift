import CHDF5Check
import Foundation
@testable import HDF5
import Testing

@Suite("libhdf5 reads a file first in a separate, limited process")
struct SeparateReadCheckTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func fixture(_ path: String) -> String { fixtures.appendingPathComponent(path).path }

    /// The HDF5 member of a `.keras` that stores it uncompressed, as a file of its own (libhdf5
    /// ignores what follows the end its superblock names).
    static func storedWeights(of archive: String) throws -> String {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: archive)))
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
        let start = try #require((0...(bytes.count - 8)).first { Array(bytes[$0..<($0 + 8)]) == signature })
        let path = temporaryFile("weights-\(UUID().uuidString).h5")
        try Data(bytes[start...]).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("the helper is found beside the test runner, and every committed Keras .h5 passes")
    func fixturesPass() throws {
        #expect(SeparateReadCheck.helper != nil, "modelport-hdf5-check beside \(CommandLine.arguments[0])")
        var checked = 0
        for folder in ["keras", "check", "training", "transfer", "keras_extra"] {
            let dir = Self.fixtures.appendingPathComponent(folder)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] where name.hasSuffix(".h5") {
                #expect(throws: Never.self) { try SeparateReadCheck.validate(dir.appendingPathComponent(name).path) }
                checked += 1
            }
        }
        #expect(checked >= 20)
    }

    @Test("libhdf5 reading past an attribute name's buffer is caught in the helper (AddressSanitizer there)")
    func overReadIsRefused() throws {
        let path = Self.fixture("hostile/libhdf5_attribute_name_overread.h5")
        #expect {
            try HDF5File(reading: path)
        } throws: { error in
            "\(error)".contains("libhdf5 reads or writes outside its buffers") && "\(error)".hasPrefix(path + ": ")
        }
    }

    @Test("a file that makes libhdf5 allocate 1.8 GB is refused at the helper's limit")
    func memoryIsBounded() throws {
        let path = try Self.storedWeights(of: Self.fixture("hostile/libhdf5_memory_keras.keras"))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            try HDF5File(reading: path)
        } throws: { error in
            "\(error)".contains("libhdf5 asks for more than 512 MB to read it")
        }
        // The fork fallback is tested through the command (HostileFileTests): forking this process,
        // where other tests hold libhdf5's and the allocator's locks, may leave a child stuck on them.
    }

    @Test("a damaged global heap that makes libhdf5 loop is ended by the time limit")
    func timeIsBounded() throws {
        // GlobalHeapCheck refuses this file before the helper would see it; here the helper meets it.
        var detail: Int32 = 0
        let start = Date()
        let result = mp_hdf5_check(Self.fixture("hostile/fuzz_h5_global_heap_free_space.h5"), SeparateReadCheck.helper, 512 << 20, 1_500, &detail)
        #expect(result == MP_HDF5_CHECK_TIMEOUT)
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test("a dataset claiming more than its stored bytes hold is refused before it is allocated")
    func storageBoundsDatasets() throws {
        let path = Self.fixture("hostile/hdf5_weight_without_storage.h5")
        let group = try HDF5File(reading: path).root.group("model_weights/dense_1/dense_1")
        #expect(throws: HDF5Error.notStored(file: path, path: "/model_weights/dense_1/dense_1/kernel:0", claimed: 2_560_000_000,
                                            stored: 0, filtered: false)) {
            try group.readDataset("kernel:0")
        }
        #expect(try group.readDataset("bias:0").shape == [32])
    }

    @Test("an external link to another file is not followed")
    func externalLinksStayOut() throws {
        let root = try HDF5File(reading: Self.fixture("hostile/hdf5_external_link.h5")).root
        let weights = try root.group("model_weights")
        #expect(weights.kind(of: "dense_1") == nil)
        #expect(weights.kind(of: "dense_2") == .group)
    }
}
