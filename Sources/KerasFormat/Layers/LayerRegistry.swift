import ModelIR

typealias KerasLayerConverter = @Sendable (KerasGraphBuilder, LayerCall) throws -> [String]

/// Every Keras class ModelPort imports, by class name. One file per layer family adds its entries.
let kerasLayerConverters: [String: KerasLayerConverter] = {
    var registry: [String: KerasLayerConverter] = [:]
    registerCoreLayers(&registry)
    registerConvolutionLayers(&registry)
    registerPoolingLayers(&registry)
    registerNormalizationLayers(&registry)
    registerReshapingLayers(&registry)
    registerActivationLayers(&registry)
    registerMergingLayers(&registry)
    registerTFOpLambda(&registry)
    registerPreprocessingLayers(&registry)
    return registry
}()

extension LayerCall {
    /// The single input of a one-input layer.
    var x: String {
        get throws {
            guard inputs.count == 1 else { throw config.fail("expects one input, got \(inputs.count)") }
            return inputs[0]
        }
    }
}

extension KerasGraphBuilder {
    /// Adds `op` and, when the layer has an activation, the activation node that ends the layer.
    func addWithActivation(_ op: Op, _ inputs: [String], activation: Activation?, call: LayerCall, suffix: String) throws -> String {
        guard let activation else { return try add(op, inputs, call: call) }
        let z = try add(op, inputs, call: call, suffix: suffix)
        return try add(.activation(activation), [z], call: call)
    }

    /// The channel count of a value along the layout's channel axis, which Keras requires known.
    func channels(_ value: String, layout: Layout, call: LayerCall) throws -> Int {
        let s = shape(value)
        guard s.rank >= 2, let c = s[layout.channelAxis(rank: s.rank)] else {
            throw call.config.fail("the input \(s) has no known channel dimension")
        }
        return c
    }
}
