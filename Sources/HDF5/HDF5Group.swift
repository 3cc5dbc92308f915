import CHDF5

/// A group in an open HDF5 file: named members (groups and datasets) and attributes.
public final class HDF5Group {
    public enum MemberKind: Sendable { case group, dataset, other }

    public let file: HDF5File
    /// The group's absolute path in the file, for error messages.
    public let path: String
    let handle: Handle

    init(file: HDF5File, parent: hid_t, path: String, relative: String = "/") throws {
        self.file = file
        self.path = path
        guard let h = Handle(H5Gopen2(parent, relative, mp_H5P_DEFAULT()), .group) else {
            throw HDF5Error.notFound(file: file.path, path: path)
        }
        handle = h
    }

    init(file: HDF5File, handle: Handle, path: String) {
        self.file = file
        self.handle = handle
        self.path = path
    }

    func childPath(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

    // MARK: Members

    /// Names of the group's direct members, in name order.
    public func memberNames() throws -> [String] {
        var info = H5G_info_t()
        guard H5Gget_info(handle.id, &info) >= 0 else { throw HDF5Error.readFailed(file: file.path, path: path) }
        var names: [String] = []
        for i in 0..<info.nlinks {
            let n = H5Lget_name_by_idx(handle.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, mp_H5P_DEFAULT())
            guard n >= 0 else { throw HDF5Error.readFailed(file: file.path, path: path) }
            var buffer = [CChar](repeating: 0, count: Int(n) + 1)
            _ = H5Lget_name_by_idx(handle.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, buffer.count, mp_H5P_DEFAULT())
            names.append(String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return names
    }

    /// What the member at a relative path is, or nil when there is none.
    public func kind(of name: String) -> MemberKind? {
        guard linkExists(name) else { return nil }
        guard let object = Handle(H5Oopen(handle.id, name, mp_H5P_DEFAULT()), .object) else { return nil }
        switch H5Iget_type(object.id) {
        case H5I_GROUP: return .group
        case H5I_DATASET: return .dataset
        default: return .other
        }
    }

    /// Whether every link along a relative path exists (H5Lexists needs each step checked) and
    /// stays in this file: an external link (to another file, named by the file) is not followed.
    func linkExists(_ name: String) -> Bool {
        var prefix = ""
        for part in name.split(separator: "/", omittingEmptySubsequences: true) {
            prefix = prefix.isEmpty ? String(part) : prefix + "/" + part
            guard H5Lexists(handle.id, prefix, mp_H5P_DEFAULT()) > 0 else { return false }
            var link = H5L_info_t()
            guard H5Lget_info(handle.id, prefix, &link, mp_H5P_DEFAULT()) >= 0,
                  link.type == H5L_TYPE_HARD || link.type == H5L_TYPE_SOFT else { return false }
        }
        return !prefix.isEmpty
    }

    public func contains(_ name: String) -> Bool { kind(of: name) != nil }

    /// The group at a relative path (`"model_weights/dense"`).
    public func group(_ name: String) throws -> HDF5Group {
        guard kind(of: name) == .group else { throw HDF5Error.notFound(file: file.path, path: childPath(name)) }
        return try HDF5Group(file: file, parent: handle.id, path: childPath(name), relative: name)
    }

    public func createGroup(_ name: String) throws -> HDF5Group {
        let lcpl = Handle(H5Pcreate(mp_H5P_LINK_CREATE()), .propertyList)
        if let lcpl { H5Pset_create_intermediate_group(lcpl.id, 1) }
        guard let h = Handle(H5Gcreate2(handle.id, name, lcpl?.id ?? mp_H5P_DEFAULT(), mp_H5P_DEFAULT(), mp_H5P_DEFAULT()), .group) else {
            throw HDF5Error.writeFailed(file: file.path, path: childPath(name))
        }
        return HDF5Group(file: file, handle: h, path: childPath(name))
    }

    /// The group at `name`, created when missing.
    public func groupCreatingIfNeeded(_ name: String) throws -> HDF5Group {
        kind(of: name) == .group ? try group(name) : try createGroup(name)
    }

    // MARK: Datasets

    /// Reads a whole dataset at a relative path; one claiming more than `limit` bytes (or an
    /// overflowing size) is refused before anything is allocated.
    public func readDataset(_ name: String, limit: Int = .max) throws -> HDF5Array {
        let full = childPath(name)
        guard kind(of: name) == .dataset,
              let dataset = Handle(H5Dopen2(handle.id, name, mp_H5P_DEFAULT()), .dataset) else {
            throw HDF5Error.notFound(file: file.path, path: full)
        }
        guard let fileType = Handle(H5Dget_type(dataset.id), .datatype),
              let space = Handle(H5Dget_space(dataset.id), .dataspace) else {
            throw HDF5Error.readFailed(file: file.path, path: full)
        }
        guard let elementType = HDF5ElementType(fileType: fileType.id) else {
            throw HDF5Error.unsupportedType(file: file.path, path: full, detail: "class \(H5Tget_class(fileType.id).rawValue), \(H5Tget_size(fileType.id)) bytes")
        }
        let shape = try dimensions(of: space, path: full)
        var count = 1, tooLarge = false
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            tooLarge = tooLarge || overflow
            count = p
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: elementType.byteCount)
        guard !tooLarge, !overflow, byteCount <= limit else {
            throw HDF5Error.tooLarge(file: file.path, path: full, shape: shape, limit: limit)
        }
        try checkStorage(of: dataset, claiming: count, fileType: fileType, path: full)
        var bytes = [UInt8](repeating: 0, count: byteCount)
        if count > 0 {
            guard let memType = elementType.makeMemoryType() else { throw HDF5Error.readFailed(file: file.path, path: full) }
            let status = bytes.withUnsafeMutableBytes {
                H5Dread(dataset.id, memType.id, mp_H5S_ALL(), mp_H5S_ALL(), mp_H5P_DEFAULT(), $0.baseAddress)
            }
            guard status >= 0 else { throw HDF5Error.readFailed(file: file.path, path: full) }
        }
        return HDF5Array(elementType: elementType, shape: shape, bytes: bytes)
    }

    /// The bytes a dataset stores bound what it can hold: as many uncompressed, and through
    /// filters at most 1100 times as many (deflate's best is about 1032 to 1). A chunked dataset
    /// whose chunks were never written reads as its fill value: gigabytes out of nothing.
    func checkStorage(of dataset: Handle, claiming count: Int, fileType: Handle, path: String) throws {
        let (claimed, overflow) = count.multipliedReportingOverflow(by: H5Tget_size(fileType.id))
        let stored = H5Dget_storage_size(dataset.id)
        var filtered = false
        if let plist = Handle(H5Dget_create_plist(dataset.id), .propertyList) { filtered = H5Pget_nfilters(plist.id) > 0 }
        let (most, mostOverflows) = stored.multipliedReportingOverflow(by: filtered ? 1100 : 1)
        guard overflow || (!mostOverflows && UInt64(claimed) > most) else { return }
        throw HDF5Error.notStored(file: file.path, path: path, claimed: claimed, stored: stored, filtered: filtered)
    }

    /// Shape of a dataset without reading it.
    public func datasetShape(_ name: String) throws -> [Int] {
        let full = childPath(name)
        guard kind(of: name) == .dataset,
              let dataset = Handle(H5Dopen2(handle.id, name, mp_H5P_DEFAULT()), .dataset),
              let space = Handle(H5Dget_space(dataset.id), .dataspace) else {
            throw HDF5Error.notFound(file: file.path, path: full)
        }
        return try dimensions(of: space, path: full)
    }

    /// Writes a dataset (contiguous, no filters) at a relative path; intermediate groups are created.
    public func writeDataset(_ name: String, _ array: HDF5Array) throws {
        let full = childPath(name)
        guard array.bytes.count == array.count * array.elementType.byteCount else {
            throw HDF5Error.writeFailed(file: file.path, path: full)
        }
        let dims = array.shape.map { hsize_t($0) }
        let space = array.shape.isEmpty ? Handle(H5Screate(H5S_SCALAR), .dataspace) : Handle(H5Screate_simple(Int32(dims.count), dims, nil), .dataspace)
        let lcpl = Handle(H5Pcreate(mp_H5P_LINK_CREATE()), .propertyList)
        if let lcpl { H5Pset_create_intermediate_group(lcpl.id, 1) }
        guard let space, let lcpl, let type = array.elementType.makeMemoryType(),
              let dataset = Handle(H5Dcreate2(handle.id, name, type.id, space.id, lcpl.id, mp_H5P_DEFAULT(), mp_H5P_DEFAULT()), .dataset) else {
            throw HDF5Error.writeFailed(file: file.path, path: full)
        }
        if array.count > 0 {
            let status = array.bytes.withUnsafeBytes {
                H5Dwrite(dataset.id, type.id, mp_H5S_ALL(), mp_H5S_ALL(), mp_H5P_DEFAULT(), $0.baseAddress)
            }
            guard status >= 0 else { throw HDF5Error.writeFailed(file: file.path, path: full) }
        }
    }

    func dimensions(of space: Handle, path: String) throws -> [Int] {
        let rank = H5Sget_simple_extent_ndims(space.id)
        guard rank >= 0 else { throw HDF5Error.readFailed(file: file.path, path: path) }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        if rank > 0 { H5Sget_simple_extent_dims(space.id, &dims, nil) }
        return dims.map { Int($0) }
    }
}
