import ArgumentParser
import Foundation
import Engine
import ModelPort

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput and latency on synthetic inputs.",
        discussion: """
        Warms up, then runs batches of random inputs in [0, 1) for --seconds and reports \
        images per second and the latency of one batch (min, median, max).
        Benchmarks/compare.sh runs this and onnxruntime side by side.
        """
    )

    @Argument(help: "The model file.") var model: String
    @Option(help: "Samples per batch.") var batchSize = 1
    @Option(help: "Threads (default: every core).") var threads: Int?
    @Option(help: "Seconds of timed runs.") var seconds: Double = 3
    @Option(help: "The architecture for a weights-only MODEL.") var architecture: String?
    @Flag(help: "Print JSON (Schemas/bench.schema.json).") var json = false
    @Flag(help: "Also print the time spent in each step of the plan (per run).") var profile = false
    @Flag(help: "Measure training steps (train_on_batch: forward, loss, backward, optimizer step) instead of inference.") var train = false
    @Option(help: "With --train: sgd, adam, adamw, adamax or rmsprop (default: the file's optimizer).") var optimizer: String?

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
    }

    func run() throws {
        let loaded = try Model.load(model, architecture: architecture)
        let t = threads ?? ProcessInfo.processInfo.activeProcessorCount
        let result = train ? try loaded.benchmarkTraining(batchSize: batchSize, threads: t, seconds: seconds, optimizer: optimizer,
                                                                    profile: profile)
            : try loaded.benchmark(batchSize: batchSize, threads: t, seconds: seconds, profile: profile)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakMB = Double(usage.ru_maxrss) / 1024
        if json {
            var object = result.json
            if case .object(var o) = object {
                o["mode"] = .string(train ? "train" : "inference")
                o["peak_rss_mb"] = .number(peakMB)
                object = .object(o)
            }
            print(object.pretty())
        } else {
            let threadsText = "\(result.threads) thread\(result.threads == 1 ? "" : "s")"
            print((train ? "training, " : "") + "batch \(result.batchSize), \(threadsText), \(result.runs) runs, OpenBLAS kernels: \(OpenBLASCore.name)")
            print(String(format: "throughput: %.1f images/s, peak memory %.0f MB", result.imagesPerSecond, peakMB))
            print(String(format: "latency ms: min %.3f  median %.3f  max %.3f", result.latenciesMilliseconds.min() ?? 0, result.median,
                         result.latenciesMilliseconds.max() ?? 0))
            if profile {
                let total = result.profile.reduce(0) { $0 + $1.milliseconds }
                print("\nstep                           kind                  ms/run     share")
                for p in result.profile {
                    print(ResultTable.pad(p.step, 31) + ResultTable.pad(p.kind, 22) + ResultTable.pad(String(format: "%.3f", p.milliseconds), 11)
                          + String(format: "%5.1f%%", 100 * p.milliseconds / max(total, 1e-9)))
                }
            }
        }
    }
}
