import ModelIR

/// Typed reads of a layer's `config` object, accepting both Keras 2 and Keras 3 spellings.
struct LayerConfig {
    let json: JSONValue
    let file: String
    let layer: String

    func has(_ key: String) -> Bool { json[key].map { !$0.isNull } ?? false }

    func fail(_ reason: String) -> KerasError { .invalidLayer(file, layer: layer, reason: reason) }

    func int(_ key: String, default d: Int? = nil) throws -> Int {
        if let v = json[key]?.int { return v }
        if let v = json[key]?.array, v.count == 1, let i = v[0].int { return i }
        if let d, !has(key) { return d }
        throw fail("'\(key)' should be an integer")
    }

    func float(_ key: String, default d: Float? = nil) throws -> Float {
        if let v = json[key]?.double { return Float(v) }
        if let d, !has(key) { return d }
        throw fail("'\(key)' should be a number")
    }

    func optionalFloat(_ key: String) throws -> Float? {
        guard has(key) else { return nil }
        return try float(key)
    }

    func bool(_ key: String, default d: Bool) throws -> Bool {
        guard has(key) else { return d }
        guard let b = json[key]?.bool else { throw fail("'\(key)' should be true or false") }
        return b
    }

    func string(_ key: String, default d: String? = nil) throws -> String {
        if let s = json[key]?.string { return s }
        if let d, !has(key) { return d }
        throw fail("'\(key)' should be a string")
    }

    /// An int or a list of `count` ints (Keras' `kernel_size=3` or `(3, 3)`).
    func ints(_ key: String, count: Int, default d: [Int]? = nil) throws -> [Int] {
        guard has(key) else {
            if let d { return d }
            throw fail("'\(key)' is missing")
        }
        if let i = json[key]?.int { return Array(repeating: i, count: count) }
        if let a = json[key]?.array {
            let v = a.compactMap(\.int)
            if v.count == a.count, v.count == count { return v }
            if v.count == 1, a.count == 1 { return Array(repeating: v[0], count: count) }
        }
        throw fail("'\(key)' should be an integer or \(count) integers")
    }

    func intList(_ key: String) throws -> [Int] {
        if let i = json[key]?.int { return [i] }
        guard let a = json[key]?.array else { throw fail("'\(key)' should be a list of integers") }
        let v = a.compactMap(\.int)
        guard v.count == a.count else { throw fail("'\(key)' should be a list of integers") }
        return v
    }

    var layout: Layout {
        get throws {
            switch json["data_format"]?.string {
            case nil, "channels_last": return .channelsLast
            case "channels_first": return .channelsFirst
            case let other?: throw fail("unknown data_format '\(other)'")
            }
        }
    }

    func padding(_ key: String = "padding") throws -> Padding {
        switch try string(key, default: "valid").lowercased() {
        case "valid": return .valid
        case "same": return .sameUpper
        case let other: throw fail("padding '\(other)' is not supported (only 'valid' and 'same')")
        }
    }
}

extension JSONValue {
    /// A class name or registered name, stripped of a Keras 3 package prefix.
    var kerasClassName: String? {
        guard let name = self["class_name"]?.string else { return nil }
        return name.split(separator: ">").last.map(String.init)
    }
}
