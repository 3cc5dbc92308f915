import Engine
import ModelIR

/// Recomputes every BatchNormalization's moving mean and variance from data, layer by layer in
/// graph order (each layer sees the already-recalibrated layers before it): the repair for
/// moving statistics that lag the activations the trained weights really produce.
public enum BatchNormRecalibration {
    public struct LayerStatistics: Sendable {
        public var layer: String
        public var mean: [Float]
        public var variance: [Float]
    }

    public static func recalibrate(_ graph: Graph, source: SampleSource, batchSize: Int, threads: Int,
                                   progress: ((Int, Int) -> Void)? = nil) throws -> (graph: Graph, layers: [LayerStatistics]) {
        var g = graph
        var result: [LayerStatistics] = []
        let bnNodes = g.nodes.filter { if case .batchNormalization = $0.op { return true }; return false }
        for (k, node) in bnNodes.enumerated() {
            guard case .batchNormalization(let axis, _, _) = node.op else { continue }
            let session = try InferenceSession(graph: g, options: EngineOptions(threads: threads, optimize: false))
            let shapes = try g.verify()
            let rank = shapes[node.inputs[0]]?.rank ?? 2
            let channelAxis = axis < 0 ? axis + rank : axis
            guard channelAxis >= 0, channelAxis < rank else { continue }
            var stats: ChannelStatistics?
            try source.forEachBatch(size: batchSize) { inputs, _ in
                let out = try session.run(inputs, keep: [node.inputs[0]])
                guard let x = out[node.inputs[0]] else { return }
                if stats == nil { stats = ChannelStatistics(for: x, axis: channelAxis) }
                stats?.add(x, axis: channelAxis)
            }
            guard let s = stats else { continue }
            let mean = s.mean.map(Float.init), variance = s.variance.map(Float.init)
            store(Tensor(shape: [mean.count], floats: mean), as: 3, of: node, in: &g)
            store(Tensor(shape: [variance.count], floats: variance), as: 4, of: node, in: &g)
            result.append(LayerStatistics(layer: node.layer ?? node.name, mean: mean, variance: variance))
            progress?(k + 1, bnNodes.count)
        }
        return (g, result)
    }

    /// Replaces a BatchNormalization's statistic. An exporter may have shared that tensor with
    /// another input (tf2onnx merges equal initializers: a zero beta and a zero moving mean become
    /// one), so a shared one is not overwritten: the node gets a parameter of its own.
    static func store(_ t: Tensor, as slot: Int, of node: Node, in g: inout Graph) {
        let name = node.inputs[slot]
        guard let i = g.parameters.firstIndex(where: { $0.name == name }),
              let n = g.nodes.firstIndex(where: { $0.name == node.name }) else { return }
        let uses = g.nodes.reduce(0) { $0 + $1.inputs.filter { $0 == name }.count }
        if uses == 1 {
            g.parameters[i].tensor = t
            return
        }
        var own = g.parameters[i]
        own.name = "\(name)/\(node.name)/recalibrated"
        own.tensor = t
        g.parameters.append(own)
        g.nodes[n].inputs[slot] = own.name
    }
}
