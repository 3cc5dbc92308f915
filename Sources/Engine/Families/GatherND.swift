import ModelIR

// GatherND in the engine: index tuples read at run time, each checked before any is used.

extension GatherND: OneOutputFamily {
    func lower(_ node: Node, inputShape: Shape, constant: (String) -> Tensor?) throws -> any FamilyKernel {
        GatherNDKernel(batchDims: batchDims, layer: node.layer ?? node.name, indices: node.input(at: 1))
    }

    func readsAsData(input: Int) -> Bool { input == 1 }

    func checkTrainable(_ node: Node) throws {
        throw EngineError.notTrainable(layer: node.layer ?? node.name, reason: "GatherND has no gradient in ModelPort yet")
    }

    func trainingForward(_ node: Node, index: Int, x: HostTensor, y: inout HostTensor, session: TrainingSession) throws {
        try checkTrainable(node)
    }

    func trainingBackward(_ node: Node, index: Int, x: HostTensor, dy: [Float], wanted: [Bool], session: TrainingSession) throws -> [[Float]?] {
        try checkTrainable(node)
        return []
    }
}

struct GatherNDKernel: OneOutputKernel {
    let batchDims: Int
    let layer: String
    let indices: String

    var kindName: String { "gather nd" }

    /// The sizes the kernel walks: batch, tuples per batch entry, tuple length, slice size.
    func extents(_ x: [Int], _ ids: [Int]) -> (batch: Int, tuples: Int, k: Int, slice: Int)? {
        guard let k = ids.last, ids.count > batchDims, x.count >= batchDims + k else { return nil }
        let batch = x[..<batchDims].reduce(1, *)
        let tuples = ids[batchDims..<(ids.count - 1)].reduce(1, *)
        return (batch, tuples, k, x[(batchDims + k)...].reduce(1, *))
    }

    func validate(_ inputs: [HostTensor]) -> String? {
        guard inputs.count == 2, let e = extents(inputs[0].shape, inputs[1].shape) else { return "GatherND indices do not fit the data" }
        let x = inputs[0].shape, ids = inputs[1].data
        for (p, v) in ids.enumerated() {
            let n = x[batchDims + p % max(e.k, 1)]
            guard v.rounded() == v, v >= Float(-n), v < Float(n) else {
                return "index \(v) is outside the \(n) entries of axis \(batchDims + p % max(e.k, 1)) ('\(indices)', element \(p))"
            }
        }
        return nil
    }

    func run(_ inputs: [HostTensor], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], threads: Int) {
        let x = inputs[0], ids = inputs[1]
        guard let e = extents(x.shape, ids.shape) else { return }
        // Row-major strides of the indexed axes, in units of slices.
        var strides = [Int](repeating: 1, count: e.k)
        for a in stride(from: e.k - 2, through: 0, by: -1) { strides[a] = strides[a + 1] * x.shape[batchDims + a + 1] }
        let perBatch = x.shape[batchDims..<(batchDims + e.k)].reduce(1, *) * e.slice
        x.data.withUnsafeBufferPointer { xp in
            guard let source = xp.baseAddress, let target = y.baseAddress else { return }
            var o = 0
            for b in 0..<e.batch {
                for t in 0..<e.tuples {
                    var offset = 0
                    for a in 0..<e.k {
                        let n = x.shape[batchDims + a]
                        var i = Int(ids.data[(b * e.tuples + t) * e.k + a])
                        if i < 0 { i += n }
                        offset += i * strides[a]
                    }
                    (target + o).update(from: source + b * perBatch + offset * e.slice, count: e.slice)
                    o += e.slice
                }
            }
        }
    }
}
