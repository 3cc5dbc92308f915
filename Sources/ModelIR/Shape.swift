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
            return acc * d
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
        let r = a < 0 ? a + rank : a
        return (0..<rank).contains(r) ? r : nil
    }
}
