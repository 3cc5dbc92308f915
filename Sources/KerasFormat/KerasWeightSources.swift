import HDF5
import ModelIR

extension Tensor {
    init(_ array: HDF5Array) throws {
        guard let dtype = DType(rawValue: array.elementType.rawValue) else {
            throw Tensor.TensorError.sizeMismatch(shape: array.shape, dtype: .float32, byteCount: array.bytes.count)
        }
        try self.init(dtype: dtype, shape: array.shape, bytes: array.bytes)
    }
}

/// The Keras 2 weights tree (`model_weights/` of a full model, or the root of a
/// `save_weights` file): a group per layer, its `weight_names` attribute listing datasets.
/// A nested model's group holds every inner layer's weights as `inner_layer/kernel:0`.
struct Keras2WeightSource: KerasWeightSource {
    let group: HDF5Group
    let file: String

    func weightNames(_ g: HDF5Group) throws -> [String] {
        // An empty list is written by h5py as an empty float array.
        (try g.chunkedStringArray("weight_names")) ?? []
    }

    func weights(layerPath: [String], roles: [String]) throws -> [LoadedWeight] {
        guard let top = layerPath.first, group.kind(of: top) == .group else {
            if roles.isEmpty { return [] }
            throw KerasError.weightsMismatch(file, reason: "the file has no weights for layer '\(layerPath.last ?? "")'")
        }
        let g = try group.group(top)
        var names = try weightNames(g)
        if layerPath.count > 1, let inner = layerPath.last {
            names = Self.names(of: inner, in: names)
        }
        // Order by role where every name ends in a known role (`kernel:0`); keeps Keras' order otherwise.
        func role(_ name: String) -> String {
            String(name.split(separator: "/").last?.split(separator: ":").first ?? "")
        }
        if roles.count == names.count, Set(names.map(role)) == Set(roles) {
            names.sort { (roles.firstIndex(of: role($0)) ?? 0) < (roles.firstIndex(of: role($1)) ?? 0) }
        }
        return try names.map { name in
            do {
                let tensor = try Tensor(try g.readDataset(name, limit: Sizes.budget))
                return LoadedWeight(name: name, path: "\(g.path)/\(name)", tensor: tensor)
            } catch let e as HDF5Error {
                throw KerasError.hdf5(e)
            }
        }
    }

    /// The weight names of an inner layer of a nested model: `inner/kernel:0`, possibly under
    /// the nested model's own name. Layer names may hold `/` (MobileNetV3's `Conv/BatchNorm`),
    /// so a name belongs to the layer whose full name is everything before its last part —
    /// exactly, or else as the end of a longer prefix.
    static func names(of inner: String, in names: [String]) -> [String] {
        func stem(_ name: String) -> Substring {
            guard let slash = name.lastIndex(of: "/") else { return "" }
            return name[..<slash]
        }
        let exact = names.filter { stem($0) == inner }
        if !exact.isEmpty { return exact }
        return names.filter { stem($0).hasSuffix("/" + inner) }
    }

    func checkAllUsed(layerPaths: Set<[String]>) throws {
        let used = Set(layerPaths.compactMap(\.first))
        let layerNames = try group.chunkedStringArray("layer_names") ?? group.memberNames()
        for name in layerNames where !used.contains(name) && group.kind(of: name) == .group {
            if try !weightNames(try group.group(name)).isEmpty {
                throw KerasError.weightsMismatch(file, reason: "the file has weights for layer '\(name)', which the architecture does not have")
            }
        }
    }
}

/// The Keras 3 weights tree: `layers/<auto name>/vars/0, 1, …`, each `vars` group naming
/// its layer in a `name` attribute; nested models add their own `layers/` level.
struct Keras3WeightSource: KerasWeightSource {
    let root: HDF5Group
    let file: String

    private func container(_ g: HDF5Group) throws -> HDF5Group? {
        for key in ["layers", "_layer_checkpoint_dependencies"] where g.kind(of: key) == .group {
            return try g.group(key)
        }
        return nil
    }

    /// Child layer groups of `g`: their key, the layer name in `vars@name` (when written), the group.
    private func children(_ g: HDF5Group) throws -> [(key: String, name: String?, group: HDF5Group)] {
        guard let c = try container(g) else { return [] }
        return try c.memberNames().compactMap { member in
            guard c.kind(of: member) == .group else { return nil }
            let child = try c.group(member)
            let named = child.kind(of: "vars") == .group ? try child.group("vars").attribute("name")?.stringValue : nil
            return (member, named, child)
        }
    }

    /// Keras 3 files before `vars@name` existed key layers by snake-case class name plus a
    /// per-class counter in `model.layers` order; `fallbackKeys` maps layer paths to those keys.
    let fallbackKeys: [[String]: String]

    init(root: HDF5Group, file: String, config: JSONValue? = nil) {
        self.root = root
        self.file = file
        var keys: [[String]: String] = [:]
        if let config { Self.collectFallbackKeys(config, path: [], into: &keys) }
        fallbackKeys = keys
    }

    static func snakeCase(_ className: String) -> String {
        // Keras: re.sub("(.)([A-Z][a-z]+)", r"\1_\2"), then re.sub("([a-z])([A-Z])", r"\1_\2"), lower().
        var chars = Array(className)
        var out: [Character] = []
        for (i, c) in chars.enumerated() {
            if i > 0, c.isUppercase, i + 1 < chars.count, chars[i + 1].isLowercase { out.append("_") }
            out.append(c)
        }
        chars = out
        out = []
        for (i, c) in chars.enumerated() {
            if i > 0, c.isUppercase, chars[i - 1].isLowercase { out.append("_") }
            out.append(c)
        }
        return String(out).lowercased()
    }

    private static func collectFallbackKeys(_ model: JSONValue, path: [String], into keys: inout [[String]: String]) {
        guard let layers = model["config"]?["layers"]?.array else { return }
        let isSequential = model.kerasClassName == "Sequential"
        var counters: [String: Int] = [:]
        for layer in layers {
            guard let className = layer.kerasClassName else { continue }
            if isSequential, className == "InputLayer" { continue }
            let name = layer["config"]?["name"]?.string ?? layer["name"]?.string ?? ""
            let base = className == "Functional" || className == "Model" ? "functional" : snakeCase(className)
            let n = counters[base, default: 0]
            counters[base] = n + 1
            keys[path + [name]] = n == 0 ? base : "\(base)_\(n)"
            if KerasGraphBuilder.modelClasses.contains(className) { collectFallbackKeys(layer, path: path + [name], into: &keys) }
        }
    }

    private func resolve(_ path: [String]) throws -> HDF5Group? {
        var g = root
        for (depth, name) in path.enumerated() {
            let members = try children(g)
            if let next = members.first(where: { $0.name == name })?.group {
                g = next
            } else if members.allSatisfy({ $0.name == nil }), let key = fallbackKeys[Array(path[...depth])],
                      let next = members.first(where: { $0.key == key })?.group {
                g = next
            } else {
                return nil
            }
        }
        return g
    }

    private func vars(_ g: HDF5Group) throws -> [String] {
        guard g.kind(of: "vars") == .group else { return [] }
        return try g.group("vars").memberNames().filter { Int($0) != nil }.sorted { Int($0)! < Int($1)! }
    }

    func weights(layerPath: [String], roles: [String]) throws -> [LoadedWeight] {
        guard let g = try resolve(layerPath) else {
            if roles.isEmpty { return [] }
            throw KerasError.weightsMismatch(file, reason: "the file has no weights for layer '\(layerPath.joined(separator: "/"))'")
        }
        let v = try g.group("vars")
        return try vars(g).map { index in
            do {
                let path = "\(v.path)/\(index)"
                return LoadedWeight(name: path, path: path, tensor: try Tensor(try v.readDataset(index, limit: Sizes.budget)))
            } catch let e as HDF5Error {
                throw KerasError.hdf5(e)
            }
        }
    }

    func checkAllUsed(layerPaths: Set<[String]>) throws {
        func walk(_ g: HDF5Group, _ path: [String]) throws {
            for (key, name, child) in try children(g) {
                let p = path + [name ?? fallbackKeys.first(where: { $0.value == key && $0.key.count == path.count + 1 && Array($0.key.dropLast()) == path })?.key.last ?? key]
                if try !vars(child).isEmpty, !layerPaths.contains(p) {
                    throw KerasError.weightsMismatch(file, reason: "the file has weights for layer '\(p.joined(separator: "/"))', which the architecture does not have")
                }
                try walk(child, p)
            }
        }
        try walk(root, [])
    }
}
