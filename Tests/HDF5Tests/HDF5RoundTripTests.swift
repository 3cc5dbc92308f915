import Foundation
import HDF5
import Testing

func temporaryFile(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("modelport-hdf5-\(UUID().uuidString)-\(name)").path
}

@Suite("HDF5 wrapper")
struct HDF5RoundTripTests {
    @Test("datasets of every element type read back bit-identical", arguments: HDF5ElementType.allCases)
    func datasetRoundTrip(_ type: HDF5ElementType) throws {
        let path = temporaryFile("ds.h5")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let shape = [2, 3]
        var bytes = (0..<(6 * type.byteCount)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        if type == .bool { bytes = [0, 1, 1, 0, 1, 0] }
        if type == .float16 || type == .float32 || type == .float64 {
            // Finite values: a NaN payload need not survive conversion.
            let values: [Double] = [0, 1.5, -2.25, 3.0e2, 1.0 / 3.0, -7]
            switch type {
            case .float16: bytes = values.flatMap { v -> [UInt8] in withUnsafeBytes(of: Float16(v).bitPattern) { Array($0) } }
            case .float32: bytes = values.flatMap { v -> [UInt8] in withUnsafeBytes(of: Float(v)) { Array($0) } }
            default: bytes = values.flatMap { v -> [UInt8] in withUnsafeBytes(of: v) { Array($0) } }
            }
        }
        let array = HDF5Array(elementType: type, shape: shape, bytes: bytes)
        do {
            let file = try HDF5File(creating: path)
            try file.root.writeDataset("group/inner/data", array)
        }
        let read = try HDF5File(reading: path).root.readDataset("group/inner/data")
        #expect(read == array)
    }

    @Test func scalarAndEmptyDatasets() throws {
        let path = temporaryFile("scalar.h5")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let scalar = HDF5Array(elementType: .int64, shape: [], bytes: withUnsafeBytes(of: Int64(42)) { Array($0) })
        let empty = HDF5Array(elementType: .float32, shape: [0, 4], bytes: [])
        do {
            let root = try HDF5File(creating: path).root
            try root.writeDataset("scalar", scalar)
            try root.writeDataset("empty", empty)
        }
        let root = try HDF5File(reading: path).root
        #expect(try root.readDataset("scalar") == scalar)
        #expect(try root.readDataset("empty") == empty)
        #expect(try root.memberNames() == ["empty", "scalar"])
        #expect(root.kind(of: "scalar") == .dataset)
        #expect(root.kind(of: "missing") == nil)
    }

    @Test("attributes of every kind Keras writes")
    func attributeRoundTrip() throws {
        let path = temporaryFile("attrs.h5")
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let root = try HDF5File(creating: path).root
            try root.setAttribute("model_config", .string("{\"class_name\": \"Sequential\", \"ünïcode\": true}"))
            try root.setAttribute("fixed", .string("tensorflow"), strings: .fixedLength)
            try root.setAttribute("layer_names", .strings(["dense", "dense_1", "batch_normalization"]), strings: .fixedLength)
            try root.setAttribute("vlen_names", .strings(["a", "bb", ""]))
            try root.setAttribute("int", .int(-3))
            try root.setAttribute("ints", .ints([1, 2, 3]))
            try root.setAttribute("double", .double(0.25))
            try root.setAttribute("doubles", .doubles([0.5, -1]))
        }
        let root = try HDF5File(reading: path).root
        #expect(try root.attribute("model_config") == .string("{\"class_name\": \"Sequential\", \"ünïcode\": true}"))
        #expect(try root.attribute("fixed") == .string("tensorflow"))
        #expect(try root.attribute("layer_names") == .strings(["dense", "dense_1", "batch_normalization"]))
        #expect(try root.attribute("vlen_names") == .strings(["a", "bb", ""]))
        #expect(try root.attribute("int") == .int(-3))
        #expect(try root.attribute("ints") == .ints([1, 2, 3]))
        #expect(try root.attribute("double") == .double(0.25))
        #expect(try root.attribute("doubles") == .doubles([0.5, -1]))
        #expect(try root.attribute("absent") == nil)
        #expect(Set(try root.attributeNames()) == ["model_config", "fixed", "layer_names", "vlen_names", "int", "ints", "double", "doubles"])
    }

    @Test("string arrays past the 64 KB header limit are split into name0, name1, …")
    func chunkedAttributes() throws {
        let path = temporaryFile("chunks.h5")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let names = (0..<3000).map { "layer_with_a_rather_long_name_number_\($0)" }
        do { try HDF5File(creating: path).root.setChunkedStringArray("layer_names", names) }
        let root = try HDF5File(reading: path).root
        #expect(try root.attribute("layer_names") == nil)
        #expect(try root.attribute("layer_names0") != nil)
        #expect(try root.attribute("layer_names1") != nil)
        #expect(try root.chunkedStringArray("layer_names") == names)
    }

    @Test("Keras' own split attributes (tf_keras many_layers.h5)")
    func kerasChunkedLayerNames() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/keras")
        let weights = try HDF5File(reading: folder.appendingPathComponent("many_layers.h5").path).root.group("model_weights")
        #expect(weights.hasAttribute("layer_names0"))
        #expect(weights.hasAttribute("layer_names1"))
        #expect(!weights.hasAttribute("layer_names"))
        let names = try #require(try weights.chunkedStringArray("layer_names"))
        // What tf_keras reported for the same model: every layer, in order.
        let report = try Data(contentsOf: folder.appendingPathComponent("many_layers.keras2.json"))
        let layers = try #require((try JSONSerialization.jsonObject(with: report) as? [String: Any])?["layers"] as? [[String: Any]])
        #expect(names == layers.compactMap { $0["name"] as? String })
    }

    @Test func notHDF5AndMissingFiles() throws {
        let path = temporaryFile("text.h5")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("plain text".utf8).write(to: URL(fileURLWithPath: path))
        #expect(!HDF5File.isHDF5(path))
        #expect(throws: HDF5Error.cannotOpen(file: path, reason: "not an HDF5 file")) { try HDF5File(reading: path) }
        #expect(throws: HDF5Error.cannotOpen(file: "/no/such.h5", reason: "no such file")) { try HDF5File(reading: "/no/such.h5") }
    }

    @Test func missingObjectsThrowTypedErrors() throws {
        let path = temporaryFile("missing.h5")
        defer { try? FileManager.default.removeItem(atPath: path) }
        do { _ = try HDF5File(creating: path).root.createGroup("a/b") }
        let root = try HDF5File(reading: path).root
        #expect(throws: HDF5Error.notFound(file: path, path: "/a/c")) { try root.group("a/c") }
        #expect(throws: HDF5Error.notFound(file: path, path: "/a/b")) { try root.readDataset("a/b") }
        #expect(root.kind(of: "a/b") == .group)
    }
}
