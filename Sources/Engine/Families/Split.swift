import ModelIR

// Split in the engine: each part copied out row by row; the gradient is the parts' gradients
// put back side by side (zero for a part no gradient reaches).

extension Split: EngineFamily {
    func lower(_ node: Node, inputShape: Shape, constant: (String) -> Tensor?) throws -> any FamilyKernel { SplitKernel(split: self) }

    func checkTrainable(_ node: Node) throws {}

    func trainingForward(_ node: Node, index: Int, x: HostTensor, outputs: inout [HostTensor], session: TrainingSession) throws {
        SplitKernel(split: self).run([x], into: &outputs)
    }

    func trainingBackward(_ node: Node, index: Int, x: HostTensor, dys: [[Float]?], wanted: [Bool], session: TrainingSession) throws -> [[Float]?] {
        var grads = [[Float]?](repeating: nil, count: node.inputs.count)
        guard wanted[0], let lengths = lengths(x.shape[axis]) else { return grads }
        let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *), n = x.shape[axis]
        var dx = session.buffer(x.count, zeroed: true)
        var start = 0
        for (part, length) in lengths.enumerated() {
            if part < dys.count, let dy = dys[part] {
                for o in 0..<outer {
                    for j in 0..<(length * inner) { dx[(o * n + start) * inner + j] = dy[o * length * inner + j] }
                }
            }
            start += length
        }
        grads[0] = dx
        return grads
    }
}

/// Copies each part of the input along the axis into its output.
struct SplitKernel: FamilyKernel {
    let split: Split

    var kindName: String { "split" }

    func run(_ inputs: [HostTensor], outputs: [UnsafeMutableBufferPointer<Float>], outShapes: [[Int]], threads: Int) {
        let x = inputs[0], a = split.axis
        guard a < x.shape.count, let lengths = split.lengths(x.shape[a]) else { return }
        let outer = x.shape[..<a].reduce(1, *), inner = x.shape[(a + 1)...].reduce(1, *), n = x.shape[a]
        x.data.withUnsafeBufferPointer { xp in
            guard let source = xp.baseAddress else { return }
            var start = 0
            for (part, length) in lengths.enumerated() {
                defer { start += length }
                guard part < outputs.count, length > 0, let target = outputs[part].baseAddress else { continue }
                for o in 0..<outer {
                    (target + o * length * inner).update(from: source + (o * n + start) * inner, count: length * inner)
                }
            }
        }
    }
}
