import ModelIR

/// The engine's side of an op family (`OpFamily`), in one file per family under `Families/`: its
/// lowering to a kernel, and its forward and backward steps in training.
protocol EngineFamily: OpFamily {
    /// The kernel for `node`, its weights read with `constant` (nil when not a constant).
    func lower(_ node: Node, inputShape: Shape, constant: (String) -> Tensor?) throws -> any FamilyKernel
    /// Whether input `input` (after the first) reaches the kernel at run time even when it is
    /// stored (Gather's indices); otherwise a stored input is a weight the lowering arranged.
    func readsAsData(input: Int) -> Bool
    /// Refuses, at planning time, what training cannot run (`EngineError.notTrainable`).
    func checkTrainable(_ node: Node) throws
    /// The training forward step: writes every element of each of `outputs` (one per node output,
    /// allocated to its shape), may keep what backward needs.
    func trainingForward(_ node: Node, index: Int, x: HostTensor, outputs: inout [HostTensor], session: TrainingSession) throws
    /// Gradients of the node's inputs (nil where not `wanted`) from its outputs' gradients `dys`
    /// (nil for an output no gradient reaches: zero).
    func trainingBackward(_ node: Node, index: Int, x: HostTensor, dys: [[Float]?], wanted: [Bool], session: TrainingSession) throws -> [[Float]?]
}

/// A family whose nodes have one output: its training steps see that output alone.
protocol OneOutputFamily: EngineFamily {
    /// The training forward step: writes every element of `y`, may keep what backward needs.
    func trainingForward(_ node: Node, index: Int, x: HostTensor, y: inout HostTensor, session: TrainingSession) throws
    /// Gradients of the node's inputs (nil where not `wanted`) from its output's gradient `dy`.
    func trainingBackward(_ node: Node, index: Int, x: HostTensor, dy: [Float], wanted: [Bool], session: TrainingSession) throws -> [[Float]?]
}

extension OneOutputFamily {
    func trainingForward(_ node: Node, index: Int, x: HostTensor, outputs: inout [HostTensor], session: TrainingSession) throws {
        try trainingForward(node, index: index, x: x, y: &outputs[0], session: session)
    }

    func trainingBackward(_ node: Node, index: Int, x: HostTensor, dys: [[Float]?], wanted: [Bool], session: TrainingSession) throws -> [[Float]?] {
        guard let dy = dys.first ?? nil else { return [[Float]?](repeating: nil, count: node.inputs.count) }
        return try trainingBackward(node, index: index, x: x, dy: dy, wanted: wanted, session: session)
    }
}

/// A family's inference kernel, its weights already arranged.
protocol FamilyKernel: Sendable {
    /// A short name for profiles (`layer norm`).
    var kindName: String { get }
    /// Computes every element of each output (of `outShapes`, one per node output) from `inputs`
    /// (data first, then any run-time operands).
    func run(_ inputs: [HostTensor], outputs: [UnsafeMutableBufferPointer<Float>], outShapes: [[Int]], threads: Int)
    /// Why the inputs cannot be computed (a token id outside the table), checked before `run`; nil when they can.
    func validate(_ inputs: [HostTensor]) -> String?
    /// The layer (or node) the kernel computes, for errors; empty to use the step's name.
    var layer: String { get }
    /// The kernel with `activation` applied to its output as it writes it; nil when it cannot.
    func fusing(_ activation: Activation) -> (any FamilyKernel)?
}

extension EngineFamily {
    func readsAsData(input: Int) -> Bool { false }
}

/// The kernel of a family whose nodes have one output.
protocol OneOutputKernel: FamilyKernel {
    /// Computes every element of `y` (of `outShape`) from `inputs` (data first, then any run-time operands).
    func run(_ inputs: [HostTensor], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], threads: Int)
}

extension OneOutputKernel {
    func run(_ inputs: [HostTensor], outputs: [UnsafeMutableBufferPointer<Float>], outShapes: [[Int]], threads: Int) {
        run(inputs, outputs[0], outShape: outShapes[0], threads: threads)
    }
}

extension FamilyKernel {
    /// Runs on one thread into tensors already shaped for the outputs (a training forward step).
    func run(_ inputs: [HostTensor], into outputs: inout [HostTensor]) {
        var buffers = outputs.map(\.data)
        let shapes = outputs.map(\.shape)
        withMutableBuffers(&buffers) { run(inputs, outputs: $0, outShapes: shapes, threads: 1) }
        for i in outputs.indices { outputs[i].data = buffers[i] }
    }

    func validate(_ inputs: [HostTensor]) -> String? { nil }
    var layer: String { "" }
    func fusing(_ activation: Activation) -> (any FamilyKernel)? { nil }
}

extension AnyOpFamily {
    /// The family's engine side, or an error naming the layer when it has none.
    func engine(_ node: Node) throws -> any EngineFamily {
        guard let e = base as? any EngineFamily else {
            throw EngineError.unsupported(layer: node.layer ?? node.name, reason: "\(base.displayName) does not run in ModelPort yet")
        }
        return e
    }
}
