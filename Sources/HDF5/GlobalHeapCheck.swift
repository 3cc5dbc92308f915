import Foundation

/// Checks a file's HDF5 global heap collections before libhdf5 reads them. libhdf5 1.10 trusts
/// the object sizes in a collection: a damaged size makes `H5HG_read` copy hundreds of megabytes
/// past the collection (found by fuzzing: a segfault, or a memcpy overlap under AddressSanitizer,
/// on a variable-length string attribute). Keras keeps its configs and names in such strings.
enum GlobalHeapCheck {
    /// The first damaged collection, or nil. A collection (HDF5 format spec, "Global Heap
    /// Collection") is `GCOL`, version 1, three zero bytes, its size (8 bytes, at least 4096),
    /// then objects: index (2), reference count (2), reserved (4), size (8), data padded to 8;
    /// index 0 is the free space that ends it.
    static func damage(in bytes: UnsafeRawBufferPointer) -> String? {
        let n = bytes.count
        guard n >= 16, let base = bytes.baseAddress else { return nil }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) } }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        let g = UInt8(ascii: "G"), c = UInt8(ascii: "C"), o = UInt8(ascii: "O"), l = UInt8(ascii: "L")
        var offset = 0
        while offset + 16 <= n {
            guard let hit = memchr(base + offset, Int32(g), n - offset) else { return nil }
            let at: Int = base.distance(to: UnsafeRawPointer(hit))
            offset = at + 1
            guard at + 16 <= n, bytes[at + 1] == c, bytes[at + 2] == o, bytes[at + 3] == l else { continue }
            // Only what is a collection header by every fixed field (weights may hold "GCOL" by chance).
            guard at + 16 <= n, bytes[at + 4] == 1, bytes[at + 5] == 0, bytes[at + 6] == 0, bytes[at + 7] == 0 else { continue }
            let size = u64(at + 8)
            guard size >= 4096, size <= UInt64(Int.max) else { continue }
            guard size <= UInt64(n - at) else {
                return "a global heap collection at byte \(at) claims \(size) bytes, past the end of the file"
            }
            let end: Int = at + Int(size)
            var object: Int = at + 16
            // As libhdf5 walks it: an object advances 16 + its size rounded to 8, free space (index 0)
            // its own size, header included; fewer than 16 bytes left are free space.
            while object + 16 <= end {
                let index: Int = u16(object)
                let objectSize: UInt64 = u64(object + 8)
                let left = UInt64(end - object)
                if index == 0 {
                    // libhdf5 1.10 steps by this size: below its 16-byte header it never moves on (a hang).
                    guard objectSize >= 16, objectSize <= left else {
                        return "the free space at byte \(object) of the global heap collection at byte \(at) claims \(objectSize) bytes of \(left)"
                    }
                    object += Int(objectSize)
                    continue
                }
                guard objectSize <= left - 16 else {
                    return "object \(index) of the global heap collection at byte \(at) claims \(objectSize) bytes; the collection has \(left - 16) left"
                }
                object += 16 + Int((objectSize + 7) / 8 * 8)
            }
        }
        return nil
    }

    /// Throws when the file's global heap is damaged.
    static func validate(_ path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch { return }
        let problem = data.withUnsafeBytes { damage(in: $0) }
        if let problem { throw HDF5Error.cannotOpen(file: path, reason: "the file is damaged: \(problem)") }
    }
}
