// swift-tools-version:6.0
import Foundation
import PackageDescription

// modelport-hdf5-check is built with AddressSanitizer (see its main.c). clang takes one sanitizer
// at a time: a ThreadSanitizer build (make test-sanitize) sets MODELPORT_HELPER_ASAN=0.
let helperSanitizer: [String] = ProcessInfo.processInfo.environment["MODELPORT_HELPER_ASAN"] == "0" ? [] : ["address"]

let package = Package(
    name: "ModelPort",
    products: [
        .library(name: "ModelPort", targets: ["ModelPort"]),
        .library(name: "ModelIR", targets: ["ModelIR"]),
        .library(name: "KerasFormat", targets: ["KerasFormat"]),
        .library(name: "ONNXFormat", targets: ["ONNXFormat"]),
        .library(name: "HDF5", targets: ["HDF5"]),
        .library(name: "DataIO", targets: ["DataIO"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Diagnostics", targets: ["Diagnostics"]),
        .library(name: "Training", targets: ["Training"]),
        .executable(name: "modelport", targets: ["modelport"]),
        .executable(name: "modelport-hdf5-check", targets: ["modelport-hdf5-check"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CHDF5",
            pkgConfig: "hdf5-serial",
            providers: [.apt(["libhdf5-dev"])]
        ),
        // libhdf5 reads a file from elsewhere first in a separate, limited process (modelport-hdf5-check).
        .target(name: "CHDF5Check", dependencies: ["CHDF5"]),
        .executableTarget(
            name: "modelport-hdf5-check",
            dependencies: ["CHDF5Check"],
            cSettings: [.unsafeFlags(helperSanitizer.map { "-fsanitize=\($0)" })],
            linkerSettings: [.unsafeFlags(helperSanitizer.map { "-sanitize=\($0)" })]
        ),
        .target(name: "HDF5", dependencies: ["CHDF5", "CHDF5Check"]),
        .target(name: "ModelIR"),
        .systemLibrary(
            name: "CImageCodecs",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev", "libturbojpeg0-dev"])]
        ),
        .target(
            name: "DataIO",
            dependencies: ["ModelIR", "CImageCodecs", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // oneDNN 2.6 (Debian libdnnl-dev) behind a small C shim: forward convolutions with fused post-ops.
        .target(
            name: "CDNNL",
            linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]
        ),
        .target(name: "Engine", dependencies: ["ModelIR", "CBLAS", "CDNNL"]),
        .target(
            name: "KerasFormat",
            dependencies: ["ModelIR", "HDF5", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        .target(
            name: "ONNXFormat",
            dependencies: ["ModelIR", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .target(name: "Training", dependencies: ["ModelIR", "Engine"]),
        .target(name: "Diagnostics", dependencies: ["ModelIR", "Engine", "Training"]),
        .target(name: "ModelPort", dependencies: ["ModelIR", "KerasFormat", "ONNXFormat", "Engine", "DataIO", "Diagnostics", "Training"]),
        .executableTarget(
            name: "modelport",
            dependencies: ["ModelPort", "DataIO", "Engine", "Diagnostics", "Training", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5", "CHDF5Check"]),
        .testTarget(name: "ModelIRTests", dependencies: ["ModelIR"]),
        .testTarget(name: "DataIOTests", dependencies: ["DataIO", "ModelIR"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "ModelIR", "DataIO", "KerasFormat"]),
        .testTarget(name: "KerasFormatTests", dependencies: ["KerasFormat", "ModelIR", "HDF5"]),
        .testTarget(name: "ModelPortTests", dependencies: ["ModelPort", "ModelIR", "Training"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Engine", "ModelIR", "ModelPort", "DataIO"]),
        .testTarget(
            name: "ModelPortCLITests",
            dependencies: ["modelport", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
