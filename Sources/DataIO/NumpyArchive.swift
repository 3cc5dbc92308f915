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
            var data = Data()
            do { _ = try archive.extract(entry, skipCRC32: false) { data.append($0) } } catch {
                throw DataIOError(path, "cannot extract '\(entry.path)' (truncated or damaged archive)")
            }
            let name = entry.path.hasSuffix(".npy") ? String(entry.path.dropLast(4)) : entry.path
            result.append((name, try NumpyFormat.decode([UInt8](data), file: "\(path):\(entry.path)")))
        }
        return result
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
