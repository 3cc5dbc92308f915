import CHDF5

/// Owns one HDF5 identifier and closes it exactly once.
final class Handle {
    enum Kind { case file, group, dataset, attribute, datatype, dataspace, object, propertyList }

    let id: hid_t
    let kind: Kind

    init?(_ id: hid_t, _ kind: Kind) {
        guard id >= 0 else { return nil }
        self.id = id
        self.kind = kind
    }

    deinit {
        switch kind {
        case .file: H5Fclose(id)
        case .group: H5Gclose(id)
        case .dataset: H5Dclose(id)
        case .attribute: H5Aclose(id)
        case .datatype: H5Tclose(id)
        case .dataspace: H5Sclose(id)
        case .object: H5Oclose(id)
        case .propertyList: H5Pclose(id)
        }
    }
}

/// HDF5 prints its error stack to stderr by default; ModelPort reports errors itself.
let librarySetUp: Bool = {
    H5open()
    mp_silence_errors()
    return true
}()
