/// A tensor shape whose dimensions may be unknown (`nil`), as the batch dimension is.
public struct Shape: Hashable, Sendable, Codable, CustomStringConvertible, ExpressibleByArrayLiteral {
    public var dims: [Int?]

    public init(_ dims: [Int?]) { self.dims = dims }
    public init(arrayLiteral elements: Int?...) { dims = elements }

    public var rank: Int { dims.count }
    public subscript(i: Int) -> Int? {
        get { dims[i] }
        set { dims[i] = newValue }
    }

    /// Number of elements, when every dimension is known.
    public var elementCount: Int? {
        dims.reduce(Optional(1)) { acc, d in
            guard let acc, let d else { return nil }
            let (p, overflow) = acc.multipliedReportingOverflow(by: d)
            return overflow ? nil : p
        }
    }

    /// Number of elements per sample (every dimension after the batch), when known.
    public var sampleElementCount: Int? { Shape(Array(dims.dropFirst())).elementCount }

    /// Keras' notation: `(None, 128, 156, 1)`.
    public var description: String {
        let parts = dims.map { $0.map(String.init) ?? "None" }
        return parts.count == 1 ? "(\(parts[0]),)" : "(\(parts.joined(separator: ", ")))"
    }

    /// Normalises a possibly negative axis for this rank.
    public func axis(_ a: Int) -> Int? {
        guard a >= -rank, a < rank else { return nil }
        return a < 0 ? a + rank : a
    }
}

/// An index counted from the end when negative (numpy's, ONNX's), with no overflow: one far
/// below `-count` stays negative (out of range) instead of wrapping.
public func fromEnd(_ v: Int, count: Int) -> Int {
    v < 0 ? (v < -count ? -1 : v + count) : v
}

extension Shape {
    /// Steps a row-major multi-index over `dims` to the next element (back to all zeros after the
    /// last): the walk of reductions, broadcasts and Fortran-order copies.
    @inlinable public static func advance(_ index: inout [Int], in dims: [Int]) {
        var a = dims.count - 1
        while a >= 0 {
            index[a] += 1
            if index[a] < dims[a] { return }
            index[a] = 0
            a -= 1
        }
    }
}
