/// Which axis of each value holds its channels (features), read from the ops that make and
/// consume it — a convolution's or pooling's layout, BatchNormalization's `axis`, a Dense's
/// last axis — and carried through the ops that keep it in place (activations, arithmetic,
/// padding) or move it (Transpose, reductions). Values whose channel axis the graph does not
/// tell (shape arithmetic, gathers, reshapes to rank > 2) are left out.
///
/// The diagnosis reads it instead of assuming the last axis, so it works on channels-last
/// Keras graphs and channels-first ONNX exports alike.
extension Graph {
    public func channelAxes(shapes: [String: Shape]) -> [String: Int] {
        var axes: [String: Int] = [:]
        func rank(_ v: String) -> Int? { shapes[v]?.rank }
        for node in nodes {
            guard let out = node.outputs.first, let r = rank(out), r >= 1 else { continue }
            let carried = node.inputs.first.flatMap { axes[$0] }
            let axis: Int?
            switch node.op {
            case .dense, .matMul: axis = r - 1
            case .convolution(let c): axis = c.layout.channelAxis(rank: r)
            case .depthwiseConvolution(let c): axis = c.layout.channelAxis(rank: r)
            case .pooling(let p): axis = p.layout.channelAxis(rank: r)
            case .globalPooling(_, let layout, let keepDims): axis = keepDims ? layout.channelAxis(rank: r) : r - 1
            case .upSampling(_, _, let layout), .zeroPadding(_, let layout), .cropping(_, let layout): axis = layout.channelAxis(rank: r)
            case .imageResize(let resize): axis = resize.layout.channelAxis(rank: r)
            case .batchNormalization(let a, _, _): axis = a < 0 ? a + r : a
            case .flatten: axis = r == 2 ? 1 : nil
            case .reshape, .reshapeAll: axis = r == 2 ? 1 : nil
            case .transpose(let permutation): axis = carried.flatMap { permutation.firstIndex(of: $0) }
            case .reduce(_, let reduced, let keepDims):
                let inRank = node.inputs.first.flatMap(rank) ?? r
                let normal = Set(reduced.map { $0 < 0 ? $0 + inRank : $0 })
                if let c = carried, !normal.contains(c) { axis = keepDims ? c : c - normal.filter { $0 < c }.count } else { axis = nil }
            case .elementwise:
                // The first operand of the output's rank that has a known axis (a bias or scale broadcasts into it).
                axis = node.inputs.lazy.filter { rank($0) == r }.compactMap { axes[$0] }.first
            case .activation, .dropout, .augmentation, .rescaling, .unary, .identity,
                 .concatenate, .slice, .stridedSlice, .pad, .tile, .expand, .resize:
                axis = node.inputs.first.flatMap(rank) == r ? carried : nil
            case .batchShape, .maxPoolIndices, .argReduce: axis = nil
            case .family(let f): axis = f.base.channelAxis(carried: carried, inputRank: node.inputs.first.flatMap(rank), outputRank: r)
            }
            if let axis, axis >= 0, axis < r { axes[out] = axis }
        }
        // A graph input takes the axis its first layout-bearing consumer reads it with, looking
        // through ops that keep every axis where it is (scaling, normalising by a constant,
        // augmentation, activations): torchvision's Sub/Div before the first Conv.
        var readers: [String: [Node]] = [:]
        for node in nodes { if let first = node.inputs.first { readers[first, default: []].append(node) } }
        for input in inputs where axes[input.name] == nil {
            var value = input.name
            var steps = 0
            search: while steps < 64, let consumers = readers[value] {
                steps += 1
                for consumer in consumers {
                    guard let out = consumer.outputs.first, rank(out) == input.shape.rank else { continue }
                    if consumer.op.traits.contains(.readsChannelAxis), let axis = axes[out] {
                        axes[input.name] = axis
                        break search
                    }
                }
                guard let next = consumers.first(where: { keepsAxesInPlace($0.op) }), let out = next.outputs.first,
                      rank(out) == input.shape.rank else { break }
                value = out
            }
        }
        return axes
    }

    /// Ops whose output has every axis of their first input where it was.
    private func keepsAxesInPlace(_ op: Op) -> Bool {
        switch op {
        case .activation, .dropout, .augmentation, .rescaling, .unary, .identity, .elementwise: return true
        case .dense, .convolution, .depthwiseConvolution, .pooling, .globalPooling, .batchNormalization, .imageResize, .flatten,
             .reshape, .reshapeAll, .transpose, .zeroPadding, .cropping, .slice, .upSampling, .reduce, .concatenate, .stridedSlice,
             .expand, .batchShape, .tile, .pad, .resize, .matMul, .maxPoolIndices, .argReduce:
            return false
        case .family(let f): return f.base.traits.contains(.keepsValueScale)
        }
    }
}
