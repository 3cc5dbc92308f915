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

    func weights(layerPath: [String], roles: [String]) throws -> [(name: String, tensor: Tensor)] {
        guard let top = layerPath.first, group.kind(of: top) == .group else {
            if roles.isEmpty { return [] }
            throw KerasError.weightsMismatch(file, reason: "the file has no weights for layer '\(layerPath.last ?? "")'")
        }
        let g = try group.group(top)
        var names = try weightNames(g)
        if layerPath.count > 1, let inner = layerPath.last {
            names = names.filter { name in
                let parts = name.split(separator: "/")
                return parts.count >= 2 && parts[parts.count - 2] == inner
            }
        }
        // Order by role where every name ends in a known role (`kernel:0`); keeps Keras' order otherwise.
        func role(_ name: String) -> String {
            String(name.split(separator: "/").last?.split(separator: ":").first ?? "")
        }
        if roles.count == names.count, Set(names.map(role)) == Set(roles) {
            names.sort { roles.firstIndex(of: role($0))! < roles.firstIndex(of: role($1))! }
        }
        return try names.map { name in
            do { return (name, try Tensor(try g.readDataset(name))) } catch let e as HDF5Error {
                throw KerasError.hdf5(e)
            }
        }
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

    /// Child layer groups of `g` with the layer names they hold.
    private func children(_ g: HDF5Group) throws -> [(name: String, group: HDF5Group)] {
        guard let c = try container(g) else { return [] }
        return try c.memberNames().compactMap { member in
            guard c.kind(of: member) == .group else { return nil }
            let child = try c.group(member)
            let named = child.kind(of: "vars") == .group ? try child.group("vars").attribute("name")?.stringValue : nil
            return (named ?? member, child)
        }
    }

    private func resolve(_ path: [String]) throws -> HDF5Group? {
        var g = root
        for name in path {
            guard let next = try children(g).first(where: { $0.name == name })?.group else { return nil }
            g = next
        }
        return g
    }

    private func vars(_ g: HDF5Group) throws -> [String] {
        guard g.kind(of: "vars") == .group else { return [] }
        return try g.group("vars").memberNames().filter { Int($0) != nil }.sorted { Int($0)! < Int($1)! }
    }

    func weights(layerPath: [String], roles: [String]) throws -> [(name: String, tensor: Tensor)] {
        guard let g = try resolve(layerPath) else {
            if roles.isEmpty { return [] }
            throw KerasError.weightsMismatch(file, reason: "the file has no weights for layer '\(layerPath.joined(separator: "/"))'")
        }
        let v = try g.group("vars")
        return try vars(g).map { index in
            do { return ("\(v.path)/\(index)", try Tensor(try v.readDataset(index))) } catch let e as HDF5Error {
                throw KerasError.hdf5(e)
            }
        }
    }

    func checkAllUsed(layerPaths: Set<[String]>) throws {
        func walk(_ g: HDF5Group, _ path: [String]) throws {
            for (name, child) in try children(g) {
                let p = path + [name]
                if try !vars(child).isEmpty, !layerPaths.contains(p) {
                    throw KerasError.weightsMismatch(file, reason: "the file has weights for layer '\(p.joined(separator: "/"))', which the architecture does not have")
                }
                try walk(child, p)
            }
        }
        try walk(root, [])
    }
}
