#!/usr/bin/env python3
"""Reference load times of a Keras .h5 file, measured inside one Python process.

    load_times.py MODEL.h5 [--repeats 5] [--json]

- h5py: open the file and read every dataset into memory (numpy), close; median of --repeats
  (the first run is reported separately: it pays the page-cache and h5py warm-up).
- tf_keras.models.load_model(MODEL, compile=False): the first call in the process (it builds
  the layers and pays TensorFlow's one-time initialisation) and the median of the next
  --repeats calls.
- the `import tensorflow, tf_keras` time, which a Python user pays once per process and which
  is not included in the numbers above.

Prints JSON with --json (times in milliseconds), else text.
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


def ms(start):
    return (time.perf_counter() - start) * 1000


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    t = time.perf_counter()
    import h5py
    h5py_import_ms = ms(t)

    def read_all():
        n = [0, 0]

        def visit(_, obj):
            if isinstance(obj, h5py.Dataset):
                a = obj[()]
                n[0] += 1
                n[1] += getattr(a, "nbytes", 0)

        with h5py.File(args.model, "r") as f:
            f.visititems(visit)
        return n

    t = time.perf_counter()
    datasets, nbytes = read_all()
    h5_first = ms(t)
    h5_times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        read_all()
        h5_times.append(ms(t))

    t = time.perf_counter()
    import tensorflow as tf  # noqa: F401
    import tf_keras
    tf_import_ms = ms(t)

    t = time.perf_counter()
    tf_keras.models.load_model(args.model, compile=False)
    keras_first = ms(t)
    keras_times = []
    for _ in range(args.repeats):
        tf_keras.backend.clear_session()
        t = time.perf_counter()
        tf_keras.models.load_model(args.model, compile=False)
        keras_times.append(ms(t))

    result = {
        "datasets": datasets,
        "dataset_bytes": nbytes,
        "h5py_import_ms": h5py_import_ms,
        "h5py_read_all_first_ms": h5_first,
        "h5py_read_all_median_ms": statistics.median(h5_times) if h5_times else h5_first,
        "tf_import_ms": tf_import_ms,
        "tf_keras_load_model_first_ms": keras_first,
        "tf_keras_load_model_median_ms": statistics.median(keras_times) if keras_times else keras_first,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"h5py read all {datasets} datasets ({nbytes / 1e6:.2f} MB): first {h5_first:.1f} ms, "
              f"median {result['h5py_read_all_median_ms']:.1f} ms")
        print(f"tf_keras.models.load_model(compile=False): first {keras_first:.1f} ms, "
              f"median {result['tf_keras_load_model_median_ms']:.1f} ms (import tensorflow+tf_keras "
              f"{tf_import_ms:.0f} ms not included)")


if __name__ == "__main__":
    main()
