import DataIO
import Foundation
import ModelIR
import Testing

func npyFixture(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/npy").appendingPathComponent(name).path
}

/// Files written by numpy itself (Fixtures/make_npy_fixtures.py): every element is its flat index.
@Suite(".npy and .npz made by numpy")
struct NumpyTests {
    static let dtypes = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]

    @Test("every numeric dtype", arguments: dtypes)
    func readsEveryDType(_ name: String) throws {
        let t = try NumpyFormat.read(npyFixture("\(name).npy"))
        #expect(t.dtype.rawValue == name)
        #expect(t.shape == [2, 3, 4])
        #expect(t.floats() == (0..<24).map(Float.init))
    }

    @Test func boolArray() throws {
        let t = try NumpyFormat.read(npyFixture("bool.npy"))
        #expect(t.dtype == .bool)
        #expect(t.floats() == (0..<24).map { $0 % 3 == 0 ? 1 : 0 })
    }

    @Test("Fortran order and big-endian become C order, native bytes")
    func fortranAndBigEndian() throws {
        #expect(try NumpyFormat.read(npyFixture("float32_fortran.npy")).floats() == (0..<24).map(Float.init))
        let big = try NumpyFormat.read(npyFixture("float64_bigendian.npy"))
        #expect(big.dtype == .float64)
        #expect(big.floats() == (0..<24).map(Float.init))
    }

    @Test func scalarAndEmpty() throws {
        let s = try NumpyFormat.read(npyFixture("scalar.npy"))
        #expect(s.shape == [] && s.floats() == [2.5])
        let e = try NumpyFormat.read(npyFixture("empty.npy"))
        #expect(e.shape == [0, 3] && e.count == 0)
    }

    @Test("stored and deflated archives", arguments: ["stored.npz", "deflated.npz"])
    func archives(_ file: String) throws {
        let arrays = try NumpyArchive.read(npyFixture(file))
        #expect(arrays.map(\.name).sorted() == ["image", "labels"])
        let image = try #require(arrays.first { $0.name == "image" }?.tensor)
        #expect(image.shape == [2, 3, 4] && image.floats() == (0..<24).map(Float.init))
        #expect(arrays.first { $0.name == "labels" }?.tensor.dtype == .int64)
    }

    @Test("what we write, we read back bit-identical", arguments: [true, false])
    func roundTrip(compressed: Bool) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = Tensor(shape: [3, 1], floats: [1.5, -2, .pi])
        let b = try NumpyFormat.read(npyFixture("int16.npy"))
        try NumpyFormat.write(a, to: dir.appendingPathComponent("a.npy").path)
        #expect(try NumpyFormat.read(dir.appendingPathComponent("a.npy").path) == a)
        try NumpyArchive.write([("a", a), ("b", b)], to: dir.appendingPathComponent("ab.npz").path, compressed: compressed)
        let back = try NumpyArchive.read(dir.appendingPathComponent("ab.npz").path)
        #expect(back.map(\.name) == ["a", "b"])
        #expect(back.map(\.tensor) == [a, b])
        // No temporary files are left beside the outputs.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["a.npy", "ab.npz"])
    }

    @Test("broken files are errors that name the file")
    func brokenFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npy-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try Data(contentsOf: URL(fileURLWithPath: npyFixture("float32.npy")))
        let cases: [(String, Data)] = [
            ("text.npy", Data("hello".utf8)),
            ("truncated.npy", good.prefix(good.count - 10)),
            ("header.npy", good.prefix(20)),
            ("badshape.npy", Data(String(decoding: good, as: UTF8.self).replacingOccurrences(of: "(2, 3, 4)", with: "(2, x, 4)").utf8)),
        ]
        for (name, data) in cases {
            let path = dir.appendingPathComponent(name).path
            try data.write(to: URL(fileURLWithPath: path))
            #expect(throws: DataIOError.self) { try NumpyFormat.read(path) }
            do { _ = try NumpyFormat.read(path) } catch { #expect(String(describing: error).hasPrefix(path)) }
        }
        #expect(throws: DataIOError.self) { try NumpyArchive.read(npyFixture("float32.npy")) }
        #expect(throws: DataIOError("/no/file.npy", "no such file")) { try NumpyFormat.read("/no/file.npy") }
    }
}
