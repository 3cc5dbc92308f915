"""Cross-checks ModelPort's ONNX export with the real tools.

Every Keras fixture is converted with `modelport convert` (opsets 13 and 17, NHWC and NCHW
inputs), checked with onnx.checker (full_check) and run in onnxruntime on the inputs Keras was
given; the outputs must match Keras' own (Fixtures/keras/NAME.keras2.output(s)) within 1e-5.
The Fixtures/keras_extra model (Normalization, LayerScale, Keras 3 operation layers) and the
Fixtures/layout LayerNormalization models (every axis list) are converted and checked the same way. Then every tf2onnx-made fixture (Fixtures/onnx/NAME.opsetN.onnx) is run by `modelport run` on
the same inputs and must match Keras within 1e-5 too.
Run by `make test` when a Python with onnx and onnxruntime is available:

    python CrossCheck/crosscheck.py --modelport .build/release/modelport
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERAS = os.path.join(ROOT, "Fixtures", "keras")
MODELS = ["seed_sigmoid", "seed_softmax", "functional", "nested", "mobilenet_transfer", "mlp", "activations", "tfop"]
TF2ONNX = ["seed_sigmoid", "mlp", "nested", "functional", "tfop"]
# Fixtures/layout: LayerNormalization over every axis list, and sequence-shaped models (a Dense on
# (batch, time, features), a Conv1D stack with a Dense between, GlobalAveragePooling1D channels_first).
LAYOUT = ["ln_axis1", "ln_axis_m2", "ln_axis12", "ln_r4_axis1", "ln_r4_axis2", "ln_r4_axis13", "ln_r4_axis23", "ln_r4_last",
          "ln_noscale", "ln_nocenter", "seq_dense", "seq_conv1d", "seq_gap_cf", "img_mean"]


def keras_inputs(name):
    path = os.path.join(KERAS, f"{name}.input.npy")
    if os.path.exists(path):
        return [np.load(path)]
    z = np.load(os.path.join(KERAS, f"{name}.inputs.npz"))
    return z


def keras_outputs(name):
    path = os.path.join(KERAS, f"{name}.keras2.output.npy")
    if os.path.exists(path):
        return {None: np.load(path)}
    z = np.load(os.path.join(KERAS, f"{name}.keras2.outputs.npz"))
    return {k: z[k] for k in z.files}


def converted(label, cmd, out):
    """Runs `modelport convert`, then onnx.checker (full check) on what it wrote; returns an
    onnxruntime session, or None after printing why the check failed."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL {label}: convert exited {r.returncode}: {r.stderr.strip()}")
        return None
    try:
        onnx.checker.check_model(out, full_check=True)
    except Exception as e:  # noqa: BLE001
        print(f"FAIL {label}: onnx.checker: {e}")
        return None
    return ort.InferenceSession(out, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelport", default=os.path.join(ROOT, ".build", "release", "modelport"))
    args = ap.parse_args()
    failures = 0
    checks = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            for opset in (13, 17):
                for nchw in (False, True):
                    out = os.path.join(tmp, f"{name}.{opset}.{int(nchw)}.onnx")
                    cmd = [args.modelport, "convert", os.path.join(KERAS, f"{name}.h5"), out, "--opset", str(opset)]
                    if nchw:
                        cmd.append("--nchw-inputs")
                    label = f"{name} opset {opset}{' nchw' if nchw else ''}"
                    checks += 1
                    sess = converted(label, cmd, out)
                    if sess is None:
                        failures += 1
                        continue
                    inputs = keras_inputs(name)
                    feeds = {}
                    for i, info in enumerate(sess.get_inputs()):
                        x = inputs[i] if isinstance(inputs, list) else inputs[info.name]
                        if nchw and x.ndim >= 3:
                            x = np.moveaxis(x, -1, 1)
                        feeds[info.name] = x.astype(np.float32)
                    outs = sess.run(None, feeds)
                    expected = keras_outputs(name)
                    worst = 0.0
                    for info, y in zip(sess.get_outputs(), outs):
                        want = expected[None] if None in expected else expected[info.name]
                        worst = max(worst, float(np.max(np.abs(y - want))))
                    transposes = sum(1 for n in onnx.load(out).graph.node if n.op_type == "Transpose")
                    ok = worst <= 1e-5
                    failures += 0 if ok else 1
                    print(f"{'ok  ' if ok else 'FAIL'} {label}: checker ok, max |onnxruntime - keras| {worst:.2e}, {transposes} Transpose")
        # Normalization, LayerScale and Keras 3 operation layers (Fixtures/keras_extra), each file kind.
        extra = os.path.join(ROOT, "Fixtures", "keras_extra")
        for file, flavour in (("preprocess.k2.h5", "k2"), ("preprocess.k3.keras", "k3"), ("preprocess.k3.h5", "k3")):
            label = f"keras_extra {file}"
            out = os.path.join(tmp, file + ".onnx")
            checks += 1
            sess = converted(label, [args.modelport, "convert", os.path.join(extra, file), out], out)
            if sess is None:
                failures += 1
                continue
            x = np.load(os.path.join(extra, "preprocess.input.npy"))
            y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
            worst = float(np.max(np.abs(y - np.load(os.path.join(extra, f"preprocess.{flavour}.output.npy")))))
            ok = worst <= 1e-5
            failures += 0 if ok else 1
            print(f"{'ok  ' if ok else 'FAIL'} {label}: checker ok, max |onnxruntime - keras| {worst:.2e}")
        # Fixtures/layout: LayerNormalization as the ONNX operator where the axes are the trailing ones
        # in the file (opset 17+), ReduceMean otherwise; Dense on channels-first-stored sequences.
        layout = os.path.join(ROOT, "Fixtures", "layout")
        for name in LAYOUT:
            for opset in (13, 17, 18):
                label = f"layout {name} opset {opset}"
                out = os.path.join(tmp, f"{name}.{opset}.onnx")
                checks += 1
                sess = converted(label, [args.modelport, "convert", os.path.join(layout, f"{name}.h5"), out, "--opset", str(opset)], out)
                if sess is None:
                    failures += 1
                    continue
                y = sess.run(None, {sess.get_inputs()[0].name: np.load(os.path.join(layout, f"{name}.input.npy"))})[0]
                worst = float(np.max(np.abs(y - np.load(os.path.join(layout, f"{name}.layers.npz"))["out"])))
                ok = worst <= 1e-5
                failures += 0 if ok else 1
                print(f"{'ok  ' if ok else 'FAIL'} {label}: checker ok, max |onnxruntime - keras| {worst:.2e}")
        for name in TF2ONNX:
            for opset in (13, 17):
                model = os.path.join(ROOT, "Fixtures", "onnx", f"{name}.opset{opset}.onnx")
                label = f"tf2onnx {name} opset {opset}"
                graph = onnx.load(model).graph
                initializers = {t.name for t in graph.initializer}
                names = [i.name for i in graph.input if i.name not in initializers]
                inputs = keras_inputs(name)
                feed = os.path.join(tmp, f"{name}.{opset}.inputs.npz")
                np.savez(feed, **{n: (inputs[i] if isinstance(inputs, list) else inputs[n]).astype(np.float32) for i, n in enumerate(names)})
                result = os.path.join(tmp, f"{name}.{opset}.out.npz")
                r = subprocess.run([args.modelport, "run", model, "--input", feed, "--output", result, "--quiet"], capture_output=True, text=True)
                checks += 1
                if r.returncode != 0:
                    print(f"FAIL {label}: modelport run exited {r.returncode}: {r.stderr.strip()}")
                    failures += 1
                    continue
                ours = np.load(result)
                expected = keras_outputs(name)
                worst = 0.0
                for out in graph.output:
                    want = expected[None] if None in expected else expected[out.name]
                    worst = max(worst, float(np.max(np.abs(ours[out.name] - want))))
                ok = worst <= 1e-5
                failures += 0 if ok else 1
                print(f"{'ok  ' if ok else 'FAIL'} {label}: max |modelport - keras| {worst:.2e}")
    print(f"{checks - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
