#!/usr/bin/env python3
"""Write the ONNX fixtures for `modelport check` in Fixtures/check/onnx/ (issue 10: the
binary-classifier diagnosis on ONNX / NCHW graphs must give the same findings as on Keras).

Run from the repository root:

    TF_CPP_MIN_LOG_LEVEL=2 CUDA_VISIBLE_DEVICES=-1 ~/venvs/ref/bin/python Fixtures/make_check_onnx_fixtures.py

Two Python environments are used (the script starts the second one itself):
  - ~/venvs/ref (Fixtures/requirements.txt: tensorflow-cpu, tf_keras, tf2onnx, onnx, onnxruntime)
    runs this script: part A and every onnxruntime measurement.
  - a torch venv for part B, by default ~/venvs/torch/bin/python (override with the environment
    variable MODELPORT_TORCH_PYTHON). The script re-runs itself there as
    `make_check_onnx_fixtures.py --torch-child OUT_DIR FACTS_JSON`. Set it up with
        python3.11 -m venv ~/venvs/torch
        ~/venvs/torch/bin/pip install --no-deps torch==2.13.0+cpu   # the CPU wheel in /opt/wheels (pip's
            # find-links here); PyPI's torch==2.15.0 with --no-deps does not import without the CUDA libraries
        ~/venvs/torch/bin/pip install numpy==2.4.6 onnx==1.23.2 onnxscript==0.7.2 onnxruntime==1.32.0 \
            filelock typing_extensions sympy networkx jinja2 fsspec "setuptools>=77.0.3"

No arguments: the script deletes everything in Fixtures/check/onnx/ and writes it again (under a
minute on one core). It is deterministic: a rerun gives byte-identical files.

A. tf2onnx twins of the Keras check fixtures. Each Fixtures/check/NAME.h5 (NAME in KERAS_MODELS)
   is loaded with tf_keras.models.load_model(compile=False) and converted with
   tf2onnx.convert.from_keras(opset 13, input_signature TensorSpec((None, 64, 78, 1), float32,
   name="image"), the Keras input name, as in make_onnx_fixtures.py) -> onnx/NAME.onnx.
   tf2onnx runs the convolutions in NCHW: it turns the NHWC input into NCHW with a Reshape (C = 1,
   so no Transpose is needed) and puts one Transpose (perm 0,2,3,1) back to NHWC before Flatten,
   so the MatMul kernel keeps the Keras row order. BatchNormalization nodes survive.
   onnxruntime on data_x.npy (data_x_255.npy for raw_pixels) must match tf_keras's predictions
   within 1e-5, and every ReLU's dead-channel count must equal Keras's.
B. PyTorch exports (real torch, in the torch venv). A typical user's NCHW nn.Module:
       features = Sequential(Conv2d(1,16,3,padding=1), BatchNorm2d(16), ReLU(), MaxPool2d(2),
                             Conv2d(16,32,3,padding=1), BatchNorm2d(32), ReLU(), MaxPool2d(2))
       classifier = Sequential(Linear(32*16*19, HIDDEN), ReLU(), Linear(HIDDEN, 1))   # raw logit
       forward: classifier(torch.flatten(features(x), 1))
   HIDDEN is 8 (not 32) to keep each file at ~0.3 MB. Trained with BCEWithLogitsLoss and Adam
   (lr 1e-3) on data_x_nchw.npy in class-balanced batches of 8 (the batch order of
   make_check_fixtures.py), torch.manual_seed, deterministic algorithms, one thread.
     torch_healthy    default init and BN momentum 0.1, 48 steps.
     torch_collapsed  conv biases start at -0.4 / -0.3 and BN momentum 0.001, 16 steps: the
                      running statistics stay near 0 / 1, so at inference most ReLUs are dead and
                      the 64 scores agree within 1e-3; recomputing the BN statistics from the data
                      repairs it.
   Each is exported three times (opset 17 for the TorchScript exporter, 18 for dynamo; dynamic
   batch axis "batch"; input "input", output "logit"):
     NAME.onnx         torch.onnx.export(dynamo=False, training=TrainingMode.PRESERVE,
                       do_constant_folding=False) of the eval-mode model: BatchNormalization
                       nodes are kept, initializers keep the parameter names
                       (features.1.running_mean), nodes the module paths (/features/features.0/Conv).
     NAME_folded.onnx  torch.onnx.export(dynamo=False) with its defaults (TrainingMode.EVAL,
                       constant folding): BN is folded into the Conv weights (onnx::Conv_N).
     NAME_dynamo.onnx  torch.onnx.export(dynamo=True) with its defaults (optimize=True): BN folded,
                       names like node_Conv_19, Flatten becomes Reshape. Its metadata_props
                       (stack traces holding the venv path) are removed before saving.
   data_x_nchw.npy = data_x.npy transposed to (64, 1, 64, 78).

Facts (NAME.facts.json, from onnxruntime, CPU, 1 thread, ORT_DISABLE_ALL, i.e. the literal graph):
predictions, scores (sigmoid output / p(class_b) / sigmoid(logit)), AUC (Mann-Whitney, ties 0.5),
accuracy at 0.5, op counts, nodes, initializers, layout (Conv, Transpose, Reshape/Flatten nodes),
the last 3 nodes, every Relu (output shape on the data, dead channels: channel = axis 1 of a 4-D
output, the last axis of a 2-D one; dead = max over all samples and positions <= 0), every
BatchNormalization (inputs, epsilon, per-channel batch mean and population variance of its input
over the data, and the gap to the stored statistics), and for BN-kept graphs the predictions after
recalibrating the BN statistics layer by layer (as described in Fixtures/check/README.md). The
intermediate tensors come from an in-memory copy of the model with extra graph outputs (not saved).
See Fixtures/check/README.md, section "ONNX twins".
"""

import os
import sys

# tf2onnx's optimizers iterate over sets of names (see make_onnx_fixtures.py): fix the hash seed.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import collections  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from fixture_io import log, r, save_npy, save_proto, score_stats, train_order, write_json  # noqa: E402

HERE = Path(__file__).resolve().parent
CHECK = HERE / "check"
OUT = CHECK / "onnx"
SEED = 20240611
H, W = 64, 78
KERAS_MODELS = ["collapsed", "collapsed_dead", "healthy", "bn_lag", "softmax_bce", "raw_pixels", "no_head"]
# head kind of each Keras model: how the scores are read from the output
KERAS_HEADS = {"softmax_bce": "softmax2", "no_head": "linear4"}
TF2ONNX_OPSET = 13
TORCH_OPSET = 17
DYNAMO_OPSET = 18
HIDDEN = 8
TORCH_VARIANTS = {
    "torch_healthy": {"steps": 48, "bn_momentum": 0.1, "conv_bias_init": None, "lr": 1e-3},
    "torch_collapsed": {"steps": 16, "bn_momentum": 0.001, "conv_bias_init": [-0.4, -0.3], "lr": 1e-3},
}
TORCH_EXPORTS = ["", "_folded", "_dynamo"]
ORT_TOL = 1e-5


# --------------------------------------------------------------------------------------
# Shared helpers (both interpreters)
# --------------------------------------------------------------------------------------


def auc(scores, y):
    """ROC AUC, class_b positive: Mann-Whitney U, ties count 0.5."""
    s = np.asarray(scores, np.float64).ravel()
    pos, neg = s[y == 1], s[y == 0]
    gt = (pos[:, None] > neg[None, :]).sum()
    eq = (pos[:, None] == neg[None, :]).sum()
    return float((gt + 0.5 * eq) / (len(pos) * len(neg)))


def acc(scores, y, thr=0.5):
    return float(((np.asarray(scores).ravel() >= thr).astype(np.float32) == y).mean())


def fl(a):
    """float32 array -> list of Python floats (the exact float32 values)."""
    return [float(v) for v in np.asarray(a, np.float32).ravel()]


def rows(a):
    a = np.asarray(a, np.float32)
    return fl(a) if a.ndim == 1 or a.shape[1] == 1 else [fl(row) for row in a]


def sigmoid(z):
    """float32 sigmoid, computed in float64."""
    return (1.0 / (1.0 + np.exp(-np.asarray(z, np.float64)))).astype(np.float32)


# --------------------------------------------------------------------------------------
# B. torch (runs in the torch venv: `--torch-child OUT_DIR FACTS_JSON`)
# --------------------------------------------------------------------------------------

def torch_child(out_dir, facts_path):
    import torch
    from torch import nn
    import onnx

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.use_deterministic_algorithms(True)
    out_dir = Path(out_dir)
    x = np.load(out_dir / "data_x_nchw.npy")
    assert np.array_equal(x, np.load(CHECK / "data_x.npy").transpose(0, 3, 1, 2))
    y = np.load(CHECK / "data_y.npy")
    X, Y = torch.from_numpy(x), torch.from_numpy(y)

    class Net(nn.Module):
        def __init__(self, bn_momentum):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16, momentum=bn_momentum), nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32, momentum=bn_momentum), nn.ReLU(),
                nn.MaxPool2d(2))
            self.classifier = nn.Sequential(nn.Linear(32 * (H // 4) * (W // 4), HIDDEN), nn.ReLU(),
                                            nn.Linear(HIDDEN, 1))

        def forward(self, x):
            return self.classifier(torch.flatten(self.features(x), 1))

    def bns(m):
        return [(n, mod) for n, mod in m.named_modules() if isinstance(mod, nn.BatchNorm2d)]

    def logits(m):
        with torch.no_grad():
            return m(X).numpy().ravel().astype(np.float32)

    def evaluate(z):
        p = sigmoid(z)
        return {"accuracy": r(acc(p, y)), "auc": r(auc(p, y)), "scores": score_stats(p, y)}

    facts = {"versions": {"torch": torch.__version__, "onnx": onnx.__version__,
                          "numpy": np.__version__}}
    try:
        import onnxscript
        facts["versions"]["onnxscript"] = onnxscript.__version__
    except ImportError:
        pass
    for name, cfg in TORCH_VARIANTS.items():
        log(f"== {name}")
        torch.manual_seed(SEED)
        model = Net(cfg["bn_momentum"])
        if cfg["conv_bias_init"] is not None:
            with torch.no_grad():
                model.features[0].bias.fill_(cfg["conv_bias_init"][0])
                model.features[4].bias.fill_(cfg["conv_bias_init"][1])
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
        loss_fn = nn.BCEWithLogitsLoss()
        model.train()
        for idx in train_order(y, cfg["steps"], 8, SEED):
            idx = torch.from_numpy(idx)
            opt.zero_grad()
            loss = loss_fn(model(X[idx]).squeeze(1), Y[idx])
            loss.backward()
            opt.step()
        model.eval()
        z = logits(model)
        ev = evaluate(z)
        # training mode, all 64 images as one batch (batch statistics); running stats untouched
        tm = copy.deepcopy(model)
        for _, bn in bns(tm):
            bn.track_running_stats = False
        tm.train()
        zt = logits(tm)
        # recalibration: reset the running stats, momentum None (cumulative average), one
        # training-mode forward pass over the whole data, then eval
        rc = copy.deepcopy(model)
        for _, bn in bns(rc):
            bn.reset_running_stats()
            bn.momentum = None
        rc.train()
        with torch.no_grad():
            rc(X)
        rc.eval()
        zr = logits(rc)
        f = {
            "architecture": "features = Sequential(Conv2d(1,16,3,padding=1), BatchNorm2d(16), ReLU(), "
                            "MaxPool2d(2), Conv2d(16,32,3,padding=1), BatchNorm2d(32), ReLU(), MaxPool2d(2)); "
                            f"classifier = Sequential(Linear({32 * (H // 4) * (W // 4)}, {HIDDEN}), ReLU(), "
                            f"Linear({HIDDEN}, 1)); forward = classifier(torch.flatten(features(x), 1)), "
                            "a raw logit",
            "training": {"loss": "BCEWithLogitsLoss", "optimizer": "Adam", "learning_rate": cfg["lr"],
                         "steps": cfg["steps"], "batch_size": 8, "batches": "class-balanced, the order of "
                         "make_check_fixtures.py train_order(y, steps, 8, 20240611)",
                         "bn_momentum": cfg["bn_momentum"], "bn_eps": 1e-5,
                         "conv_bias_init": cfg["conv_bias_init"], "seed": SEED},
            "torch_eval": {**ev, "logits": fl(z)},
            "torch_training_mode_full_batch": evaluate(zt),
            "torch_bn_recalibrated": {
                "definition": "each BatchNorm2d: reset_running_stats(), momentum=None, then model.train() "
                              "and one forward pass over all 64 images as one batch, then model.eval(). "
                              "running_var is torch's unbiased batch variance (N*H*W/(N*H*W-1) times the "
                              "population variance)",
                **evaluate(zr), "logits": fl(zr),
                "running_stats": {n: {"running_mean": fl(bn.running_mean.numpy()),
                                      "running_var": fl(bn.running_var.numpy())} for n, bn in bns(rc)},
            },
            "running_stats_as_saved": {n: {"running_mean": fl(bn.running_mean.numpy()),
                                           "running_var": fl(bn.running_var.numpy())}
                                       for n, bn in bns(model)},
            "exports": {},
        }
        log(f"{name}: eval acc {ev['accuracy']} auc {ev['auc']} range "
            f"{ev['scores']['all']['max_minus_min']:.3g}; recalibrated acc {f['torch_bn_recalibrated']['accuracy']}")
        example = (X[:2],)
        for suffix in TORCH_EXPORTS:
            path = out_dir / f"{name}{suffix}.onnx"
            if suffix == "_dynamo":
                prog = torch.onnx.export(model, example, dynamo=True, opset_version=DYNAMO_OPSET,
                                         input_names=["input"], output_names=["logit"],
                                         dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
                proto = prog.model_proto
                strip_metadata(proto)
                how = (f"torch.onnx.export(model.eval(), (x[:2],), dynamo=True, opset_version={DYNAMO_OPSET}, "
                       "input_names=['input'], output_names=['logit'], dynamic_shapes=({0: Dim('batch')},)) "
                       "(optimize=True by default); metadata_props removed")
            else:
                import io
                buf = io.BytesIO()
                kw = {} if suffix == "_folded" else {
                    "training": torch.onnx.TrainingMode.PRESERVE, "do_constant_folding": False}
                torch.onnx.export(model, example, buf, dynamo=False, opset_version=TORCH_OPSET,
                                  input_names=["input"], output_names=["logit"],
                                  dynamic_axes={"input": {0: "batch"}, "logit": {0: "batch"}}, **kw)
                proto = onnx.load_from_string(buf.getvalue())
                how = (f"torch.onnx.export(model.eval(), (x[:2],), f, dynamo=False, opset_version={TORCH_OPSET}, "
                       "input_names=['input'], output_names=['logit'], dynamic_axes={'input': {0: 'batch'}, "
                       "'logit': {0: 'batch'}}"
                       + (")" if suffix == "_folded" else
                          ", training=TrainingMode.PRESERVE, do_constant_folding=False)"))
            save_proto(proto, path)
            f["exports"][path.name] = how
        facts[name] = f
    write_json(Path(facts_path), facts)


def strip_metadata(proto):
    """Drop metadata_props that depend on the machine (the dynamo exporter stores stack traces
    with file paths); keep the node notes that say what the exporter did and where a node came
    from (pkg.onnxscript.rewriter.rule_name = FuseBatchNormIntoConv, name scopes)."""
    del proto.metadata_props[:]
    g = proto.graph
    del g.metadata_props[:]
    for n in g.node:
        keep = [(p.key, p.value) for p in n.metadata_props
                if "stack_trace" not in p.key and "/" not in p.value and "\\" not in p.value]
        del n.metadata_props[:]
        for k, v in keep:
            e = n.metadata_props.add()
            e.key, e.value = k, v
    for coll in (g.input, g.output, g.value_info, g.initializer):
        for v in coll:
            del v.metadata_props[:]


# --------------------------------------------------------------------------------------
# onnxruntime analysis (ref venv)
# --------------------------------------------------------------------------------------

def session(model_bytes, level=None):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = level if level is not None else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def run_with_intermediates(model, feeds, names):
    """Run an in-memory copy of `model` with the tensors `names` added as graph outputs."""
    from onnx import TensorProto, helper
    m = copy.deepcopy(model)
    have = {o.name for o in m.graph.output}
    for n in names:
        if n not in have:
            m.graph.output.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, None))
            have.add(n)
    sess = session(m.SerializeToString())
    outs = sess.run(None, feeds)
    return dict(zip([o.name for o in sess.get_outputs()], outs))


def attrs(node):
    from onnx import helper
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, (list, tuple)):
            v = list(v)
        elif hasattr(v, "dims"):  # a TensorProto (Constant value)
            continue
        out[a.name] = r(v, 9) if isinstance(v, float) else v
    return out


def dims(vi):
    out = []
    for d in vi.type.tensor_type.shape.dim:
        out.append(d.dim_value if d.HasField("dim_value") else (d.dim_param if d.HasField("dim_param") else None))
    return out


def channel_axis(a):
    return 1 if a.ndim == 4 else a.ndim - 1


def dead_of(a):
    ax = channel_axis(a)
    mx = np.moveaxis(a, ax, 0).reshape(a.shape[ax], -1).max(axis=1)
    dead = np.flatnonzero(mx <= 0)
    return {"dead": int(len(dead)), "channels": int(a.shape[ax]), "fraction": r(len(dead) / a.shape[ax]),
            "dead_channel_indices": [int(i) for i in dead]}


def bn_data_stats(a):
    """Per-channel mean and population variance of a BN input (NCHW: channel axis 1), float64."""
    a = np.asarray(a, np.float64)
    axes = tuple(i for i in range(a.ndim) if i != 1)
    return a.mean(axis=axes), a.var(axis=axes)


def scores_of(pred, head):
    """pred: the model's output (N, k). Returns the class_b scores or None."""
    if head == "sigmoid":
        return pred[:, 0]
    if head == "softmax2":
        return pred[:, 1]
    if head == "logit":
        return sigmoid(pred[:, 0])
    return None


def evaluate(pred, head, y):
    s = scores_of(pred, head)
    if s is None:
        return {"accuracy": None, "auc": None}
    out = {"accuracy": r(acc(s, y)), "auc": r(auc(s, y)), "scores": score_stats(s, y)}
    if head == "softmax2":
        cls = pred.argmax(axis=1)
        out["argmax_accuracy"] = r((cls == y).mean())
        out["predicted_class_counts"] = {"class_a": int((cls == 0).sum()), "class_b": int((cls == 1).sum())}
    return out


def describe_layout(model):
    """Where the graph input goes, the Conv nodes, Transposes, Reshape/Flatten nodes, last 3 nodes."""
    from onnx import numpy_helper
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    producers = {o: n for n in g.node for o in n.output}
    consumers = collections.defaultdict(list)
    for n in g.node:
        for i in n.input:
            consumers[i].append(n)
    outputs = {o.name for o in g.output}
    consts = {n.output[0]: n for n in g.node if n.op_type == "Constant"}

    def where(name):
        if name in producers:
            return producers[name].name
        if name in inits:
            return "initializer " + name
        return "graph input " + name

    def const_value(name):
        if name in inits:
            return numpy_helper.to_array(inits[name]).tolist()
        if name in consts:
            return numpy_helper.to_array(consts[name].attribute[0].t).tolist()
        return None

    def to(name):
        return [c.name for c in consumers[name]] + (["graph output"] if name in outputs else [])

    graph_inputs = [i for i in g.input if i.name not in inits]
    conv = [{"node": n.name, "input": n.input[0], "weight": n.input[1],
             "weight_shape_OIHW": list(inits[n.input[1]].dims) if n.input[1] in inits else None,
             "bias": n.input[2] if len(n.input) > 2 else None, **attrs(n)}
            for n in g.node if n.op_type == "Conv"]
    tr = [{"node": n.name, "perm": attrs(n).get("perm"), "input_from": where(n.input[0]), "output_to": to(n.output[0])}
          for n in g.node if n.op_type == "Transpose"]
    reshape = []
    for n in g.node:
        if n.op_type == "Reshape":
            reshape.append({"node": n.name, "op_type": "Reshape", "input_from": where(n.input[0]),
                            "shape": const_value(n.input[1]), "output_to": to(n.output[0])})
        elif n.op_type == "Flatten":
            reshape.append({"node": n.name, "op_type": "Flatten", "axis": attrs(n).get("axis", 1),
                            "input_from": where(n.input[0]), "output_to": to(n.output[0])})
    return {
        "graph_inputs": [{"name": i.name, "shape": dims(i), "consumed_by": to(i.name)} for i in graph_inputs],
        "graph_outputs": [{"name": o.name, "shape": dims(o), "produced_by": where(o.name)} for o in g.output],
        "conv_data_layout": "NCHW (ONNX Conv); weights OIHW",
        "conv_nodes": conv,
        "transposes": tr,
        "reshape_and_flatten": reshape,
        "last_3_nodes": [{"name": n.name, "op_type": n.op_type, "inputs": list(n.input), "outputs": list(n.output),
                          **({"attributes": attrs(n)} if attrs(n) else {})} for n in list(g.node)[-3:]],
    }


def analyse(path, x, y, head):
    """Everything measured with onnxruntime on one file. Returns (facts, predictions, tensors)."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
    model = onnx.load(str(path))
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    in_name = [i.name for i in g.input if i.name not in inits][0]
    out_name = g.output[0].name
    feeds = {in_name: x}
    raw = model.SerializeToString()
    pred = session(raw).run([out_name], feeds)[0]
    pred_opt = session(raw, ort.GraphOptimizationLevel.ORT_ENABLE_ALL).run([out_name], feeds)[0]
    relus = [n for n in g.node if n.op_type == "Relu"]
    bns = [n for n in g.node if n.op_type == "BatchNormalization"]
    names = [n.output[0] for n in relus] + [n.input[0] for n in bns]
    t = run_with_intermediates(model, feeds, names)
    assert np.array_equal(t[out_name], pred), path  # extra outputs change nothing
    ops = collections.Counter(n.op_type for n in g.node)
    uses = collections.Counter(i for n in g.node for i in n.input)
    relu_facts = []
    for n in relus:
        a = t[n.output[0]]
        relu_facts.append({"node": n.name, "input": n.input[0], "output": n.output[0],
                           "output_shape_on_data": list(a.shape),
                           "channel_axis": channel_axis(a), **dead_of(a)})
    bn_facts = []
    for n in bns:
        a = t[n.input[0]]
        mean, var = bn_data_stats(a)
        d = {"node": n.name, "input": n.input[0], "scale": n.input[1], "bias": n.input[2],
             "mean": n.input[3], "var": n.input[4], "output": n.output[0],
             "input_shape_on_data": list(a.shape), "layout": "NCHW", "channel_axis": 1, "channels": int(a.shape[1]),
             **attrs(n)}
        shared = sorted({i for i in n.input[1:] if uses[i] > 1})
        if shared:
            d["initializers_shared_with_other_inputs"] = {
                i: [[u.name, k] for u in g.node for k, j in enumerate(u.input) if j == i] for i in shared}
        if n.input[3] in inits and n.input[4] in inits:
            mm = numpy_helper.to_array(inits[n.input[3]]).astype(np.float64)
            mv = numpy_helper.to_array(inits[n.input[4]]).astype(np.float64)
            d["max_abs_stored_mean_minus_data_mean"] = r(np.abs(mm - mean).max(), 7)
            d["max_abs_stored_var_minus_data_var"] = r(np.abs(mv - var).max(), 7)
            d["data_var_max"] = r(var.max(), 7)
        d["data_mean"] = fl(mean)
        d["data_population_variance"] = fl(var)
        bn_facts.append(d)
    facts = {
        "file": path.name,
        "bytes": path.stat().st_size,
        "ir_version": model.ir_version,
        "opset": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}",
        "input": {"name": in_name, "shape": dims([i for i in g.input if i.name == in_name][0])},
        "output": {"name": out_name, "shape": dims(g.output[0])},
        "head": head,
        "op_counts": dict(sorted(ops.items())),
        "nodes": [[n.op_type, n.name] for n in g.node],
        "initializers": [[i.name, list(i.dims)] for i in g.initializer],
        "layout": describe_layout(model),
        "inference": {**evaluate(pred, head, y), "predictions": rows(pred),
                      "max_abs_diff_ort_enable_all": float(np.abs(pred_opt.astype(np.float64) - pred).max())},
        "relu": relu_facts,
        "batch_normalization": {"kept": bool(bns), "count": len(bns), "nodes": bn_facts},
    }
    if bns:
        facts["after_bn_recalibration"] = recalibrate(model, feeds, out_name, head, y, relus)
    return facts, pred


def recalibrate(model, feeds, out_name, head, y, relus):
    """Layer by layer (node order), each BN's mean/var initializers := the mean / population variance
    of its input over the data, the earlier BNs already recalibrated; float64 sums, stored as float32."""
    from onnx import numpy_helper
    m = copy.deepcopy(model)
    g = m.graph
    inits = {t.name for t in g.initializer}
    for n in [n for n in g.node if n.op_type == "BatchNormalization"]:
        if not (n.input[3] in inits and n.input[4] in inits):
            return {"skipped": f"{n.name}: mean/var are not initializers"}
        a = run_with_intermediates(m, feeds, [n.input[0]])[n.input[0]]
        mean, var = bn_data_stats(a)
        # new initializers of this node's own: tf2onnx may share one tensor between several inputs
        # (collapsed_dead: bn_2's bias and mean are one initializer)
        for slot, value in ((3, mean), (4, var)):
            fresh = f"{n.name}/recalibrated_{'mean' if slot == 3 else 'var'}"
            g.initializer.append(numpy_helper.from_array(value.astype(np.float32), fresh))
            n.input[slot] = fresh
    t = run_with_intermediates(m, feeds, [n.output[0] for n in relus])
    pred = t[out_name]
    return {"definition": "see Fixtures/check/README.md (BN recalibration); on this ONNX graph",
            **evaluate(pred, head, y), "predictions": rows(pred),
            "dead_channels": {n.name: dead_of(t[n.output[0]])["dead"] for n in relus}}


# --------------------------------------------------------------------------------------
# A. tf2onnx twins
# --------------------------------------------------------------------------------------

def patch_tf2onnx(tf2onnx):
    """As make_onnx_fixtures.py: sort grappler's GraphDef by node name and hash tf2onnx Nodes by name,
    so that which duplicate constant survives (and every node name) does not change between runs."""
    grappler = tf2onnx.tf_loader.tf_optimize_grappler

    def sorted_grappler(input_names, output_names, graph_def):
        graph_def = grappler(input_names, output_names, graph_def)
        nodes = sorted(graph_def.node, key=lambda n: n.name)
        del graph_def.node[:]
        graph_def.node.extend(nodes)
        return graph_def

    tf2onnx.tf_loader.tf_optimize_grappler = sorted_grappler
    tf2onnx.graph.Node.__hash__ = lambda self: hash(self.name)


def keras_layer_outputs(model, x, layers):
    import tf_keras
    sub = tf_keras.Model(model.inputs, [l.output for l in layers])
    outs = sub.predict(x, batch_size=32, verbose=0)
    return outs if isinstance(outs, list) else [outs]


def make_tf2onnx_twins(x, x255, y):
    import onnx
    import tensorflow as tf
    import tf2onnx
    import tf_keras

    tf.get_logger().setLevel("ERROR")
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    patch_tf2onnx(tf2onnx)
    versions = {"tensorflow": tf.__version__, "tf_keras": tf_keras.__version__, "tf2onnx": tf2onnx.__version__,
                "onnx": onnx.__version__}
    table = []
    for name in KERAS_MODELS:
        log(f"== {name}")
        tf_keras.backend.clear_session()
        km = tf_keras.models.load_model(str(CHECK / f"{name}.h5"), compile=False)
        spec = (tf.TensorSpec((None, H, W, 1), tf.float32, name=km.input_names[0]),)
        tf2onnx.utils.INTERNAL_NAME = 1
        proto, _ = tf2onnx.convert.from_keras(km, input_signature=spec, opset=TF2ONNX_OPSET)
        path = OUT / f"{name}.onnx"
        save_proto(proto, path)
        onnx.checker.check_model(str(path), full_check=True)

        data, data_file = (x255, "data_x_255.npy") if name == "raw_pixels" else (x, "data_x.npy")
        head = KERAS_HEADS.get(name, "sigmoid")
        kpred = km.predict(data, batch_size=32, verbose=0)
        kfacts = json.loads((CHECK / f"{name}.facts.json").read_text())
        kkey = "inference_on_0_255" if name == "raw_pixels" else "inference"
        stored = np.asarray(kfacts[kkey]["predictions"], np.float32).reshape(kpred.shape)
        assert np.abs(kpred - stored).max() <= 1e-6, name

        facts, pred = analyse(path, data, y, head)
        diff = float(np.abs(pred.astype(np.float64) - kpred).max())
        assert diff <= ORT_TOL, (name, diff)

        # Keras's view of the same tensors: conv_i (ReLU inside) and the BN inputs (= conv_i output)
        convs = [l for l in km.layers if isinstance(l, tf_keras.layers.Conv2D)]
        kout = keras_layer_outputs(km, data, convs)
        keras_dead = {}
        for conv, o in zip(convs, kout):
            mx = o.reshape(-1, o.shape[-1]).max(axis=0)
            keras_dead[conv.name] = int((mx <= 0).sum())
        ort_dead = {rf["node"].split("/")[-2]: rf["dead"] for rf in facts["relu"]}
        assert ort_dead == keras_dead, (name, ort_dead, keras_dead)
        stat_gap = 0.0
        for bnf, o in zip(facts["batch_normalization"]["nodes"], kout):
            km_mean, km_var = o.reshape(-1, o.shape[-1]).astype(np.float64).mean(0), \
                o.reshape(-1, o.shape[-1]).astype(np.float64).var(0)
            stat_gap = max(stat_gap, float(np.abs(np.asarray(bnf["data_mean"]) - km_mean).max()),
                           float(np.abs(np.asarray(bnf["data_population_variance"]) - km_var).max()))
        kev = evaluate(kpred, head, y)
        out = {
            "model": f"{name}.onnx",
            "source": f"check/{name}.h5",
            "converter": f"tf2onnx.convert.from_keras(tf_keras.models.load_model(h5, compile=False), "
                         f"input_signature=(TensorSpec((None, {H}, {W}, 1), float32, name='{km.input_names[0]}'),), "
                         f"opset={TF2ONNX_OPSET})",
            "versions": versions,
            "data": data_file + " (NHWC, as the Keras model takes it)",
            **facts,
            "keras": {"accuracy": kev["accuracy"], "auc": kev["auc"], "dead_channels": keras_dead},
            "max_abs_diff_vs_keras": diff,
            "max_abs_diff_bn_data_stats_vs_keras": stat_gap,
        }
        rec = kfacts.get("after_bn_recalibration")
        if rec is not None and "accuracy" in rec:
            out["keras_after_bn_recalibration"] = {"accuracy": rec["accuracy"], "auc": rec["auc"]}
            if "predictions" in rec:
                out["after_bn_recalibration"]["max_abs_diff_vs_keras"] = float(
                    np.abs(np.asarray(out["after_bn_recalibration"]["predictions"], np.float64)
                           - np.asarray(rec["predictions"], np.float64)).max())
        if name == "raw_pixels":
            f01, p01 = analyse(path, x, y, head)
            out["inference_on_0_1"] = {k: f01["inference"][k] for k in ("accuracy", "auc", "scores")}
            out["inference_on_0_1"]["data"] = "data_x.npy"
        write_json(OUT / f"{name}.facts.json", out)
        table.append(summary_row(out))
        log(f"{name}: {out['bytes']} bytes, diff vs keras {diff:.2g}, ops {out['op_counts']}, "
            f"dead {[(rf['node'], rf['dead']) for rf in out['relu']]}, acc {out['inference']['accuracy']} "
            f"auc {out['inference']['auc']}")
    return table


# --------------------------------------------------------------------------------------
# B. the torch files, measured here
# --------------------------------------------------------------------------------------

def torch_python():
    p = os.environ.get("MODELPORT_TORCH_PYTHON", str(Path.home() / "venvs" / "torch" / "bin" / "python"))
    if not Path(p).exists():
        sys.exit(f"no torch interpreter at {p}: set up the torch venv (see the header of this script) "
                 "or set MODELPORT_TORCH_PYTHON")
    return p


def make_torch_files(x_nchw, y):
    import onnx
    with tempfile.TemporaryDirectory() as tmp:
        facts_path = Path(tmp) / "torch_facts.json"
        env = dict(os.environ, PYTHONHASHSEED="0", CUDA_VISIBLE_DEVICES="-1")
        subprocess.run([torch_python(), str(Path(__file__).resolve()), "--torch-child", str(OUT), str(facts_path)],
                       check=True, env=env)
        tfacts = json.loads(facts_path.read_text())
    table = []
    for name in TORCH_VARIANTS:
        tf_ = tfacts[name]
        torch_logits = np.asarray(tf_["torch_eval"]["logits"], np.float32)
        for suffix in TORCH_EXPORTS:
            path = OUT / f"{name}{suffix}.onnx"
            onnx.checker.check_model(str(path), full_check=True)
            facts, pred = analyse(path, x_nchw, y, "logit")
            diff = float(np.abs(pred[:, 0].astype(np.float64) - torch_logits).max())
            assert diff <= ORT_TOL, (path.name, diff)
            out = {
                "model": path.name,
                "source": "torch (Fixtures/make_check_onnx_fixtures.py, part B)",
                "exporter": tf_["exports"][path.name],
                "versions": tfacts["versions"],
                "data": "data_x_nchw.npy",
                **facts,
                "scores_are": "sigmoid(logit), computed in float64 and rounded to float32",
                "max_abs_diff_vs_torch": diff,
                "torch": {k: v for k, v in tf_.items() if k != "exports"},
            }
            out["inference"]["sigmoid_scores"] = fl(sigmoid(pred[:, 0]))
            if "after_bn_recalibration" not in out:
                out["after_bn_recalibration"] = {"skipped": "no BatchNormalization nodes (folded into Conv)"}
            write_json(OUT / f"{path.stem}.facts.json", out)
            table.append(summary_row(out))
            log(f"{path.name}: {out['bytes']} bytes, diff vs torch {diff:.2g}, ops {out['op_counts']}, "
                f"dead {[(rf['node'], rf['dead']) for rf in out['relu']]}, acc {out['inference']['accuracy']} "
                f"auc {out['inference']['auc']}")
    return table


def summary_row(f):
    return {"file": f["model"], "bytes": f["bytes"], "bn_kept": f["batch_normalization"]["kept"],
            "diff": f.get("max_abs_diff_vs_keras", f.get("max_abs_diff_vs_torch")),
            "dead": [f"{rf['dead']}/{rf['channels']}" for rf in f["relu"]],
            "acc": f["inference"]["accuracy"], "auc": f["inference"]["auc"],
            "recal": (f["after_bn_recalibration"].get("accuracy"), f["after_bn_recalibration"].get("auc"))
            if "after_bn_recalibration" in f else None}


def main(argv):
    if argv[:1] == ["--torch-child"]:
        return torch_child(argv[1], argv[2])
    if argv:
        sys.exit("usage: make_check_onnx_fixtures.py   (no arguments; rewrites Fixtures/check/onnx/)")
    t0 = time.time()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    x = np.load(CHECK / "data_x.npy")
    x255 = np.load(CHECK / "data_x_255.npy")
    y = np.load(CHECK / "data_y.npy")
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    save_npy(OUT / "data_x_nchw.npy", x_nchw)
    table = make_tf2onnx_twins(x, x255, y)
    table += make_torch_files(x_nchw, y)
    for row in table:
        log(json.dumps(row))
    files = sorted(p for p in OUT.iterdir() if p.is_file())
    total = sum(p.stat().st_size for p in files)
    log(f"done: {len(files)} files, {total / 1e6:.2f} MB in {OUT} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
