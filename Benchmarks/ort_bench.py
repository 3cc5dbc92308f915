#!/usr/bin/env python3
"""Benchmark an ONNX model on onnxruntime (CPU) with the protocol of `modelport bench`.

    ort_bench.py MODEL.onnx --batch-size N --threads T --seconds S [--json]

Session: CPUExecutionProvider, intra_op_num_threads=T, inter_op_num_threads=1, sequential
execution, graph optimizations ORT_ENABLE_ALL. Protocol: one batch of random float32 [0, 1)
inputs (dynamic dims other than the batch are taken as 1, as modelport does), --warmup runs
(default 3), then timed runs of that same batch until --seconds have passed and at least
--min-runs (default 3) runs were timed. Prints the JSON of `modelport bench --json`:

    {"batch_size", "threads", "runs", "images_per_second", "latency_ms": {"min", "median", "max"}}

images_per_second = batch_size * runs / (sum of the timed latencies), as in modelport.
Without --json it prints the same numbers as text (the JSON is always printed with --json;
compare.sh uses --json).
"""

import argparse
import json
import statistics
import sys
import time


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--min-runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--json", action="store_true", help="print JSON (the shape of modelport bench --json)")
    p.add_argument("--optimized-model", metavar="PATH",
                   help="also write the graph onnxruntime runs after its optimizations")
    args = p.parse_args()
    if args.batch_size < 1 or args.threads < 1 or args.seconds <= 0:
        sys.exit("error: --batch-size and --threads must be at least 1, --seconds positive")

    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if args.optimized_model:
        so.optimized_model_filepath = args.optimized_model
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])

    rng = np.random.default_rng(args.seed)
    types = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
             "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8}
    feeds = {}
    for i in sess.get_inputs():
        shape = [args.batch_size] + [d if isinstance(d, int) and d > 0 else 1 for d in i.shape[1:]]
        dtype = types.get(i.type)
        if dtype is None:
            sys.exit(f"error: {args.model}: input {i.name} has unsupported type {i.type}")
        if np.issubdtype(dtype, np.floating):
            feeds[i.name] = rng.random(shape, dtype=np.float32).astype(dtype)
        else:
            feeds[i.name] = rng.integers(0, 10, size=shape).astype(dtype)

    def once():
        start = time.perf_counter_ns()
        sess.run(None, feeds)
        return (time.perf_counter_ns() - start) / 1e6

    for _ in range(args.warmup):
        once()
    latencies = []
    deadline = time.perf_counter_ns() + int(args.seconds * 1e9)
    while True:
        latencies.append(once())
        if time.perf_counter_ns() >= deadline and len(latencies) >= args.min_runs:
            break
    total_s = sum(latencies) / 1000
    result = {
        "batch_size": args.batch_size,
        "threads": args.threads,
        "runs": len(latencies),
        "images_per_second": args.batch_size * len(latencies) / total_s,
        "latency_ms": {"min": min(latencies), "median": statistics.median(latencies), "max": max(latencies)},
    }
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(f"onnxruntime {ort.__version__}: batch {args.batch_size}, {args.threads} thread"
              f"{'' if args.threads == 1 else 's'}, {len(latencies)} runs")
        print(f"throughput: {result['images_per_second']:.1f} images/s")
        lat = result["latency_ms"]
        print(f"latency ms: min {lat['min']:.3f}  median {lat['median']:.3f}  max {lat['max']:.3f}")


if __name__ == "__main__":
    main()
