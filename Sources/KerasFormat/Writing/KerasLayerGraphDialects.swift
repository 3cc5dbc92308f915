import ModelIR

/// The two Keras generations' spellings of a `KerasLayerGraph`: the Functional model config
/// and the weights tree each one's loader expects.
extension KerasLayerGraph {
    static let float32: JSONValue = .string("float32")
    static let keras3DType: JSONValue = .object([
        "module": .string("keras"), "class_name": .string("DTypePolicy"),
        "config": .object(["name": .string("float32")]), "registered_name": .null,
    ])

    /// Keys whose names differ between the generations: Keras 3's name → tf_keras's.
    static let keras2Keys: [String: [String: String]] = ["LeakyReLU": ["negative_slope": "alpha"]]

    static func batchShape(_ dims: [Int?]) -> JSONValue { .array([.null] + dims.map { $0.map { .number(Double($0)) } ?? .null }) }

    func layerConfig(_ l: Layer, keras3: Bool) -> [String: JSONValue] {
        var config = l.config
        if !keras3, let renames = Self.keras2Keys[l.className] {
            for (from, to) in renames where config[from] != nil { config[to] = config.removeValue(forKey: from) }
        }
        config["name"] = .string(l.name)
        if l.className == "InputLayer" {
            config[keras3 ? "batch_shape" : "batch_input_shape"] = Self.batchShape(l.outputShape)
            config["dtype"] = Self.float32
            config["sparse"] = .bool(false)
            config["ragged"] = .bool(false)
        } else {
            config["trainable"] = .bool(l.trainable)
            config["dtype"] = keras3 ? Self.keras3DType : Self.float32
        }
        return config
    }

    /// tf_keras `model_config`.
    func keras2Config() -> JSONValue {
        let layers: [JSONValue] = self.layers.map { l in
            let inbound: JSONValue = l.inbound.isEmpty ? .array([])
                : .array([.array(l.inbound.map { .array([.string($0), .number(0), .number(0), .object([:])]) })])
            return .object(["class_name": .string(l.className), "config": .object(layerConfig(l, keras3: false)),
                            "name": .string(l.name), "inbound_nodes": inbound])
        }
        return .object([
            "class_name": .string("Functional"),
            "config": .object(["name": .string(name), "trainable": .bool(true), "layers": .array(layers),
                               "input_layers": refs(inputs), "output_layers": refs(outputs)]),
            "keras_version": .string("2.21.0"), "backend": .string("tensorflow"),
        ])
    }

    /// Keras 3 `config.json` (without `compile_config`, which the caller adds).
    func keras3Config() -> [String: JSONValue] {
        func tensor(_ source: String) -> JSONValue {
            .object(["class_name": .string("__keras_tensor__"), "config": .object([
                "shape": Self.batchShape(layer(source)?.outputShape ?? []), "dtype": Self.float32,
                "keras_history": .array([.string(source), .number(0), .number(0)]),
            ])])
        }
        let layers: [JSONValue] = self.layers.map { l in
            var entry: [String: JSONValue] = ["module": .string("keras.layers"), "class_name": .string(l.className),
                                              "config": .object(layerConfig(l, keras3: true)), "registered_name": .null,
                                              "name": .string(l.name)]
            if l.inbound.isEmpty {
                entry["inbound_nodes"] = .array([])
            } else {
                let isMerge = Self.mergeClasses.contains(l.className)
                let args: JSONValue = isMerge ? .array([.array(l.inbound.map(tensor))]) : .array([tensor(l.inbound[0])])
                entry["inbound_nodes"] = .array([.object(["args": args, "kwargs": .object([:])])])
                let shapes = l.inbound.map { Self.batchShape(layer($0)?.outputShape ?? []) }
                entry["build_config"] = .object(["input_shape": isMerge ? .array(shapes) : shapes[0]])
            }
            return .object(entry)
        }
        return [
            "module": .string("keras.src.models.functional"), "class_name": .string("Functional"),
            "config": .object(["name": .string(name), "trainable": .bool(true), "layers": .array(layers),
                               "input_layers": refs(inputs), "output_layers": refs(outputs)]),
            "registered_name": .string("Functional"), "build_config": .object(["input_shape": .null]),
        ]
    }

    static let mergeClasses: Set<String> = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]

    func refs(_ names: [String]) -> JSONValue { .array(names.map { .array([.string($0), .number(0), .number(0)]) }) }

    /// tf_keras `model_weights/`: `layer_names`, a group per layer with `weight_names`.
    func keras2Weights() -> StoredGroup {
        var root = StoredGroup(attributes: [
            StoredAttribute(name: "backend", value: .string("tensorflow")),
            StoredAttribute(name: "keras_version", value: .string("2.21.0")),
            StoredAttribute(name: "layer_names", value: .strings(layers.map(\.name)), fixedLength: true),
        ])
        for l in layers {
            let names = l.weights.map { "\(l.name)/\($0.role):0" }
            let weightNames: StoredAttributeValue = names.isEmpty ? .doubles([]) : .strings(names)
            var inner = StoredGroup()
            for w in l.weights { inner.members.append(.tensor("\(w.role):0", w.tensor)) }
            var group = StoredGroup(attributes: [StoredAttribute(name: "weight_names", value: weightNames, fixedLength: true)])
            if !l.weights.isEmpty { group.members.append(.group(l.name, inner)) }
            root.members.append(.group(l.name, group))
        }
        root.members.append(.group("top_level_model_weights", StoredGroup(attributes: [
            StoredAttribute(name: "weight_names", value: .doubles([])),
        ])))
        return root
    }

    /// Keras 3's weights file: `layers/<snake_case class>[_n]/vars/<i>`, keyed in layer order.
    func keras3Weights() -> StoredGroup {
        var container = StoredGroup()
        var counters: [String: Int] = [:]
        for l in layers {
            let base = Keras3WeightSource.snakeCase(l.className)
            let n = counters[base, default: 0]
            counters[base] = n + 1
            var vars = StoredGroup(attributes: [StoredAttribute(name: "name", value: .string(l.name))])
            for (i, w) in l.weights.enumerated() { vars.members.append(.tensor("\(i)", w.tensor)) }
            container.members.append(.group(n == 0 ? base : "\(base)_\(n)", StoredGroup(members: [.group("vars", vars)])))
        }
        return StoredGroup(members: [
            .group("layers", container),
            .group("vars", StoredGroup(attributes: [StoredAttribute(name: "name", value: .string(name))])),
        ])
    }
}
