import DataIO
import Foundation
import ModelPort
import Testing

/// Images decoded, resized and scaled as TensorFlow does (Fixtures/make_image_fixtures.py).
@Suite("image inputs")
struct ImageInputTests {
    static let files = ["cat/a.png", "cat/b.png", "cat/c.jpg", "cat/d.jpg", "dog/a.png", "dog/b.png", "dog/c.jpg", "dog/d.jpg"]

    @Test("decoded, resized to 128×156 and scaled like tf.io.decode_image + tf.image.resize", arguments: files)
    func matchesTensorFlow(_ file: String) throws {
        let model = try Model.load(Fixtures.keras("seed_sigmoid.h5"))
        let reference = try NumpyArchive.read(Fixtures.root.appendingPathComponent("images/reference.npz").path)
        let expected = try #require(reference.first { $0.name == file }?.tensor)
        let x = try model.imageInputs([Fixtures.root.appendingPathComponent("images/\(file)").path])["image"]
        let ours = try #require(x)
        #expect(ours.shape == [1, 128, 156, 1])
        let maxError = zip(ours.data, expected.floats()).map { abs($0 - $1) }.max() ?? 0
        // One grey level is 1/255 ≈ 0.0039.
        #expect(maxError <= 1.5 / 255, "max error \(maxError * 255) grey levels")
    }

    @Test func folderListingIsSortedAndRecursive() throws {
        let listed = try ImageFile.list(folder: Fixtures.root.appendingPathComponent("images").path)
        #expect(listed.map { String($0.split(separator: "/").suffix(2).joined(separator: "/")) } == Self.files)
    }

    @Test func brokenImageIsAnError() throws {
        let path = Fixtures.root.appendingPathComponent("bad/broken.png").path
        #expect(throws: DataIOError.self) { try ImageFile.decode(path, channels: 1) }
    }
}
