import Foundation
import ModelIR
import ZIPFoundation

/// numpy's `.npz`: a zip of `.npy` files, stored (`np.savez`) or deflated (`np.savez_compressed`).
public enum NumpyArchive {
    /// Every array in the archive, in archive order, keyed by name (without `.npy`).
    public static func read(_ path: String) throws -> [(name: String, tensor: Tensor)] {
        guard FileManager.default.fileExists(atPath: path) else { throw DataIOError(path, "no such file") }
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) } catch {
            throw DataIOError(path, "not a .npz file (not a readable zip archive)")
        }
        var result: [(String, Tensor)] = []
        for entry in archive where entry.type == .file {
            let member = "\(path):\(entry.path)"
            let data = try extractArray(entry, from: archive, member: member)
            let name = entry.path.hasSuffix(".npy") ? String(entry.path.dropLast(4)) : entry.path
            result.append((name, try NumpyFormat.decode([UInt8](data), file: member)))
        }
        return result
    }

    /// Stops an extraction that goes on past the array.
    private struct Complete: Error {}

    /// A member's bytes, read no further than its `.npy` header says the array needs: a member
    /// that inflates past its array (a decompression bomb) is refused after one chunk.
    static func extractArray(_ entry: Entry, from archive: Archive, member: String) throws -> Data {
        var data = Data()
        var needed: Int?
        do {
            // A member that ends with its array is read to its end, so its checksum is verified.
            _ = try archive.extract(entry, skipCRC32: false) { chunk in
                data.append(chunk)
                if needed == nil { needed = try NumpyFormat.totalLength(header: [UInt8](data.prefix(65_536)), file: member) }
                if let needed, data.count > needed { throw Complete() }
                if needed == nil, data.count > 65_536 + 12 { throw DataIOError(member, "the .npy header is too long") }
            }
        } catch is Complete {
            throw DataIOError(member, "the member goes on past its \(needed ?? 0)-byte array (a decompression bomb or a damaged archive)")
        } catch let e as DataIOError {
            throw e
        } catch {
            throw DataIOError(member, "cannot extract it (truncated or damaged archive)")
        }
        return data
    }

    /// Writes arrays as a `.npz` (deflated when `compressed`), atomically.
    public static func write(_ arrays: [(name: String, tensor: Tensor)], to path: String, compressed: Bool = true) throws {
        let temp = AtomicFile.temporaryPath(beside: path)
        do {
            let archive = try Archive(url: URL(fileURLWithPath: temp), accessMode: .create)
            for (name, tensor) in arrays {
                let data = Data(NumpyFormat.encode(tensor))
                try archive.addEntry(with: name + ".npy", type: .file, uncompressedSize: Int64(data.count),
                                     compressionMethod: compressed ? .deflate : .none) { position, size in
                    data.subdata(in: Int(position)..<(Int(position) + size))
                }
            }
        } catch let e as DataIOError {
            throw e
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw DataIOError(path, "cannot write the archive (\(error))")
        }
        try AtomicFile.commit(temp, to: path)
    }
}
