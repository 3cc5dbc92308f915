import ModelIR

// LayerNormalization in the engine: lowering, kernel, and its training steps. Any set of axes
// runs: the normalised axes are moved last (a transpose when they are not already the trailing
// ones), each row of them normalised, and the result moved back.

extension LayerNormalization: OneOutputFamily {
    func lower(_ node: Node, inputShape: Shape, constant: (String) -> Tensor?) throws -> any FamilyKernel {
        let gamma = node.input(at: 1), beta = node.input(at: 2)
        guard gamma.isEmpty || constant(gamma) != nil, beta.isEmpty || constant(beta) != nil else {
            throw EngineError.unsupported(layer: node.layer ?? node.name, reason: "LayerNormalization needs constant gamma and beta")
        }
        return LayerNormalizationKernel(axes: axes, epsilon: epsilon, gamma: gamma.isEmpty ? nil : constant(gamma),
                                        beta: beta.isEmpty ? nil : constant(beta))
    }

    func checkTrainable(_ node: Node) throws {}

    func trainingForward(_ node: Node, index: Int, x: HostTensor, y: inout HostTensor, session: TrainingSession) throws {
        let rows = LayerNormalizationRows(axes: axes, shape: x.shape)
        let gamma = try trainedParameter(node, 1, rows: rows, session: session)
        let beta = try trainedParameter(node, 2, rows: rows, session: session)
        var xhat = [Float](repeating: 0, count: x.count)
        var invStd = [Float](repeating: 0, count: rows.groups)
        let eps = epsilon
        rows.inRowOrder(x.data, into: &y.data) { xp, yp in
            xhat.withUnsafeMutableBufferPointer { hp in invStd.withUnsafeMutableBufferPointer { ip in
                LayerNormalizationKernel.normalize(xp, groups: rows.groups, n: rows.n, epsilon: eps, gamma: gamma, beta: beta, yp, xhat: hp, invStd: ip)
            } }
        }
        session.saved[index] = .normalized(xhat: xhat, invStd: invStd)
    }

    func trainingBackward(_ node: Node, index: Int, x: HostTensor, dy: [Float], wanted: [Bool], session: TrainingSession) throws -> [[Float]?] {
        guard case .normalized(let xhat, let invStd)? = session.saved[index] else { throw EngineError.missingInput(node.outputs[0]) }
        let rows = LayerNormalizationRows(axes: axes, shape: x.shape)
        let gamma = try trainedParameter(node, 1, rows: rows, session: session)
        var grads = [[Float]?](repeating: nil, count: node.inputs.count)
        var dgamma: [Float]? = node.input(at: 1).isEmpty || !(wanted.count > 1 && wanted[1]) ? nil : [Float](repeating: 0, count: rows.n)
        var dbeta: [Float]? = node.input(at: 2).isEmpty || !(wanted.count > 2 && wanted[2]) ? nil : [Float](repeating: 0, count: rows.n)
        let dyRows = rows.toRows(dy)
        var dxRows: [Float]? = wanted[0] ? [Float](repeating: 0, count: x.count) : nil
        dyRows.withUnsafeBufferPointer { dyp in xhat.withUnsafeBufferPointer { hp in
            withOptionalMutable(&dxRows) { dxp in withOptionalMutable(&dgamma) { gp in withOptionalMutable(&dbeta) { bp in
                for r in 0..<rows.groups {
                    let base = r * rows.n, n = rows.n
                    var sumG: Float = 0, sumGX: Float = 0
                    for i in 0..<n {
                        let g = dyp[base + i] * (gamma?[i] ?? 1)
                        sumG += g
                        sumGX += g * hp[base + i]
                        gp?[i] += dyp[base + i] * hp[base + i]
                        bp?[i] += dyp[base + i]
                    }
                    guard let dxp else { continue }
                    let k = invStd[r] / Float(n)
                    for i in 0..<n {
                        let g = dyp[base + i] * (gamma?[i] ?? 1)
                        dxp[base + i] = k * (Float(n) * g - sumG - hp[base + i] * sumGX)
                    }
                }
            } } }
        } }
        grads[0] = dxRows.map { rows.fromRows($0) }
        if grads.count > 1 { grads[1] = dgamma }
        if grads.count > 2 { grads[2] = dbeta }
        return grads
    }

    /// γ or β as trained: one value per normalised element (training does not broadcast them).
    private func trainedParameter(_ node: Node, _ i: Int, rows: LayerNormalizationRows, session: TrainingSession) throws -> [Float]? {
        guard let p = session.floats(node.input(at: i)) else { return nil }
        guard p.count == rows.n else {
            throw EngineError.notTrainable(layer: node.layer ?? node.name, reason: "LayerNormalization trains with gamma and beta of every normalised element")
        }
        return p
    }
}

/// The rows LayerNormalization normalises: the normalised axes moved last.
struct LayerNormalizationRows {
    /// Moves the normalised axes last (nil when they already are).
    let permutation: [Int]?
    let inverse: [Int]
    let permutedShape: [Int]
    let normalizedDims: [Int]
    let groups: Int
    let n: Int

    init(axes: [Int], shape: [Int]) {
        let rest = shape.indices.filter { !axes.contains($0) }
        let perm = rest + axes
        permutation = perm == Array(shape.indices) ? nil : perm
        var inv = [Int](repeating: 0, count: perm.count)
        for (i, p) in perm.enumerated() { inv[p] = i }
        inverse = inv
        permutedShape = perm.map { shape[$0] }
        normalizedDims = axes.map { shape[$0] }
        n = normalizedDims.reduce(1, *)
        groups = n == 0 ? 0 : shape.reduce(1, *) / n
    }

    func toRows(_ v: [Float]) -> [Float] {
        guard let permutation else { return v }
        var out = [Float](repeating: 0, count: v.count)
        let shape = inverse.map { permutedShape[$0] }
        v.withUnsafeBufferPointer { vp in out.withUnsafeMutableBufferPointer { op in
            TensorKernels.transpose(vp, shape: shape, permutation: permutation, op)
        } }
        return out
    }

    func fromRows(_ v: [Float]) -> [Float] {
        guard permutation != nil else { return v }
        var out = [Float](repeating: 0, count: v.count)
        v.withUnsafeBufferPointer { vp in out.withUnsafeMutableBufferPointer { op in
            TensorKernels.transpose(vp, shape: permutedShape, permutation: inverse, op)
        } }
        return out
    }

    /// Runs `body` on `x` and `y` arranged as rows, then writes the rows back into `y`.
    func inRowOrder(_ x: [Float], into y: inout [Float],
                    _ body: (UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) -> Void) {
        guard permutation != nil else {
            x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in body(xp, yp) } }
            return
        }
        let xr = toRows(x)
        var yr = [Float](repeating: 0, count: y.count)
        xr.withUnsafeBufferPointer { xp in yr.withUnsafeMutableBufferPointer { yp in body(xp, yp) } }
        yr.withUnsafeBufferPointer { vp in y.withUnsafeMutableBufferPointer { op in
            TensorKernels.transpose(vp, shape: permutedShape, permutation: inverse, op)
        } }
    }
}

/// Inference LayerNormalization with constant γ and β.
struct LayerNormalizationKernel: OneOutputKernel {
    let axes: [Int]
    let epsilon: Float
    let gamma: Tensor?
    let beta: Tensor?

    var kindName: String { "layer norm" }

    func run(_ inputs: [HostTensor], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], threads: Int) {
        let x = inputs[0]
        let rows = LayerNormalizationRows(axes: axes, shape: x.shape)
        guard rows.n > 0 else { return }
        // The shape rule checked that γ and β broadcast to the normalised axes.
        let g = gamma.flatMap { LayerNormalization.values(of: $0, over: rows.normalizedDims) }
        let b = beta.flatMap { LayerNormalization.values(of: $0, over: rows.normalizedDims) }
        let eps = epsilon
        guard rows.permutation != nil else {
            x.data.withUnsafeBufferPointer { xp in Self.normalize(xp, groups: rows.groups, n: rows.n, epsilon: eps, gamma: g, beta: b, y) }
            return
        }
        var out = [Float](repeating: 0, count: x.count)
        rows.inRowOrder(x.data, into: &out) { xp, yp in Self.normalize(xp, groups: rows.groups, n: rows.n, epsilon: eps, gamma: g, beta: b, yp) }
        _ = y.update(fromContentsOf: out)
    }

    /// `(x − mean)·rsqrt(var + ε)·γ + β` over each of `groups` rows of `n` elements, mean and
    /// variance accumulated in double precision; keeps x̂ and each row's 1/σ when asked.
    static func normalize(_ x: UnsafeBufferPointer<Float>, groups: Int, n: Int, epsilon: Float, gamma: [Float]?, beta: [Float]?,
                          _ y: UnsafeMutableBufferPointer<Float>, xhat: UnsafeMutableBufferPointer<Float>? = nil,
                          invStd: UnsafeMutableBufferPointer<Float>? = nil) {
        for r in 0..<groups {
            let base = r * n
            var mean = 0.0
            for i in 0..<n { mean += Double(x[base + i]) }
            mean /= Double(n)
            var variance = 0.0
            for i in 0..<n { let d = Double(x[base + i]) - mean; variance += d * d }
            variance /= Double(n)
            let inv = Float(1 / (variance + Double(epsilon)).squareRoot())
            invStd?[r] = inv
            let m = Float(mean)
            for i in 0..<n {
                let h = (x[base + i] - m) * inv
                xhat?[base + i] = h
                var v = h
                if let gamma { v *= gamma[i] }
                if let beta { v += beta[i] }
                y[base + i] = v
            }
        }
    }
}
