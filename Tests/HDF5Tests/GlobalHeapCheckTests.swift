import Foundation
@testable import HDF5
import Testing

@Suite("HDF5 global heap check")
struct GlobalHeapCheckTests {
    /// A collection of `size` bytes at offset 8 holding one object of `objectSize` bytes, then free space.
    static func collection(size: Int, objectSize: UInt64) -> [UInt8] {
        var b = [UInt8](repeating: 0xAB, count: 8) + Array("GCOL".utf8) + [1, 0, 0, 0]
        b += withUnsafeBytes(of: UInt64(size).littleEndian, Array.init)
        b += [1, 0, 1, 0, 0, 0, 0, 0] + withUnsafeBytes(of: objectSize.littleEndian, Array.init)
        b += [UInt8](repeating: 0x41, count: Int(min(objectSize, 64) + 7) / 8 * 8)
        let used = b.count - 8
        b += [0, 0, 0, 0, 0, 0, 0, 0] + withUnsafeBytes(of: UInt64(size - used).littleEndian, Array.init)
        b += [UInt8](repeating: 0, count: max(0, size - (b.count - 8)))
        return b
    }

    @Test("a sound collection passes; an object larger than its collection, or a collection past the file's end, is named")
    func collections() {
        let sound = Self.collection(size: 4096, objectSize: 40)
        #expect(sound.withUnsafeBytes { GlobalHeapCheck.damage(in: $0) } == nil)
        let damaged = Self.collection(size: 4096, objectSize: 234_881_024)
        let problem = damaged.withUnsafeBytes { GlobalHeapCheck.damage(in: $0) }
        #expect(problem?.contains("object 1 of the global heap collection at byte 8 claims 234881024 bytes") == true, "\(problem ?? "nil")")
        let truncated = Array(sound.prefix(2000))
        #expect(truncated.withUnsafeBytes { GlobalHeapCheck.damage(in: $0) }?.contains("past the end of the file") == true)
        // Free space of size 0: libhdf5 1.10's walk would never move on.
        var stalled = sound
        let free = 8 + 16 + 16 + 40
        for i in 0..<8 { stalled[free + 8 + i] = 0 }
        #expect(stalled.withUnsafeBytes { GlobalHeapCheck.damage(in: $0) }?.contains("free space at byte \(free)") == true)
        // "GCOL" inside data, without a collection header's fixed fields, is not a collection.
        let noise = [UInt8](repeating: 7, count: 64) + Array("GCOL".utf8) + [9, 9, 9, 9] + [UInt8](repeating: 0xFF, count: 64)
        #expect(noise.withUnsafeBytes { GlobalHeapCheck.damage(in: $0) } == nil)
    }

    @Test("every committed Keras .h5 passes the check")
    func fixtures() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures")
        var checked = 0
        for folder in ["keras", "check", "training", "transfer", "keras_extra"] {
            let dir = root.appendingPathComponent(folder)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] where name.hasSuffix(".h5") {
                #expect(throws: Never.self) { try GlobalHeapCheck.validate(dir.appendingPathComponent(name).path) }
                checked += 1
            }
        }
        #expect(checked >= 20)
    }
}
