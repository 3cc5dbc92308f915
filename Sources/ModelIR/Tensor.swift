import Foundation

/// A dense, C-ordered array with a known shape and element type; its bytes are kept
/// exactly as read so a round trip is bit-identical.
public struct Tensor: Equatable, Sendable {
    public var dtype: DType
    public var shape: [Int]
    /// Raw little-endian element bytes, `shape.product * dtype.byteCount` of them.
    public var bytes: [UInt8]

    public enum TensorError: Error, CustomStringConvertible {
        case sizeMismatch(shape: [Int], dtype: DType, byteCount: Int)
        public var description: String {
            switch self {
            case let .sizeMismatch(shape, dtype, n):
                guard let need = try? Sizes.elementCount(shape).multipliedReportingOverflow(by: dtype.byteCount), !need.overflow else {
                    return "a \(dtype) tensor of shape \(shape) is too large"
                }
                return "a \(dtype) tensor of shape \(shape) needs \(need.partialValue) bytes, got \(n)"
            }
        }
    }

    public init(dtype: DType, shape: [Int], bytes: [UInt8]) throws {
        let need = (try? Sizes.elementCount(shape)).map { $0.multipliedReportingOverflow(by: dtype.byteCount) }
        guard let need, !need.overflow, need.partialValue == bytes.count else {
            throw TensorError.sizeMismatch(shape: shape, dtype: dtype, byteCount: bytes.count)
        }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    public init(shape: [Int], floats: [Float]) {
        precondition(floats.count == shape.reduce(1, *), "element count must match the shape")
        dtype = .float32
        self.shape = shape
        bytes = floats.withUnsafeBytes { Array($0) }
    }

    public init(scalar: Float) { self.init(shape: [], floats: [scalar]) }

    public var count: Int { shape.reduce(1, *) }

    /// The first element of an integer tensor whose magnitude passes 2^24, the largest whole
    /// number float32 keeps exactly; nil when there is none (or for other element types).
    public func firstIntegerBeyondFloat32() -> Int64? {
        let limit: Int64 = 1 << 24
        func first<T: BinaryInteger>(_ type: T.Type) -> Int64? {
            bytes.withUnsafeBytes { raw in
                raw.bindMemory(to: T.self).first { $0 > T(clamping: limit) || (T.isSigned && $0 < T(clamping: -limit)) }
                    .map { Int64(clamping: $0) }
            }
        }
        switch dtype {
        case .int32: return first(Int32.self)
        case .uint32: return first(UInt32.self)
        case .int64: return first(Int64.self)
        case .uint64: return first(UInt64.self)
        case .float32, .float64, .float16, .int8, .uint8, .bool, .int16, .uint16: return nil
        }
    }

    /// The elements converted to Float (float16/64 and integers are converted, bools become 0/1).
    public func floats() -> [Float] {
        switch dtype {
        case .float32: return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        case .float64: return bytes.withUnsafeBytes { $0.bindMemory(to: Double.self).map { Float($0) } }
        case .float16: return bytes.withUnsafeBytes { $0.bindMemory(to: UInt16.self).map { Float(Float16(bitPattern: $0)) } }
        case .int8: return bytes.map { Float(Int8(bitPattern: $0)) }
        case .uint8, .bool: return bytes.map { Float($0) }
        case .int16: return bytes.withUnsafeBytes { $0.bindMemory(to: Int16.self).map { Float($0) } }
        case .uint16: return bytes.withUnsafeBytes { $0.bindMemory(to: UInt16.self).map { Float($0) } }
        case .int32: return bytes.withUnsafeBytes { $0.bindMemory(to: Int32.self).map { Float($0) } }
        case .uint32: return bytes.withUnsafeBytes { $0.bindMemory(to: UInt32.self).map { Float($0) } }
        case .int64: return bytes.withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Float($0) } }
        case .uint64: return bytes.withUnsafeBytes { $0.bindMemory(to: UInt64.self).map { Float($0) } }
        }
    }
}
