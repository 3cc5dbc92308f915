import ModelIR

/// Translates model configs between tf_keras (Keras 2) and Keras 3, as each one's loader
/// reads them. Measured with both frameworks: the fewest edits each direction needs, so
/// everything else in the source config (initializers, regularizers, names) is kept.
struct KerasGenerationConfig {
    /// RandomCrop layers whose input is not the target size: tf_keras resizes their input at
    /// inference (smart_resize), Keras 3.15 passes it through (keras-team/keras#21868).
    var cropsThatResize = Set<String>()

    /// The translation of `graph`'s config, which knows the RandomCrop layers that resize.
    init(_ graph: Graph) {
        let shapes = (try? graph.verify()) ?? [:]
        for layer in graph.layers where layer.className == "RandomCrop" {
            guard let node = graph.nodes.first(where: { $0.layer == layer.name }), let input = shapes[node.inputs[0]],
                  let output = shapes[node.outputs[0]] else { continue }
            if case .imageResize = node.op { cropsThatResize.insert(layer.name); continue }
            let target = (layer.config?["config"]?["height"]?.int, layer.config?["config"]?["width"]?.int)
            if input.rank == 4, input[1] != target.0 || input[2] != target.1 || output != input { cropsThatResize.insert(layer.name) }
        }
    }

    static let modelClasses: Set<String> = ["Functional", "Sequential", "Model"]

    // MARK: tf_keras → Keras 3

    /// Keys a tf_keras layer config has that Keras 3's constructor refuses.
    static let keras2OnlyKeys: [String: [String]] = {
        var keys: [String: [String]] = [:]
        for c in ["DepthwiseConv1D", "DepthwiseConv2D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"] { keys[c] = ["groups"] }
        for c in ["SeparableConv1D", "SeparableConv2D"] { keys[c] = ["groups", "kernel_initializer", "kernel_regularizer", "kernel_constraint"] }
        for c in ["SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"] { keys[c] = ["trainable", "noise_shape"] }
        return keys
    }()

    /// A tf_keras `model_config` as a Keras 3 `config.json` (with `compile_config` from the
    /// tf_keras `training_config`, when there is one).
    func keras3(fromKeras2 model: JSONValue, training: JSONValue?) throws -> JSONValue {
        guard var top = model.object, let className = top["class_name"]?.string else {
            throw KerasWriteError.cannotExpress("the model config has no class_name")
        }
        top = try keras3Model(top)
        if className == "Sequential" {
            top["module"] = .string("keras")
            top["registered_name"] = .null
        } else {
            top["class_name"] = .string("Functional")
            top["module"] = .string("keras.src.models.functional")
            top["registered_name"] = .string("Functional")
        }
        let outputs = (model["config"]?["output_layers"]?.array ?? []).compactMap { $0[0]?.string }
        top["compile_config"] = training.map { Self.compileConfig(fromTraining: $0, outputs: outputs) } ?? .null
        top.removeValue(forKey: "keras_version")
        top.removeValue(forKey: "backend")
        return .object(top)
    }

    func keras3Model(_ model: [String: JSONValue]) throws -> [String: JSONValue] {
        var m = model
        guard var config = m["config"]?.object, let layers = config["layers"]?.array else { return m }
        let isSequential = m["class_name"]?.string == "Sequential"
        if !isSequential {
            for key in ["input_layers", "output_layers"] {
                if let list = config[key]?.array, list.count == 1, list[0].array != nil { config[key] = list[0] }
            }
        }
        // tf_keras counts a nested model's own construction as its node 0; Keras 3 does not.
        let shifted = isSequential ? [] : Self.nestedModelsWithOwnNode(layers)
        var out: [JSONValue] = []
        for layer in layers {
            guard var l = layer.object else { continue }
            l = try keras3Layer(l)
            if !shifted.isEmpty, let nodes = l["inbound_nodes"] { l["inbound_nodes"] = Self.shiftReferences(nodes, models: shifted, by: -1) }
            out.append(.object(l))
        }
        config["layers"] = .array(out)
        if !shifted.isEmpty, let outputs = config["output_layers"] { config["output_layers"] = Self.shiftReferences(outputs, models: shifted, by: -1) }
        m["config"] = .object(config)
        if m["class_name"]?.string == "Model" { m["class_name"] = .string("Functional") }
        return m
    }

    func keras3Layer(_ layer: [String: JSONValue]) throws -> [String: JSONValue] {
        var l = layer
        let cls = l["class_name"]?.string ?? ""
        let name = l["config"]?["name"]?.string ?? ""
        if Self.modelClasses.contains(cls) { return try keras3Model(l) }
        guard var c = l["config"]?.object else { return l }
        if name.contains("/") {
            throw KerasWriteError.cannotExpress("layer '\(name)' has '/' in its name, which Keras 3 does not allow")
        }
        try Self.refuseDifferingActivation(c, layer: name, cls: cls, in: "Keras 3")
        try refusePreprocessing(c, layer: name, cls: cls, target: "Keras 3")
        if cls.hasPrefix("Random") { c.removeValue(forKey: "rng_type") }
        switch cls {
        case "TFOpLambda", "SlicingOpLambda", "ThresholdedReLU":
            throw KerasWriteError.cannotExpress("layer '\(name)' (\(cls)) has no Keras 3 equivalent")
        case "InputLayer":
            if let shape = c.removeValue(forKey: "batch_input_shape") { c["batch_shape"] = shape }
        case "LeakyReLU":
            if let alpha = c.removeValue(forKey: "alpha") { c["negative_slope"] = alpha }
        case "BatchNormalization":
            if let axis = c["axis"]?.array, axis.count == 1 { c["axis"] = axis[0] }
        default: break
        }
        if cls != "InputLayer" { c.removeValue(forKey: "batch_input_shape") }
        for key in Self.keras2OnlyKeys[cls] ?? [] { c.removeValue(forKey: key) }
        l["config"] = .object(c)
        return l
    }

    /// tf_keras `training_config` → Keras 3 `compile_config`.
    static func compileConfig(fromTraining t: JSONValue, outputs: [String]) -> JSONValue {
        var optimizer: JSONValue = .null
        if let o = t["optimizer_config"], let cls = o["class_name"]?.string {
            let name = String(cls.split(separator: ">").last ?? "")
            var config = o["config"]?.object ?? [:]
            config.removeValue(forKey: "jit_compile")
            config.removeValue(forKey: "is_legacy_optimizer")
            config["name"] = .string(Keras3WeightSource.snakeCase(name))
            optimizer = .object(["module": .string("keras.optimizers"), "class_name": .string(name),
                                 "config": .object(config), "registered_name": .null])
        }
        // tf_keras lists each output's metrics in output order, named `<output>_<metric>`;
        // Keras 3 keys them by output name, as the user passed them to compile().
        func metric(_ m: JSONValue, output: String?) -> JSONValue {
            if m["class_name"]?.string == "MeanMetricWrapper", let name = m["config"]?["name"]?.string {
                if let output, name.hasPrefix(output + "_") { return .string(String(name.dropFirst(output.count + 1))) }
                return .string(name)
            }
            if let a = m.array { return .array(a.map { metric($0, output: output) }) }
            if let o = m.object, o["class_name"] == nil {
                return .object(Dictionary(uniqueKeysWithValues: o.map { ($0.key, metric($0.value, output: $0.key)) }))
            }
            return m
        }
        func perOutput(_ v: JSONValue?) -> JSONValue {
            guard let v, !v.isNull else { return .null }
            guard let lists = v.array, lists.allSatisfy({ $0.array != nil }) else { return metric(v, output: nil) }
            if lists.count == 1 { return metric(lists[0], output: nil) }
            guard lists.count == outputs.count else { return metric(v, output: nil) }
            return .object(Dictionary(uniqueKeysWithValues: zip(outputs, lists).map { ($0, metric($1, output: $0)) }))
        }
        let metrics = perOutput(t["metrics"])
        return .object([
            "optimizer": optimizer, "loss": t["loss"] ?? .null, "loss_weights": t["loss_weights"] ?? .null,
            "metrics": metrics, "weighted_metrics": perOutput(t["weighted_metrics"]),
            "run_eagerly": .bool(false), "steps_per_execution": .number(1), "jit_compile": .bool(false),
        ])
    }

    // MARK: Keras 3 → tf_keras

    static let keras3OnlyKeys: [String: [String]] = [
        "LayerNormalization": ["rms_scaling"], "Resizing": ["data_format"], "CenterCrop": ["data_format"],
        "Dense": ["quantization_config"], "EinsumDense": ["quantization_config"], "Embedding": ["quantization_config"],
    ]

    /// A Keras 3 `config.json` as tf_keras' `model_config` and `training_config`.
    func keras2(fromKeras3 model: JSONValue) throws -> (model: JSONValue, training: JSONValue?) {
        guard var top = model.object else { throw KerasWriteError.cannotExpress("the model config is not an object") }
        let compile = top.removeValue(forKey: "compile_config")
        top = try keras2Model(top)
        top["keras_version"] = .string("2.21.0")
        top["backend"] = .string("tensorflow")
        let training = compile.flatMap { $0.isNull ? nil : Self.trainingConfig(fromCompile: $0) }
        return (.object(top), training)
    }

    func keras2Model(_ model: [String: JSONValue]) throws -> [String: JSONValue] {
        var m = model
        m.removeValue(forKey: "compile_config")
        guard var config = m["config"]?.object, let layers = config["layers"]?.array else { return m }
        if let d = config["dtype"] { config["dtype"] = Self.dtypeName(d) }
        let isSequential = m["class_name"]?.string == "Sequential"
        let shifted = isSequential ? [] : Self.nestedModelsWithOwnNode(layers)
        var out: [JSONValue] = []
        for layer in layers {
            guard var l = layer.object else { continue }
            l = try keras2Layer(l)
            if !isSequential, let nodes = l["inbound_nodes"]?.array {
                // Keras 3 also reads (and a translated config may hold) tf_keras' list nodes.
                l["inbound_nodes"] = .array(nodes.map {
                    $0.object == nil ? Self.shiftReferences($0, models: shifted, by: 1) : Self.legacyNode($0, shifted: shifted)
                })
            }
            out.append(.object(l))
        }
        config["layers"] = .array(out)
        if !isSequential {
            for key in ["input_layers", "output_layers"] {
                guard var list = config[key]?.array else { continue }
                if list.first?.array == nil { list = [.array(list)] }
                config[key] = key == "output_layers" ? Self.shiftReferences(.array(list), models: shifted, by: 1) : .array(list)
            }
        }
        m["config"] = .object(config)
        return m
    }

    func keras2Layer(_ layer: [String: JSONValue]) throws -> [String: JSONValue] {
        var l = layer
        let cls = l["class_name"]?.string ?? ""
        if Self.modelClasses.contains(cls) { return try keras2Model(l) }
        guard var c = l["config"]?.object else { return l }
        let name = c["name"]?.string ?? ""
        try Self.refuseDifferingActivation(c, layer: name, cls: cls, in: "tf_keras")
        try refusePreprocessing(c, layer: name, cls: cls, target: "tf_keras")
        if cls.hasPrefix("Random") || cls == "Resizing" || cls == "CenterCrop" {
            // tf_keras' preprocessing layers are channels_last only and take none of Keras 3's
            // resizing options (their defaults are what tf_keras computes).
            for key in ["data_format", "antialias", "pad_to_aspect_ratio", "fill_mode", "fill_value"] where cls == "Resizing" || key == "data_format" {
                c.removeValue(forKey: key)
            }
        }
        if let d = c["dtype"] { c["dtype"] = Self.dtypeName(d) }
        switch cls {
        case "InputLayer":
            if let shape = c.removeValue(forKey: "batch_shape") { c["batch_input_shape"] = shape }
            c.removeValue(forKey: "optional")
        case "LeakyReLU":
            if let slope = c.removeValue(forKey: "negative_slope") { c["alpha"] = slope }
        default: break
        }
        for key in Self.keras3OnlyKeys[cls] ?? [] { c.removeValue(forKey: key) }
        l["config"] = Self.removingKeras3InitializerKeys(.object(c))
        return l
    }

    /// Keras 3 `{"args": [...], "kwargs": {...}}` → tf_keras `[[layer, node, tensor, kwargs], ...]`.
    static func legacyNode(_ node: JSONValue, shifted: Set<String>) -> JSONValue {
        guard let args = node["args"]?.array, let first = args.first else { return node }
        let tensors = first.array ?? [first]
        var refs: [[JSONValue]] = tensors.compactMap { t in
            guard let h = t["config"]?["keras_history"]?.array, h.count >= 3, let layer = h[0].string, let index = h[1].int else { return nil }
            return [.string(layer), .number(Double(index + (shifted.contains(layer) ? 1 : 0))), h[2], .object([:])]
        }
        if var kwargs = node["kwargs"]?.object {
            if kwargs["mask"]?.isNull == true { kwargs.removeValue(forKey: "mask") }
            if !kwargs.isEmpty, !refs.isEmpty { refs[refs.count - 1][3] = .object(kwargs) }
        }
        return .array(refs.map(JSONValue.array))
    }

    /// Keras 3 `compile_config` → tf_keras `training_config`.
    static func trainingConfig(fromCompile c: JSONValue) -> JSONValue {
        var optimizer: JSONValue = .null
        if let o = c["optimizer"], let cls = o["class_name"]?.string {
            var config = o["config"]?.object ?? [:]
            config.removeValue(forKey: "loss_scale_factor")
            config.removeValue(forKey: "gradient_accumulation_steps")
            if config["jit_compile"] == nil { config["jit_compile"] = .bool(false) }
            config["is_legacy_optimizer"] = .bool(false)
            optimizer = .object(["class_name": .string(cls), "config": .object(config)])
        }
        return .object(["loss": c["loss"] ?? .null, "metrics": c["metrics"] ?? .null, "weighted_metrics": c["weighted_metrics"] ?? .null,
                        "loss_weights": c["loss_weights"] ?? .null, "optimizer_config": optimizer])
    }

    static func dtypeName(_ d: JSONValue) -> JSONValue {
        if let cls = d["class_name"]?.string, cls.hasSuffix("DTypePolicy"), let name = d["config"]?["name"] { return name }
        return d
    }

    /// Initializer configs' `input_axes`/`output_axes`, which tf_keras' initializers refuse (when null).
    static func removingKeras3InitializerKeys(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(var o):
            if o["module"]?.string == "keras.initializers", var c = o["config"]?.object {
                for key in ["input_axes", "output_axes"] where c[key]?.isNull == true { c.removeValue(forKey: key) }
                o["config"] = .object(c)
            }
            return .object(o.mapValues(removingKeras3InitializerKeys))
        case .array(let a): return .array(a.map(removingKeras3InitializerKeys))
        default: return v
        }
    }

    // MARK: Shared

    /// Nested models whose construction is a node of their own in tf_keras: Functional ones,
    /// and Sequential ones that start with an InputLayer.
    static func nestedModelsWithOwnNode(_ layers: [JSONValue]) -> Set<String> {
        Set(layers.compactMap { l -> String? in
            guard let cls = l["class_name"]?.string, Self.modelClasses.contains(cls), let name = l["config"]?["name"]?.string else { return nil }
            if cls != "Sequential" { return name }
            let first = l["config"]?["layers"]?[0]?["class_name"]?.string
            return first == "InputLayer" ? name : nil
        })
    }

    /// Adds `delta` to the node index of every legacy reference `[layer, node, tensor, …]` to `models`.
    static func shiftReferences(_ v: JSONValue, models: Set<String>, by delta: Int) -> JSONValue {
        guard let a = v.array else { return v }
        if a.count >= 3, let layer = a[0].string, let node = a[1].int, a[2].int != nil {
            guard models.contains(layer) else { return v }
            var shifted = a
            shifted[1] = .number(Double(node + delta))
            return .array(shifted)
        }
        return .array(a.map { Self.shiftReferences($0, models: models, by: delta) })
    }

    /// Preprocessing options one generation has and the other lacks.
    func refusePreprocessing(_ c: [String: JSONValue], layer: String, cls: String, target: String) throws {
        func refuse(_ why: String) -> KerasWriteError { .cannotExpress("layer '\(layer)' (\(cls)): \(why)") }
        switch cls {
        case "Resizing":
            let interpolation = c["interpolation"]?.string ?? "bilinear"
            if target == "Keras 3", ["gaussian", "mitchellcubic"].contains(interpolation) {
                throw refuse("Keras 3's Resizing has no '\(interpolation)' interpolation")
            }
            if target == "tf_keras", c["antialias"]?.bool == true { throw refuse("tf_keras' Resizing cannot antialias") }
            if target == "tf_keras", c["pad_to_aspect_ratio"]?.bool == true { throw refuse("tf_keras' Resizing cannot pad to the aspect ratio") }
        case "RandomCrop" where cropsThatResize.contains(layer):
            throw refuse("at inference tf_keras resizes an input of another size and Keras 3.15 passes it through")
        default: break
        }
        if target == "tf_keras", let format = c["data_format"]?.string, format != "channels_last",
           cls.hasPrefix("Random") || cls == "Resizing" || cls == "CenterCrop" {
            throw refuse("tf_keras' preprocessing layers are channels_last only")
        }
    }

    /// `hard_sigmoid` is clip(0.2x + 0.5) in tf_keras and relu6(x + 3)/6 in Keras 3, and tf_keras
    /// has no `hard_swish`: a config naming them would load and compute something else.
    static func refuseDifferingActivation(_ c: [String: JSONValue], layer: String, cls: String, in target: String) throws {
        guard let activation = c["activation"]?.string else { return }
        let differs = activation == "hard_sigmoid" || (target == "tf_keras" && ["hard_swish", "hard_silu"].contains(activation))
        if differs {
            throw KerasWriteError.cannotExpress(
                "layer '\(layer)' (\(cls)) uses '\(activation)', which \(target) computes differently (or not at all)")
        }
    }
}
