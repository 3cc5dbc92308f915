import ModelIR

// Cast in the engine: values are float32 in storage, so a cast rounds them as the target type
// would hold them; from one float to another its gradient passes through, to integers or bool
// there is none.

extension Cast: OneOutputFamily {
    func lower(_ node: Node, inputShape: Shape, constant: (String) -> Tensor?) throws -> any FamilyKernel { CastKernel(to: to) }

    func checkTrainable(_ node: Node) throws {}

    func trainingForward(_ node: Node, index: Int, x: HostTensor, y: inout HostTensor, session: TrainingSession) throws {
        let outShape = y.shape
        y.data.withUnsafeMutableBufferPointer { CastKernel(to: to).run([x], $0, outShape: outShape, threads: 1) }
    }

    func trainingBackward(_ node: Node, index: Int, x: HostTensor, dy: [Float], wanted: [Bool], session: TrainingSession) throws -> [[Float]?] {
        var grads = [[Float]?](repeating: nil, count: node.inputs.count)
        if wanted[0], to.isFloatingPoint { grads[0] = dy }
        return grads
    }
}

struct CastKernel: OneOutputKernel {
    let to: DType

    var kindName: String { "cast" }

    func run(_ inputs: [HostTensor], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], threads: Int) {
        let x = inputs[0].data
        switch to {
        case .float32, .float64: for i in 0..<min(x.count, y.count) { y[i] = x[i] }
        case .float16: for i in 0..<min(x.count, y.count) { y[i] = Float(Float16(x[i])) }
        case .bool: for i in 0..<min(x.count, y.count) { y[i] = x[i] != 0 ? 1 : 0 }
        case .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64:
            for i in 0..<min(x.count, y.count) { y[i] = x[i].rounded(.towardZero) }
        }
    }
}
