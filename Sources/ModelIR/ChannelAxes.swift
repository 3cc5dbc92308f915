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
        // augmentation, activations, a cast: torchvision's Sub/Div before the first Conv) and
        // through ops that only move axes (tf2onnx's Transpose of an NHWC input, or its Reshape
        // moving a one-channel axis), mapping the axis back.
        var readers: [String: [Node]] = [:]
        for node in nodes { if let first = node.inputs.first { readers[first, default: []].append(node) } }
        for input in inputs where axes[input.name] == nil {
            var value = input.name
            var toInput = Array(0..<input.shape.rank)
            var steps = 0
            search: while steps < 64, let consumers = readers[value] {
                steps += 1
                for consumer in consumers {
                    guard let out = consumer.outputs.first, rank(out) == input.shape.rank else { continue }
                    if consumer.op.traits.contains(.readsChannelAxis), let axis = axes[out], axis < toInput.count {
                        axes[input.name] = toInput[axis]
                        break search
                    }
                }
                var moved: [Int]?
                for next in consumers {
                    guard let out = next.outputs.first, rank(out) == input.shape.rank else { continue }
                    if keepsAxesInPlace(next.op) {
                        moved = toInput
                    } else if case .transpose(let permutation) = next.op, permutation.count == toInput.count {
                        moved = permutation.map { toInput[$0] }
                    } else if next.op.traits.contains(.onlyReshapes), let from = shapes[value], let to = shapes[out],
                              let map = Self.unitAxesMoved(from: from, to: to) {
                        moved = map.map { toInput[$0] }
                    }
                    if let moved {
                        toInput = moved
                        value = out
                        break
                    }
                }
                if moved == nil { break }
            }
        }
        return axes
    }

    /// For a reshape that only moves axes of size 1 (`[N, H, W, 1]` to `[N, 1, H, W]`), the input axis
    /// each output axis comes from; nil for any other reshape.
    static func unitAxesMoved(from: Shape, to: Shape) -> [Int]? {
        guard from.rank == to.rank, from.dims != to.dims else { return nil }
        let isUnit = { (d: Int?) in d == 1 }
        let fromOthers = from.dims.indices.filter { !isUnit(from.dims[$0]) }, toOthers = to.dims.indices.filter { !isUnit(to.dims[$0]) }
        let fromUnits = from.dims.indices.filter { isUnit(from.dims[$0]) }, toUnits = to.dims.indices.filter { isUnit(to.dims[$0]) }
        guard fromOthers.map({ from.dims[$0] }) == toOthers.map({ to.dims[$0] }), !fromOthers.contains(where: { from.dims[$0] == nil && $0 != 0 }),
              fromUnits.count == toUnits.count else { return nil }
        var map = [Int](repeating: 0, count: to.rank)
        for (o, i) in zip(toOthers, fromOthers) { map[o] = i }
        for (o, i) in zip(toUnits, fromUnits) { map[o] = i }
        return map
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
