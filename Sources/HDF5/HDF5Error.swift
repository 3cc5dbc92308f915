/// What went wrong in an HDF5 call, phrased for a user who named the file.
public enum HDF5Error: Error, Equatable, CustomStringConvertible {
    /// The file is missing, unreadable, not HDF5, or truncated.
    case cannotOpen(file: String, reason: String)
    case cannotCreate(file: String)
    /// An object path that the file does not contain.
    case notFound(file: String, path: String)
    /// A datatype this wrapper does not read (compound, reference, …).
    case unsupportedType(file: String, path: String, detail: String)
    case readFailed(file: String, path: String)
    case writeFailed(file: String, path: String)
    /// A dataset whose claimed size overflows or passes the caller's limit.
    case tooLarge(file: String, path: String, shape: [Int], limit: Int)
    /// A dataset that claims more bytes than the file stores for it could hold.
    case notStored(file: String, path: String, claimed: Int, stored: UInt64, filtered: Bool)

    public var description: String {
        switch self {
        case let .cannotOpen(file, reason): return "\(file): \(reason)"
        case let .cannotCreate(file): return "\(file): cannot create the HDF5 file"
        case let .notFound(file, path): return "\(file): no HDF5 object at '\(path)'"
        case let .unsupportedType(file, path, detail): return "\(file): '\(path)' has an unsupported HDF5 type (\(detail))"
        case let .readFailed(file, path): return "\(file): cannot read '\(path)' (the file may be truncated or damaged)"
        case let .writeFailed(file, path): return "\(file): cannot write '\(path)'"
        case let .tooLarge(file, path, shape, limit):
            return "\(file): dataset '\(path)' of shape \(shape) is too large (more than \(limit) bytes, the memory budget; see --max-memory)"
        case let .notStored(file, path, claimed, stored, filtered):
            let how = filtered ? "compressed" : "uncompressed"
            return "\(file): dataset '\(path)' claims \(claimed) bytes but the file stores \(stored) (\(how)) for it: damaged, or a bomb"
        }
    }
}
