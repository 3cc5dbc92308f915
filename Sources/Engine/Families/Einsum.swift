import ModelIR

// Einsum in the engine: every assignment of the equation's letters is walked once (an odometer
// over the letters, each operand's offset moved by its stride for the letter: 0 where it lacks
// the letter or broadcasts it, the sum of its axes' strides where the letter repeats), multiplying
// the operands into the output; each operand's gradient is the same walk with dy in the output's place.

/// The walk for operands of given shapes.
struct EinsumWalk {
    /// Size of every letter, in walk order (output letters first).
    let sizes: [Int]
    /// Per operand, then the output: the offset step of each letter.
    let strides: [[Int]]
    let outputCount: Int

    init(_ e: Einsum, shapes: [[Int]]) throws {
        let (terms, output, known) = try e.layout(shapes.map { Shape($0.map { Optional($0) }) })
        let summed = Array(Set(terms.joined()).subtracting(output)).sorted()
        let letters = output + summed
        let size = Dictionary(uniqueKeysWithValues: letters.map { ($0, (known[$0] ?? nil) ?? 1) })
        sizes = letters.map { size[$0] ?? 1 }
        func steps(_ term: [String], _ shape: [Int]) -> [Int] {
            var contiguous = [Int](repeating: 1, count: shape.count)
            for a in stride(from: shape.count - 2, through: 0, by: -1) { contiguous[a] = contiguous[a + 1] * shape[a + 1] }
            return letters.map { letter in
                term.indices.filter { term[$0] == letter && shape[$0] != 1 }.reduce(0) { $0 + contiguous[$1] }
            }
        }
        strides = zip(terms, shapes).map { steps($0, $1) } + [steps(output, output.map { size[$0] ?? 1 })]
        outputCount = output.reduce(1) { $0 * (size[$1] ?? 1) }
    }

    /// Calls `body` with each operand's offset and the output's, for every assignment of the letters.
    func walk(_ body: (_ offsets: [Int]) -> Void) {
        let total = sizes.reduce(1, *)
        guard total > 0 else { return }
        var index = [Int](repeating: 0, count: sizes.count)
        var offsets = [Int](repeating: 0, count: strides.count)
        for _ in 0..<total {
            body(offsets)
            var a = sizes.count - 1
            while a >= 0 {
                index[a] += 1
                for k in offsets.indices { offsets[k] += strides[k][a] }
                if index[a] < sizes[a] { break }
                for k in offsets.indices { offsets[k] -= strides[k][a] * sizes[a] }
                index[a] = 0
                a -= 1
            }
        }
    }
}

extension Einsum: OneOutputFamily {
    func lower(_ node: Node, inputShape: Shape, constant: (String) -> Tensor?) throws -> any FamilyKernel { EinsumKernel(einsum: self) }

    func readsAsData(input: Int) -> Bool { true }

    func checkTrainable(_ node: Node) throws {}

    func trainingForward(_ node: Node, index: Int, x: HostTensor, y: inout HostTensor, session: TrainingSession) throws {
        let operands = try node.inputs.map { name -> HostTensor in
            guard let t = session.input(name) else { throw EngineError.missingInput(name) }
            return t
        }
        let outShape = y.shape
        y.data.withUnsafeMutableBufferPointer { EinsumKernel(einsum: self).run(operands, $0, outShape: outShape, threads: 1) }
    }

    func trainingBackward(_ node: Node, index: Int, x: HostTensor, dy: [Float], wanted: [Bool], session: TrainingSession) throws -> [[Float]?] {
        let operands = try node.inputs.map { name -> HostTensor in
            guard let t = session.input(name) else { throw EngineError.missingInput(name) }
            return t
        }
        let walk = try EinsumWalk(self, shapes: operands.map(\.shape))
        let out = operands.count
        return operands.indices.map { j -> [Float]? in
            guard j < wanted.count, wanted[j] else { return nil }
            var g = [Float](repeating: 0, count: operands[j].count)
            walk.walk { offsets in
                var v = dy[offsets[out]]
                for i in operands.indices where i != j { v *= operands[i].data[offsets[i]] }
                g[offsets[j]] += v
            }
            return g
        }
    }
}

struct EinsumKernel: OneOutputKernel {
    let einsum: Einsum

    var kindName: String { "einsum" }

    func validate(_ inputs: [HostTensor]) -> String? {
        do { _ = try EinsumWalk(einsum, shapes: inputs.map(\.shape)); return nil } catch { return "\(error)" }
    }

    func run(_ inputs: [HostTensor], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], threads: Int) {
        y.update(repeating: 0)
        guard let walk = try? EinsumWalk(einsum, shapes: inputs.map(\.shape)) else { return }
        let out = inputs.count
        walk.walk { offsets in
            var v: Float = 1
            for i in inputs.indices { v *= inputs[i].data[offsets[i]] }
            y[offsets[out]] += v
        }
    }
}
