#!/usr/bin/env python3
"""How far TensorFlow's own 3-epoch fit of the saturated seed model moves between CPUs and kernel paths.

The seed history in Fixtures/training/seed.fit.json was made on one CPU (AVX-512). The seed model
is saturated (its outputs sit at 0 or 1 and adamax moves every one of its 38,912 Dense inputs), so
the fit amplifies any change of summation order. This script runs the same fit again on THIS
machine, as make_training_fixtures.py does (oneDNN off, one thread), and also with oneDNN on at the
CPU's best instruction set and at SSE4.1, each in its own process, and records every history next
to the stored one. KerasParityTests reads the largest distance of TensorFlow's own histories from the
stored one as the seed's bound. Run it on an AVX2 and on an AVX-512 machine and merge the runs:

    ~/venvs/ref/bin/python Fixtures/measure_fit_spread.py          # adds this CPU's runs

It appends to Fixtures/training/seed.fit_spread.json (one entry per CPU model name and path).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "training" / "seed.fit_spread.json"

PATHS = {
    # name: the environment the fit runs in
    "eigen": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "onednn": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "onednn_sse41": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}


def cpu():
    info = Path("/proc/cpuinfo").read_text()
    name = next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name")), "unknown")
    flags = next((l.split(":", 1)[1].split() for l in info.splitlines() if l.startswith("flags")), [])
    return name, "avx512f" in flags


def child():
    sys.path.insert(0, str(HERE))
    import make_training_fixtures as T  # sets one thread, determinism; oneDNN as the environment says
    import numpy as np
    T.reset()
    with np.load(HERE / "training" / "seed.fit.npz") as z:
        x, y = z["x"], z["y"]
    _, hist, _ = T.fit_once("seed", x, y)
    print(json.dumps([float(v) for v in hist.history["loss"]]))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child()
        return
    name, avx512 = cpu()
    stored = json.loads((HERE / "training" / "seed.fit.json").read_text())["history"]["loss"]
    doc = json.loads(OUT.read_text()) if OUT.exists() else {"stored_history": stored, "runs": []}
    assert doc["stored_history"] == stored, "seed.fit.json changed: measure again from an empty file"
    for path, env in PATHS.items():
        e = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1", **env)
        out = subprocess.run([sys.executable, __file__, "--child"], env=e, check=True, capture_output=True, text=True).stdout
        history = json.loads(out.strip().splitlines()[-1])
        run = {"cpu": name, "avx512f": avx512, "path": path, "environment": env, "history": history,
               "abs_difference_from_stored": [abs(a - b) for a, b in zip(history, stored)]}
        print(json.dumps(run))
        doc["runs"] = [r for r in doc["runs"] if (r["cpu"], r["avx512f"], r["path"]) != (name, avx512, path)] + [run]
    doc["max_abs_difference_per_epoch"] = [max(r["abs_difference_from_stored"][e] for r in doc["runs"]) for e in range(len(stored))]
    OUT.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
