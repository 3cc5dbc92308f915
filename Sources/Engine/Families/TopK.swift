import ModelIR

// TopK in the engine: each row along the axis ordered by value (ties by index, as ONNX says), the
// first k kept with their indices; the gradient puts each kept value's gradient back at its index.

extension TopK: EngineFamily {
    func lower(_ node: Node, inputShape: Shape, constant: (String) -> Tensor?) throws -> any FamilyKernel { TopKKernel(topK: self) }

    func checkTrainable(_ node: Node) throws {}

    func trainingForward(_ node: Node, index: Int, x: HostTensor, outputs: inout [HostTensor], session: TrainingSession) throws {
        TopKKernel(topK: self).run([x], into: &outputs)
    }

    /// Only the values carry a gradient (the indices are integers).
    func trainingBackward(_ node: Node, index: Int, x: HostTensor, dys: [[Float]?], wanted: [Bool], session: TrainingSession) throws -> [[Float]?] {
        var grads = [[Float]?](repeating: nil, count: node.inputs.count)
        guard wanted[0], let dy = dys.first ?? nil, node.outputs.count > 1, let indices = session.value(node.outputName(1)) else { return grads }
        let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *), n = x.shape[axis]
        var dx = session.buffer(x.count, zeroed: true)
        for o in 0..<outer {
            for j in 0..<k {
                for i in 0..<inner {
                    let p = (o * k + j) * inner + i
                    dx[(o * n + Int(indices.data[p])) * inner + i] += dy[p]
                }
            }
        }
        grads[0] = dx
        return grads
    }
}

/// Orders each row along the axis and keeps the first k values and their indices.
struct TopKKernel: FamilyKernel {
    let topK: TopK

    var kindName: String { "top k" }

    func run(_ inputs: [HostTensor], outputs: [UnsafeMutableBufferPointer<Float>], outShapes: [[Int]], threads: Int) {
        let x = inputs[0], a = topK.axis, k = topK.k
        guard a < x.shape.count, k <= x.shape[a], outputs.count == 2 else { return }
        let outer = x.shape[..<a].reduce(1, *), inner = x.shape[(a + 1)...].reduce(1, *), n = x.shape[a]
        let largest = topK.largest
        var order = [Int](repeating: 0, count: n)
        for o in 0..<outer {
            for i in 0..<inner {
                func value(_ j: Int) -> Float { x.data[(o * n + j) * inner + i] }
                for j in 0..<n { order[j] = j }
                // NaN counts as the largest value (onnxruntime's order); equal values keep index order.
                order.sort { p, q in
                    let u = value(p), v = value(q)
                    if u.isNaN || v.isNaN { return u.isNaN && !v.isNaN ? largest : (!u.isNaN && v.isNaN ? !largest : p < q) }
                    if u != v { return largest ? u > v : u < v }
                    return p < q
                }
                for j in 0..<k {
                    let p = (o * k + j) * inner + i
                    outputs[0][p] = value(order[j])
                    outputs[1][p] = Float(order[j])
                }
            }
        }
    }
}
