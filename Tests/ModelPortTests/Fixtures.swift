import DataIO
import Foundation
import ModelIR

/// Paths of the committed fixtures made by the real Keras (Fixtures/make_keras_fixtures.py).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static func keras(_ name: String) -> String { root.appendingPathComponent("keras").appendingPathComponent(name).path }
    /// Fixtures/transfer (make_transfer_fixtures.py): the transfer-learning and preprocessing models.
    static func transfer(_ name: String) -> String { root.appendingPathComponent("transfer").appendingPathComponent(name).path }

    /// The arrays of an `.npz` by name.
    static func arrays(_ path: String) throws -> [String: Tensor] {
        Dictionary(try NumpyArchive.read(path).map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    }
}
