import ModelIR

/// Rewrites channels-first spatial ops as channels-last ones between transposes, so kernels
/// only ever see NHWC. Output value names are kept, so per-layer results stay addressable.
enum ChannelsLastPass {
    static func run(_ graph: Graph) -> Graph {
        var g = graph
        var nodes: [Node] = []
        let shapes = (try? graph.verify()) ?? [:]
        for node in graph.nodes {
            guard let layout = node.op.layout, layout == .channelsFirst, let rank = shapes[node.inputs[0]]?.rank, rank >= 3 else {
                nodes.append(node)
                continue
            }
            let toLast = [0] + Array(2..<rank) + [1]
            let toFirst = [0, rank - 1] + Array(1..<(rank - 1))
            let inName = node.name + "/nhwc_in"
            nodes.append(Node(name: inName, op: .transpose(permutation: toLast), inputs: [node.inputs[0]], outputs: [inName], layer: node.layer))
            var inner = node
            inner.op = node.op.channelsLast()
            inner.inputs[0] = inName
            // Flatten and global pooling without kept axes leave no spatial axes to move back.
            var spatialOutput = true
            if case .flatten = node.op { spatialOutput = false }
            if case .globalPooling(_, _, false) = node.op { spatialOutput = false }
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
}
