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
