"""Cross-checks what `modelport finetune` writes with the real tools.

Each case fine-tunes a fixture with the command, runs the written file with `modelport run` on
the fixture's inputs, then loads the file in the framework of its kind and compares:

    case                                    written     loaded with
    collapsed.h5, --recalibrate-batchnorm   .h5         tf_keras.models.load_model
    collapsed.h5, 2 epochs + recalibration  .h5         tf_keras (and one fit step continues training)
    collapsed.h5, 2 epochs                  .keras      keras.saving.load_model (Keras 3)
    bn_lag.h5, --calibrate                  .h5         tf_keras (accuracy at 0.5 as modelport reported)
    torch_collapsed.onnx, 2 epochs          .onnx       onnx.checker + onnxruntime

Scores must agree within 1e-5 of ModelPort's own, and every weight in the file must be finite.
tf_keras and Keras 3 each run in a subprocess (they cannot share a process). One line per case:
PASS or FAIL; exit 1 when one failed. Run by `make test` (the crosscheck target):

    python CrossCheck/finetune_crosscheck.py --modelport .build/release/modelport
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECK = os.path.join(ROOT, "Fixtures", "check")
TOLERANCE = 1e-5

CASES = [
    ("collapsed.h5 --recalibrate-batchnorm -> .h5", "collapsed.h5", "repaired.h5", ["--recalibrate-batchnorm"], "tf_keras", "data_x.npy"),
    ("collapsed.h5 --epochs 2 --recalibrate-batchnorm -> .h5", "collapsed.h5", "tuned.h5",
     ["--epochs", "2", "--batch-size", "16", "--recalibrate-batchnorm", "--seed", "4"], "tf_keras", "data_x.npy"),
    ("collapsed.h5 --epochs 2 -> .keras", "collapsed.h5", "tuned.keras", ["--epochs", "2", "--batch-size", "16", "--seed", "4"], "keras3",
     "data_x.npy"),
    ("bn_lag.h5 --calibrate -> .h5", "bn_lag.h5", "calibrated.h5", ["--calibrate"], "tf_keras", "data_x.npy"),
    ("torch_collapsed.onnx --epochs 2 -> .onnx", "onnx/torch_collapsed.onnx", "tuned.onnx",
     ["--epochs", "2", "--batch-size", "16", "--recalibrate-batchnorm"], "onnxruntime", "onnx/data_x_nchw.npy"),
]

WORKER = r"""
import json, os, sys, warnings
import numpy as np
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
framework, path, inputs, labels = sys.argv[1:5]
x = np.load(inputs).astype(np.float32)
y = np.load(labels).astype(np.float32).reshape(-1, 1)
out = {}
if framework == "onnxruntime":
    import onnx, onnxruntime as ort
    onnx.checker.check_model(onnx.load(path), full_check=True)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    out["scores"] = np.asarray(sess.run(None, {sess.get_inputs()[0].name: x})[0]).reshape(-1).tolist()
    weights = [np.asarray(onnx.numpy_helper.to_array(t)) for t in onnx.load(path).graph.initializer]
else:
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if framework == "tf_keras":
        import tf_keras as K
        model = K.models.load_model(path)
    else:
        os.environ["KERAS_BACKEND"] = "tensorflow"
        import keras as K
        model = K.saving.load_model(path)
    out["scores"] = np.asarray(model.predict(x, verbose=0)).reshape(-1).tolist()
    weights = [np.asarray(w) for w in model.get_weights()]
    if model.optimizer is not None and framework == "tf_keras":
        before = [np.array(w) for w in model.trainable_weights]
        model.fit(x[:16], y[:16], epochs=1, batch_size=16, verbose=0, shuffle=False)
        out["fit_moved"] = any(not np.array_equal(a, np.asarray(b)) for a, b in zip(before, model.trainable_weights))
out["finite"] = all(np.all(np.isfinite(w)) for w in weights if w.dtype.kind == "f")
print(json.dumps(out))
"""


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modelport", required=True)
    args = p.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for label, source, written, options, framework, inputs in CASES:
            out = os.path.join(tmp, written)
            data = ["--inputs", os.path.join(CHECK, inputs), "--labels", os.path.join(CHECK, "data_y.npy")]
            r = run([args.modelport, "finetune", os.path.join(CHECK, source)] + data + options + ["--output", out, "--force", "--quiet"])
            if r.returncode != 0:
                print(f"FAIL  {label}: finetune exited {r.returncode}: {r.stderr.strip()[-300:]}")
                failures += 1
                continue
            ours_file = os.path.join(tmp, written + ".scores.npy")
            r = run([args.modelport, "run", out, "--input", os.path.join(CHECK, inputs), "--output", ours_file])
            if r.returncode != 0:
                print(f"FAIL  {label}: run exited {r.returncode}: {r.stderr.strip()[-300:]}")
                failures += 1
                continue
            ours = np.load(ours_file).reshape(-1)
            r = run([sys.executable, "-c", WORKER, framework, out, os.path.join(CHECK, inputs), os.path.join(CHECK, "data_y.npy")])
            if r.returncode != 0:
                print(f"FAIL  {label}: {framework} could not load it: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
                failures += 1
                continue
            theirs = json.loads(r.stdout.strip().splitlines()[-1])
            scores = np.asarray(theirs["scores"], dtype=np.float64)
            problems = []
            if scores.shape != ours.shape:
                problems.append(f"{scores.size} scores against modelport's {ours.size}")
            else:
                worst = float(np.max(np.abs(scores - ours))) if ours.size else 0.0
                if not worst <= TOLERANCE:
                    problems.append(f"scores differ by {worst:.2e} (tolerance {TOLERANCE})")
            if not theirs["finite"]:
                problems.append("a weight is not finite")
            if theirs.get("fit_moved") is False:
                problems.append("one fit step did not change the weights")
            detail = f"{framework}: {ours.size} scores within {TOLERANCE}" + (", fit continues" if theirs.get("fit_moved") else "")
            if problems:
                failures += 1
                print(f"FAIL  {label}: " + "; ".join(problems))
            else:
                print(f"PASS  {label} ({detail})")
    print(f"finetune crosscheck: {len(CASES) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
