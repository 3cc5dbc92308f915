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
            if let i = g.parameters.firstIndex(where: { $0.name == node.inputs[3] }) { g.parameters[i].tensor = Tensor(shape: [mean.count], floats: mean) }
            if let i = g.parameters.firstIndex(where: { $0.name == node.inputs[4] }) { g.parameters[i].tensor = Tensor(shape: [variance.count], floats: variance) }
            result.append(LayerStatistics(layer: node.layer ?? node.name, mean: mean, variance: variance))
            progress?(k + 1, bnNodes.count)
        }
        return (g, result)
    }
}
