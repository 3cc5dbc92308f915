import DataIO
import Foundation
import ModelIR
import ModelPort

/// One libFuzzer entry point for every reader; `MODELPORT_FUZZ_TARGET` picks it: `npy`,
/// `keras-json` (a model config → IR), `keras-h5` / `keras-zip` / `onnx` (a whole file, written
/// to a temporary path and loaded as a user's would be). A reader may throw; it must not trap.
enum FuzzTarget: String {
    case npy, kerasJSON = "keras-json", kerasH5 = "keras-h5", kerasZip = "keras-zip", onnx

    static let current = FuzzTarget(rawValue: ProcessInfo.processInfo.environment["MODELPORT_FUZZ_TARGET"] ?? "npy") ?? .npy
    nonisolated(unsafe) static var inputs = 0
    static let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("modelport-fuzz-\(getpid())")

    func run(_ bytes: [UInt8]) {
        switch self {
        case .npy:
            _ = try? NumpyFormat.decode(bytes, file: "fuzz.npy")
        case .kerasJSON:
            _ = try? JSONValue(parsing: String(decoding: bytes, as: UTF8.self))
            load(bytes, as: "fuzz.json", architecture: true)
        case .kerasH5: load(bytes, as: "fuzz.h5")
        case .kerasZip: load(bytes, as: "fuzz.keras")
        case .onnx: load(bytes, as: "fuzz.onnx")
        }
    }

    /// Writes the input to a file and loads it (a JSON architecture with the mlp fixture's weights).
    func load(_ bytes: [UInt8], as name: String, architecture: Bool = false) {
        try? FileManager.default.createDirectory(at: Self.scratch, withIntermediateDirectories: true)
        let url = Self.scratch.appendingPathComponent(name)
        guard (try? Data(bytes).write(to: url)) != nil else { return }
        // A change time of its own, long past: as a file that was there before the command (checked
        // by libhdf5 in a separate process once, then known), not one just written (checked at every open).
        Self.inputs += 1
        try? FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1e6 + Double(Self.inputs))],
                                               ofItemAtPath: url.path)
        if architecture, let weights = ProcessInfo.processInfo.environment["MODELPORT_FUZZ_WEIGHTS"] {
            _ = try? Model.load(weights, architecture: url.path)
        } else {
            _ = try? Model.load(url.path)
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    FuzzTarget.current.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// libFuzzer's driver, called from the executable's entry point (SwiftPM names it
/// `ModelPortFuzz_main`), as `main` would be in a C harness.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
               _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32

@_cdecl("ModelPortFuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return withUnsafeMutablePointer(to: &arguments) { pointer in
        runDriver(&count, pointer) { data, size in fuzzOne(data, size) }
    }
}
