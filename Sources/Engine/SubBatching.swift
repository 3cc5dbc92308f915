import Foundation
import ModelIR

/// Depth-first scheduling: a large batch runs through the whole plan a few images at a time, so
/// each layer's output is still in cache when the next layer reads it (at batch 32 the seed
/// model's first activations alone are tens of MB). The planner decides from tensor sizes: the
/// sub-batch is the number of images whose largest intermediate tensor fits `budgetBytes`, and
/// only graphs whose every op treats samples independently are split.
///
/// Off by default (`subBatchBytes` 0; `MODELPORT_SUBBATCH_KB` sets it): measured on this machine at
/// batch 32, 1 thread, with a 2 MB budget it did not pay on top of the convolutions' own chunks
/// (`DNNLConvolution.chunkBytes`): seed 255–262 img/s against 259–262 whole, functional
/// 2148–2380 against 2556–2707, MobileNetV3Small 1207–1257 against 1245–1311 (Benchmarks/README.md).
extension InferenceSession {
    static let defaultSubBatchBytes = Int(ProcessInfo.processInfo.environment["MODELPORT_SUBBATCH_KB"] ?? "").map { $0 * 1024 } ?? 0

    /// Whether samples pass through the graph independently (no op reads across the batch axis).
    static func isBatchSeparable(_ graph: Graph) -> Bool {
        graph.nodes.allSatisfy { $0.op.traits.contains(.keepsSamplesApart) }
    }

    /// Images per sub-batch for these inputs, or nil to run the batch whole.
    func subBatchSize(_ inputs: [String: HostTensor]) -> Int? {
        guard batchSeparable, subBatchBytes > 0, let n = inputs.values.first?.shape.first, n > 1,
              inputs.values.allSatisfy({ $0.shape.first == n }) else { return nil }
        // Shapes at batch 1 and 2: every output must carry the batch (a constant output cannot be joined).
        func shapes(batch: Int) -> [Int: [Int]]? {
            var initial = [[Int]?](repeating: nil, count: slots.count)
            for (slot, tensor) in constants { initial[slot] = tensor.shape }
            for (info, slot) in inputSlots { initial[slot] = inputs[info.name].map { [batch] + $0.shape.dropFirst() } }
            guard let out = try? outputShapes(initial) else { return nil }
            return Dictionary(zip(steps.flatMap(\.outputs), out.flatMap { $0 }), uniquingKeysWith: { _, b in b })
        }
        guard let one = shapes(batch: 1), let two = shapes(batch: 2) else { return nil }
        for output in graph.outputs {
            guard let slot = slotIndex(output), let a = one[slot], let b = two[slot], a.first == 1, b.first == 2 else { return nil }
        }
        let largest = one.values.map { $0.reduce(1, *) }.max() ?? 0
        let size = max(1, subBatchBytes / max(1, largest * 4))
        return size < n ? size : nil
    }

    /// Runs `inputs` a sub-batch at a time and joins the outputs along the batch axis.
    func runInSubBatches(_ inputs: [String: HostTensor], keep: Set<String>, size: Int) throws -> [String: HostTensor] {
        guard let n = inputs.values.first?.shape.first else { return try run(inputs, keep: keep, split: false) }
        var parts: [[String: HostTensor]] = []
        var start = 0
        while start < n {
            let count = min(size, n - start)
            var slice: [String: HostTensor] = [:]
            for (name, t) in inputs {
                let per = t.count / n
                slice[name] = HostTensor(shape: [count] + t.shape.dropFirst(), data: Array(t.data[(start * per)..<((start + count) * per)]))
            }
            parts.append(try run(slice, keep: keep, split: false))
            start += count
        }
        var joined: [String: HostTensor] = [:]
        for name in parts[0].keys {
            let pieces = parts.compactMap { $0[name] }
            guard let first = pieces.first, pieces.count == parts.count, !first.shape.isEmpty else { continue }
            var data: [Float] = []
            data.reserveCapacity(pieces.reduce(0) { $0 + $1.count })
            for p in pieces { data += p.data }
            joined[name] = HostTensor(shape: [pieces.reduce(0) { $0 + $1.shape[0] }] + first.shape.dropFirst(), data: data)
        }
        return joined
    }
}
