import Foundation
import ModelIR

extension DType {
    /// The ONNX `TensorProto.DataType` number, for the types ModelPort holds.
    init?(onnx: Int32) {
        switch onnx {
        case 1: self = .float32
        case 2: self = .uint8
        case 3: self = .int8
        case 4: self = .uint16
        case 5: self = .int16
        case 6: self = .int32
        case 7: self = .int64
        case 9: self = .bool
        case 10: self = .float16
        case 11: self = .float64
        case 12: self = .uint32
        case 13: self = .uint64
        default: return nil
        }
    }
}

/// Reads initializers: `raw_data`, the typed fields, or external files next to the model.
struct ONNXTensorReader {
    let file: String
    /// The model's folder; external data must stay inside it.
    let folder: URL

    func tensor(_ t: Onnx_TensorProto, name: String) throws -> Tensor {
        guard let dtype = DType(onnx: t.dataType) else {
            throw ONNXError.unreadable(file, reason: "initializer '\(name)' has data type \(t.dataType), which ModelPort does not read")
        }
        let shape = t.dims.map { Int($0) }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw ONNXError.unreadable(file, reason: "initializer '\(name)' has a negative dimension") }
        let byteCount: Int
        do { byteCount = try Sizes.byteCount(shape, elementSize: dtype.byteCount) } catch let e as SizeError {
            throw ONNXError.unreadable(file, reason: "initializer '\(name)': \(e.message)")
        }
        var bytes: [UInt8]
        if t.dataLocation == .external {
            bytes = try external(t, name: name, byteCount: byteCount)
        } else if t.hasRawData {
            bytes = [UInt8](t.rawData)
        } else {
            switch dtype {
            case .float32: bytes = t.floatData.withUnsafeBytes { Array($0) }
            case .float64: bytes = t.doubleData.withUnsafeBytes { Array($0) }
            case .int64: bytes = t.int64Data.withUnsafeBytes { Array($0) }
            case .uint64, .uint32: bytes = dtype == .uint64 ? t.uint64Data.withUnsafeBytes { Array($0) } : t.uint64Data.map { UInt32(truncatingIfNeeded: $0) }.withUnsafeBytes { Array($0) }
            case .int32: bytes = t.int32Data.withUnsafeBytes { Array($0) }
            case .int16: bytes = t.int32Data.map { Int16(truncatingIfNeeded: $0) }.withUnsafeBytes { Array($0) }
            case .uint16, .float16: bytes = t.int32Data.map { UInt16(truncatingIfNeeded: $0) }.withUnsafeBytes { Array($0) }
            case .int8: bytes = t.int32Data.map { UInt8(bitPattern: Int8(truncatingIfNeeded: $0)) }
            case .uint8, .bool: bytes = t.int32Data.map { UInt8(truncatingIfNeeded: $0) }
            }
        }
        guard bytes.count == byteCount else {
            throw ONNXError.unreadable(file, reason: "initializer '\(name)' holds \(bytes.count) bytes, its shape \(shape) of \(dtype.rawValue) needs \(byteCount)")
        }
        return try Tensor(dtype: dtype, shape: shape, bytes: bytes)
    }

    func external(_ t: Onnx_TensorProto, name: String, byteCount: Int) throws -> [UInt8] {
        var location = "", offset = 0, length: Int?
        for entry in t.externalData {
            switch entry.key {
            case "location": location = entry.value
            case "offset": offset = Int(entry.value) ?? -1
            case "length": length = Int(entry.value)
            default: break
            }
        }
        guard !location.isEmpty, offset >= 0 else { throw ONNXError.externalData(file, reason: "initializer '\(name)' has no valid location/offset") }
        let target = folder.appendingPathComponent(location).standardizedFileURL.resolvingSymlinksInPath()
        let base = folder.standardizedFileURL.resolvingSymlinksInPath().path
        guard !location.hasPrefix("/"), target.path.hasPrefix(base + "/") else {
            throw ONNXError.externalData(file, reason: "initializer '\(name)' points to '\(location)', outside the model's folder")
        }
        guard let handle = FileHandle(forReadingAtPath: target.path) else {
            throw ONNXError.externalData(file, reason: "initializer '\(name)' needs '\(location)', which does not exist next to the model")
        }
        defer { try? handle.close() }
        let wanted = length ?? byteCount
        do {
            try handle.seek(toOffset: UInt64(offset))
            let data = try handle.read(upToCount: wanted) ?? Data()
            guard data.count == wanted else {
                throw ONNXError.externalData(file, reason: "'\(location)' ends before initializer '\(name)' (offset \(offset), \(wanted) bytes)")
            }
            return [UInt8](data)
        } catch let e as ONNXError {
            throw e
        } catch {
            throw ONNXError.externalData(file, reason: "cannot read '\(location)' for initializer '\(name)'")
        }
    }
}

extension Tensor {
    /// Integer elements (int64/int32 and friends), for shape computations.
    var integers: [Int] {
        switch dtype {
        case .int64: return bytes.withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Int($0) } }
        case .int32: return bytes.withUnsafeBytes { $0.bindMemory(to: Int32.self).map { Int($0) } }
        // Truncated toward zero; NaN reads as 0 and infinities clamp (no trap on odd input).
        default: return floats().map { $0.isNaN ? 0 : Int($0.rounded(.towardZero).clamped(to: -9.0e18...9.0e18)) }
        }
    }

    /// An int64 tensor; a `shape` that does not hold `values.count` elements falls back to a vector.
    init(int64 values: [Int], shape: [Int]? = nil) {
        let bytes = values.map { Int64($0) }.withUnsafeBytes { Array($0) }
        let dims = shape.flatMap { $0.reduce(1, *) == values.count ? $0 : nil } ?? [values.count]
        if let t = try? Tensor(dtype: .int64, shape: dims, bytes: bytes) { self = t } else { self = Tensor(shape: [0], floats: []) }
    }
}

fileprivate extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}
