import Foundation

/// Keras's optimizers (tf_keras 2.11+ / Keras 3 formulas and defaults), in float32, one state
/// per variable. `step` applies one update of every variable from its gradient.
public struct Optimizer: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case sgd, adam, adamw, adamax, rmsprop

        /// Keras's class name.
        public var kerasName: String {
            switch self {
            case .sgd: return "SGD"
            case .adam: return "Adam"
            case .adamw: return "AdamW"
            case .adamax: return "Adamax"
            case .rmsprop: return "RMSprop"
            }
        }
    }
    public var kind: Kind
    public var learningRate: Float
    /// SGD's and RMSprop's momentum.
    public var momentum: Float
    public var nesterov: Bool
    public var beta1: Float
    public var beta2: Float
    /// RMSprop's ρ.
    public var rho: Float
    public var epsilon: Float
    public var amsgrad: Bool
    public var centered: Bool
    /// AdamW's decoupled weight decay.
    public var weightDecay: Float
    /// Steps taken (Keras's `iterations`): restored with the state of a file (`--resume-optimizer`).
    public var iterations = 0
    var slots: [String: [[Float]]] = [:]

    /// Keras's defaults for `kind`.
    public init(_ kind: Kind, learningRate: Float? = nil) {
        self.kind = kind
        switch kind {
        case .sgd: self.learningRate = 0.01
        case .adam, .adamw, .adamax, .rmsprop: self.learningRate = 0.001
        }
        if let learningRate { self.learningRate = learningRate }
        momentum = 0; nesterov = false; beta1 = 0.9; beta2 = 0.999; rho = 0.9; epsilon = 1e-7
        amsgrad = false; centered = false; weightDecay = kind == .adamw ? 0.004 : 0
    }

    /// An optimizer from a Keras `optimizer` config (`class_name`, `config` with learning_rate, …).
    public init?(keras name: String, config: [String: Double]) {
        guard let kind = Kind(rawValue: name.lowercased().replacingOccurrences(of: "_", with: "")) else { return nil }
        self.init(kind, learningRate: config["learning_rate"].map { Float($0) } ?? config["lr"].map { Float($0) })
        if let v = config["momentum"] { momentum = Float(v) }
        if let v = config["nesterov"] { nesterov = v != 0 }
        if let v = config["beta_1"] { beta1 = Float(v) }
        if let v = config["beta_2"] { beta2 = Float(v) }
        if let v = config["rho"] { rho = Float(v) }
        if let v = config["epsilon"] { epsilon = Float(v) }
        if let v = config["amsgrad"] { amsgrad = v != 0 }
        if let v = config["centered"] { centered = v != 0 }
        if let v = config["weight_decay"], kind == .adamw || v > 0 { weightDecay = Float(v) }
    }

    /// Keras's names of a variable's slots, in this optimizer's slot order (tf_keras: `m`, `v`,
    /// `vhat`; Adamax `m`, `u`; RMSprop `velocity`, `momentum`, `average_gradient`).
    public var slotNames: [String] {
        switch kind {
        case .sgd: return ["m"]
        case .adam, .adamw: return ["m", "v", "vhat"]
        case .adamax: return ["m", "u"]
        case .rmsprop: return ["velocity", "momentum", "average_gradient"]
        }
    }

    /// A variable's slots (nil before its first step).
    public func slots(of name: String) -> [[Float]]? { slots[name] }

    /// Sets a variable's slots (a state read from a file); missing ones start at zero.
    public mutating func setSlots(_ values: [[Float]], of name: String) { slots[name] = values }

    public var description: String {
        var parts = ["learning_rate \(learningRate)"]
        switch kind {
        case .sgd:
            if momentum > 0 { parts.append("momentum \(momentum)") }
            if nesterov { parts.append("nesterov") }
        case .adam, .adamw, .adamax:
            parts.append("beta_1 \(beta1), beta_2 \(beta2), epsilon \(epsilon)")
            if amsgrad { parts.append("amsgrad") }
            if kind == .adamw { parts.append("weight_decay \(weightDecay)") }
        case .rmsprop:
            parts.append("rho \(rho), epsilon \(epsilon)")
            if momentum > 0 { parts.append("momentum \(momentum)") }
            if centered { parts.append("centered") }
        }
        return kind.kerasName + " (" + parts.joined(separator: ", ") + ")"
    }

    /// One update of every variable in `gradients` (values changed in place).
    public mutating func step(_ variables: inout [String: [Float]], gradients: [String: [Float]]) {
        iterations += 1
        let t = Float(iterations)
        let lr = learningRate
        for name in gradients.keys.sorted() {
            guard let g = gradients[name], var w = variables[name], w.count == g.count else { continue }
            let n = w.count
            var s = slots[name] ?? []
            func slot(_ i: Int) -> [Float] {
                while s.count <= i { s.append([Float](repeating: 0, count: n)) }
                return s[i]
            }
            switch kind {
            case .sgd:
                if momentum > 0 {
                    var m = slot(0)
                    for i in 0..<n {
                        m[i] = m[i] * momentum - g[i] * lr
                        w[i] += nesterov ? m[i] * momentum - g[i] * lr : m[i]
                    }
                    s[0] = m
                } else {
                    for i in 0..<n { w[i] -= lr * g[i] }
                }
            case .adam, .adamw:
                if kind == .adamw, weightDecay > 0 { for i in 0..<n { w[i] -= w[i] * weightDecay * lr } }
                var m = slot(0), v = slot(1)
                let alpha = lr * (1 - pow(beta2, t)).squareRoot() / (1 - pow(beta1, t))
                if amsgrad {
                    var vhat = slot(2)
                    for i in 0..<n {
                        m[i] += (g[i] - m[i]) * (1 - beta1)
                        v[i] += (g[i] * g[i] - v[i]) * (1 - beta2)
                        vhat[i] = max(vhat[i], v[i])
                        w[i] -= (m[i] * alpha) / (vhat[i].squareRoot() + epsilon)
                    }
                    s[2] = vhat
                } else {
                    for i in 0..<n {
                        m[i] += (g[i] - m[i]) * (1 - beta1)
                        v[i] += (g[i] * g[i] - v[i]) * (1 - beta2)
                        w[i] -= (m[i] * alpha) / (v[i].squareRoot() + epsilon)
                    }
                }
                s[0] = m; s[1] = v
            case .adamax:
                var m = slot(0), u = slot(1)
                let correction = 1 - pow(beta1, t)
                for i in 0..<n {
                    m[i] += (g[i] - m[i]) * (1 - beta1)
                    u[i] = max(beta2 * u[i], abs(g[i]))
                    w[i] -= (lr * m[i]) / (correction * (u[i] + epsilon))
                }
                s[0] = m; s[1] = u
            case .rmsprop:
                var v = slot(0)
                var mom = momentum > 0 ? slot(1) : []
                var avg = centered ? slot(2) : []
                for i in 0..<n {
                    v[i] = rho * v[i] + (1 - rho) * g[i] * g[i]
                    var denominator = v[i]
                    if centered {
                        avg[i] = rho * avg[i] + (1 - rho) * g[i]
                        denominator -= avg[i] * avg[i]
                    }
                    let increment = lr * g[i] / (denominator + epsilon).squareRoot()
                    if momentum > 0 {
                        mom[i] = momentum * mom[i] + increment
                        w[i] -= mom[i]
                    } else {
                        w[i] -= increment
                    }
                }
                s[0] = v
                if momentum > 0 { s[1] = mom }
                if centered { s[2] = avg }
            }
            slots[name] = s
            variables[name] = w
        }
    }
}
