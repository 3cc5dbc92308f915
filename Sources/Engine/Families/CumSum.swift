import ModelIR

// CumSum in the engine: a running sum along one axis; its gradient is the same sum run the other way.

extension CumSum: OneOutputFamily {
    func lower(_ node: Node, inputShape: Shape, constant: (String) -> Tensor?) throws -> any FamilyKernel { CumSumKernel(cumsum: self) }

    func checkTrainable(_ node: Node) throws {}

    func trainingForward(_ node: Node, index: Int, x: HostTensor, y: inout HostTensor, session: TrainingSession) throws {
        let outShape = y.shape
        y.data.withUnsafeMutableBufferPointer { CumSumKernel(cumsum: self).run([x], $0, outShape: outShape, threads: 1) }
    }

    /// The gradient of a running sum is the running sum of dy the other way (exclusive stays exclusive).
    func trainingBackward(_ node: Node, index: Int, x: HostTensor, dy: [Float], wanted: [Bool], session: TrainingSession) throws -> [[Float]?] {
        var grads = [[Float]?](repeating: nil, count: node.inputs.count)
        guard wanted[0] else { return grads }
        var dx = [Float](repeating: 0, count: x.count)
        let back = CumSumKernel(cumsum: CumSum(axis: axis, exclusive: exclusive, reverse: !reverse))
        dx.withUnsafeMutableBufferPointer { back.run([HostTensor(shape: x.shape, data: dy)], $0, outShape: x.shape, threads: 1) }
        grads[0] = dx
        return grads
    }
}

struct CumSumKernel: OneOutputKernel {
    let cumsum: CumSum

    var kindName: String { "cumsum" }

    func run(_ inputs: [HostTensor], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], threads: Int) {
        let x = inputs[0], a = cumsum.axis
        guard a < x.shape.count else { return }
        let n = x.shape[a], inner = x.shape[(a + 1)...].reduce(1, *), outer = x.shape[..<a].reduce(1, *)
        for o in 0..<outer {
            for i in 0..<inner {
                var sum: Float = 0
                for step in 0..<n {
                    let k = cumsum.reverse ? n - 1 - step : step
                    let p = (o * n + k) * inner + i
                    if cumsum.exclusive { y[p] = sum; sum += x.data[p] } else { sum += x.data[p]; y[p] = sum }
                }
            }
        }
    }
}
