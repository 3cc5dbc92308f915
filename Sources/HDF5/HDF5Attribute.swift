import CHDF5
import Foundation

/// The kinds of attribute Keras writes: strings (variable- or fixed-length), string
/// arrays, and numeric scalars or arrays.
public enum HDF5AttributeValue: Equatable, Sendable {
    case string(String)
    case strings([String])
    case int(Int64)
    case ints([Int64])
    case double(Double)
    case doubles([Double])

    /// The value as one string, when it is a string or a one-element string array.
    public var stringValue: String? {
        switch self {
        case .string(let s): return s
        case .strings(let a) where a.count == 1: return a[0]
        default: return nil
        }
    }

    /// The value as a string array (a scalar string becomes one element).
    public var stringArray: [String]? {
        switch self {
        case .string(let s): return [s]
        case .strings(let a): return a
        default: return nil
        }
    }
}

/// How a string attribute is stored.
public enum HDF5StringStorage: Sendable {
    /// Variable-length UTF-8, as h5py writes a Python `str`.
    case variableLength
    /// Fixed-length, NUL-padded, as h5py writes a numpy `S` array (Keras' `layer_names`).
    case fixedLength
}

extension HDF5Group {
    public func attributeNames() throws -> [String] {
        var info = H5O_info_t()
        guard H5Oget_info2(handle.id, &info, UInt32(H5O_INFO_NUM_ATTRS)) >= 0 else {
            throw HDF5Error.readFailed(file: file.path, path: path)
        }
        var names: [String] = []
        for i in 0..<info.num_attrs {
            let n = H5Aget_name_by_idx(handle.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, mp_H5P_DEFAULT())
            guard n >= 0 else { throw HDF5Error.readFailed(file: file.path, path: path) }
            var buffer = [CChar](repeating: 0, count: Int(n) + 1)
            _ = H5Aget_name_by_idx(handle.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, buffer.count, mp_H5P_DEFAULT())
            names.append(String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return names
    }

    public func hasAttribute(_ name: String) -> Bool { H5Aexists(handle.id, name) > 0 }

    /// Reads an attribute; nil when the group has none of that name.
    public func attribute(_ name: String) throws -> HDF5AttributeValue? {
        guard hasAttribute(name) else { return nil }
        let where_ = "\(path)@\(name)"
        guard let attr = Handle(H5Aopen(handle.id, name, mp_H5P_DEFAULT()), .attribute),
              let type = Handle(H5Aget_type(attr.id), .datatype),
              let space = Handle(H5Aget_space(attr.id), .dataspace) else {
            throw HDF5Error.readFailed(file: file.path, path: where_)
        }
        let isScalar = H5Sget_simple_extent_type(space.id) == H5S_SCALAR
        let count = Int(H5Sget_simple_extent_npoints(space.id))
        guard count >= 0 else { throw HDF5Error.readFailed(file: file.path, path: where_) }
        // An attribute's values live in the file (its object header): no more of them than the bytes
        // it stores, and no more bytes than the file has — before anything is allocated for them.
        let stored = H5Aget_storage_size(attr.id)
        var fileSize: hsize_t = 0
        if H5Fget_filesize(file.handle.id, &fileSize) >= 0, stored > fileSize || UInt64(count) > max(stored, 1) {
            throw HDF5Error.cannotOpen(file: file.path, reason: "the attribute '\(where_)' claims \(count) values in \(stored) stored bytes "
                                       + "of a \(fileSize)-byte file (damaged)")
        }

        switch H5Tget_class(type.id) {
        case H5T_STRING:
            let strings = try readStrings(attr: attr, fileType: type, space: space, count: count, path: where_)
            return isScalar ? .string(strings.first ?? "") : .strings(strings)
        case H5T_FLOAT:
            var values = [Double](repeating: 0, count: count)
            guard H5Aread(attr.id, mp_H5T_NATIVE_DOUBLE(), &values) >= 0 else { throw HDF5Error.readFailed(file: file.path, path: where_) }
            return isScalar ? .double(values.first ?? 0) : .doubles(values)
        case H5T_INTEGER, H5T_ENUM:
            var values = [Int64](repeating: 0, count: count)
            if H5Tget_class(type.id) == H5T_ENUM {
                // An enum (h5py's bool) is read in its own type: one signed byte per value.
                guard H5Tget_size(type.id) == 1 else {
                    throw HDF5Error.unsupportedType(file: file.path, path: where_, detail: "enum wider than one byte")
                }
                var raw = [Int8](repeating: 0, count: count)
                guard H5Aread(attr.id, type.id, &raw) >= 0 else { throw HDF5Error.readFailed(file: file.path, path: where_) }
                values = raw.map { Int64($0) }
            } else {
                guard H5Aread(attr.id, mp_H5T_NATIVE_INT64(), &values) >= 0 else { throw HDF5Error.readFailed(file: file.path, path: where_) }
            }
            return isScalar ? .int(values.first ?? 0) : .ints(values)
        default:
            throw HDF5Error.unsupportedType(file: file.path, path: where_, detail: "attribute class \(H5Tget_class(type.id).rawValue)")
        }
    }

    private func readStrings(attr: Handle, fileType: Handle, space: Handle, count: Int, path: String) throws -> [String] {
        if H5Tis_variable_str(fileType.id) > 0 {
            guard let memType = Handle(H5Tcopy(mp_H5T_C_S1()), .datatype) else { throw HDF5Error.readFailed(file: file.path, path: path) }
            H5Tset_size(memType.id, mp_H5T_VARIABLE())
            H5Tset_cset(memType.id, H5Tget_cset(fileType.id))
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            guard H5Aread(attr.id, memType.id, &pointers) >= 0 else { throw HDF5Error.readFailed(file: file.path, path: path) }
            let strings = pointers.map { $0.map { String(cString: $0) } ?? "" }
            H5Dvlen_reclaim(memType.id, space.id, mp_H5P_DEFAULT(), &pointers)
            return strings
        }
        let size = H5Tget_size(fileType.id)
        guard size > 0, let memType = Handle(H5Tcopy(fileType.id), .datatype) else { throw HDF5Error.readFailed(file: file.path, path: path) }
        var raw = [UInt8](repeating: 0, count: count * size)
        guard H5Aread(attr.id, memType.id, &raw) >= 0 else { throw HDF5Error.readFailed(file: file.path, path: path) }
        let spacePadded = H5Tget_strpad(fileType.id) == H5T_STR_SPACEPAD
        return (0..<count).map { i in
            var bytes = raw[(i * size)..<((i + 1) * size)]
            if let nul = bytes.firstIndex(of: 0) { bytes = bytes[..<nul] }
            var s = String(decoding: bytes, as: UTF8.self)
            if spacePadded { while s.hasSuffix(" ") { s.removeLast() } }
            return s
        }
    }

    /// Writes (or replaces) an attribute.
    public func setAttribute(_ name: String, _ value: HDF5AttributeValue, strings storage: HDF5StringStorage = .variableLength) throws {
        let where_ = "\(path)@\(name)"
        if hasAttribute(name) { H5Adelete(handle.id, name) }
        func space(_ count: Int?) -> Handle? {
            guard let count else { return Handle(H5Screate(H5S_SCALAR), .dataspace) }
            var dims = [hsize_t(count)]
            return Handle(H5Screate_simple(1, &dims, nil), .dataspace)
        }
        func write(type: hid_t, count: Int?, _ body: (hid_t, hid_t) -> herr_t) throws {
            guard let s = space(count),
                  let attr = Handle(H5Acreate2(handle.id, name, type, s.id, mp_H5P_DEFAULT(), mp_H5P_DEFAULT()), .attribute),
                  body(attr.id, type) >= 0 else {
                throw HDF5Error.writeFailed(file: file.path, path: where_)
            }
        }
        switch value {
        case .string(let s):
            try writeStrings([s], scalar: true, storage: storage, write: write)
        case .strings(let a):
            try writeStrings(a, scalar: false, storage: storage, write: write)
        case .int(let v):
            var v = v
            try write(type: mp_H5T_NATIVE_INT64(), count: nil) { H5Awrite($0, $1, &v) }
        case .ints(let a):
            try write(type: mp_H5T_NATIVE_INT64(), count: a.count) { attr, t in a.withUnsafeBytes { H5Awrite(attr, t, $0.baseAddress) } }
        case .double(let v):
            var v = v
            try write(type: mp_H5T_NATIVE_DOUBLE(), count: nil) { H5Awrite($0, $1, &v) }
        case .doubles(let a):
            try write(type: mp_H5T_NATIVE_DOUBLE(), count: a.count) { attr, t in a.withUnsafeBytes { H5Awrite(attr, t, $0.baseAddress) } }
        }
    }

    private func writeStrings(_ strings: [String], scalar: Bool, storage: HDF5StringStorage,
                              write: (hid_t, Int?, (hid_t, hid_t) -> herr_t) throws -> Void) throws {
        guard let type = Handle(H5Tcopy(mp_H5T_C_S1()), .datatype) else { throw HDF5Error.writeFailed(file: file.path, path: path) }
        let count: Int? = scalar ? nil : strings.count
        switch storage {
        case .variableLength:
            H5Tset_size(type.id, mp_H5T_VARIABLE())
            H5Tset_cset(type.id, H5T_CSET_UTF8)
            var cStrings = strings.map { strdup($0) }
            defer { cStrings.forEach { free($0) } }
            try write(type.id, count) { attr, t in H5Awrite(attr, t, &cStrings) }
        case .fixedLength:
            let width = max(1, strings.map { $0.utf8.count }.max() ?? 1)
            H5Tset_size(type.id, width)
            H5Tset_strpad(type.id, H5T_STR_NULLPAD)
            var raw = [UInt8](repeating: 0, count: max(1, strings.count) * width)
            for (i, s) in strings.enumerated() {
                for (j, b) in s.utf8.enumerated() { raw[i * width + j] = b }
            }
            try write(type.id, count) { attr, t in H5Awrite(attr, t, &raw) }
        }
    }

    /// Reads a string-array attribute that may be split into chunks `name0`, `name1`, …
    /// (Keras does this when the array would pass HDF5's 64 KB object-header limit).
    public func chunkedStringArray(_ name: String) throws -> [String]? {
        if let value = try attribute(name) { return value.stringArray ?? [] }
        var result: [String] = []
        var index = 0
        while let chunk = try attribute("\(name)\(index)") {
            result += chunk.stringArray ?? []
            index += 1
        }
        return index == 0 ? nil : result
    }

    /// Writes a fixed-length string array, split into `name0`, `name1`, … chunks when it
    /// would not fit in an object header, as Keras does.
    public func setChunkedStringArray(_ name: String, _ strings: [String], limit: Int = 64_512) throws {
        let width = max(1, strings.map { $0.utf8.count }.max() ?? 1)
        let total = width * strings.count
        if total <= limit {
            try setAttribute(name, .strings(strings), strings: .fixedLength)
            return
        }
        var chunks = 1
        while (total + chunks - 1) / chunks > limit { chunks += 1 }
        let perChunk = (strings.count + chunks - 1) / chunks
        for (i, start) in stride(from: 0, to: strings.count, by: perChunk).enumerated() {
            let slice = Array(strings[start..<min(start + perChunk, strings.count)])
            try setAttribute("\(name)\(i)", .strings(slice), strings: .fixedLength)
        }
    }
}
