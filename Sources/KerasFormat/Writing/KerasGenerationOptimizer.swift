import ModelIR

/// An optimizer's saved state in the other generation's layout, so `fit` continues where it
/// stopped. tf_keras keeps `[iteration, slots…]` under `optimizer_weights/` with names; Keras 3
/// keeps `[iteration, learning_rate, slots…]` under `optimizer/vars/<i>`. Both order the slots
/// over the trainable variables the same way: interleaved per variable (Adam's m, v), or one
/// block per slot kind (RMSprop).
struct KerasOptimizerState {
    var className: String
    var config: JSONValue

    /// The optimizer of a tf_keras `training_config` or a Keras 3 `compile_config`.
    init?(training: JSONValue?) {
        guard let t = training else { return nil }
        let o = t["optimizer_config"] ?? t["optimizer"]
        guard let cls = o?["class_name"]?.string else { return nil }
        className = String(cls.split(separator: ">").last ?? "")
        config = o?["config"] ?? .object([:])
    }

    var momentum: Bool { (config["momentum"]?.double ?? 0) != 0 }

    /// tf_keras's slot names, in the order of one variable's (or one block's) slots.
    var keras2Slots: [String]? {
        switch className {
        case "Adam", "AdamW", "Nadam": return ["m", "v"]
        case "Adamax": return ["m", "u"]
        case "RMSprop":
            return ["velocity"] + (momentum ? ["momentum"] : []) + (config["centered"]?.bool == true ? ["average_gradient"] : [])
        case "SGD": return ["m"]
        case "Adagrad": return ["accumulator"]
        default: return nil
        }
    }

    var blockwise: Bool { className == "RMSprop" }

    /// Keras 3 keeps no slot for SGD without momentum; tf_keras keeps zeros.
    var keras3HasSlots: Bool { !(className == "SGD" && !momentum) }

    var learningRate: Tensor? {
        guard let lr = config["learning_rate"]?.double else { return nil }
        return Tensor(scalar: Float(lr))
    }

    /// An int64 scalar (the iteration counter).
    static func int64(_ v: Int64) -> Tensor {
        let bytes = withUnsafeBytes(of: v.littleEndian) { Array($0) }
        return (try? Tensor(dtype: .int64, shape: [], bytes: bytes)) ?? Tensor(scalar: 0)
    }

    /// Keras 3 `optimizer/` from tf_keras `optimizer_weights/`; a fresh full state (counter 0,
    /// zero slots) when tf_keras saved only the counter, which Keras 3 would otherwise refuse.
    func keras3Group(fromKeras2 weights: StoredGroup, trainable: [Parameter]) -> StoredGroup? {
        guard let slots = keras2Slots, let lr = learningRate else { return nil }
        let names: [String] = {
            if case .strings(let a)? = weights.attribute("weight_names") { return a }
            return []
        }()
        var values: [Tensor] = names.compactMap { name in
            if case .tensor(_, let t)? = weights.array(at: name) { return t }
            return nil
        }
        guard values.count == names.count, let iteration = values.first else { return nil }
        values.removeFirst()
        if !keras3HasSlots {
            values = []
        } else if values.isEmpty {
            values = freshSlots(slots.count, trainable)
            return group([Self.int64(0), lr] + values)
        } else if values.count != slots.count * trainable.count {
            return nil
        }
        if className == "Nadam" { values.append(Tensor(scalar: 1)) }
        return group([iteration, lr] + values)
    }

    func freshSlots(_ count: Int, _ trainable: [Parameter]) -> [Tensor] {
        let initial = Float(className == "Adagrad" ? config["initial_accumulator_value"]?.double ?? 0.1 : 0)
        func zeros(_ p: Parameter) -> Tensor { Tensor(shape: p.tensor.shape, floats: Array(repeating: initial, count: p.tensor.count)) }
        if blockwise { return (0..<count).flatMap { _ in trainable.map(zeros) } }
        return trainable.flatMap { p in (0..<count).map { _ in zeros(p) } }
    }

    private func group(_ values: [Tensor]) -> StoredGroup {
        var vars = StoredGroup(attributes: [StoredAttribute(name: "name", value: .string(Keras3WeightSource.snakeCase(className)))])
        for (i, v) in values.enumerated() { vars.members.append(.tensor("\(i)", v)) }
        return StoredGroup(members: [.group("vars", vars)])
    }

    /// tf_keras `optimizer_weights/` from Keras 3 `optimizer/`, named after the trainable
    /// weights; nil when Keras 3 saved an unbuilt optimizer (tf_keras then starts fresh).
    func keras2Group(fromKeras3 optimizer: StoredGroup, trainable: [(name: String, parameter: Parameter)]) -> StoredGroup? {
        guard let slots = keras2Slots, let vars = optimizer.group("vars") else { return nil }
        var values: [Tensor] = vars.members.compactMap { m -> (Int, Tensor)? in
            guard case .tensor(let n, let t) = m, let i = Int(n) else { return nil }
            return (i, t)
        }.sorted { $0.0 < $1.0 }.map(\.1)
        guard values.count >= 2 else { return nil }
        let iteration = values[0]
        values.removeFirst(2)
        if className == "Nadam", !values.isEmpty { values.removeLast() }
        if !keras3HasSlots { values = freshSlots(1, trainable.map(\.parameter)) }
        guard !values.isEmpty, values.count == slots.count * trainable.count else { return nil }
        let slotNames: [String] = blockwise
            ? slots.flatMap { s in trainable.map { "\(className)/\(s)/\($0.name)" } }
            : trainable.flatMap { w in slots.map { "\(className)/\($0)/\(w.name)" } }
        let names = ["iteration:0"] + slotNames
        var group = StoredGroup(attributes: [StoredAttribute(name: "weight_names", value: .strings(names))])
        for (name, value) in zip(names, [iteration] + values) { group.insert(.tensor(value), at: name) }
        return group
    }
}
