import Engine
import Foundation
import Training
import ModelIR

extension Model {
    /// `warmup` untimed runs of `step`, then timed ones for about `seconds` (at least 3) over batches of `batchSize`.
    func timed(batchSize: Int, threads: Int, warmup: Int, seconds: Double, before: () -> Void, _ step: () throws -> Void) throws -> BenchmarkResult {
        func once() throws -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            do { try step() } catch let e as ModelPortError { throw e } catch { throw ModelPortError("\(path): \(error)") }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        }
        for _ in 0..<warmup { _ = try once() }
        before()
        var latencies: [Double] = []
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        repeat { latencies.append(try once()) } while DispatchTime.now().uptimeNanoseconds < deadline || latencies.count < 3
        let total = latencies.reduce(0, +) / 1000
        return BenchmarkResult(batchSize: batchSize, threads: threads, runs: latencies.count, latenciesMilliseconds: latencies,
                               imagesPerSecond: Double(batchSize * latencies.count) / total)
    }

    /// One batch of inputs for every model input (unknown dimensions 1), the same every run: values
    /// in [0, 1) for float inputs, 0 or 1 for integer and bool ones (token ids any table has, a mask).
    func syntheticInputs(batchSize: Int) -> [String: HostTensor] {
        var generator = SeededGenerator(seed: 42)
        var inputs: [String: HostTensor] = [:]
        for input in graph.inputs {
            let shape = [batchSize] + input.shape.dims.dropFirst().map { $0 ?? 1 }
            let n = shape.reduce(1, *)
            let floating = input.dtype.isFloatingPoint
            inputs[input.name] = HostTensor(shape: shape, data: (0..<n).map { _ in
                floating ? Float(generator.next() >> 40) / Float(1 << 24) : Float(generator.next() & 1)
            })
        }
        return inputs
    }
}

/// Throughput and latency of the planned model on synthetic inputs.
public struct BenchmarkResult: Sendable {
    public var batchSize: Int
    public var threads: Int
    public var runs: Int
    public var latenciesMilliseconds: [Double]
    public var imagesPerSecond: Double
    /// Milliseconds per run spent in each step of the plan (name, kind, ms).
    public var profile: [(step: String, kind: String, milliseconds: Double)] = []

    public var median: Double {
        let s = latenciesMilliseconds.sorted()
        return s.isEmpty ? 0 : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
    }

    public var json: JSONValue {
        ["batch_size": .number(Double(batchSize)), "threads": .number(Double(threads)), "runs": .number(Double(runs)),
         "images_per_second": .number(imagesPerSecond),
         "latency_ms": ["min": .number(latenciesMilliseconds.min() ?? 0), "median": .number(median), "max": .number(latenciesMilliseconds.max() ?? 0)]]
    }
}

extension Model {
    /// Warms up, then runs batches of inputs in [0, 1) for about `seconds`, timing each run.
    public func benchmark(batchSize: Int, threads: Int, seconds: Double = 3, warmup: Int = 3, profile: Bool = false) throws -> BenchmarkResult {
        let session = try self.session(threads: threads, optimize: true)
        let inputs = syntheticInputs(batchSize: batchSize)
        var result = try timed(batchSize: batchSize, threads: threads, warmup: warmup, seconds: seconds, before: { session.profiling = profile }) {
            _ = try session.run(inputs)
        }
        if profile {
            result.profile = session.profile.map { ($0.step, $0.kind, $0.seconds * 1000 / Double(result.runs)) }
        }
        return result
    }
}

extension Model {
    /// Training throughput: Keras's `train_on_batch` (forward in training mode, the loss, backward,
    /// one optimizer step) on batches of inputs in [0, 1) with alternating 0/1 labels, timed as `benchmark`.
    public func benchmarkTraining(batchSize: Int, threads: Int, seconds: Double = 3, warmup: Int = 2, optimizer: String? = nil,
                                  profile: Bool = false) throws -> BenchmarkResult {
        var settings = FinetuneSettings()
        settings.optimizer = optimizer
        let (loss, _) = try trainingLoss(nil, labelSmoothing: 0)
        let session = try trainingSession(threads: threads)
        let target: LossTarget
        do { target = try LossTarget(graph: session.graph, loss: loss) } catch { throw ModelPortError("\(path): \(error)") }
        let trainer = Trainer(session: session, optimizer: try trainingOptimizer(settings), target: target)
        let inputs = syntheticInputs(batchSize: batchSize)
        let batch = Samples(inputs: inputs, labels: (0..<batchSize).map { Float($0 % 2) })
        var result = try timed(batchSize: batchSize, threads: threads, warmup: warmup, seconds: seconds, before: { session.profiling = profile }) {
            try trainer.trainOnBatch(batch)
        }
        if profile {
            let runs = Double(result.runs)
            var rows: [(step: String, kind: String, milliseconds: Double)] = []
            for node in session.graph.nodes {
                let forward: Double = (session.forwardSeconds[node.name] ?? 0) * 1000 / runs
                let backward: Double = (session.backwardSeconds[node.name] ?? 0) * 1000 / runs
                rows.append((step: node.name, kind: "forward " + node.op.displayName, milliseconds: forward))
                rows.append((step: node.name, kind: "backward " + node.op.displayName, milliseconds: backward))
            }
            result.profile = rows
        }
        return result
    }
}
