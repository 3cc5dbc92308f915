#!/usr/bin/env python3
"""Convert a Keras 2 (tf_keras) .h5 model to ONNX with tf2onnx and check the result.

    convert_to_onnx.py MODEL.h5 OUT.onnx [--opset 13] [--batch 4] [--method auto|keras|function]

Steps:
  1. load MODEL.h5 with tf_keras (compile=False);
  2. convert with tf2onnx.convert.from_keras (method "keras"); "function" traces
     tf.function(model(x, training=False)) and uses tf2onnx.convert.from_function instead;
     "auto" (default) tries "keras" and falls back to "function" if it raises;
  3. onnx.checker.check_model (full check, with shape inference);
  4. runs one random float32 [0, 1) batch through onnxruntime and tf_keras
     (model(x, training=False)) and prints the max abs difference per output;
     exits 1 if any output differs by more than --atol + --rtol * |tf_keras|.

It prints a summary: opset, producer, inputs/outputs, the op histogram of the graph and
whether tf2onnx inserted Transpose nodes (it converts NHWC Keras convolutions to NCHW ONNX
ones and wraps them in transposes, most of which its optimizer then removes).
--summary-json FILE writes the same facts as JSON.

Run it with the reference venv, e.g.
    TF_CPP_MIN_LOG_LEVEL=2 CUDA_VISIBLE_DEVICES=-1 ~/venvs/ref/bin/python \
        Benchmarks/convert_to_onnx.py Fixtures/keras/seed_sigmoid.h5 /tmp/seed.onnx
"""

import argparse
import collections
import json
import os
import sys
import time

# tf.keras must be tf_keras (Keras 2): tf2onnx traces tf.keras models, and the .h5 files are Keras 2.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


def random_inputs(model, batch, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    feeds = []
    for t in model.inputs:
        shape = [batch] + [d if d is not None else 1 for d in t.shape[1:]]
        dtype = t.dtype.as_numpy_dtype if hasattr(t.dtype, "as_numpy_dtype") else np.dtype(t.dtype)
        if np.issubdtype(dtype, np.floating):
            feeds.append(rng.random(shape, dtype=np.float32).astype(dtype))
        else:
            feeds.append(rng.integers(0, 10, size=shape).astype(dtype))
    return feeds


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="Keras 2 .h5 full model")
    p.add_argument("out", help="ONNX file to write")
    p.add_argument("--opset", type=int, default=13)
    p.add_argument("--batch", type=int, default=4, help="batch size of the verification run (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--atol", type=float, default=1e-4)
    p.add_argument("--rtol", type=float, default=1e-3)
    p.add_argument("--method", choices=["auto", "keras", "function"], default="auto")
    p.add_argument("--summary-json", help="also write the summary to this JSON file")
    args = p.parse_args()

    import numpy as np
    import onnx
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx
    import tf_keras

    t0 = time.perf_counter()
    model = tf_keras.models.load_model(args.model, compile=False)
    load_s = time.perf_counter() - t0

    input_names = list(model.input_names)
    output_names = list(model.output_names)
    spec = tuple(
        tf.TensorSpec((None,) + tuple(t.shape[1:]), t.dtype, name=name)
        for t, name in zip(model.inputs, input_names)
    )

    model_proto = None
    method = None
    errors = []
    if args.method in ("auto", "keras"):
        try:
            model_proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=args.opset)
            method = "tf2onnx.convert.from_keras"
        except Exception as e:  # noqa: BLE001 - report and maybe fall back
            errors.append(f"from_keras: {type(e).__name__}: {e}")
            if args.method == "keras":
                sys.exit(f"error: {args.model}: tf2onnx.convert.from_keras failed: {e}")
    if model_proto is None:
        @tf.function(input_signature=spec)
        def forward(*xs):
            y = model(list(xs) if len(xs) > 1 else xs[0], training=False)
            ys = y if isinstance(y, (list, tuple)) else [y]
            return {name: t for name, t in zip(output_names, ys)}

        try:
            model_proto, _ = tf2onnx.convert.from_function(forward, input_signature=spec, opset=args.opset)
            method = "tf2onnx.convert.from_function"
        except Exception as e:  # noqa: BLE001
            errors.append(f"from_function: {type(e).__name__}: {e}")
            sys.exit(f"error: {args.model}: conversion failed: " + "; ".join(errors))
    convert_s = time.perf_counter() - t0 - load_s

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    onnx.save(model_proto, args.out)
    onnx.checker.check_model(args.out, full_check=True)

    # Verify onnxruntime against tf_keras on one random batch.
    feeds = random_inputs(model, args.batch, args.seed)
    expected = model(feeds if len(feeds) > 1 else feeds[0], training=False)
    expected = [np.asarray(e) for e in (expected if isinstance(expected, (list, tuple)) else [expected])]
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(args.out, so, providers=["CPUExecutionProvider"])
    onnx_inputs = [i.name for i in sess.get_inputs()]
    got = sess.run(None, dict(zip(onnx_inputs, feeds)))
    onnx_outputs = [o.name for o in sess.get_outputs()]
    # from_function names outputs by the dict keys; from_keras by output_names - match by name when possible.
    if set(onnx_outputs) == set(output_names):
        got = [got[onnx_outputs.index(n)] for n in output_names]

    ok = True
    diffs = {}
    for name, e, g in zip(output_names, expected, got):
        if e.shape != g.shape:
            print(f"output {name}: shape mismatch tf_keras {e.shape} vs onnxruntime {g.shape}")
            ok = False
            diffs[name] = None
            continue
        d = np.abs(e.astype(np.float64) - g.astype(np.float64))
        diffs[name] = float(d.max()) if d.size else 0.0
        bad = d > args.atol + args.rtol * np.abs(e)
        print(f"output {name}: shape {list(e.shape)}  max abs diff (onnxruntime vs tf_keras) = {diffs[name]:.3e}"
              + ("" if not bad.any() else f"  ({int(bad.sum())} elements over tolerance)"))
        ok = ok and not bad.any()

    graph = model_proto.graph
    ops = collections.Counter(n.op_type for n in graph.node)
    opsets = {(o.domain or "ai.onnx"): o.version for o in model_proto.opset_import}

    def dims(vi):
        return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                for d in vi.type.tensor_type.shape.dim]

    transposes = [
        {"name": n.name, "perm": list(onnx.helper.get_attribute_value(a))}
        for n in graph.node if n.op_type == "Transpose" for a in n.attribute if a.name == "perm"
    ]
    summary = {
        "model": args.model,
        "onnx": args.out,
        "method": method,
        "fallback_errors": errors,
        "tf2onnx": tf2onnx.__version__,
        "tensorflow": tf.__version__,
        "tf_keras": tf_keras.__version__,
        "opset": opsets,
        "inputs": [{"name": i.name, "shape": dims(i)} for i in graph.input],
        "outputs": [{"name": o.name, "shape": dims(o)} for o in graph.output],
        "nodes": len(graph.node),
        "ops": dict(sorted(ops.items())),
        "op_sequence": [n.op_type for n in graph.node],
        "transposes": transposes,
        "max_abs_diff": diffs,
        "verified": ok,
        "load_seconds": load_s,
        "convert_seconds": convert_s,
    }
    print(f"converted {args.model} -> {args.out} with {method} in {convert_s:.2f} s"
          + (f" (after: {'; '.join(errors)})" if errors else ""))
    print(f"opset: {', '.join(f'{k} {v}' for k, v in opsets.items())}; producer {model_proto.producer_name} "
          f"{model_proto.producer_version}".replace(" None", ""))
    print("inputs:  " + ", ".join(f"{i['name']} {i['shape']}" for i in summary["inputs"]))
    print("outputs: " + ", ".join(f"{o['name']} {o['shape']}" for o in summary["outputs"]))
    print(f"nodes: {len(graph.node)}; ops: " + ", ".join(f"{k} x{v}" for k, v in sorted(ops.items())))
    print("graph: " + " -> ".join(summary["op_sequence"]))
    print(f"transposes inserted: {len(transposes)}"
          + ("" if not transposes else " (" + ", ".join(f"{t['name']} perm {t['perm']}" for t in transposes) + ")"))
    print("onnx.checker: ok")
    if args.summary_json:
        with open(args.summary_json, "w") as f:
            json.dump(summary, f, indent=2)
    if not ok:
        print(f"error: onnxruntime output differs from tf_keras beyond atol {args.atol} rtol {args.rtol}",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
