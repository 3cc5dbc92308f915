import ModelIR

/// A flat Functional Keras model made from a graph that has no Keras config of its own (an
/// ONNX import): channels_last layers, their configs and their weights in Keras' order.
/// The writers turn it into either Keras generation's config and weights tree.
struct KerasLayerGraph {
    struct Layer {
        var name: String
        var className: String
        /// The layer's config, in the keys both Keras generations read (name and dtype excluded).
        var config: [String: JSONValue]
        /// The layers whose (single) outputs this layer is called on.
        var inbound: [String]
        /// Weights in the order Keras creates them, by role (`kernel`, `bias`, …).
        var weights: [(role: String, tensor: Tensor)] = []
        /// The output shape without the batch axis (Keras' `build_config` needs the input's).
        var outputShape: [Int?]
        var trainable = true
    }

    var name: String
    var layers: [Layer] = []
    /// Names of InputLayer layers, in the model's input order.
    var inputs: [String] = []
    /// Names of the layers whose outputs are the model's outputs.
    var outputs: [String] = []

    func layer(_ name: String) -> Layer? { layers.first { $0.name == name } }
}

extension KerasLayerGraph {
    /// The layers in the order Keras lists `model.layers` for this graph (tf_keras' and Keras 3's
    /// `map_graph`): by depth from the outputs, deepest (the inputs) first, ties in the order a
    /// depth-first walk from the outputs first reaches them. Weights files are laid out in
    /// that order, so the config must list the layers in it too.
    func orderedAsKeras() -> KerasLayerGraph {
        let byName = Dictionary(layers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var indices: [String: Int] = [:]
        var finished = Set<String>()
        var postOrder: [String] = []
        func visit(_ name: String) {
            guard !finished.contains(name) else { return }
            if indices[name] == nil { indices[name] = indices.count }
            for source in byName[name]?.inbound ?? [] { visit(source) }
            finished.insert(name)
            postOrder.append(name)
        }
        outputs.forEach(visit)
        var depths: [String: Int] = [:]
        for name in postOrder.reversed() {
            let depth = depths[name, default: 0]
            depths[name] = depth
            for source in byName[name]?.inbound ?? [] { depths[source] = max(depths[source, default: 0], depth + 1) }
        }
        for input in inputs where depths[input] == nil {
            depths[input] = 0
            indices[input] = -1
        }
        var copy = self
        copy.layers = layers.filter { depths[$0.name] != nil }.sorted {
            let (a, b) = (depths[$0.name, default: 0], depths[$1.name, default: 0])
            return a != b ? a > b : indices[$0.name, default: 0] < indices[$1.name, default: 0]
        }
        return copy
    }
}
