import Foundation

/// A parsed JSON document: Keras configs are JSON, and ModelPort reads them as such.
public enum JSONValue: Hashable, Sendable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    /// A number written without a fraction or exponent (`3`), or one made in Swift.
    case number(Double)
    /// A number written with a fraction or an exponent (`0.0`, `1e-07`), kept apart so a config
    /// written back still says `0.0` where Keras wrote it (Keras 3 checks some values are floats).
    case float(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public enum ParseError: Error, CustomStringConvertible {
        case invalid(String)
        public var description: String {
            switch self { case .invalid(let why): return "invalid JSON (\(why))" }
        }
    }

    /// Parses JSON text; Python's `NaN`, `Infinity` and `-Infinity` (which Keras may write) are accepted.
    public init(parsing text: String) throws {
        var parser = JSONParser(bytes: Array(text.utf8))
        self = try parser.parseDocument()
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public subscript(index: Int) -> JSONValue? {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return nil
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var double: Double? {
        switch self {
        case .number(let n), .float(let n): return n
        case .null, .bool, .string, .array, .object: return nil
        }
    }
    public var int: Int? {
        if let n = double, n.isFinite, n == n.rounded(), abs(n) < 1e15 { return Int(n) }
        return nil
    }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var object: [String: JSONValue]? { if case .object(let o) = self { return o }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }

    /// Compact JSON text with sorted keys.
    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n):
            if n.isFinite, n == n.rounded(), abs(n) < 1e15 { return String(Int(n)) }
            return n.isFinite ? "\(n)" : "null"
        case .float(let n):
            // Python's json spelling, which Keras reads back (NaN and Infinity included).
            if n.isNaN { return "NaN" }
            if n.isInfinite { return n > 0 ? "Infinity" : "-Infinity" }
            if n == n.rounded(), abs(n) < 1e15 { return "\(Int(n)).0" }
            return "\(n)"
        case .string(let s): return JSONValue.quote(s)
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .object(let o):
            return "{" + o.keys.sorted().map { "\(JSONValue.quote($0)): \(o[$0]!.description)" }.joined(separator: ", ") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}

/// A small recursive-descent JSON parser (Foundation's rejects NaN and cannot tell 1 from true on Linux).
struct JSONParser {
    let bytes: [UInt8]
    var i = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDocument() throws -> JSONValue {
        let v = try parseValue(depth: 0)
        skipSpace()
        guard i == bytes.count else { throw fail("trailing characters") }
        return v
    }

    func fail(_ why: String) -> JSONValue.ParseError { .invalid("\(why) at byte \(i)") }

    mutating func skipSpace() {
        while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
    }

    mutating func literal(_ word: String) -> Bool {
        let w = Array(word.utf8)
        guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { return false }
        i += w.count
        return true
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth < 512 else { throw fail("nesting too deep") }
        skipSpace()
        guard i < bytes.count else { throw fail("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var object: [String: JSONValue] = [:]
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(object) }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let key = try parseString()
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                object[key] = try parseValue(depth: depth + 1)
                skipSpace()
                guard i < bytes.count else { throw fail("unexpected end") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(object) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var array: [JSONValue] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(array) }
            while true {
                array.append(try parseValue(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw fail("unexpected end") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(array) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try parseString())
        default:
            if literal("true") { return .bool(true) }
            if literal("false") { return .bool(false) }
            if literal("null") { return .null }
            if literal("NaN") { return .float(.nan) }
            if literal("Infinity") { return .float(.infinity) }
            if literal("-Infinity") { return .float(-.infinity) }
            return try parseNumber()
        }
    }

    mutating func parseNumber() throws -> JSONValue {
        let start = i
        while i < bytes.count, let c = Optional(bytes[i]),
              (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+")
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
            i += 1
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        guard i > start, let d = Double(text) else { throw fail("invalid number") }
        return text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) ? .float(d) : .number(d)
    }

    mutating func parseString() throws -> String {
        i += 1  // opening quote
        var out: [UInt8] = []
        while i < bytes.count {
            let c = bytes[i]
            i += 1
            if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard i < bytes.count else { break }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    let low = try hex4()
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(code) ?? "?")).utf8))
            default: out.append(e)
            }
        }
        throw fail("unterminated string")
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
            throw fail("invalid \\u escape")
        }
        i += 4
        return v
    }
}

extension JSONValue {
    /// Indented JSON text with sorted keys; arrays of plain values stay on one line.
    public func pretty(indent: String = "") -> String {
        let inner = indent + "  "
        switch self {
        case .array(let a):
            if a.isEmpty { return "[]" }
            if a.allSatisfy({ $0.array == nil && $0.object == nil }) { return description }
            return "[\n" + a.map { inner + $0.pretty(indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let o):
            if o.isEmpty { return "{}" }
            return "{\n" + o.keys.sorted().map { "\(inner)\(JSONValue.quote($0)): \(o[$0]!.pretty(indent: inner))" }.joined(separator: ",\n") + "\n\(indent)}"
        default:
            return description
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
}
