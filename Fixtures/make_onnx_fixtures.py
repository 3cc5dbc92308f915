#!/usr/bin/env python3
"""Write the ONNX fixtures in Fixtures/onnx/ (ModelPort's ONNX importer and engine tests).

    TF_CPP_MIN_LOG_LEVEL=2 CUDA_VISIBLE_DEVICES=-1 ~/venvs/ref/bin/python Fixtures/make_onnx_fixtures.py

No arguments: the script deletes everything in Fixtures/onnx/ and writes it again. A rerun
gives byte-identical files.

1. tf2onnx conversions (the approach of Benchmarks/convert_to_onnx.py): each committed tf_keras
   model Fixtures/keras/NAME.h5 (NAME in CONVERTED) is loaded with tf_keras (compile=False) and
   converted with tf2onnx.convert.from_keras, input_signature = TensorSpec((None, ...), name =
   Keras input name), at opset 13 and opset 17 -> onnx/NAME.opset13.onnx, onnx/NAME.opset17.onnx.
   mobilenet_transfer is left out: it would add about 3.2 MB (1.6 MB per opset).
   Each file passes onnx.checker.check_model(path, full_check=True). onnxruntime runs it on the
   committed inputs (keras/NAME.input.npy or keras/NAME.inputs.npz); the result is compared with
   the committed Keras 2 outputs (keras/NAME.keras2.output.npy / .outputs.npz).
   - onnx/NAME.inputs.npz: the committed inputs keyed by ONNX input name (the opset 13 and 17
     files have the same input names).
   - onnx/NAME.opsetN.expected.npz: onnxruntime's outputs keyed by ONNX output name.
2. Hand-built graphs (onnx.helper), in the style torch.onnx emits: torch_cnn (opset 17),
   torch_mlp (opset 13), old_opset (opset 9, IR 3, attribute forms), external_data (opset 17,
   initializers in external_data.bin). Each has NAME.inputs.npz and NAME.expected.npz.
3. Broken models in onnx/bad/ for error tests (not checked, onnxruntime is expected to refuse
   them; the script verifies that it does).
4. onnx/index.json describes every file (see Fixtures/README.md).

Expected outputs come from onnxruntime on the CPU, single-threaded, with graph optimizations
off (ORT_DISABLE_ALL), so they are the literal evaluation of the stored graph. index.json also
gives the max abs difference to a run with ORT_ENABLE_ALL.

.npz files are ordinary numpy archives (zip of .npy members, deflated, as np.savez_compressed
writes them) with a fixed zip timestamp, so that reruns are byte-identical.
"""

import os
import sys

# tf2onnx's optimizers iterate over sets of names, so which Transposes survive (and the node
# names) depend on Python's string hash seed. The seed is fixed at interpreter start, so restart
# this script under PYTHONHASHSEED=0 (exec replaces the process; no second process runs).
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import collections
import shutil
from pathlib import Path

# tf.keras must be tf_keras (Keras 2): tf2onnx traces tf.keras models, and the .h5 files are Keras 2.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from fixture_io import log, seed_of, npy_bytes, save_npz, write_json, save_proto

HERE = Path(__file__).resolve().parent
KERAS = HERE / "keras"
OUT = HERE / "onnx"
BAD = OUT / "bad"
INDEX = OUT / "index.json"

CONVERTED = ["seed_sigmoid", "mlp", "nested", "functional", "tfop"]
OPSETS = [13, 17]
FLOAT = TensorProto.FLOAT


# --------------------------------------------------------------------------------------
# Paths (the writers are in fixture_io.py)
# --------------------------------------------------------------------------------------


def rel(path):
    return Path(path).resolve().relative_to(OUT).as_posix()


def size(path):
    return Path(path).stat().st_size


# --------------------------------------------------------------------------------------
# Describing a model
# --------------------------------------------------------------------------------------

def dims(vi):
    out = []
    for d in vi.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(d.dim_value)
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def dtype_name(vi):
    return TensorProto.DataType.Name(vi.type.tensor_type.elem_type).lower()


def describe(model, path):
    g = model.graph
    inits = {t.name for t in g.initializer}
    producers = {}
    consumers = collections.defaultdict(list)
    for n in g.node:
        for o in n.output:
            producers[o] = n
        for i in n.input:
            consumers[i].append(n)

    def where(name):
        if name in producers:
            return producers[name].op_type
        if name in inits:
            return "initializer"
        return "graph input " + name

    transposes = []
    for n in g.node:
        if n.op_type != "Transpose":
            continue
        perm = next((list(helper.get_attribute_value(a)) for a in n.attribute if a.name == "perm"), None)
        transposes.append({
            "node": n.name, "perm": perm, "input_from": where(n.input[0]),
            "output_to": sorted({c.op_type for c in consumers[n.output[0]]}
                                | ({"graph output"} if n.output[0] in {o.name for o in g.output} else set())),
        })
    ops = collections.Counter(n.op_type for n in g.node)
    return {
        "file": rel(path),
        "bytes": size(path),
        "ir_version": model.ir_version,
        "opset": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        "producer_name": model.producer_name,
        "producer_version": model.producer_version,
        "inputs": [{"name": i.name, "shape": dims(i), "dtype": dtype_name(i)}
                   for i in g.input if i.name not in inits],
        "initializers_listed_as_inputs": [i.name for i in g.input if i.name in inits],
        "outputs": [{"name": o.name, "shape": dims(o), "dtype": dtype_name(o)} for o in g.output],
        "nodes": len(g.node),
        "initializers": len(g.initializer),
        "ops": dict(sorted(ops.items())),
        "op_sequence": [n.op_type for n in g.node],
        "transposes": transposes,
    }


# --------------------------------------------------------------------------------------
# onnxruntime
# --------------------------------------------------------------------------------------

def session(path, level):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = level
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run_ort(path, feeds):
    """Returns ({output name: array} without graph optimizations, max abs diff to ORT_ENABLE_ALL)."""
    outs = {}
    for level in (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
        sess = session(path, level)
        names = [o.name for o in sess.get_outputs()]
        outs[level] = dict(zip(names, sess.run(None, feeds)))
    plain = outs[ort.GraphOptimizationLevel.ORT_DISABLE_ALL]
    opt = outs[ort.GraphOptimizationLevel.ORT_ENABLE_ALL]
    return plain, max_abs_diff(plain, opt)


def max_abs_diff(a, b):
    """a, b: {name: array}; max over all outputs (None on a shape mismatch)."""
    m = 0.0
    for k in a:
        x, y = np.asarray(a[k], np.float64), np.asarray(b[k], np.float64)
        if x.shape != y.shape:
            return None
        if x.size:
            m = max(m, float(np.max(np.abs(x - y))))
    return m


def check(path):
    onnx.checker.check_model(str(path), full_check=True)


# --------------------------------------------------------------------------------------
# 1. tf2onnx conversions
# --------------------------------------------------------------------------------------

def convert_all(names):
    import tensorflow as tf
    import tf2onnx
    import tf_keras

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    # Grappler (run by tf2onnx before converting) returns the TF graph's nodes in an order that
    # changes from run to run; tf2onnx keeps the first of two duplicate nodes/constants, so the
    # ONNX names would change too. Sort the optimized GraphDef by node name.
    grappler = tf2onnx.tf_loader.tf_optimize_grappler

    def sorted_grappler(input_names, output_names, graph_def):
        graph_def = grappler(input_names, output_names, graph_def)
        nodes = sorted(graph_def.node, key=lambda n: n.name)
        del graph_def.node[:]
        graph_def.node.extend(nodes)
        return graph_def

    tf2onnx.tf_loader.tf_optimize_grappler = sorted_grappler
    # tf2onnx's optimizers also put Node objects in sets (e.g. the transpose optimizer's
    # `set(node.inputs)`); their default hash is the object's address, which changes the node
    # order and so which duplicate survives. Hash nodes by name (a Node's name is read-only).
    tf2onnx.graph.Node.__hash__ = lambda self: hash(self.name)
    versions = {"tensorflow": tf.__version__, "tf_keras": tf_keras.__version__, "tf2onnx": tf2onnx.__version__}
    entries = {}
    for name in names:
        model = tf_keras.models.load_model(str(KERAS / f"{name}.h5"), compile=False)
        keras_inputs = list(model.input_names)
        keras_outputs = list(model.output_names)
        spec = tuple(tf.TensorSpec((None,) + tuple(t.shape[1:]), t.dtype, name=n)
                     for t, n in zip(model.inputs, keras_inputs))

        # Committed inputs and Keras 2 outputs.
        if (KERAS / f"{name}.input.npy").exists():
            keras_inputs_file = f"keras/{name}.input.npy"
            xs = {keras_inputs[0]: np.load(KERAS / f"{name}.input.npy")}
        else:
            keras_inputs_file = f"keras/{name}.inputs.npz"
            with np.load(KERAS / f"{name}.inputs.npz") as z:
                xs = {k: z[k] for k in z.keys()}
        assert sorted(xs) == sorted(keras_inputs), (name, list(xs), keras_inputs)
        if (KERAS / f"{name}.keras2.output.npy").exists():
            keras_outputs_file = f"keras/{name}.keras2.output.npy"
            ys = {keras_outputs[0]: np.load(KERAS / f"{name}.keras2.output.npy")}
        else:
            keras_outputs_file = f"keras/{name}.keras2.outputs.npz"
            with np.load(KERAS / f"{name}.keras2.outputs.npz") as z:
                ys = {k: z[k] for k in z.keys()}
        assert sorted(ys) == sorted(keras_outputs), (name, list(ys), keras_outputs)

        entry = {"kind": "tf2onnx", "source": f"keras/{name}.h5", "keras_inputs_file": keras_inputs_file,
                 "keras_outputs_file": keras_outputs_file, "versions": versions, "opsets": {}}
        input_map = output_map = None
        for opset in OPSETS:
            # tf2onnx numbers the names it makes (`unk__N` batch dims, `Transpose__N` nodes) with a
            # process-wide counter; restart it so that each file does not depend on what ran before.
            tf2onnx.utils.INTERNAL_NAME = 1
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
            path = OUT / f"{name}.opset{opset}.onnx"
            save_proto(proto, path)
            check(path)
            proto = onnx.load(str(path))
            g = proto.graph
            onnx_in = [i.name for i in g.input if i.name not in {t.name for t in g.initializer}]
            onnx_out = [o.name for o in g.output]
            # tf2onnx keeps the order of the input signature and of model.outputs.
            imap = dict(zip(keras_inputs, onnx_in))
            omap = dict(zip(keras_outputs, onnx_out))
            assert len(onnx_in) == len(keras_inputs) and len(onnx_out) == len(keras_outputs), name
            if input_map is None:
                input_map, output_map = imap, omap
            assert (imap, omap) == (input_map, output_map), (name, imap, input_map, omap, output_map)
            feeds = {imap[k]: xs[k] for k in keras_inputs}
            got, opt_diff = run_ort(path, feeds)
            per_output = {}
            for k in keras_outputs:
                per_output[k] = max_abs_diff({k: got[omap[k]]}, {k: ys[k]})
            exp_path = OUT / f"{name}.opset{opset}.expected.npz"
            save_npz(exp_path, {n: got[n] for n in onnx_out})
            d = describe(proto, path)
            d.update({
                "expected_file": rel(exp_path),
                "max_abs_diff_vs_keras2": max(v for v in per_output.values()),
                "max_abs_diff_vs_keras2_per_output": per_output,
                "max_abs_diff_ort_optimized": opt_diff,
            })
            entry["opsets"][str(opset)] = d
            log(f"{name} opset {opset}: {d['bytes']} bytes, {d['nodes']} nodes, "
                f"diff vs keras2 {d['max_abs_diff_vs_keras2']:.3e}, ops {d['ops']}")
        entry["input_name_map"] = input_map
        entry["output_name_map"] = output_map
        onnx_feeds = {input_map[k]: xs[k] for k in keras_inputs}
        if list(onnx_feeds) != list(xs) or keras_inputs_file.endswith(".npy"):
            save_npz(OUT / f"{name}.inputs.npz", onnx_feeds)
            entry["inputs_file"] = f"{name}.inputs.npz"
        else:
            entry["inputs_file"] = "../" + keras_inputs_file
        entries[name] = entry
        tf_keras.backend.clear_session()
    return entries


# --------------------------------------------------------------------------------------
# 2. Hand-built graphs
# --------------------------------------------------------------------------------------

def init(name, a):
    return numpy_helper.from_array(np.asarray(a), name)


def const_node(out, value, name):
    return helper.make_node("Constant", [], [out], name=name, value=numpy_helper.from_array(np.asarray(value), out))


def weights(rng, shape, scale):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def finish(model, name, feeds, extra=None, run_checker=True, subdir=OUT):
    """Saves model as NAME.onnx (unless already saved), checks, runs, writes inputs/expected."""
    path = subdir / f"{name}.onnx"
    if not path.exists():
        save_proto(model, path)
    if run_checker:
        check(path)
    got, opt_diff = run_ort(path, feeds)
    save_npz(OUT / f"{name}.inputs.npz", feeds)
    save_npz(OUT / f"{name}.expected.npz", got)
    d = describe(onnx.load(str(path), load_external_data=False), path)
    d.update({"kind": "hand-built", "inputs_file": f"{name}.inputs.npz", "expected_file": f"{name}.expected.npz",
              "max_abs_diff_ort_optimized": opt_diff})
    if extra:
        d.update(extra)
    log(f"{name}: {d['bytes']} bytes, ops {d['ops']}, outputs "
        + ", ".join(f"{k} {list(v.shape)}" for k, v in got.items()))
    return d


def torch_cnn():
    """Conv -> Relu -> MaxPool -> depthwise Conv -> BN -> Clip(0, 6) -> GAP -> view(N, -1) -> Linear -> Softmax."""
    name = "torch_cnn"
    rng = np.random.default_rng(seed_of(name))
    inits = [
        init("conv1.weight", weights(rng, (8, 3, 3, 3), 0.3)),
        init("conv1.bias", weights(rng, (8,), 0.1)),
        init("dw.weight", weights(rng, (8, 1, 3, 3), 0.3)),
        init("bn.weight", (1.0 + weights(rng, (8,), 0.1))),
        init("bn.bias", weights(rng, (8,), 0.1)),
        init("bn.running_mean", weights(rng, (8,), 0.1)),
        init("bn.running_var", (0.5 + rng.random(8)).astype(np.float32)),
        init("fc.weight", weights(rng, (2, 8), 2.0)),
        init("fc.bias", weights(rng, (2,), 0.1)),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["/conv1/Conv_output_0"], name="/conv1/Conv",
                         dilations=[1, 1], group=1, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["/conv1/Conv_output_0"], ["/relu/Relu_output_0"], name="/relu/Relu"),
        helper.make_node("MaxPool", ["/relu/Relu_output_0"], ["/pool/MaxPool_output_0"], name="/pool/MaxPool",
                         ceil_mode=0, kernel_shape=[2, 2], pads=[0, 0, 0, 0], strides=[2, 2]),
        helper.make_node("Conv", ["/pool/MaxPool_output_0", "dw.weight"], ["/dw/Conv_output_0"], name="/dw/Conv",
                         dilations=[1, 1], group=8, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("BatchNormalization",
                         ["/dw/Conv_output_0", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"],
                         ["/bn/BatchNormalization_output_0"], name="/bn/BatchNormalization",
                         epsilon=1e-5, momentum=0.9),
        const_node("/act/Constant_output_0", np.array(0.0, np.float32), "/act/Constant"),
        const_node("/act/Constant_1_output_0", np.array(6.0, np.float32), "/act/Constant_1"),
        helper.make_node("Clip", ["/bn/BatchNormalization_output_0", "/act/Constant_output_0",
                                  "/act/Constant_1_output_0"], ["/act/Clip_output_0"], name="/act/Clip"),
        helper.make_node("GlobalAveragePool", ["/act/Clip_output_0"], ["/gap/GlobalAveragePool_output_0"],
                         name="/gap/GlobalAveragePool"),
        # x.view(x.size(0), -1)
        helper.make_node("Shape", ["/gap/GlobalAveragePool_output_0"], ["/Shape_output_0"], name="/Shape"),
        const_node("/Constant_output_0", np.array(0, np.int64), "/Constant"),
        helper.make_node("Gather", ["/Shape_output_0", "/Constant_output_0"], ["/Gather_output_0"], name="/Gather",
                         axis=0),
        const_node("/Constant_1_output_0", np.array([0], np.int64), "/Constant_1"),
        helper.make_node("Unsqueeze", ["/Gather_output_0", "/Constant_1_output_0"], ["/Unsqueeze_output_0"],
                         name="/Unsqueeze"),
        const_node("/Constant_2_output_0", np.array([-1], np.int64), "/Constant_2"),
        helper.make_node("Concat", ["/Unsqueeze_output_0", "/Constant_2_output_0"], ["/Concat_output_0"],
                         name="/Concat", axis=0),
        helper.make_node("Reshape", ["/gap/GlobalAveragePool_output_0", "/Concat_output_0"], ["/Reshape_output_0"],
                         name="/Reshape", allowzero=0),
        helper.make_node("Gemm", ["/Reshape_output_0", "fc.weight", "fc.bias"], ["/fc/Gemm_output_0"], name="/fc/Gemm",
                         alpha=1.0, beta=1.0, transB=1),
        helper.make_node("Softmax", ["/fc/Gemm_output_0"], ["probs"], name="/Softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "main_graph",
        [helper.make_tensor_value_info("input", FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("probs", FLOAT, ["batch", 2])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                              producer_name="pytorch", producer_version="2.1.0")
    feeds = {"input": rng.random((3, 3, 16, 16), dtype=np.float32)}
    return finish(model, name, feeds)


def torch_mlp():
    """Flatten -> Linear(10, 16) -> ReLU -> Linear(16, 1) -> Sigmoid, opset 13."""
    name = "torch_mlp"
    rng = np.random.default_rng(seed_of(name))
    inits = [
        init("fc1.weight", weights(rng, (16, 10), 0.3)),
        init("fc1.bias", weights(rng, (16,), 0.1)),
        init("fc2.weight", weights(rng, (1, 16), 0.3)),
        init("fc2.bias", weights(rng, (1,), 0.1)),
    ]
    nodes = [
        helper.make_node("Flatten", ["input"], ["/flatten/Flatten_output_0"], name="/flatten/Flatten", axis=1),
        helper.make_node("Gemm", ["/flatten/Flatten_output_0", "fc1.weight", "fc1.bias"], ["/fc1/Gemm_output_0"],
                         name="/fc1/Gemm", alpha=1.0, beta=1.0, transB=1),
        helper.make_node("Relu", ["/fc1/Gemm_output_0"], ["/relu/Relu_output_0"], name="/relu/Relu"),
        helper.make_node("Gemm", ["/relu/Relu_output_0", "fc2.weight", "fc2.bias"], ["/fc2/Gemm_output_0"],
                         name="/fc2/Gemm", alpha=1.0, beta=1.0, transB=1),
        helper.make_node("Sigmoid", ["/fc2/Gemm_output_0"], ["output"], name="/sigmoid/Sigmoid"),
    ]
    graph = helper.make_graph(
        nodes, "main_graph",
        [helper.make_tensor_value_info("input", FLOAT, ["batch_size", 10])],
        [helper.make_tensor_value_info("output", FLOAT, ["batch_size", 1])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7,
                              producer_name="pytorch", producer_version="1.13.1")
    feeds = {"input": rng.standard_normal((3, 10)).astype(np.float32)}
    return finish(model, name, feeds)


def old_opset():
    """Opset 9, IR 3 (initializers also listed as graph inputs, as old torch.onnx exports did).

    Upsample(scales input, nearest) -> Pad(pads/value attributes) -> Clip(min/max attributes)
    -> Slice(starts/ends/axes attributes) -> MaxPool -> GlobalAveragePool -> Squeeze(axes attr)
    -> Gemm(C required) -> Dropout(ratio attr, 2 outputs) -> Softmax(default axis 1) -> `probs`;
    Unsqueeze(axes attr) of probs -> `probs3d`; Reshape(Clip output, shape [0, -1]) -> `flat`.
    """
    name = "old_opset"
    rng = np.random.default_rng(seed_of(name))
    w = weights(rng, (3, 4), 0.5)
    b = weights(rng, (4,), 0.1)
    inits = [
        init("scales", np.array([1.0, 1.0, 2.0, 2.0], np.float32)),
        init("fc.weight", w),
        init("fc.bias", b),
        init("shape", np.array([0, -1], np.int64)),
    ]
    nodes = [
        helper.make_node("Upsample", ["x", "scales"], ["up"], name="Upsample_0", mode="nearest"),
        helper.make_node("Pad", ["up"], ["pad"], name="Pad_1", mode="constant", pads=[0, 0, 1, 0, 0, 0, 0, 1],
                         value=0.25),
        helper.make_node("Clip", ["pad"], ["clip"], name="Clip_2", min=0.1, max=0.7),
        helper.make_node("Slice", ["clip"], ["slice"], name="Slice_3", axes=[2, 3], starts=[1, 0], ends=[100, -1]),
        helper.make_node("MaxPool", ["slice"], ["pool"], name="MaxPool_4", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["pool"], ["gap"], name="GlobalAveragePool_5"),
        helper.make_node("Squeeze", ["gap"], ["sq"], name="Squeeze_6", axes=[2, 3]),
        helper.make_node("Gemm", ["sq", "fc.weight", "fc.bias"], ["fc"], name="Gemm_7", alpha=1.0, beta=1.0),
        helper.make_node("Dropout", ["fc"], ["drop", "drop_mask"], name="Dropout_8", ratio=0.3),
        helper.make_node("Softmax", ["drop"], ["probs"], name="Softmax_9"),
        helper.make_node("Unsqueeze", ["probs"], ["probs3d"], name="Unsqueeze_10", axes=[1]),
        helper.make_node("Reshape", ["clip", "shape"], ["flat"], name="Reshape_11"),
    ]
    graph_inputs = [helper.make_tensor_value_info("x", FLOAT, [2, 3, 4, 4])]
    graph_inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
    graph = helper.make_graph(
        nodes, "torch-jit-export", graph_inputs,
        [helper.make_tensor_value_info("probs", FLOAT, [2, 4]),
         helper.make_tensor_value_info("probs3d", FLOAT, [2, 1, 4]),
         helper.make_tensor_value_info("flat", FLOAT, [2, 3 * 9 * 9])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], ir_version=3,
                              producer_name="pytorch", producer_version="1.1")
    feeds = {"x": rng.random((2, 3, 4, 4), dtype=np.float32)}
    return finish(model, name, feeds)


def external_data():
    """MatMul(4 -> 3) + Add + Relu; both initializers in external_data.bin (offsets 0 and 48)."""
    name = "external_data"
    rng = np.random.default_rng(seed_of(name))
    inits = [init("W", weights(rng, (4, 3), 0.5)), init("b", 0.5 + weights(rng, (3,), 0.1))]
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["mm"], name="matmul"),
        helper.make_node("Add", ["mm", "b"], ["add"], name="add"),
        helper.make_node("Relu", ["add"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(nodes, "external_data",
                              [helper.make_tensor_value_info("x", FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", FLOAT, ["N", 3])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                              producer_name="modelport-fixtures")
    path = OUT / f"{name}.onnx"
    data = OUT / "external_data.bin"
    if data.exists():
        data.unlink()  # onnx appends to an existing data file
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="external_data.bin", size_threshold=0, convert_attribute=False)
    data.chmod(0o644)  # onnx creates it 0600
    stored = onnx.load(str(path), load_external_data=False)
    locations = {t.name: {e.key: e.value for e in t.external_data} for t in stored.graph.initializer}
    assert all(t.data_location == TensorProto.EXTERNAL for t in stored.graph.initializer)
    feeds = {"x": rng.standard_normal((3, 4)).astype(np.float32)}
    return finish(model, name, feeds, extra={"external_data_file": "external_data.bin",
                                             "external_data_bytes": size(data),
                                             "external_data": locations})


# --------------------------------------------------------------------------------------
# 3. Broken models
# --------------------------------------------------------------------------------------

def tiny_graph(nodes, inits=(), name="bad", in_shape=(1, 4), out_name="y"):
    return helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", FLOAT, list(in_shape))],
                             [helper.make_tensor_value_info(out_name, FLOAT, list(in_shape))],
                             initializer=list(inits))


def model17(graph, opset=17):
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8,
                             producer_name="modelport-fixtures")


def external_init(name, location, length):
    t = TensorProto()
    t.name = name
    t.data_type = FLOAT
    t.dims.extend([length // 4])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def bad_models():
    add_b = [helper.make_node("Add", ["x", "b"], ["y"], name="add")]
    cases = {
        "escaping_external": (
            model17(tiny_graph(add_b, [external_init("b", "../../secret.bin", 16)])),
            "initializer `b` has data_location EXTERNAL with location `../../secret.bin`, which leaves "
            "the model's folder; an importer must refuse it without opening the path"),
        "missing_external": (
            model17(tiny_graph(add_b, [external_init("b", "missing_external.bin", 16)])),
            "initializer `b` is stored in `missing_external.bin` (same folder), which does not exist"),
        "unknown_op": (
            model17(tiny_graph([helper.make_node("FooBar", ["x"], ["y"], name="foo", alpha=1.0)])),
            "node `foo` has op_type `FooBar` in the default domain, which is not an ONNX operator"),
        "cycle": (
            model17(tiny_graph([helper.make_node("Add", ["x", "b_out"], ["a_out"], name="a"),
                                helper.make_node("Relu", ["a_out"], ["b_out"], name="b"),
                                helper.make_node("Identity", ["b_out"], ["y"], name="out")])),
            "nodes `a` (Add(x, b_out) -> a_out) and `b` (Relu(a_out) -> b_out) feed each other"),
        "undefined_input": (
            model17(tiny_graph([helper.make_node("Add", ["x", "nowhere"], ["y"], name="add")])),
            "node `add` reads `nowhere`, which is no graph input, initializer or node output"),
        "future_opset": (
            model17(tiny_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")]), opset=99),
            "opset_import has the default domain at version 99"),
    }
    entries = {}
    for name, (model, why) in cases.items():
        path = BAD / f"{name}.onnx"
        save_proto(model, path)
        errors = {}
        try:
            check(path)
            errors["onnx_checker"] = None
        except Exception as e:  # noqa: BLE001
            errors["onnx_checker"] = type(e).__name__
        try:
            session(path, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
            errors["onnxruntime"] = None
        except Exception as e:  # noqa: BLE001
            errors["onnxruntime"] = type(e).__name__
            log(f"bad/{name}: onnxruntime: {str(e).splitlines()[0][:300]}")
        assert errors["onnxruntime"] is not None, f"onnxruntime accepted bad/{name}.onnx"
        d = describe(model, path)
        d.update({"kind": "bad", "problem": why, "rejected_by": errors})
        entries["bad/" + name] = d
        log(f"bad/{name}: {d['bytes']} bytes, checker {errors['onnx_checker']}, onnxruntime {errors['onnxruntime']}")
    return entries


# --------------------------------------------------------------------------------------

def main(argv):
    if argv:
        sys.exit("usage: make_onnx_fixtures.py   (no arguments; rewrites Fixtures/onnx/ but ops/)")
    # onnx/ops/ belongs to make_onnx_op_fixtures.py.
    if OUT.exists():
        for entry in OUT.iterdir():
            if entry.name == "ops":
                continue
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    BAD.mkdir(parents=True, exist_ok=True)
    index = {
        "generator": "Fixtures/make_onnx_fixtures.py",
        "versions": {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "numpy": np.__version__},
        "expected_outputs": "onnxruntime CPUExecutionProvider, 1 thread, ORT_DISABLE_ALL",
        "models": {},
    }
    index["models"].update(convert_all(CONVERTED))
    index["models"]["torch_cnn"] = torch_cnn()
    index["models"]["torch_mlp"] = torch_mlp()
    index["models"]["old_opset"] = old_opset()
    index["models"]["external_data"] = external_data()
    index["models"].update(bad_models())
    write_json(INDEX, index)
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    log(f"wrote {sum(1 for p in OUT.rglob('*') if p.is_file())} files, {total} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
