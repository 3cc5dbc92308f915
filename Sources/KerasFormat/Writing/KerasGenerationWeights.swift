import ModelIR

/// Lays a Keras model's weights out as the other generation's loader expects them, from a
/// model config and the graph's parameters (matched by layer, in Keras' creation order).
///
/// tf_keras pairs layers with their groups by position and assigns a layer's values in
/// `weight_names` order to `trainable_weights + non_trainable_weights`; a nested model's group
/// holds every descendant's trainable weights, then every non-trainable (or frozen) one.
/// Keras 3 finds `layers/<snake_case class>[_n]/vars/<i>` by key, counted per container.
struct KerasGenerationWeights {
    let graph: Graph

    static let modelClasses = KerasGenerationConfig.modelClasses

    /// The layers `model.layers` lists for a model config: a Sequential's InputLayer is hidden.
    static func sublayers(_ model: JSONValue) -> [JSONValue] {
        let layers = model["config"]?["layers"]?.array ?? []
        return model["class_name"]?.string == "Sequential" ? layers.filter { $0["class_name"]?.string != "InputLayer" } : layers
    }

    static func name(_ layer: JSONValue) -> String { layer["config"]?["name"]?.string ?? layer["name"]?.string ?? "" }

    /// The parameters a layer of `container` (nil: the top model) owns, in creation order.
    func parameters(of layer: String, in container: String?) -> [Parameter] {
        guard let source = graph.layers.first(where: { $0.name == layer && $0.parent == container }) else { return [] }
        return source.parameters.compactMap { graph.parameter(named: $0) }
    }

    static func role(_ p: Parameter) -> String {
        p.role ?? String(p.name.split(separator: "/").last ?? "")
    }

    // MARK: Keras 3

    /// The Keras 3 tree for a Keras 3 model config, and the trainable parameters in
    /// `model.trainable_variables` order (which the optimizer's slots follow).
    func keras3Tree(_ model: JSONValue) -> (tree: StoredGroup, trainable: [Parameter]) {
        var trainable: [Parameter] = []
        func container(_ model: JSONValue, name: String?) -> StoredGroup {
            var layers = StoredGroup()
            var counters: [String: Int] = [:]
            for layer in Self.sublayers(model) {
                let cls = layer["class_name"]?.string ?? ""
                let base = Keras3WeightSource.snakeCase(cls == "Model" ? "Functional" : cls)
                let n = counters[base, default: 0]
                counters[base] = n + 1
                let layerName = Self.name(layer)
                var vars = StoredGroup(attributes: [StoredAttribute(name: "name", value: .string(layerName))])
                var group = StoredGroup()
                if Self.modelClasses.contains(cls) {
                    group.members.append(.group("layers", container(layer, name: layerName)))
                } else {
                    for (i, p) in parameters(of: layerName, in: name).enumerated() {
                        vars.members.append(.parameter("\(i)", parameter: p.name))
                        if p.trainable { trainable.append(p) }
                    }
                }
                group.members.append(.group("vars", vars))
                layers.members.append(.group(n == 0 ? base : "\(base)_\(n)", group))
            }
            return layers
        }
        let layers = container(model, name: nil)
        let root = StoredGroup(members: [
            .group("layers", layers),
            .group("vars", StoredGroup(attributes: [StoredAttribute(name: "name", value: .string(Self.name(model)))])),
        ])
        return (root, trainable)
    }

    // MARK: tf_keras

    /// tf_keras' `model_weights/` for a model config, and the trainable weights' names and
    /// parameters in `model.trainable_weights` order.
    func keras2Tree(_ model: JSONValue) -> (tree: StoredGroup, trainable: [(name: String, parameter: Parameter)]) {
        let top = Self.sublayers(model)
        var root = StoredGroup(attributes: [
            StoredAttribute(name: "backend", value: .string("tensorflow")),
            StoredAttribute(name: "keras_version", value: .string("2.21.0")),
            StoredAttribute(name: "layer_names", value: .strings(top.map(Self.name))),
        ])
        var allTrainable: [(name: String, parameter: Parameter)] = []
        for layer in top {
            let layerName = Self.name(layer)
            var weights: [(name: String, parameter: Parameter)]
            if Self.modelClasses.contains(layer["class_name"]?.string ?? "") {
                var t: [(String, Parameter)] = [], n: [(String, Parameter)] = []
                descendants(layer, container: layerName) { owner, p in
                    if p.trainable { t.append(("\(owner)/\(Self.role(p)):0", p)) } else { n.append(("\(owner)/\(Self.role(p)):0", p)) }
                }
                weights = t + n
                allTrainable += t
            } else {
                let ps = parameters(of: layerName, in: nil)
                weights = ps.filter(\.trainable).map { ("\(layerName)/\(Self.role($0)):0", $0) }
                allTrainable += weights
                weights += ps.filter { !$0.trainable }.map { ("\(layerName)/\(Self.role($0)):0", $0) }
            }
            var group = StoredGroup(attributes: [StoredAttribute(
                name: "weight_names", value: weights.isEmpty ? .doubles([]) : .strings(weights.map(\.name)))])
            for w in weights { group.insert(.parameter(w.parameter.name), at: w.name) }
            root.members.append(.group(layerName, group))
        }
        root.members.append(.group("top_level_model_weights", StoredGroup(attributes: [
            StoredAttribute(name: "weight_names", value: .doubles([])),
        ])))
        return (root, allTrainable)
    }

    /// Calls `body` with every weight of a nested model's descendants, layer by layer.
    func descendants(_ model: JSONValue, container: String, _ body: (String, Parameter) -> Void) {
        for layer in Self.sublayers(model) {
            let layerName = Self.name(layer)
            if Self.modelClasses.contains(layer["class_name"]?.string ?? "") {
                descendants(layer, container: layerName, body)
            } else {
                for p in parameters(of: layerName, in: container) { body(layerName, p) }
            }
        }
    }
}

extension StoredGroup {
    enum Leaf { case parameter(String), tensor(Tensor) }

    /// Puts an array at a `/`-separated path, creating the groups on the way (as h5py does).
    mutating func insert(_ leaf: Leaf, at path: String) {
        let parts = path.split(separator: "/").map(String.init)
        guard let first = parts.first else { return }
        if parts.count == 1 {
            switch leaf {
            case .parameter(let p): members.append(.parameter(first, parameter: p))
            case .tensor(let t): members.append(.tensor(first, t))
            }
            return
        }
        let rest = parts.dropFirst().joined(separator: "/")
        if let i = members.firstIndex(where: { if case .group(first, _) = $0 { return true }; return false }),
           case .group(_, var child) = members[i] {
            child.insert(leaf, at: rest)
            members[i] = .group(first, child)
        } else {
            var child = StoredGroup()
            child.insert(leaf, at: rest)
            members.append(.group(first, child))
        }
    }

}
