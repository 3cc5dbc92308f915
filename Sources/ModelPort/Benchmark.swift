import Engine
import Foundation
import ModelIR

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
        var generator = SplitMix64(seed: 42)
        var inputs: [String: HostTensor] = [:]
        for input in graph.inputs {
            let shape = [batchSize] + input.shape.dims.dropFirst().map { $0 ?? 1 }
            let n = shape.reduce(1, *)
            inputs[input.name] = HostTensor(shape: shape, data: (0..<n).map { _ in Float(generator.next() >> 40) / Float(1 << 24) })
        }
        func once() throws -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            do { _ = try session.run(inputs) } catch { throw ModelPortError("\(path): \(error)") }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        }
        for _ in 0..<warmup { _ = try once() }
        session.profiling = profile
        var latencies: [Double] = []
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        repeat { latencies.append(try once()) } while DispatchTime.now().uptimeNanoseconds < deadline || latencies.count < 3
        let total = latencies.reduce(0, +) / 1000
        var result = BenchmarkResult(batchSize: batchSize, threads: threads, runs: latencies.count, latenciesMilliseconds: latencies,
                                     imagesPerSecond: Double(batchSize * latencies.count) / total)
        if profile {
            result.profile = session.profile.map { ($0.step, $0.kind, $0.seconds * 1000 / Double(latencies.count)) }
        }
        return result
    }
}

/// A small deterministic generator for benchmark inputs.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
