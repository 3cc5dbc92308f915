import Foundation
import ModelIR

/// numpy's `.npy` format (versions 1.0–3.0): a magic string, a Python-literal header
/// (`descr`, `fortran_order`, `shape`) and the raw elements.
public enum NumpyFormat {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// Parses one `.npy` image; `file` names it in errors. Fortran-ordered and big-endian
    /// arrays are converted to C order and this machine's byte order.
    public static func decode(_ data: [UInt8], file: String) throws -> Tensor {
        guard data.count >= 10, Array(data[0..<6]) == magic else { throw DataIOError(file, "not a .npy file (no \\x93NUMPY magic)") }
        let major = data[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(data[8]) | Int(data[9]) << 8
            headerStart = 10
        case 2, 3:
            guard data.count >= 12 else { throw DataIOError(file, "truncated .npy header") }
            headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
            headerStart = 12
        default:
            throw DataIOError(file, "unsupported .npy version \(major).\(data[7])")
        }
        guard headerStart + headerLength <= data.count else { throw DataIOError(file, "truncated .npy header") }
        let header = String(decoding: data[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        let (descr, fortran, shape) = try parseHeader(header, file: file)
        let (dtype, swap) = try parseDescr(descr, file: file)
        let byteCount: Int
        do { byteCount = try Sizes.byteCount(shape, elementSize: dtype.byteCount) } catch let e as SizeError {
            throw DataIOError(file, e.message)
        }
        let count = byteCount / dtype.byteCount
        let start = headerStart + headerLength
        guard data.count - start >= byteCount else {
            throw DataIOError(file, "the data is truncated: shape \(shape) of \(dtype.rawValue) needs \(byteCount) bytes, the file has \(data.count - start)")
        }
        var bytes = Array(data[start..<(start + byteCount)])
        if swap, dtype.byteCount > 1 {
            let w = dtype.byteCount
            for i in 0..<count { bytes[(i * w)..<((i + 1) * w)].reverse() }
        }
        var tensor = try Tensor(dtype: dtype, shape: shape, bytes: bytes)
        if fortran, shape.count > 1 { tensor = fortranToC(tensor) }
        return tensor
    }

    /// The length of the whole `.npy` image (header and data) once `header` holds its header,
    /// nil while it is still incomplete; throws when the header is invalid or the array too large.
    static func totalLength(header data: [UInt8], file: String) throws -> Int? {
        guard data.count >= 12 else { return nil }
        guard Array(data[0..<6]) == magic else { throw DataIOError(file, "not a .npy file (no \\x93NUMPY magic)") }
        let headerLength = data[6] == 1 ? Int(data[8]) | Int(data[9]) << 8
            : Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
        let headerStart = data[6] == 1 ? 10 : 12
        guard headerLength <= 65_536 else { throw DataIOError(file, "the .npy header is too long (\(headerLength) bytes)") }
        guard data.count >= headerStart + headerLength else { return nil }
        let header = String(decoding: data[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        let (descr, _, shape) = try parseHeader(header, file: file)
        let (dtype, _) = try parseDescr(descr, file: file)
        do { return headerStart + headerLength + (try Sizes.byteCount(shape, elementSize: dtype.byteCount)) } catch let e as SizeError {
            throw DataIOError(file, e.message)
        }
    }

    /// Encodes a tensor as a version 1.0 `.npy` image, C order, little-endian.
    public static func encode(_ tensor: Tensor) -> [UInt8] {
        let descr: String
        switch tensor.dtype {
        case .bool: descr = "|b1"
        case .int8: descr = "|i1"
        case .uint8: descr = "|u1"
        case .float16: descr = "<f2"
        case .float32: descr = "<f4"
        case .float64: descr = "<f8"
        case .int16: descr = "<i2"
        case .int32: descr = "<i4"
        case .int64: descr = "<i8"
        case .uint16: descr = "<u2"
        case .uint32: descr = "<u4"
        case .uint64: descr = "<u8"
        }
        let shape = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        let n = header.utf8.count
        return magic + [1, 0, UInt8(n & 0xFF), UInt8(n >> 8)] + Array(header.utf8) + tensor.bytes
    }

    static func parseHeader(_ header: String, file: String) throws -> (String, Bool, [Int]) {
        func value(_ key: String) -> Substring? {
            guard let r = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
            let rest = header[r.upperBound...].drop { $0 == " " || $0 == ":" }
            return rest
        }
        guard let d = value("descr"), let quote = d.first, quote == "'" || quote == "\"",
              let end = d.dropFirst().firstIndex(of: quote) else {
            throw DataIOError(file, "the .npy header has no readable 'descr' (structured arrays are not supported)")
        }
        let descr = String(d[d.index(after: d.startIndex)..<end])
        guard let f = value("fortran_order") else { throw DataIOError(file, "the .npy header has no 'fortran_order'") }
        let fortran = f.hasPrefix("True")
        guard let s = value("shape"), s.first == "(", let close = s.firstIndex(of: ")") else {
            throw DataIOError(file, "the .npy header has no readable 'shape'")
        }
        let inner = s[s.index(after: s.startIndex)..<close]
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let t = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
            if t.isEmpty { continue }
            guard let v = Int(t), v >= 0 else { throw DataIOError(file, "the .npy header has an invalid shape (\(inner))") }
            shape.append(v)
        }
        return (descr, fortran, shape)
    }

    static func parseDescr(_ descr: String, file: String) throws -> (DType, Bool) {
        guard descr.count >= 2 else { throw DataIOError(file, "unsupported dtype '\(descr)'") }
        var chars = Array(descr)
        var order: Character = "="
        if "<>|=".contains(chars[0]) { order = chars.removeFirst() }
        guard let kind = chars.first, let size = Int(String(chars.dropFirst())) else { throw DataIOError(file, "unsupported dtype '\(descr)'") }
        let dtype: DType?
        switch (kind, size) {
        case ("f", 2): dtype = .float16
        case ("f", 4): dtype = .float32
        case ("f", 8): dtype = .float64
        case ("i", 1): dtype = .int8
        case ("i", 2): dtype = .int16
        case ("i", 4): dtype = .int32
        case ("i", 8): dtype = .int64
        case ("u", 1): dtype = .uint8
        case ("u", 2): dtype = .uint16
        case ("u", 4): dtype = .uint32
        case ("u", 8): dtype = .uint64
        case ("b", 1): dtype = .bool
        default: dtype = nil
        }
        guard let dtype else { throw DataIOError(file, "unsupported dtype '\(descr)' (numbers and bools only)") }
        return (dtype, order == ">")
    }

    /// Reorders a column-major array into row-major order.
    static func fortranToC(_ t: Tensor) -> Tensor {
        let shape = t.shape, w = t.dtype.byteCount, count = t.count
        var out = [UInt8](repeating: 0, count: t.bytes.count)
        var fStrides = [Int](repeating: 1, count: shape.count)
        for i in 1..<shape.count { fStrides[i] = fStrides[i - 1] * shape[i - 1] }
        var index = [Int](repeating: 0, count: shape.count)
        for c in 0..<count {
            var f = 0
            for (i, v) in index.enumerated() { f += v * fStrides[i] }
            for b in 0..<w { out[c * w + b] = t.bytes[f * w + b] }
            Shape.advance(&index, in: shape)
        }
        return (try? Tensor(dtype: t.dtype, shape: shape, bytes: out)) ?? t
    }

    /// Reads a `.npy` file.
    public static func read(_ path: String) throws -> Tensor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataIOError(path, FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
        }
        return try decode([UInt8](data), file: path)
    }

    /// Writes a `.npy` file atomically.
    public static func write(_ tensor: Tensor, to path: String) throws {
        try AtomicFile.write(Data(encode(tensor)), to: path)
    }
}

/// Writes whole files through a temporary file in the same folder and a rename, so a
/// failure never leaves a half-written output.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let temp = temporaryPath(beside: path)
        do {
            try data.write(to: URL(fileURLWithPath: temp))
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw DataIOError(path, "cannot write the file (\(error.localizedDescription))")
        }
        try commit(temp, to: path)
    }

    /// A temporary path beside `path` for writers that need a file name (HDF5, zip).
    public static func temporaryPath(beside path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(UUID().uuidString)").path
    }

    /// Moves a finished temporary file over `path` with rename(2), atomic within a file system.
    public static func commit(_ temporary: String, to path: String) throws {
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw DataIOError(path, "cannot write the file (\(reason))")
        }
    }
}
