import ModelIR

/// Rewrites channels-first spatial ops as channels-last ones between transposes, so kernels
/// only ever see NHWC. Output value names are kept, so per-layer results stay addressable.
enum ChannelsLastPass {
    static func run(_ graph: Graph) -> Graph {
        var g = graph
        var nodes: [Node] = []
        let shapes = (try? graph.verify()) ?? [:]
        for node in graph.nodes {
            guard let layout = layout(of: node.op), layout == .channelsFirst, let rank = shapes[node.inputs[0]]?.rank, rank >= 3 else {
                nodes.append(node)
                continue
            }
            let toLast = [0] + Array(2..<rank) + [1]
            let toFirst = [0, rank - 1] + Array(1..<(rank - 1))
            let inName = node.name + "/nhwc_in"
            nodes.append(Node(name: inName, op: .transpose(permutation: toLast), inputs: [node.inputs[0]], outputs: [inName], layer: node.layer))
            var inner = node
            inner.op = channelsLast(node.op)
            inner.inputs[0] = inName
            let spatialOutput: Bool
            switch node.op {
            case .flatten, .globalPooling(_, _, false): spatialOutput = false
            default: spatialOutput = true
            }
            if spatialOutput {
                let outName = node.name + "/nhwc_out"
                inner.name = outName
                inner.outputs = [outName]
                nodes.append(inner)
                nodes.append(Node(name: node.name, op: .transpose(permutation: toFirst), inputs: [outName], outputs: node.outputs, layer: node.layer))
            } else {
                nodes.append(inner)
            }
        }
        g.nodes = nodes
        return g
    }

    static func layout(of op: Op) -> Layout? {
        switch op {
        case .convolution(let c): return c.layout
        case .depthwiseConvolution(let c): return c.layout
        case .transposedConvolution(let c): return c.layout
        case .pooling(let p): return p.layout
        case .imageResize(let r): return r.layout
        case .globalPooling(_, let l, _), .flatten(let l), .zeroPadding(_, let l), .cropping(_, let l), .upSampling(_, _, let l): return l
        default: return nil
        }
    }

    static func channelsLast(_ op: Op) -> Op {
        switch op {
        case .convolution(var c): c.layout = .channelsLast; return .convolution(c)
        case .depthwiseConvolution(var c): c.layout = .channelsLast; return .depthwiseConvolution(c)
        case .transposedConvolution(var c): c.layout = .channelsLast; return .transposedConvolution(c)
        case .pooling(var p): p.layout = .channelsLast; return .pooling(p)
        case .imageResize(var r): r.layout = .channelsLast; return .imageResize(r)
        case let .globalPooling(k, _, keep): return .globalPooling(kind: k, layout: .channelsLast, keepDims: keep)
        case .flatten: return .flatten(layout: .channelsLast)
        case let .zeroPadding(p, _): return .zeroPadding(pads: p, layout: .channelsLast)
        case let .cropping(c, _): return .cropping(crops: c, layout: .channelsLast)
        case let .upSampling(s, i, _): return .upSampling(size: s, interpolation: i, layout: .channelsLast)
        default: return op
        }
    }
}
