#!/usr/bin/env python3
"""Write the single-operator ONNX fixtures in Fixtures/onnx/ops/ (ModelPort's ONNX op tests).

    ~/venvs/ref/bin/python Fixtures/make_onnx_op_fixtures.py

No arguments: the script deletes everything in Fixtures/onnx/ops/ and writes it again. A rerun
gives byte-identical files. make_onnx_fixtures.py deletes all of Fixtures/onnx/, ops/ included,
so run this script after it.

Each case NAME is a graph of one or two nodes, built with onnx.helper, in the style of an
exported model: weights, shapes, axes, scales, pads and roi are initializers (apart from the
cases that say otherwise). Opset 18 (IR 8), or opset 19 (IR 9) where the case needs it. Every
graph input is float32 with a fully static shape, apart from reshape_dynamic_batch's `N`. Every
graph output is float32 by design (integer and bool results are cast back to float in the graph).

- ops/NAME.onnx: passes onnx.checker.check_model(path, full_check=True).
- ops/NAME.inputs.npz: float32 inputs keyed by graph input name, drawn from
  np.random.default_rng(zlib.crc32(NAME)) in graph input order (a few cases pick values by hand
  on top, see each case).
- ops/NAME.expected.npz: every graph output, keyed by graph output name, from onnxruntime on the
  CPU, single-threaded, graph optimizations off (ORT_DISABLE_ALL), so the stored graph is
  evaluated as written.
- ops/index.json describes every case: nodes with their attributes, initializers (values when
  small), input/output shapes, the max abs diff of onnxruntime with ORT_ENABLE_ALL, and the max
  abs diff of onnx.reference.ReferenceEvaluator (only a cross-check; nothing stored comes from it).

.npz files are ordinary numpy archives (zip of .npy members, deflated, as np.savez_compressed
writes them) with a fixed zip timestamp, so that reruns are byte-identical.
"""

import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from fixture_io import log, seed_of, npy_bytes, save_npz, write_json, save_proto

HERE = Path(__file__).resolve().parent
OUT = HERE / "onnx" / "ops"
INDEX = OUT / "index.json"

FLOAT = TensorProto.FLOAT
IR_FOR_OPSET = {18: 8, 19: 9}
MAX_FOLDER_BYTES = 200 * 1024


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


def run_ort(path, feeds, level):
    sess = session(path, level)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds)))


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


# --------------------------------------------------------------------------------------
# Describing a model
# --------------------------------------------------------------------------------------

def dims(vi):
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim]


def f32_value(x):
    """The stored float32 as the shortest decimal that reads back as it (0.2, not 0.20000000298...)."""
    return float(str(np.float32(x)))


def attr_value(a):
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, (list, tuple)):
        return [x.decode("utf-8") if isinstance(x, bytes) else x for x in v]
    if isinstance(v, float):
        return f32_value(v)
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v).tolist()
    return v


def describe(model, path):
    g = model.graph
    inits = []
    for t in g.initializer:
        a = numpy_helper.to_array(t)
        e = {"name": t.name, "dtype": TensorProto.DataType.Name(t.data_type).lower(), "shape": list(a.shape)}
        if a.size <= 8:
            e["values"] = [f32_value(x) if a.dtype.kind == "f" else int(x) for x in a.reshape(-1)]
        inits.append(e)
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "ir_version": model.ir_version,
        "opset": model.opset_import[0].version,
        "inputs": [{"name": i.name, "shape": dims(i)} for i in g.input],
        "outputs": [{"name": o.name, "shape": dims(o)} for o in g.output],
        "initializers": inits,
        "nodes": [{"op_type": n.op_type, "name": n.name, "inputs": list(n.input), "outputs": list(n.output),
                   "attributes": {a.name: attr_value(a) for a in n.attribute}} for n in g.node],
    }


# --------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------

def init(name, a):
    return numpy_helper.from_array(np.asarray(a), name)


def i64(*v):
    return np.array(v, np.int64)


def f32(*v):
    return np.array(v, np.float32)


def vi(name, shape):
    return helper.make_tensor_value_info(name, FLOAT, list(shape))


def model_of(name, nodes, inputs, outputs, inits=(), opset=18):
    graph = helper.make_graph(nodes, name, [vi(n, s) for n, s in inputs], [vi(n, s) for n, s in outputs],
                              initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=IR_FOR_OPSET[opset], producer_name="modelport-fixtures")


def normal(rng, shape, scale=1.0, offset=0.0):
    return (rng.standard_normal(shape) * scale + offset).astype(np.float32)


def uniform(rng, shape):
    return rng.random(shape, dtype=np.float32)


def resize(name, x_shape, out_shape, rng, roi=None, scales=None, sizes=None, **attrs):
    """Resize(X, roi, scales, sizes) with the given ones as initializers and the others as ''."""
    inits, ins = [], ["X"]
    for key, value, dt in (("roi", roi, np.float32), ("scales", scales, np.float32), ("sizes", sizes, np.int64)):
        if value is None:
            ins.append("")
        else:
            inits.append(init(key, np.array(value, dt)))
            ins.append(key)
    while ins[-1] == "":
        ins.pop()
    node = helper.make_node("Resize", ins, ["Y"], name="resize", **attrs)
    return (model_of(name, [node], [("X", x_shape)], [("Y", out_shape)], inits),
            {"X": uniform(rng, x_shape)})


# --------------------------------------------------------------------------------------
# Cases. Each returns (model, feeds); feeds are float32, keyed by graph input name.
# --------------------------------------------------------------------------------------

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


@case
def resize_cubic_antialias(rng):
    """Downscale 8x8 -> 5x3 (sizes), cubic, antialias, half_pixel, a -0.5, exclude_outside."""
    return resize("resize_cubic_antialias", [1, 2, 8, 8], [1, 2, 5, 3], rng, sizes=[1, 2, 5, 3],
                  mode="cubic", antialias=1, coordinate_transformation_mode="half_pixel",
                  cubic_coeff_a=-0.5, exclude_outside=1)


@case
def resize_linear_align_corners(rng):
    """scales [1,1,1.5,0.6] on 4x5 -> 6x3, linear, align_corners. Whole output lengths on purpose:
    where input * scale is fractional (1.7 on 4 = 6.8), onnx.reference and the node tests use 6.8
    as length_resized and onnxruntime uses 6 -- they differ by up to 0.34."""
    return resize("resize_linear_align_corners", [1, 1, 4, 5], [1, 1, 6, 3], rng, scales=[1, 1, 1.5, 0.6],
                  mode="linear", coordinate_transformation_mode="align_corners")


@case
def resize_nearest_ceil_asymmetric(rng):
    """scales [1,1,2.5,1.5] on 5x4 -> 12x6, nearest, asymmetric, round_prefer_ceil."""
    return resize("resize_nearest_ceil_asymmetric", [1, 3, 5, 4], [1, 3, 12, 6], rng, scales=[1, 1, 2.5, 1.5],
                  mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="round_prefer_ceil")


@case
def resize_crop(rng):
    """tf_crop_and_resize, linear, roi H 0.2..0.9, W 0.3..1.2 (W extrapolates: 10.0), 5x5 -> 6x6."""
    return resize("resize_crop", [1, 1, 5, 5], [1, 1, 6, 6], rng, roi=[0, 0, 0.2, 0.3, 1, 1, 0.9, 1.2],
                  sizes=[1, 1, 6, 6], mode="linear", coordinate_transformation_mode="tf_crop_and_resize",
                  extrapolation_value=10.0)


@case
def resize_axes_not_larger(rng):
    """axes [2,3], sizes [7,9], not_larger: scale min(7/4, 9/6) = 1.5 -> 4x6 -> 6x9, linear, half_pixel."""
    return resize("resize_axes_not_larger", [1, 2, 4, 6], [1, 2, 6, 9], rng, sizes=[7, 9], axes=[2, 3],
                  keep_aspect_ratio_policy="not_larger", mode="linear", coordinate_transformation_mode="half_pixel")


def pad(name, rng, mode, pads, out_shape, value=None, opset=18):
    inits = [init("pads", i64(*pads))]
    ins = ["X", "pads"]
    if value is not None:
        inits.append(init("constant_value", np.array(value, np.float32)))
        ins.append("constant_value")
    node = helper.make_node("Pad", ins, ["Y"], name="pad", mode=mode)
    return (model_of(name, [node], [("X", [2, 3, 4])], [("Y", out_shape)], inits, opset=opset),
            {"X": normal(rng, [2, 3, 4])})


@case
def pad_reflect(rng):
    """Pad [2,3,4] by begin [0,1,2] end [1,2,1] -> [3,6,7], reflect."""
    return pad("pad_reflect", rng, "reflect", [0, 1, 2, 1, 2, 1], [3, 6, 7])


@case
def pad_edge(rng):
    """Pad [2,3,4] by begin [0,1,2] end [1,2,1] -> [3,6,7], edge."""
    return pad("pad_edge", rng, "edge", [0, 1, 2, 1, 2, 1], [3, 6, 7])


@case
def pad_wrap(rng):
    """Pad [2,3,4] by begin [0,1,2] end [1,2,1] -> [3,6,7], wrap (opset 19)."""
    return pad("pad_wrap", rng, "wrap", [0, 1, 2, 1, 2, 1], [3, 6, 7], opset=19)


@case
def pad_negative(rng):
    """Constant pad [2,3,4] by begin [0,-1,1] end [0,2,-1] -> [2,4,4], value 1.5 (negative = crop)."""
    return pad("pad_negative", rng, "constant", [0, -1, 1, 0, 2, -1], [2, 4, 4], value=1.5)


@case
def slice_steps(rng):
    """X[6,5,4][5:-1:-2 (= 5,3,1), :, 1:4:2] -> [3,5,2]: starts [-1,1] ends [-7,5] axes [0,2] steps [-2,2]."""
    inits = [init("starts", i64(-1, 1)), init("ends", i64(-7, 5)), init("axes", i64(0, 2)),
             init("steps", i64(-2, 2))]
    node = helper.make_node("Slice", ["X", "starts", "ends", "axes", "steps"], ["Y"], name="slice")
    return (model_of("slice_steps", [node], [("X", [6, 5, 4])], [("Y", [3, 5, 2])], inits),
            {"X": normal(rng, [6, 5, 4])})


@case
def split_axis0(rng):
    """Split X[5,3] on axis 0 into [2,3] (split initializer) -> Y0 [2,3], Y1 [3,3]."""
    node = helper.make_node("Split", ["X", "split"], ["Y0", "Y1"], name="split", axis=0)
    return (model_of("split_axis0", [node], [("X", [5, 3])], [("Y0", [2, 3]), ("Y1", [3, 3])],
                     [init("split", i64(2, 3))]),
            {"X": normal(rng, [5, 3])})


@case
def gather_axis1(rng):
    """Gather X[3,5,2] on axis 1 with int64 indices [[4,0],[-1,2]] -> [3,2,2,2]."""
    node = helper.make_node("Gather", ["X", "indices"], ["Y"], name="gather", axis=1)
    return (model_of("gather_axis1", [node], [("X", [3, 5, 2])], [("Y", [3, 2, 2, 2])],
                     [init("indices", np.array([[4, 0], [-1, 2]], np.int64))]),
            {"X": normal(rng, [3, 5, 2])})


@case
def expand(rng):
    """Expand X[3,1] to shape [2,3,4] (initializer)."""
    node = helper.make_node("Expand", ["X", "shape"], ["Y"], name="expand")
    return (model_of("expand", [node], [("X", [3, 1])], [("Y", [2, 3, 4])], [init("shape", i64(2, 3, 4))]),
            {"X": normal(rng, [3, 1])})


@case
def matmul_batched(rng):
    """MatMul A[2,3,4] x B[2,4,5] -> [2,3,5]; both are graph inputs."""
    node = helper.make_node("MatMul", ["A", "B"], ["Y"], name="matmul")
    return (model_of("matmul_batched", [node], [("A", [2, 3, 4]), ("B", [2, 4, 5])], [("Y", [2, 3, 5])]),
            {"A": normal(rng, [2, 3, 4]), "B": normal(rng, [2, 4, 5])})


@case
def matmul_1d(rng):
    """MatMul A[4] x B[4,3] (initializer) -> [3] (the 1-D operand's axis is dropped)."""
    node = helper.make_node("MatMul", ["A", "B"], ["Y"], name="matmul")
    return (model_of("matmul_1d", [node], [("A", [4])], [("Y", [3])], [init("B", normal(rng, [4, 3], 0.5))]),
            {"A": normal(rng, [4])})


@case
def gemm_general(rng):
    """Gemm 0.5 * A' B' + 2 C: A[4,3] input (transA), B[5,4] initializer (transB), C[3,5] -> [3,5]."""
    inits = [init("B", normal(rng, [5, 4], 0.5)), init("C", normal(rng, [3, 5], 0.5))]
    node = helper.make_node("Gemm", ["A", "B", "C"], ["Y"], name="gemm", transA=1, transB=1, alpha=0.5, beta=2.0)
    return (model_of("gemm_general", [node], [("A", [4, 3])], [("Y", [3, 5])], inits),
            {"A": normal(rng, [4, 3])})


@case
def maxpool_dilated(rng):
    """MaxPool X[1,2,9,9] kernel 3x3 dilations 2 strides [2,1] pads 1 -> [1,2,4,7].

    X = N(0,1) - 2, so most windows are all negative: padding must not count as 0.
    """
    node = helper.make_node("MaxPool", ["X"], ["Y"], name="maxpool", kernel_shape=[3, 3], dilations=[2, 2],
                            strides=[2, 1], pads=[1, 1, 1, 1])
    return (model_of("maxpool_dilated", [node], [("X", [1, 2, 9, 9])], [("Y", [1, 2, 4, 7])]),
            {"X": normal(rng, [1, 2, 9, 9], 1.0, -2.0)})


@case
def avgpool_3d(rng):
    """AveragePool X[1,2,5,5,5] kernel 3x3x3 strides 2 pads 1 count_include_pad 1 -> [1,2,3,3,3]."""
    node = helper.make_node("AveragePool", ["X"], ["Y"], name="avgpool", kernel_shape=[3, 3, 3], strides=[2, 2, 2],
                            pads=[1, 1, 1, 1, 1, 1], count_include_pad=1)
    return (model_of("avgpool_3d", [node], [("X", [1, 2, 5, 5, 5])], [("Y", [1, 2, 3, 3, 3])]),
            {"X": (uniform(rng, [1, 2, 5, 5, 5]) + np.float32(1.0))})


@case
def avgpool_dilated_ceil(rng):
    """AveragePool X[1,1,8,8] kernel 2x2 dilations 2 strides 3 ceil_mode 1 -> [1,1,3,3] (opset 19).

    The last window (start 6) reaches index 8, past the edge; X in [1, 2).
    """
    node = helper.make_node("AveragePool", ["X"], ["Y"], name="avgpool", kernel_shape=[2, 2], dilations=[2, 2],
                            strides=[3, 3], ceil_mode=1)
    return (model_of("avgpool_dilated_ceil", [node], [("X", [1, 1, 8, 8])], [("Y", [1, 1, 3, 3])], opset=19),
            {"X": (uniform(rng, [1, 1, 8, 8]) + np.float32(1.0))})


@case
def cast_chain(rng):
    """X[4,6] -> Cast(float16) -> Cast(float) = via_float16;
    Cast(X * 3.7, int32) -> Cast(float) = via_int32 (truncates toward 0);
    Cast(X, bool) -> Cast(float) = via_bool.

    The first 16 values are picked by hand (0, -0, float16 rounding and subnormals, 65504, values
    whose product with 3.7 truncates across 0); the other 8 are N(0, 3).
    """
    nodes = [
        helper.make_node("Cast", ["X"], ["x_f16"], name="to_float16", to=TensorProto.FLOAT16),
        helper.make_node("Cast", ["x_f16"], ["via_float16"], name="from_float16", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["X", "k"], ["x_k"], name="mul"),
        helper.make_node("Cast", ["x_k"], ["x_i32"], name="to_int32", to=TensorProto.INT32),
        helper.make_node("Cast", ["x_i32"], ["via_int32"], name="from_int32", to=TensorProto.FLOAT),
        helper.make_node("Cast", ["X"], ["x_bool"], name="to_bool", to=TensorProto.BOOL),
        helper.make_node("Cast", ["x_bool"], ["via_bool"], name="from_bool", to=TensorProto.FLOAT),
    ]
    picked = f32(0.0, -0.0, 1.0, -1.0, 0.5, 2049.0, 1000.3, -1000.3,
                 3.14159, 1e-7, -3e-6, 65504.0, -0.2, 0.27, -2.5, 123.456)
    x = np.concatenate([picked, normal(rng, [8], 3.0)]).reshape(4, 6)
    shape = [4, 6]
    return (model_of("cast_chain", nodes, [("X", shape)],
                     [("via_float16", shape), ("via_int32", shape), ("via_bool", shape)],
                     [init("k", np.array(3.7, np.float32))]),
            {"X": x})


@case
def layernorm_stats(rng):
    """LayerNormalization X[2,3,4] axis 1 epsilon 1e-3, scale/bias [3,4] -> Y, Mean [2,1,1], InvStdDev [2,1,1]."""
    inits = [init("scale", normal(rng, [3, 4], 0.5, 1.0)), init("bias", normal(rng, [3, 4], 0.5))]
    node = helper.make_node("LayerNormalization", ["X", "scale", "bias"], ["Y", "Mean", "InvStdDev"],
                            name="layernorm", axis=1, epsilon=1e-3)
    return (model_of("layernorm_stats", [node], [("X", [2, 3, 4])],
                     [("Y", [2, 3, 4]), ("Mean", [2, 1, 1]), ("InvStdDev", [2, 1, 1])], inits),
            {"X": normal(rng, [2, 3, 4], 2.0, 1.0)})


@case
def selu_params(rng):
    """Selu alpha 2.0 gamma 0.5 on X[3,4] = linspace(-3, 3, 12) in a shuffled order."""
    node = helper.make_node("Selu", ["X"], ["Y"], name="selu", alpha=2.0, gamma=0.5)
    x = rng.permutation(np.linspace(-3.0, 3.0, 12)).astype(np.float32).reshape(3, 4)
    return model_of("selu_params", [node], [("X", [3, 4])], [("Y", [3, 4])]), {"X": x}


@case
def prelu_full(rng):
    """PRelu X[3,4], slope [3,4] initializer: slope[i][j] = 0.1 (i+1) + 0.01 j (rows differ)."""
    slope = (0.1 * (np.arange(3)[:, None] + 1) + 0.01 * np.arange(4)[None, :]).astype(np.float32)
    node = helper.make_node("PRelu", ["X", "slope"], ["Y"], name="prelu")
    x = normal(rng, [3, 4])
    x[:, ::2] = -np.abs(x[:, ::2])  # every row has negative values
    x[:, 1::2] = np.abs(x[:, 1::2])
    return model_of("prelu_full", [node], [("X", [3, 4])], [("Y", [3, 4])], [init("slope", slope)]), {"X": x}


@case
def conv_weights_as_input(rng):
    """Conv X[1,2,6,6] with W[3,2,3,3] a second graph input, B[3] initializer, pads 1 -> [1,3,6,6]."""
    node = helper.make_node("Conv", ["X", "W", "B"], ["Y"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    return (model_of("conv_weights_as_input", [node], [("X", [1, 2, 6, 6]), ("W", [3, 2, 3, 3])],
                     [("Y", [1, 3, 6, 6])], [init("B", normal(rng, [3], 0.1))]),
            {"X": normal(rng, [1, 2, 6, 6]), "W": normal(rng, [3, 2, 3, 3], 0.3)})


@case
def convtranspose_3d(rng):
    """ConvTranspose X[1,2,3,4,3], W[2,3,2,3,2], B[3], strides [2,1,2], dilations [1,2,1],
    pads [1,0,1,0,2,0], output_padding [1,0,0] -> [1,3,6,6,5]."""
    node = helper.make_node("ConvTranspose", ["X", "W", "B"], ["Y"], name="deconv3d", strides=[2, 1, 2], dilations=[1, 2, 1],
                            pads=[1, 0, 1, 0, 2, 0], output_padding=[1, 0, 0])
    return (model_of("convtranspose_3d", [node], [("X", [1, 2, 3, 4, 3])], [("Y", [1, 3, 6, 6, 5])],
                     [init("W", normal(rng, [2, 3, 2, 3, 2], 0.3)), init("B", normal(rng, [3], 0.1))]),
            {"X": normal(rng, [1, 2, 3, 4, 3])})


@case
def logic_and_index(rng):
    """X, Y [3,5]: Where(Greater(X, Y), X, Y), ArgMax(X, axis 1, select_last_index 1) as float,
    Tile(X, [2,1]), Mod(X, 0.7, fmod 1), Mod(int(10 X), -3) (integer, the divisor's sign), Sin(X)
    -> six outputs. (onnxruntime takes fmod 0 on floats only from opset 28.)"""
    nodes = [
        helper.make_node("Greater", ["X", "Y"], ["gt"], name="greater"),
        helper.make_node("Where", ["gt", "X", "Y"], ["Max"], name="where"),
        helper.make_node("ArgMax", ["X"], ["am"], name="argmax", axis=1, keepdims=0, select_last_index=1),
        helper.make_node("Cast", ["am"], ["ArgMax"], name="cast", to=FLOAT),
        helper.make_node("Tile", ["X", "repeats"], ["Tiled"], name="tile"),
        helper.make_node("Mod", ["X", "d"], ["Fmod"], name="fmod", fmod=1),
        helper.make_node("Mul", ["X", "ten"], ["x10"], name="scale"),
        helper.make_node("Cast", ["x10"], ["xi"], name="to_int", to=TensorProto.INT32),
        helper.make_node("Mod", ["xi", "nd"], ["pm"], name="pymod", fmod=0),
        helper.make_node("Cast", ["pm"], ["PyMod"], name="pymod_float", to=FLOAT),
        helper.make_node("Sin", ["X"], ["Sine"], name="sin"),
    ]
    x = normal(rng, [3, 5], 2.0)
    x[1, 3] = x[1, 1]  # a tie, for select_last_index
    return (model_of("logic_and_index", nodes, [("X", [3, 5]), ("Y", [3, 5])],
                     [("Max", [3, 5]), ("ArgMax", [3]), ("Tiled", [6, 5]), ("Fmod", [3, 5]), ("PyMod", [3, 5]), ("Sine", [3, 5])],
                     [init("repeats", i64(2, 1)), init("d", np.array(0.7, np.float32)), init("nd", np.array(-3, np.int32)), init("ten", np.array(10, np.float32))]),
            {"X": x, "Y": normal(rng, [3, 5], 2.0)})


@case
def maxpool_indices(rng):
    """MaxPool X[2,2,5,6] kernel [2,3] strides 2 pads [1,0,0,1], storage_order 1 (column-major
    indices), Indices cast to float -> Y, Indices [2,2,3,3]."""
    nodes = [
        helper.make_node("MaxPool", ["X"], ["Y", "I"], name="maxpool", kernel_shape=[2, 3], strides=[2, 2], pads=[1, 0, 0, 1],
                         storage_order=1),
        helper.make_node("Cast", ["I"], ["Indices"], name="cast", to=FLOAT),
    ]
    return (model_of("maxpool_indices", nodes, [("X", [2, 2, 5, 6])], [("Y", [2, 2, 3, 3]), ("Indices", [2, 2, 3, 3])]),
            {"X": normal(rng, [2, 2, 5, 6])})


@case
def convtranspose_grouped(rng):
    """ConvTranspose X[1,4,3,3], W[4,3,3,3] (group 2: 6 output channels), B[6], strides 2, pads 1 -> [1,6,5,5]."""
    node = helper.make_node("ConvTranspose", ["X", "W", "B"], ["Y"], name="deconv", group=2, strides=[2, 2], pads=[1, 1, 1, 1])
    return (model_of("convtranspose_grouped", [node], [("X", [1, 4, 3, 3])], [("Y", [1, 6, 5, 5])],
                     [init("W", normal(rng, [4, 3, 3, 3], 0.3)), init("B", normal(rng, [6], 0.1))]),
            {"X": normal(rng, [1, 4, 3, 3])})


@case
def batch_shape_as_data(rng):
    """X[N,5,4] (N = 3 in the inputs): torch's dynamic-shape helpers. Shape(X) cast to float as an
    output; ConstantOfShape(Concat(Shape(X)[0:1], [2])) filled with 1.5 (a batch-sized constant);
    Expand of a [1,4] row to Where(Equal(Concat(N, 5, -1), -1), [1,1,1], Concat(N, 5, -1))
    (torch's expand(-1) pattern); Transpose perm [1,0,2] (moving the batch axis)."""
    nodes = [
        helper.make_node("Shape", ["X"], ["s"], name="shape"),
        helper.make_node("Cast", ["s"], ["ShapeF"], name="shape_float", to=FLOAT),
        helper.make_node("Slice", ["s", "zero", "one"], ["n"], name="batch"),
        helper.make_node("Concat", ["n", "two"], ["ns"], name="fill_shape", axis=0),
        helper.make_node("ConstantOfShape", ["ns"], ["Filled"], name="fill",
                         value=numpy_helper.from_array(np.array([1.5], np.float32))),
        helper.make_node("Concat", ["n", "five", "minus_one"], ["target"], name="target", axis=0),
        helper.make_node("Equal", ["target", "minus_ones"], ["is_free"], name="is_free"),
        helper.make_node("Where", ["is_free", "ones", "target"], ["expand_shape"], name="expand_shape"),
        helper.make_node("Expand", ["row", "expand_shape"], ["Expanded"], name="expand"),
        helper.make_node("Transpose", ["X"], ["SeqFirst"], name="seq_first", perm=[1, 0, 2]),
    ]
    inits = [init("zero", i64(0)), init("one", i64(1)), init("two", i64(2)), init("five", i64(5)),
             init("minus_one", i64(-1)), init("minus_ones", i64(-1, -1, -1)), init("ones", i64(1, 1, 1)),
             init("row", np.array([[0.5, -1.0, 2.0, 3.5]], np.float32))]
    return (model_of("batch_shape_as_data", nodes, [("X", ["N", 5, 4])],
                     [("ShapeF", [3]), ("Filled", ["N", 2]), ("Expanded", ["N", 5, 4]), ("SeqFirst", [5, "N", 4])], inits),
            {"X": normal(rng, [3, 5, 4])})


@case
def reshape_dynamic_batch(rng):
    """X[N,2,3] (N a dim_param; 4 in inputs) -> Reshape [0,3,2] -> ReduceSum axes [2] keepdims 0 -> [N,3]."""
    nodes = [
        helper.make_node("Reshape", ["X", "shape"], ["r"], name="reshape"),
        helper.make_node("ReduceSum", ["r", "axes"], ["Y"], name="reducesum", keepdims=0),
    ]
    return (model_of("reshape_dynamic_batch", nodes, [("X", ["N", 2, 3])], [("Y", ["N", 3])],
                     [init("shape", i64(0, 3, 2)), init("axes", i64(2))]),
            {"X": normal(rng, [4, 2, 3])})


# Where onnx.reference disagrees with onnxruntime (checked by hand against the ONNX spec formulas).
REFERENCE_NOTES = {
    "convtranspose_grouped": "onnx.reference's ConvTranspose fails on group > 1 (a reshape error); "
                             "onnxruntime's output is what the test compares against.",
    "pad_negative": "onnx.reference passes the negative pads to np.pad, which refuses them. A numpy "
                    "pad-then-crop gives exactly onnxruntime's result.",
}


# --------------------------------------------------------------------------------------

def build(name):
    rng = np.random.default_rng(seed_of(name))
    model, feeds = CASES[name](rng)
    path = OUT / f"{name}.onnx"
    save_proto(model, path)
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    g = model.graph
    assert [i.name for i in g.input] == list(feeds), (name, list(feeds))
    for i in g.input:
        a = feeds[i.name]
        assert a.dtype == np.float32 and i.type.tensor_type.elem_type == FLOAT, (name, i.name)
        assert len(dims(i)) == a.ndim and all(d == n for d, n in zip(dims(i), a.shape) if isinstance(d, int)), \
            (name, i.name, dims(i), a.shape)
    got = run_ort(path, feeds, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    opt = run_ort(path, feeds, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    assert list(got) == [o.name for o in g.output], name
    batch = {d: feeds[i.name].shape[k] for i in g.input for k, d in enumerate(dims(i)) if isinstance(d, str)}
    for o in g.output:
        want = tuple(batch[d] if isinstance(d, str) else d for d in dims(o))
        assert got[o.name].dtype == np.float32 and got[o.name].shape == want, (name, o.name, got[o.name].shape)
        assert np.all(np.isfinite(got[o.name])), (name, o.name)
    try:  # a cross-check only
        ref_diff = max_abs_diff(got, dict(zip(got, ReferenceEvaluator(model).run(None, feeds))))
        ref_error = None
    except Exception as e:  # noqa: BLE001
        ref_diff, ref_error = None, f"{type(e).__name__}: {e}"
    save_npz(OUT / f"{name}.inputs.npz", feeds)
    save_npz(OUT / f"{name}.expected.npz", got)
    d = describe(model, path)
    d.update({
        "about": " ".join(CASES[name].__doc__.split()),
        "seed": seed_of(name),
        "inputs_file": f"{name}.inputs.npz",
        "expected_file": f"{name}.expected.npz",
        "max_abs_diff_ort_optimized": max_abs_diff(got, opt),
        "max_abs_diff_onnx_reference": ref_diff,
    })
    if ref_error:
        d["onnx_reference_error"] = ref_error
    if name in REFERENCE_NOTES:
        d["onnx_reference_note"] = REFERENCE_NOTES[name]
    log(f"{name}: opset {d['opset']}, {d['bytes']} bytes; inputs "
        + ", ".join(f"{k} {list(v.shape)}" for k, v in feeds.items()) + "; outputs "
        + ", ".join(f"{k} {list(v.shape)}" for k, v in got.items())
        + f"; vs optimized {d['max_abs_diff_ort_optimized']:.2g}, vs reference {ref_diff if ref_error is None else ref_error}")
    return d


def main(argv):
    if argv:
        sys.exit("usage: make_onnx_op_fixtures.py   (no arguments; rewrites all of Fixtures/onnx/ops/)")
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    index = {
        "generator": "Fixtures/make_onnx_op_fixtures.py",
        "versions": {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "numpy": np.__version__},
        "expected_outputs": "onnxruntime CPUExecutionProvider, 1 thread, ORT_DISABLE_ALL",
        "models": {name: build(name) for name in CASES},
    }
    write_json(INDEX, index)
    files = sorted(p for p in OUT.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    assert total < MAX_FOLDER_BYTES, total
    log(f"wrote {len(files)} files, {total} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
