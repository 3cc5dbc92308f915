import CHDF5
import Foundation

/// An open HDF5 file. Its root group is where every walk starts.
///
/// ```swift
/// let file = try HDF5File(reading: "model.h5")
/// let config = try file.root.attribute("model_config")
/// ```
public final class HDF5File {
    public let path: String
    let handle: Handle

    /// Opens an existing file read-only.
    public init(reading path: String) throws {
        _ = librarySetUp
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw HDF5Error.cannotOpen(file: path, reason: "no such file")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw HDF5Error.cannotOpen(file: path, reason: "the file is not readable")
        }
        guard H5Fis_hdf5(path) > 0 else {
            throw HDF5Error.cannotOpen(file: path, reason: "not an HDF5 file")
        }
        try SeparateReadCheck.validate(path)
        guard let h = Handle(H5Fopen(path, mp_H5F_ACC_RDONLY(), mp_H5P_DEFAULT()), .file) else {
            throw HDF5Error.cannotOpen(file: path, reason: "cannot open the HDF5 file (truncated or damaged?)")
        }
        handle = h
    }

    /// Creates a new file, replacing any file at `path`.
    public init(creating path: String) throws {
        _ = librarySetUp
        self.path = path
        guard let h = Handle(H5Fcreate(path, mp_H5F_ACC_TRUNC(), mp_H5P_DEFAULT(), mp_H5P_DEFAULT()), .file) else {
            throw HDF5Error.cannotCreate(file: path)
        }
        handle = h
    }

    /// Creates a file that lives in memory only; `image()` gives its bytes. Writers use it so
    /// that writing to disk is one plain write whose failure (a full disk) is an ordinary error.
    public init(inMemoryNamed name: String) throws {
        _ = librarySetUp
        self.path = name
        guard let fapl = Handle(H5Pcreate(mp_H5P_FILE_ACCESS()), .propertyList),
              H5Pset_fapl_core(fapl.id, 1 << 20, false) >= 0,
              let h = Handle(H5Fcreate(name, mp_H5F_ACC_TRUNC(), mp_H5P_DEFAULT(), fapl.id), .file) else {
            throw HDF5Error.cannotCreate(file: name)
        }
        handle = h
    }

    /// The bytes of the whole file, as they would be on disk.
    public func image() throws -> [UInt8] {
        guard H5Fflush(handle.id, H5F_SCOPE_GLOBAL) >= 0 else { throw HDF5Error.writeFailed(file: path, path: "/") }
        let size = H5Fget_file_image(handle.id, nil, 0)
        guard size >= 0 else { throw HDF5Error.writeFailed(file: path, path: "/") }
        var bytes = [UInt8](repeating: 0, count: size)
        let written = bytes.withUnsafeMutableBytes { H5Fget_file_image(handle.id, $0.baseAddress, size) }
        guard written == size else { throw HDF5Error.writeFailed(file: path, path: "/") }
        return bytes
    }

    /// True when the file at `path` has an HDF5 signature.
    public static func isHDF5(_ path: String) -> Bool {
        _ = librarySetUp
        return H5Fis_hdf5(path) > 0
    }

    public var root: HDF5Group {
        get throws { try HDF5Group(file: self, parent: handle.id, path: "/") }
    }

    /// Writes buffered data to disk; the file stays open.
    public func flush() throws {
        guard H5Fflush(handle.id, H5F_SCOPE_GLOBAL) >= 0 else {
            throw HDF5Error.writeFailed(file: path, path: "/")
        }
    }
}
