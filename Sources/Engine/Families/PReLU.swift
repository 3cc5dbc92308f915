import ModelIR

// PReLU in the engine: α broadcast over each sample (index computed per input shape), forward
// and backward.

extension PReLU: OneOutputFamily {
    func lower(_ node: Node, inputShape: Shape, constant: (String) -> Tensor?) throws -> any FamilyKernel {
        guard let alpha = constant(node.input(at: 1)) else {
            throw EngineError.unsupported(layer: node.layer ?? node.name, reason: "PReLU needs constant alpha")
        }
        return PReLUKernel(alpha: alpha.floats(), alphaShape: alpha.shape)
    }

    func checkTrainable(_ node: Node) throws {}

    func trainingForward(_ node: Node, index: Int, x: HostTensor, y: inout HostTensor, session: TrainingSession) throws {
        guard let alpha = session.input(node.input(at: 1)) else { throw EngineError.missingInput(node.input(at: 1)) }
        let alphaIndex = TensorKernels.broadcastIndex(alpha.shape, to: x.shape)
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
            PReLUKernel.forward(xp, alpha: alpha.data, alphaIndex: alphaIndex, yp)
        } }
    }

    func trainingBackward(_ node: Node, index: Int, x: HostTensor, dy: [Float], wanted: [Bool], session: TrainingSession) throws -> [[Float]?] {
        guard let alpha = session.input(node.input(at: 1)) else { throw EngineError.missingInput(node.input(at: 1)) }
        let alphaIndex = TensorKernels.broadcastIndex(alpha.shape, to: x.shape)
        var dx: [Float]? = wanted[0] ? session.buffer(x.count, zeroed: true) : nil
        var da: [Float]? = wanted.count > 1 && wanted[1] ? session.buffer(alpha.count, zeroed: true) : nil
        x.data.withUnsafeBufferPointer { xp in dy.withUnsafeBufferPointer { dyp in
            withOptionalMutable(&dx) { dxp in withOptionalMutable(&da) { dap in
                for i in 0..<xp.count {
                    let v = xp[i], a = alphaIndex?[i] ?? i
                    if v > 0 {
                        dxp?[i] = dyp[i]
                    } else {
                        dxp?[i] = alpha.data[a] * dyp[i]
                        dap?[a] += dyp[i] * v
                    }
                }
            } }
        } }
        return [dx, da] + [[Float]?](repeating: nil, count: max(0, node.inputs.count - 2))
    }
}

/// Inference PReLU with a constant α of one sample's shape (broadcasting from the right).
struct PReLUKernel: OneOutputKernel {
    let alpha: [Float]
    let alphaShape: [Int]

    var kindName: String { "prelu" }

    func run(_ inputs: [HostTensor], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], threads: Int) {
        let x = inputs[0]
        let sample = x.shape.dropFirst().reduce(1, *)
        let index = TensorKernels.broadcastIndex(alphaShape, to: Array(x.shape.dropFirst()))
        let period = alpha.count
        x.data.withUnsafeBufferPointer { xp in
            for i in 0..<xp.count {
                let v = xp[i], j = i % sample
                y[i] = v >= 0 ? v : alpha[index.map { $0[j] } ?? (j % period)] * v
            }
        }
    }

    /// `y = x` above 0 and `α·x` below, α broadcast through `alphaIndex` (nil: one α per element).
    static func forward(_ x: UnsafeBufferPointer<Float>, alpha: [Float], alphaIndex: [Int]?, _ y: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<x.count { let v = x[i]; y[i] = v > 0 ? v : alpha[alphaIndex?[i] ?? i] * v }
    }
}
