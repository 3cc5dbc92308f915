// swift-tools-version:6.0
// libFuzzer targets over ModelPort's readers; built by `make fuzz` with -sanitize=fuzzer.
import Foundation
import PackageDescription

// A path dependency is known by its folder's name, whatever the clone is called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "ModelPortFuzz",
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(
            name: "ModelPortFuzz",
            dependencies: [.product(name: "ModelPort", package: root), .product(name: "DataIO", package: root),
                           .product(name: "ModelIR", package: root)],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)
