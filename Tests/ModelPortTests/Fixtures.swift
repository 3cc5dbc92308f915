import Foundation

/// Paths of the committed fixtures made by the real Keras (Fixtures/make_keras_fixtures.py).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static func keras(_ name: String) -> String { root.appendingPathComponent("keras").appendingPathComponent(name).path }
}
