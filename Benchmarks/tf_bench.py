#!/usr/bin/env python3
"""Benchmark a Keras 2 .h5 model on TensorFlow (tf_keras) with the protocol of `modelport bench`.

    tf_bench.py MODEL.h5 --batch-size N --threads T --seconds S [--train] [--json]

TensorFlow runs with intra-op parallelism T and inter-op parallelism 1 (set before anything
runs). The model is loaded with tf_keras (compile=False) and called as a traced graph,
tf.function(model(x, training=False)) with a fixed input signature, so Python's per-layer
eager overhead is not measured; each run ends with .numpy() on the outputs so the time includes
the whole computation. Protocol as modelport bench: one batch of random float32 [0, 1) inputs,
--warmup runs (default 3, the first one traces), then timed runs for --seconds, at least
--min-runs (3). Prints the JSON of `modelport bench --json`.

With --train it measures `model.train_on_batch(x, y)` instead (as `modelport bench --train`): the
model is loaded with its training configuration (compile=True: the file's optimizer and loss),
labels alternate 0/1, and each timed run is one optimizer step (train_on_batch runs a traced
tf.function and returns the loss as a number, so the whole step is inside the time).
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--min-runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--json", action="store_true")
    p.add_argument("--train", action="store_true")
    args = p.parse_args()
    if args.batch_size < 1 or args.threads < 1 or args.seconds <= 0:
        sys.exit("error: --batch-size and --threads must be at least 1, --seconds positive")

    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import tf_keras

    model = tf_keras.models.load_model(args.model, compile=args.train)
    rng = np.random.default_rng(args.seed)
    xs, spec = [], []
    for t in model.inputs:
        shape = [args.batch_size] + [d if d is not None else 1 for d in t.shape[1:]]
        xs.append(tf.constant(rng.random(shape, dtype=np.float32).astype(t.dtype.as_numpy_dtype)))
        spec.append(tf.TensorSpec(shape, t.dtype))

    @tf.function(input_signature=spec)
    def forward(*inputs):
        return model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)

    labels = np.array([[i % 2] for i in range(args.batch_size)], dtype=np.float32)

    def once():
        start = time.perf_counter_ns()
        if args.train:
            model.train_on_batch(xs if len(xs) > 1 else xs[0], labels)
        else:
            y = forward(*xs)
            for t in (y if isinstance(y, (list, tuple)) else [y]):
                t.numpy()
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
        "mode": "train" if args.train else "inference",
    }
    try:
        import resource
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except ImportError:
        pass
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(f"tensorflow {tf.__version__}: batch {args.batch_size}, {args.threads} thread"
              f"{'' if args.threads == 1 else 's'}, {len(latencies)} runs")
        print(f"throughput: {result['images_per_second']:.1f} images/s")
        lat = result["latency_ms"]
        print(f"latency ms: min {lat['min']:.3f}  median {lat['median']:.3f}  max {lat['max']:.3f}")


if __name__ == "__main__":
    main()
