#!/usr/bin/env python3
"""Compute reference inputs/outputs for the committed Keras fixtures in Fixtures/keras/.

Run from the repository root, with the venv described in Fixtures/requirements.txt:

    TF_CPP_MIN_LOG_LEVEL=2 CUDA_VISIBLE_DEVICES=-1 python Fixtures/make_reference_outputs.py [NAME ...]

This script never builds, trains or saves a model.  It LOADS the model files written by
make_keras_fixtures.py (tf_keras: `tf_keras.models.load_model("NAME.h5")`; Keras 3:
`keras.models.load_model("NAME.keras")`, both with compile=False) and runs them in
inference mode (training=False) on CPU, single-threaded, with TensorFlow op determinism on
and oneDNN off.  With no NAME it does every model below; with names it does only those and
updates their entries in reference_index.json (the other entries are kept).

Models: seed_sigmoid, seed_softmax, functional, nested, mobilenet_transfer, mlp,
activations (tf_keras and Keras 3) and tfop (tf_keras only).  channels_first is skipped:
TensorFlow on CPU cannot run an NCHW Conv2D.

Written into Fixtures/keras/ per model NAME:

  NAME.input.npy                  single-input models: float32 (N, ...)
  NAME.inputs.npz                 multi-input models: one array per input, keyed by the
                                  input layer name (e.g. `image`, `sequence`)
        Inputs are rng.random(shape, dtype=float32) with rng = np.random.default_rng(seed),
        seed = zlib.crc32(NAME.encode("utf-8")), drawn in model.inputs order; values in [0, 1).
        N = 2 for seed_* and mobilenet_transfer, 3 for the others.
  NAME.keras2.output.npy          tf_keras model(x, training=False), float32 (N, ...)
  NAME.keras2.outputs.npz         multi-output models: keyed by output layer name
  NAME.keras3.output.npy / NAME.keras3.outputs.npz    the same for Keras 3
  NAME.keras2.layers.npz          every layer's output, keyed by Keras layer name, in order:
  NAME.keras3.layers.npz            the model's InputLayers (output = the input), then
        model.layers in order; right after a nested model's entry come the entries of its own
        InputLayers and layers (recursively), computed by a sub-model of the nested model fed
        with the tensor the outer model gives it at its FIRST call.  A layer called several
        times (shared Dense, shared nested model) gets the output of its FIRST call.
        seed_* store sample 0 only (batch 1, file size); the others store all N samples.
  reference_index.json            per model and framework: files (with byte sizes), input
                                  names/shapes, output names/shapes, layer keys, and the max
                                  |keras2 - keras3| of the final outputs and of every layer
                                  present in both with the same shape.

.npz files are ordinary numpy archives (zip of .npy, deflate, the same as
np.savez_compressed) but are written with a fixed zip timestamp so that re-running the
script gives byte-identical files; np.load reads them.
"""

import json
import os
import sys
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("PYTHONHASHSEED", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.experimental.enable_op_determinism()

import keras  # noqa: E402  (Keras 3)
import tf_keras  # noqa: E402  (Keras 2)
from fixture_io import log, npy_bytes, save_npy, save_npz, write_json

OUT = Path(__file__).resolve().parent / "keras"
INDEX = OUT / "reference_index.json"

# name -> (batch N, batch stored in NAME.kerasX.layers.npz (None = all N), frameworks)
MODELS = {
    "seed_sigmoid": (2, 1, ("keras2", "keras3")),
    "seed_softmax": (2, 1, ("keras2", "keras3")),
    "functional": (3, None, ("keras2", "keras3")),
    "nested": (3, None, ("keras2", "keras3")),
    "mobilenet_transfer": (2, None, ("keras2", "keras3")),
    "mlp": (3, None, ("keras2", "keras3")),
    "activations": (3, None, ("keras2", "keras3")),
    "tfop": (3, None, ("keras2",)),
}
# Per-layer files are large for the image models (one seed layer is 2.5 MB per sample), so
# only these are committed; the models' final outputs are kept for every framework.
LAYER_FILES = {
    "seed_sigmoid": ("keras2",),
    "seed_softmax": (),
    "functional": ("keras2",),
    "mobilenet_transfer": (),
}
SKIPPED = {
    "channels_first": "TensorFlow on CPU cannot run Conv2D with data_format='channels_first' "
                      "(NCHW), so there is no reference output",
}
FRAMEWORKS = {"keras2": tf_keras, "keras3": keras}
MODEL_FILE = {"keras2": "{}.h5", "keras3": "{}.keras"}


def input_seed(name):
    return zlib.crc32(name.encode("utf-8"))


# --------------------------------------------------------------------------------------
# Graph helpers (tf_keras and Keras 3)
# --------------------------------------------------------------------------------------

def is_k2(K):
    return K is tf_keras


def hist_layer(K, t):
    h = t._keras_history
    return h.layer if is_k2(K) else h.operation


def graph_nodes(K, model):
    """The set of nodes (by id) that belong to `model`'s own graph."""
    if is_k2(K):
        return None  # tf_keras: model._network_nodes holds "<layer>_ib-<index>" keys
    g = model._functional if isinstance(model, keras.Sequential) else model
    return {id(n) for nodes in g._nodes_by_depth.values() for n in nodes}


def first_call(K, model, layer, nodes):
    """(input tensors, output tensors) of the first call of `layer` inside `model`'s graph.

    A layer can hold nodes from other graphs (Keras 3 rebuilds a loaded Sequential several
    times, leaving stale nodes), so only nodes of this model's graph count."""
    for i, node in enumerate(layer._inbound_nodes):
        if is_k2(K):
            if f"{layer.name}_ib-{i}" in model._network_nodes:
                return tf.nest.flatten(node.keras_inputs), tf.nest.flatten(node.outputs)
        elif id(node) in nodes:
            return list(node.input_tensors), list(node.output_tensors)
    raise RuntimeError(f"{model.name}: layer {layer.name} has no node in the model's graph")


def call(model, xs):
    y = model(xs if len(xs) > 1 else xs[0], training=False)
    return [np.asarray(t, dtype=np.float32) for t in tf.nest.flatten(y)]


def layer_outputs(K, model, xs):
    """[(key, array)] for model's InputLayers and every layer (recursing into nested models)."""
    nodes = graph_nodes(K, model)
    entries = []  # (key, tensor) or (key, ("nested", layer, input tensors))
    seen = set()
    for t in model.inputs:
        il = hist_layer(K, t)
        entries.append((il.name, t))
        seen.add(il.name)
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            assert layer.name in seen, (model.name, layer.name)
            continue
        ins, outs = first_call(K, model, layer, nodes)
        assert len(outs) == 1, f"{model.name}: {layer.name} has {len(outs)} outputs"
        entries.append((layer.name, outs[0]))
        if isinstance(layer, K.Model):
            entries.append((layer.name + "/", ("nested", layer, ins)))

    tensors, index = [], {}
    for _, v in entries:
        vs = v[2] if isinstance(v, tuple) else [v]
        for t in vs:
            if id(t) not in index:
                index[id(t)] = len(tensors)
                tensors.append(t)
    probe = K.Model(model.inputs if len(model.inputs) > 1 else model.inputs[0], tensors)
    vals = call(probe, xs)

    result = []
    for key, v in entries:
        if isinstance(v, tuple):
            _, nested, ins = v
            result += layer_outputs(K, nested, [vals[index[id(t)]] for t in ins])
        else:
            result.append((key, vals[index[id(v)]]))
    return result


# --------------------------------------------------------------------------------------
# Per model
# --------------------------------------------------------------------------------------

def load(fw, name):
    path = str(OUT / MODEL_FILE[fw].format(name))
    if fw == "keras2":
        return tf_keras.models.load_model(path, compile=False)
    return keras.models.load_model(path, compile=False)


def io_names(K, model):
    ins = [(hist_layer(K, t).name, [None] + [int(d) for d in t.shape[1:]]) for t in model.inputs]
    outs = [(hist_layer(K, t).name, [None] + [int(d) for d in t.shape[1:]]) for t in model.outputs]
    return ins, outs


def check_stored_reference(fw, name, K, model):
    """The model as loaded must reproduce the `reference.outputs` stored in NAME.kerasX.json."""
    report = json.loads((OUT / f"{name}.{fw}.json").read_text())
    ref = report["reference"]["outputs"]
    xs = []
    for k, t in enumerate(model.inputs):
        shape = (2,) + tuple(int(d) for d in t.shape[1:])
        i = np.arange(int(np.prod(shape)), dtype=np.float64)
        xs.append((0.5 + 0.5 * np.sin(0.1 * i + k)).astype(np.float32).reshape(shape))
    got = call(model, xs)
    d = max(float(np.max(np.abs(g - np.asarray(r, dtype=np.float32)))) for g, r in zip(got, ref))
    assert d <= 1e-6, f"{name} {fw}: loaded model differs from the stored reference by {d}"
    return d


def make_inputs(name, K, model, n):
    rng = np.random.default_rng(input_seed(name))
    return [rng.random((n,) + tuple(int(d) for d in t.shape[1:]), dtype=np.float32)
            for t in model.inputs]


def max_abs_diff(a, b):
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def size(fname):
    return (OUT / fname).stat().st_size


def do_model(name):
    n, layers_batch, fws = MODELS[name]
    log(f"== {name}")
    entry = {"seed": input_seed(name), "batch": n, "layers_batch": layers_batch or n,
             "inputs_file": None, "inputs_file_bytes": None, "frameworks": {}}
    xs = None
    input_names = None
    results = {}
    for fw in fws:
        K = FRAMEWORKS[fw]
        keras.backend.clear_session()
        tf_keras.backend.clear_session()
        model = load(fw, name)
        ins, outs = io_names(K, model)
        ref_d = check_stored_reference(fw, name, K, model)
        log(f"   {fw}: stored reference reproduced (max diff {ref_d:.3g})")
        x = make_inputs(name, K, model, n)
        if xs is None:
            xs, input_names = x, [i[0] for i in ins]
            if len(xs) == 1:
                entry["inputs_file"] = f"{name}.input.npy"
                save_npy(OUT / entry["inputs_file"], xs[0])
            else:
                entry["inputs_file"] = f"{name}.inputs.npz"
                save_npz(OUT / entry["inputs_file"], dict(zip(input_names, xs)))
            entry["inputs_file_bytes"] = size(entry["inputs_file"])
        else:
            assert all(np.array_equal(a, b) for a, b in zip(x, xs))
            if len(xs) > 1:
                assert [i[0] for i in ins] == input_names, (name, ins, input_names)

        ys = call(model, xs)
        out_names = [o[0] for o in outs]
        if len(ys) == 1:
            out_file = f"{name}.{fw}.output.npy"
            save_npy(OUT / out_file, ys[0])
        else:
            out_file = f"{name}.{fw}.outputs.npz"
            assert len(set(out_names)) == len(out_names)
            save_npz(OUT / out_file, dict(zip(out_names, ys)))

        lx = [x[:layers_batch] for x in xs] if layers_batch else xs
        if layers_batch and len(xs) == 1 and fw in LAYER_FILES.get(name, ("keras2", "keras3")):
            # The per-layer file holds fewer samples than NAME.input.npy: save the inputs it was made from.
            save_npy(OUT / f"{name}.layers_input.npy", lx[0])
        louts = layer_outputs(K, model, lx)
        keys = [k for k, _ in louts]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        assert not dup, f"{name} {fw}: duplicate layer names {dup}"
        layers = dict(louts)
        # the probe's outputs of the output layers must match the model's own outputs
        for oname, y in zip(out_names, ys):
            d = max_abs_diff(layers[oname], y[: layers_batch or n])
            assert d <= 1e-6, f"{name} {fw}: layer {oname} vs model output differ by {d}"
        layers_file = f"{name}.{fw}.layers.npz"
        if fw in LAYER_FILES.get(name, ("keras2", "keras3")):
            save_npz(OUT / layers_file, layers)
        else:
            (OUT / layers_file).unlink(missing_ok=True)
            layers_file = None

        entry["frameworks"][fw] = {
            "framework": "tf_keras" if fw == "keras2" else "keras",
            "version": K.__version__,
            "model_file": MODEL_FILE[fw].format(name),
            "model_class": type(model).__name__,
            "inputs": [{"name": a, "shape": s} for a, s in ins],
            "outputs": [{"name": a, "shape": s} for a, s in outs],
            "output_file": out_file,
            "output_file_bytes": size(out_file),
            "layers_file": layers_file,
            "layers_file_bytes": size(layers_file) if layers_file else None,
            "layers": [{"name": k, "shape": list(v.shape)} for k, v in louts],
        }
        results[fw] = (out_names, ys, layers)
        log(f"   {fw}: {len(louts)} layer outputs, {out_file} {size(out_file)} B, "
            f"{layers_file} {size(layers_file) if layers_file else 0} B")

    if len(results) == 2:
        (on2, y2, l2), (on3, y3, l3) = results["keras2"], results["keras3"]
        assert on2 == on3, (on2, on3)
        per_out = {o: max_abs_diff(a, b) for o, a, b in zip(on2, y2, y3)}
        entry["max_abs_diff_keras2_keras3"] = max(per_out.values())
        entry["max_abs_diff_keras2_keras3_per_output"] = per_out
        entry["layer_max_abs_diff_keras2_keras3"] = {
            k: max_abs_diff(v, l3[k]) for k, v in l2.items()
            if k in l3 and v.shape == l3[k].shape
        }
        entry["layers_not_compared"] = {
            "keras2": [k for k in l2 if k not in l3 or l2[k].shape != l3[k].shape],
            "keras3": [k for k in l3 if k not in l2 or l2[k].shape != l3[k].shape],
        }
        log(f"   max |keras2 - keras3| of final outputs: {entry['max_abs_diff_keras2_keras3']:.3g}")
    else:
        entry["max_abs_diff_keras2_keras3"] = None
    return entry


def main(argv):
    unknown = [a for a in argv if a not in MODELS and a not in SKIPPED]
    if unknown:
        sys.exit(f"unknown model(s): {unknown}; known: {sorted(MODELS)}")
    names = [n for n in MODELS if not argv or n in argv]
    for n in argv:
        if n in SKIPPED:
            log(f"== {n}: skipped ({SKIPPED[n]})")
    index = {"models": {}}
    if argv and INDEX.exists():
        index = json.loads(INDEX.read_text())
    for name in names:
        index["models"][name] = do_model(name)
    index["models"] = {k: index["models"][k] for k in MODELS if k in index["models"]}
    header = {
        "generator": "Fixtures/make_reference_outputs.py",
        "versions": {"tensorflow": tf.__version__, "tf_keras": tf_keras.__version__,
                     "keras": keras.__version__, "numpy": np.__version__},
        "mode": "inference (training=False), float32, CPU, single thread, op determinism, oneDNN off",
        "input_rule": "np.random.default_rng(seed).random((N, ...), dtype=np.float32) for each "
                      "input in model.inputs order; seed = zlib.crc32(NAME.encode('utf-8'))",
        "layers_rule": "InputLayers, then model.layers in order; a nested model's entry is followed "
                       "by its own InputLayers and layers; shared layers/models: first call",
        "skipped": SKIPPED,
    }
    write_json(INDEX, {**header, "models": index["models"]})
    added = sorted(p for p in OUT.iterdir() if p.name == INDEX.name or any(
        p.name.endswith(s) for s in (".input.npy", ".inputs.npz", ".output.npy", ".outputs.npz",
                                     ".layers.npz")))
    total = sum(p.stat().st_size for p in added)
    for p in added:
        log(f"   {p.stat().st_size:>10}  {p.name}")
    log(f"done: {len(added)} reference files, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
