import ModelIR

// Gather in the engine: indices read at run time from their tensor (token ids, or constants),
// each checked before any is used; the gradient scatters into the data (an Embedding's table).

extension Gather: OneOutputFamily {
    func lower(_ node: Node, inputShape: Shape, constant: (String) -> Tensor?) throws -> any FamilyKernel {
        GatherKernel(axis: axis, negativeIndices: negativeIndices, layer: node.layer ?? node.name, indices: node.input(at: 1))
    }

    func readsAsData(input: Int) -> Bool { input == 1 }

    func checkTrainable(_ node: Node) throws {}

    func trainingForward(_ node: Node, index: Int, x: HostTensor, y: inout HostTensor, session: TrainingSession) throws {
        guard let indices = session.input(node.input(at: 1)) else { throw EngineError.missingInput(node.input(at: 1)) }
        let kernel = GatherKernel(axis: axis, negativeIndices: negativeIndices, layer: node.layer ?? node.name, indices: node.input(at: 1))
        if let problem = kernel.validate([x, indices]) { throw EngineError.invalidValue(layer: kernel.layer, reason: problem) }
        y.data.withUnsafeMutableBufferPointer { kernel.run([x, indices], $0, outShape: y.shape, threads: 1) }
    }

    func trainingBackward(_ node: Node, index: Int, x: HostTensor, dy: [Float], wanted: [Bool], session: TrainingSession) throws -> [[Float]?] {
        var grads = [[Float]?](repeating: nil, count: node.inputs.count)
        guard wanted[0], let indices = session.input(node.input(at: 1)) else { return grads }
        let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *), n = x.shape[axis]
        var dx = session.buffer(x.count, zeroed: true)
        var o = 0
        for b in 0..<outer {
            for i in indices.data {
                let k = Int(i) < 0 ? Int(i) + n : Int(i)
                let base = (b * n + k) * inner
                for j in 0..<inner { dx[base + j] += dy[o + j] }
                o += inner
            }
        }
        grads[0] = dx
        return grads
    }
}

/// Picks slices of the data along `axis` by the indices given at run time.
struct GatherKernel: OneOutputKernel {
    let axis: Int
    let negativeIndices: Bool
    let layer: String
    /// The value the indices come from, for errors (`input_ids`).
    let indices: String

    var kindName: String { "gather" }

    /// Names the first index that is not a whole number within the axis: its position in the
    /// indices (sample first) and its value.
    func validate(_ inputs: [HostTensor]) -> String? {
        guard inputs.count == 2, axis < inputs[0].shape.count else { return "Gather needs data of rank above \(axis) and indices" }
        let x = inputs[0], ids = inputs[1]
        let n = x.shape[axis], lowest = negativeIndices ? -n : 0
        for (p, v) in ids.data.enumerated() where !(v.rounded() == v && v >= Float(lowest) && v < Float(n)) {
            var rest = p, position: [Int] = []
            for d in ids.shape.reversed() { position.insert(rest % max(d, 1), at: 0); rest /= max(d, 1) }
            let within = position.dropFirst().map(String.init).joined(separator: ", ")
            let at = position.isEmpty ? "" : ids.shape.count > 1 ? "sample \(position[0]), position \(within)" : "position \(position[0])"
            let what = v.rounded() != v ? "\(v) is not a whole number"
                : v < 0 && !negativeIndices ? "\(Int(v)) is negative" : "\(Int(v)) is outside the \(n) entries of axis \(axis)"
            return "index \(what) ('\(indices)', \(at))"
        }
        return nil
    }

    func run(_ inputs: [HostTensor], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], threads: Int) {
        let x = inputs[0], ids = inputs[1]
        let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *), n = x.shape[axis]
        x.data.withUnsafeBufferPointer { xp in
            guard let source = xp.baseAddress, let target = y.baseAddress else { return }
            var o = 0
            for b in 0..<outer {
                for i in ids.data {
                    let k = Int(i) < 0 ? Int(i) + n : Int(i)
                    (target + o).update(from: source + (b * n + k) * inner, count: inner)
                    o += inner
                }
            }
        }
    }
}
