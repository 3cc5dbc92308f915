import CHDF5

/// The element types ModelPort reads and writes, as numpy names them.
public enum HDF5ElementType: String, Sendable, CaseIterable {
    case float16, float32, float64
    case int8, int16, int32, int64
    case uint8, uint16, uint32, uint64
    case bool

    public var byteCount: Int {
        switch self {
        case .int8, .uint8, .bool: return 1
        case .float16, .int16, .uint16: return 2
        case .float32, .int32, .uint32: return 4
        case .float64, .int64, .uint64: return 8
        }
    }

    /// The element type stored in a file datatype, or nil when it is not a plain number.
    init?(fileType t: hid_t) {
        let size = H5Tget_size(t)
        switch H5Tget_class(t) {
        case H5T_FLOAT:
            switch size {
            case 2: self = .float16
            case 4: self = .float32
            case 8: self = .float64
            default: return nil
            }
        case H5T_INTEGER:
            let signed = H5Tget_sign(t) != H5T_SGN_NONE
            switch (size, signed) {
            case (1, true): self = .int8
            case (2, true): self = .int16
            case (4, true): self = .int32
            case (8, true): self = .int64
            case (1, false): self = .uint8
            case (2, false): self = .uint16
            case (4, false): self = .uint32
            case (8, false): self = .uint64
            default: return nil
            }
        case H5T_ENUM where size == 1:
            // h5py stores numpy bool as an int8 enum {FALSE, TRUE}.
            self = .bool
        default:
            return nil
        }
    }

    /// A new memory datatype for this element type, in this machine's byte order.
    func makeMemoryType() -> Handle? {
        switch self {
        case .float16: return Handle(mp_make_float16_type(), .datatype)
        case .bool: return Handle(mp_make_bool_type(), .datatype)
        default:
            let base: hid_t
            switch self {
            case .float32: base = mp_H5T_NATIVE_FLOAT()
            case .float64: base = mp_H5T_NATIVE_DOUBLE()
            case .int8: base = mp_H5T_NATIVE_INT8()
            case .int16: base = mp_H5T_NATIVE_INT16()
            case .int32: base = mp_H5T_NATIVE_INT32()
            case .int64: base = mp_H5T_NATIVE_INT64()
            case .uint8: base = mp_H5T_NATIVE_UINT8()
            case .uint16: base = mp_H5T_NATIVE_UINT16()
            case .uint32: base = mp_H5T_NATIVE_UINT32()
            case .uint64: base = mp_H5T_NATIVE_UINT64()
            case .float16, .bool: return nil
            }
            return Handle(H5Tcopy(base), .datatype)
        }
    }
}

/// A dense, C-ordered array as stored in a dataset: its element type, shape and raw
/// little-endian bytes.
public struct HDF5Array: Equatable, Sendable {
    public var elementType: HDF5ElementType
    public var shape: [Int]
    public var bytes: [UInt8]

    public init(elementType: HDF5ElementType, shape: [Int], bytes: [UInt8]) {
        self.elementType = elementType
        self.shape = shape
        self.bytes = bytes
    }

    public var count: Int { shape.reduce(1, *) }
}
