#!/usr/bin/env python3
"""Layout fixtures: LayerNormalization over every axis list, raw pixels through augmentation
and resizing before Rescaling, and sequence (batch, steps, features) layouts: Dense per time step,
Conv1D / MaxPooling1D, GlobalAveragePooling1D channels_first.  Made with the real tf_keras (Keras 2)
and Keras 3.

Run from the repository root, with the venv described in Fixtures/requirements.txt:

    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2 \
        CUDA_VISIBLE_DEVICES=-1 ~/venvs/ref/bin/python Fixtures/make_layout_fixtures.py

The script takes no arguments.  It deletes Fixtures/layout/ and writes it again.  A rerun gives
byte-identical .h5, .npy, .npz and .json files; the .keras zips differ where Keras 3 writes the
time (metadata.json date_saved, zip timestamps) and its Python object ids (config.json
shared_object_id), as in Fixtures/keras/.  TensorFlow runs on
the CPU, single-threaded, with op determinism on and oneDNN off.  Reference data is computed from
the SAVED files (load_model, compile=False), never from the models in memory.

A. LayerNormalization (NAME in LN_CASES: input shape without batch, axis, scale, center)

   ln_axis1 (6,5) 1; ln_axis_m2 (6,5) -2; ln_axis12 (6,5) [1,2]; ln_r4_axis1 (4,6,5) 1;
   ln_r4_axis2 (4,6,5) 2; ln_r4_axis13 (4,6,5) [1,3]; ln_r4_axis23 (4,6,5) [2,3];
   ln_r4_last (4,6,5) -1; ln_noscale (6,5) 1 scale=False; ln_nocenter (6,5) 1 center=False.

   Model (Functional, both frameworks): Input(shape, name="x") -> LayerNormalization(axis,
   epsilon=1e-3, name="ln") -> Flatten(name="flat") -> Dense(1, sigmoid, name="out").
   Weights from rng = np.random.default_rng(seed_of(NAME)), drawn in this order:
   ln/gamma U(0.5, 1.5) (if scale), ln/beta N(0, 0.3) (if center), out/kernel
   U(-l, l) with l = sqrt(6 / (fan_in + 1)) (Glorot uniform); out/bias = 0.1; then the input.
   gamma / beta have the shape of the normalised axes (e.g. (4, 5) for axis [1, 3]).

   NAME.h5             tf_keras model.save(), compiled with tf_keras.optimizers.SGD(0.1), BCE
   NAME.keras          Keras 3 model.save(), same weights, compiled with keras SGD(0.1), BCE
   NAME.input.npy      float32 (3, *shape) = rng.normal(1.0, 2.0) (mean and scale both matter)
   NAME.layers.npz     "ln" and "out": those layers' outputs on the input, training=False, from
                       the loaded .h5 (Keras 3's, from the loaded .keras, are compared in index.json)
   NAME.batch.npz      x = the input, y = [[0], [1], [1]] float32
   NAME.grads.npz      d loss / d w for every trainable weight keyed "LAYER/ROLE" (ROLE =
                       weight.name.split('/')[-1].split(':')[0]: ln/gamma, ln/beta, out/kernel,
                       out/bias), "x" = d loss / d input, "loss" (0-d float32).  loss = the
                       compiled BCE (mean over the batch) of model(x, training=True), from the
                       loaded .h5 compiled with a fresh SGD(0.1), under a tf.GradientTape inside a
                       tf.function, as make_training_fixtures.py does it.
   NAME.step.sgd.npz   every weight after ONE train_on_batch(x, y) (loaded .h5, fresh SGD(0.1)),
                       keyed the same way, plus "loss" = what train_on_batch returned (0-d).

B. augment_rescale: raw 0..255 pixels through augmentation and resizing, then Rescaling (the
   keras.io transfer-learning layout).  Functional: Input((32, 40, 3), name="image") ->
   RandomFlip("horizontal") -> RandomRotation(0.1) -> RandomZoom(0.2) -> RandomContrast(0.2) ->
   Resizing(24, 28) -> Rescaling(1/255) -> Conv2D(4, 3, relu, name="conv") ->
   GlobalAveragePooling2D -> Dense(1, sigmoid, name="output").  Weights from
   default_rng(seed_of("augment_rescale")): conv/kernel N(0, 0.5), conv/bias 0,
   output/kernel N(0, 1), output/bias 0.  In inference the random layers are the identity.

   augment_rescale.h5 / augment_rescale.keras   tf_keras / Keras 3 model.save() (adam, BCE)
   augment_rescale.expected.npz  per image IMG in IMAGES (paths relative to Fixtures/images/,
                       the files are referenced, not copied):
                         "input:IMG"  float32 (1, 32, 40, 3): the image decoded as
                                      image_dataset_from_directory does it:
                                      tf.io.decode_image(bytes, channels=3,
                                      expand_animations=False), tf.image.resize(img, (32, 40),
                                      method="bilinear"); values 0..255, NOT divided by 255
                         "IMG"        float32 (1, 1): tf_keras's score, model(x, training=False)
                         "k2:IMG"     the same (tf_keras, loaded .h5)
                         "k3:IMG"     Keras 3's score (loaded .keras)
   index.json also holds, per image, the score for the pixels divided by 255 first (the wrong
   preprocessing: Rescaling then divides again), to show that the difference is large.

C. Sequence layouts: layers on rank-3 (batch, steps, features) tensors.  Functional, Input(shape,
   name="x"); NAME in SEQ_CASES:

   seq_dense   Input((10, 6)) -> Dense(8, relu, name="d1") -> Dense(4, name="d2") (both per time
               step) -> Flatten(name="flat") -> Dense(1, sigmoid, name="out")
   seq_conv1d  Input((20, 3)) -> Conv1D(8, 3, relu, name="c1") -> MaxPooling1D(2, name="p1") ->
               Conv1D(4, 3, padding="same", name="c2") -> Dense(5, name="d1") ->
               GlobalAveragePooling1D(name="gap") -> Dense(1, sigmoid, name="out")
   seq_gap_cf  Input((6, 10)) -> GlobalAveragePooling1D(data_format="channels_first", name="gap")
               (mean over the last axis: (3, 6, 10) -> (3, 6)) -> Dense(1, sigmoid, name="out")
   img_mean    Input((8, 8, 3)) -> Conv2D(4, 3, relu, name="c1") -> mean over axes 1 and 2 without
               keepdims (tf_keras: tf.reduce_mean, a TFOpLambda "tf.math.reduce_mean"; Keras 3:
               keras.ops.mean, an op that model.layers does not list; layers.npz keys it by the tf_keras name) ->
               Dense(1, sigmoid, name="out"). An ONNX export must reduce the image where its
               channels are stored.

   Weights from rng = np.random.default_rng(seed_of(NAME)), drawn layer by layer in model order,
   kernel then bias: kernel U(-l, l) with l = sqrt(6 / (fan_in + fan_out)) (Glorot uniform;
   Dense (in, out): fan_in = in, fan_out = out; Conv1D (k, in, out): fan_in = k * in,
   fan_out = k * out), bias U(-0.1, 0.1); then the input.

   NAME.h5             tf_keras model.save(), compiled with adam, BCE
   NAME.keras          Keras 3 model.save(), same weights, compiled with adam, BCE
   NAME.input.npy      float32 (3, *shape) = rng.normal(0.0, 1.0)
   NAME.layers.npz     every layer but the InputLayer, keyed by layer name: its output on the
                       input, training=False, from the loaded .h5 (Keras 3's, from the loaded
                       .keras, are compared in index.json under "sequence_layouts")

Calling the augment_rescale model as model(x), with no training argument, runs the random layers
in both frameworks (their call() defaults to training=True): only training=False / predict() give
the stored scores.

index.json: versions, per case the files (bytes), shapes, weight shapes in both frameworks, the
axis each framework stores in its config, whether tf_keras takes its fused path, the max
|keras2 - keras3| of the layer outputs (and, for A, of the gradients and the SGD step), and
all_files with sizes.  Group C is under "sequence_layouts" (per case: layers with output shapes,
weight shapes, max |keras2 - keras3| overall and per layer, files).
"""

import json
import os
import platform
import random
import shutil
import sys
import warnings
import zipfile
from pathlib import Path

for _k, _v in (("TF_NUM_INTEROP_THREADS", "1"), ("TF_NUM_INTRAOP_THREADS", "1"), ("OMP_NUM_THREADS", "1"),
               ("TF_ENABLE_ONEDNN_OPTS", "0"), ("TF_CPP_MIN_LOG_LEVEL", "2"), ("CUDA_VISIBLE_DEVICES", "-1"),
               ("PYTHONHASHSEED", "0")):
    os.environ.setdefault(_k, _v)
os.environ["KERAS_BACKEND"] = "tensorflow"

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.experimental.enable_op_determinism()

import keras  # noqa: E402  (Keras 3)
import tf_keras  # noqa: E402  (Keras 2)

tf.get_logger().setLevel("ERROR")  # the per-case tf.function retracing warnings
warnings.filterwarnings("ignore", message="You are saving your model as an HDF5 file")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fixture_io  # noqa: E402
from fixture_io import f32, keyed, log, plain, save_npy, seed_of, short, weights_of, write_json  # noqa: E402

OUT = HERE / "layout"
IMAGES_DIR = HERE / "images"
SEED = 20240611
LOSS = "binary_crossentropy"
EPS = 1e-3
LR = 0.1

# name: (input shape without batch, axis, extra LayerNormalization kwargs)
LN_CASES = {
    "ln_axis1": ((6, 5), 1, {}),
    "ln_axis_m2": ((6, 5), -2, {}),
    "ln_axis12": ((6, 5), [1, 2], {}),
    "ln_r4_axis1": ((4, 6, 5), 1, {}),
    "ln_r4_axis2": ((4, 6, 5), 2, {}),
    "ln_r4_axis13": ((4, 6, 5), [1, 3], {}),
    "ln_r4_axis23": ((4, 6, 5), [2, 3], {}),
    "ln_r4_last": ((4, 6, 5), -1, {}),
    "ln_noscale": ((6, 5), 1, {"scale": False, "center": True}),
    "ln_nocenter": ((6, 5), 1, {"center": False}),
}
LN_Y = np.array([[0.0], [1.0], [1.0]], np.float32)

# name: input shape without batch; the layers are in build_seq
SEQ_CASES = {
    "seq_dense": (10, 6),
    "seq_conv1d": (20, 3),
    "seq_gap_cf": (6, 10),
    "img_mean": (8, 8, 3),
}

AUG_NAME = "augment_rescale"
AUG_INPUT = (32, 40, 3)


def first_file(folder):
    return sorted(p.name for p in (IMAGES_DIR / folder).iterdir() if p.is_file())[0]


IMAGES = ["cat/a.png", "dog/" + first_file("dog")]


# --------------------------------------------------------------------------------------
# Helpers (as in make_training_fixtures.py)
# --------------------------------------------------------------------------------------

def save_npz(path, arrays):
    """fixture_io.save_npz (fixed zip timestamps), keeping 0-d arrays 0-d (see make_training_fixtures.py)."""
    import io

    def npy_bytes(a):
        a = np.asarray(a)
        buf = io.BytesIO()
        np.lib.format.write_array(buf, a if a.ndim == 0 else np.ascontiguousarray(a), allow_pickle=False)
        return buf.getvalue()

    saved = fixture_io.npy_bytes
    fixture_io.npy_bytes = npy_bytes
    try:
        fixture_io.save_npz(path, arrays)
    finally:
        fixture_io.npy_bytes = saved
    with zipfile.ZipFile(path) as zf:
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())
    with np.load(path) as z:
        for key, a in arrays.items():
            assert z[key].shape == np.shape(a), (path, key)


def reset(seed=SEED):
    tf_keras.backend.clear_session()
    keras.backend.clear_session()
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    keras.utils.set_random_seed(seed)
    tf_keras.utils.set_random_seed(seed)




def size(path):
    return path.stat().st_size


def mad(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def copy_weights(m2, m3):
    """tf_keras -> Keras 3, layer by layer by name; asserts the weight roles and shapes agree."""
    for l2 in m2.layers:
        if l2.__class__.__name__ == "TFOpLambda":
            continue  # an op (Keras 3 has no layer for it), no weights
        l3 = m3.get_layer(l2.name)
        assert [short(v) for v in l2.weights] == [short(v) for v in l3.weights], l2.name
        assert [tuple(v.shape) for v in l2.weights] == [tuple(v.shape) for v in l3.weights], l2.name
        if l2.weights:
            l3.set_weights(l2.get_weights())
    for k, v in weights_of(m2).items():
        assert np.array_equal(v, weights_of(m3)[k]), k


def load_k2(path, compile_sgd=False):
    tf_keras.backend.clear_session()
    m = tf_keras.models.load_model(str(path), compile=False)
    if compile_sgd:
        m.compile(optimizer=tf_keras.optimizers.SGD(LR), loss=LOSS)
    return m


def load_k3(path, compile_sgd=False):
    keras.backend.clear_session()
    m = keras.models.load_model(str(path), compile=False)
    if compile_sgd:
        m.compile(optimizer=keras.optimizers.SGD(LR), loss=LOSS)
    return m


def save_pair(name, m2, m3, x):
    """Saves the tf_keras model as NAME.h5, the Keras 3 one as NAME.keras and the input as NAME.input.npy;
    returns both models' weight shapes and the two paths."""
    wshape2 = {k: list(v.shape) for k, v in keyed(m2).items()}
    wshape3 = {k: list(v.shape) for k, v in keyed(m3).items()}
    h5, kf = OUT / f"{name}.h5", OUT / f"{name}.keras"
    m2.save(str(h5))
    m3.save(str(kf))
    save_npy(OUT / f"{name}.input.npy", x)
    return wshape2, wshape3, h5, kf


def layer_outputs(K, model, x, names):
    sub = K.Model(model.inputs, [model.get_layer(n).output for n in names])
    ys = sub(tf.constant(x), training=False)
    ys = ys if isinstance(ys, (list, tuple)) else [ys]
    return {n: np.asarray(y).astype(np.float32) for n, y in zip(names, ys)}


# --------------------------------------------------------------------------------------
# A. LayerNormalization
# --------------------------------------------------------------------------------------

def build_ln(K, name):
    shape, axis, kw = LN_CASES[name]
    L = K.layers
    x = K.Input(shape=shape, name="x")
    h = L.LayerNormalization(axis=axis, epsilon=EPS, name="ln", **kw)(x)
    h = L.Flatten(name="flat")(h)
    out = L.Dense(1, activation="sigmoid", name="out")(h)
    return K.Model(x, out, name=name)


def ln_weights_and_input(name, model):
    """Sets model's weights (tf_keras) from the case's rng; returns the input batch."""
    shape = LN_CASES[name][0]
    rng = np.random.default_rng(seed_of(name))
    ln = model.get_layer("ln")
    new = []
    for v in ln.weights:
        role = short(v)
        if role == "gamma":
            new.append(rng.uniform(0.5, 1.5, tuple(v.shape)).astype(np.float32))
        elif role == "beta":
            new.append(rng.normal(0.0, 0.3, tuple(v.shape)).astype(np.float32))
        else:
            raise ValueError(v.name)
    ln.set_weights(new)
    dense = model.get_layer("out")
    fan_in = int(np.prod(shape))
    lim = np.sqrt(6.0 / (fan_in + 1))
    kernel = rng.uniform(-lim, lim, (fan_in, 1)).astype(np.float32)
    dense.set_weights([kernel, np.full((1,), 0.1, np.float32)])
    return rng.normal(1.0, 2.0, (3,) + shape).astype(np.float32)


def loss_and_grads(model, x, y):
    """What train_step computes before applying gradients (tf.function, model.compute_loss), plus d/dx."""
    tv = model.trainable_variables

    @tf.function
    def f(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y_pred = model(x, training=True)
            loss = model.compute_loss(x, y, y_pred)
        grads = tape.gradient(loss, tv + [x])
        return loss, grads[:-1], grads[-1]

    loss, grads, gx = f(tf.constant(x), tf.constant(y))
    keys = {id(v): k for k, v in keyed(model, "trainable_weights").items()}
    assert len(keys) == len(tv)
    g = {keys[id(v)]: gr.numpy().astype(np.float32) for v, gr in zip(tv, grads)}
    g = {k: g[k] for k in keyed(model, "trainable_weights")}
    return float(loss.numpy()), g, gx.numpy().astype(np.float32)


def k3_loss_and_grads(model, x, y):
    """Keras 3 counterpart (eager tape, keras BinaryCrossentropy, mean over the batch)."""
    bce = keras.losses.BinaryCrossentropy()
    xt = tf.constant(x)
    tv = model.trainable_variables
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = bce(tf.constant(y), model(xt, training=True))
    grads = tape.gradient(loss, list(tv) + [xt])
    keys = {id(v): k for k, v in keyed(model, "trainable_weights").items()}
    g = {keys[id(v)]: np.asarray(gr, np.float32) for v, gr in zip(tv, grads[:-1])}
    return float(np.asarray(loss)), g, np.asarray(grads[-1], np.float32)


def run_ln(name):
    shape, axis, kw = LN_CASES[name]
    log(f"== {name}: shape {shape} axis {axis} {kw}")
    reset()
    m2 = build_ln(tf_keras, name)
    x = ln_weights_and_input(name, m2)
    m2.compile(optimizer=tf_keras.optimizers.SGD(LR), loss=LOSS)
    m3 = build_ln(keras, name)
    copy_weights(m2, m3)
    m3.compile(optimizer=keras.optimizers.SGD(LR), loss=LOSS)
    fused = bool(getattr(m2.get_layer("ln"), "_fused", False))
    cfg2 = plain(m2.get_layer("ln").get_config())
    cfg3 = plain(m3.get_layer("ln").get_config())
    wshape2, wshape3, h5, kf = save_pair(name, m2, m3, x)
    save_npz(OUT / f"{name}.batch.npz", {"x": x, "y": LN_Y})

    # forward, from the saved files
    names = ["ln", "out"]
    l2 = layer_outputs(tf_keras, load_k2(h5), x, names)
    l3 = layer_outputs(keras, load_k3(kf), x, names)
    save_npz(OUT / f"{name}.layers.npz", l2)
    fwd_diff = {n: mad(l2[n], l3[n]) for n in names}

    # gradients
    loss, grads, gx = loss_and_grads(load_k2(h5, compile_sgd=True), x, LN_Y)
    save_npz(OUT / f"{name}.grads.npz", {**grads, "x": gx, "loss": f32(loss)})
    loss3, grads3, gx3 = k3_loss_and_grads(load_k3(kf), x, LN_Y)
    assert set(grads3) == set(grads), (sorted(grads3), sorted(grads))
    grad_diff = {k: mad(v, grads3[k]) for k, v in grads.items()}
    grad_diff["x"] = mad(gx, gx3)
    grad_diff["loss"] = abs(loss - loss3)

    # one SGD step
    m = load_k2(h5, compile_sgd=True)
    assert int(m.optimizer.iterations.numpy()) == 0
    res = m.train_on_batch(x, LN_Y, return_dict=True)
    assert int(m.optimizer.iterations.numpy()) == 1
    w1 = weights_of(m)
    save_npz(OUT / f"{name}.step.sgd.npz", {**w1, "loss": f32(res["loss"])})
    m3s = load_k3(kf, compile_sgd=True)
    res3 = m3s.train_on_batch(x, LN_Y, return_dict=True)
    w13 = weights_of(m3s)
    step_diff = {k: mad(v, w13[k]) for k, v in w1.items()}
    step_diff["loss"] = abs(float(res["loss"]) - float(res3["loss"]))
    # the step is w - lr * grad: check it against the stored gradients
    w0 = weights_of(load_k2(h5))
    step_vs_grads = max(mad(w1[k], w0[k] - np.float32(LR) * g) for k, g in grads.items())

    files = [f"{name}.{s}" for s in ("h5", "keras", "input.npy", "layers.npz", "batch.npz", "grads.npz",
                                     "step.sgd.npz")]
    entry = {
        "seed": seed_of(name),
        "input_shape": [3] + list(shape),
        "axis_requested": axis,
        "layer_kwargs": {"epsilon": EPS, **kw},
        "axis_in_config": {"keras2": cfg2["axis"], "keras3": cfg3["axis"]},
        "keras2_fused": fused,
        "weights": {"keras2": wshape2, "keras3": wshape3},
        "trainable_keys": list(grads),
        "layers": {n: list(v.shape) for n, v in l2.items()},
        "loss": loss,
        "train_on_batch_loss": float(res["loss"]),
        "max_abs_diff_keras2_keras3": max(fwd_diff.values()),
        "max_abs_diff_keras2_keras3_per_layer": fwd_diff,
        "grads_max_abs_diff_keras2_keras3": grad_diff,
        "step_sgd_max_abs_diff_keras2_keras3": step_diff,
        "step_vs_w_minus_lr_grad_max_abs_diff": step_vs_grads,
        "files": {f: size(OUT / f) for f in files},
    }
    log(f"   gamma {wshape2.get('ln/gamma')} (k3 {wshape3.get('ln/gamma')}), axis cfg k2 {cfg2['axis']} "
        f"k3 {cfg3['axis']}, fused {fused}; loss {loss:.6f}; max|k2-k3| fwd {max(fwd_diff.values()):.3g} "
        f"grads {max(grad_diff.values()):.3g} step {max(step_diff.values()):.3g}")
    return entry


# --------------------------------------------------------------------------------------
# B. augmentation + resizing before Rescaling
# --------------------------------------------------------------------------------------

def build_aug(K):
    L = K.layers
    x = K.Input(shape=AUG_INPUT, name="image")
    h = L.RandomFlip("horizontal", seed=1, name="random_flip")(x)
    h = L.RandomRotation(0.1, seed=2, name="random_rotation")(h)
    h = L.RandomZoom(0.2, seed=3, name="random_zoom")(h)
    h = L.RandomContrast(0.2, seed=4, name="random_contrast")(h)
    h = L.Resizing(24, 28, name="resizing")(h)
    h = L.Rescaling(1.0 / 255, name="rescaling")(h)
    h = L.Conv2D(4, 3, activation="relu", name="conv")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    out = L.Dense(1, activation="sigmoid", name="output")(h)
    return K.Model(x, out, name=AUG_NAME)


def decode(img_rel):
    """As image_dataset_from_directory(image_size=(32, 40), interpolation="bilinear") loads it."""
    data = tf.io.read_file(str(IMAGES_DIR / img_rel))
    img = tf.io.decode_image(data, channels=3, expand_animations=False)
    img = tf.image.resize(img, AUG_INPUT[:2], method="bilinear")
    return img.numpy().astype(np.float32)[None]


def run_aug():
    name = AUG_NAME
    log(f"== {name}")
    reset()
    m2 = build_aug(tf_keras)
    rng = np.random.default_rng(seed_of(name))
    conv, dense = m2.get_layer("conv"), m2.get_layer("output")
    conv.set_weights([rng.normal(0.0, 0.5, (3, 3, 3, 4)).astype(np.float32), np.zeros(4, np.float32)])
    dense.set_weights([rng.normal(0.0, 1.0, (4, 1)).astype(np.float32), np.zeros(1, np.float32)])
    m2.compile(optimizer="adam", loss=LOSS)
    m3 = build_aug(keras)
    copy_weights(m2, m3)
    m3.compile(optimizer="adam", loss=LOSS)
    h5, kf = OUT / f"{name}.h5", OUT / f"{name}.keras"
    m2.save(str(h5))
    m3.save(str(kf))
    r2, r3 = load_k2(h5), load_k3(kf)
    arrays, per_image = {}, {}
    for img in IMAGES:
        x = decode(img)
        assert x.shape == (1,) + AUG_INPUT and 0.0 <= x.min() and x.max() <= 255.0
        y2 = r2(tf.constant(x), training=False).numpy().astype(np.float32)
        y3 = np.asarray(r3(tf.constant(x), training=False)).astype(np.float32)
        w2 = float(r2(tf.constant(x / np.float32(255.0)), training=False).numpy().ravel()[0])
        w3 = float(np.asarray(r3(tf.constant(x / np.float32(255.0)), training=False)).ravel()[0])
        arrays[f"input:{img}"] = x
        arrays[img] = y2
        arrays[f"k2:{img}"] = y2
        arrays[f"k3:{img}"] = y3
        s = float(y2.ravel()[0])
        per_image[img] = {
            "path": f"../images/{img}",
            "decoded_shape_before_resize": list(tf.io.decode_image(
                tf.io.read_file(str(IMAGES_DIR / img)), expand_animations=False).shape),
            "pixel_min": float(x.min()), "pixel_max": float(x.max()),
            "score_keras2": s,
            "score_keras3": float(y3.ravel()[0]),
            "max_abs_diff_keras2_keras3": mad(y2, y3),
            "score_pixels_divided_by_255_keras2": w2,
            "score_pixels_divided_by_255_keras3": w3,
            "abs_diff_raw_vs_divided": abs(s - w2),
        }
        assert abs(s - w2) > 1e-3, (img, s, w2)
        # model(x) with no `training` argument: the random layers' call() defaults to training=True
        no_arg = [float(np.asarray(m(tf.constant(x))).ravel()[0]) for m in (r2, r3) for _ in range(3)]
        per_image[img]["model_called_without_training_arg_differs"] = bool(max(abs(v - s) for v in no_arg) > 1e-4)
        log(f"   {img}: k2 {s:.7f} k3 {float(y3.ravel()[0]):.7f} |d| {mad(y2, y3):.3g}; "
            f"pixels/255 first: {w2:.7f} (|raw - /255| {abs(s - w2):.4f})")
    save_npz(OUT / f"{name}.expected.npz", arrays)
    files = [f"{name}.h5", f"{name}.keras", f"{name}.expected.npz"]
    return {
        "seed": seed_of(name),
        "input_shape": [1] + list(AUG_INPUT),
        "layers": [l.name for l in m2.layers],
        "weights": {k: list(v.shape) for k, v in keyed(m2).items()},
        "images": per_image,
        "decode": "tf.io.decode_image(bytes, channels=3, expand_animations=False); "
                  "tf.image.resize(img, (32, 40), method='bilinear'); float32 0..255, batch of 1",
        "expected_keys": list(arrays),
        "note": "the scores are model(x, training=False) (= model.predict(x)); calling model(x) with no "
                "training argument runs RandomFlip/RandomRotation/RandomZoom/RandomContrast in both "
                "frameworks (their call() defaults to training=True), giving a different, random score",
        "max_abs_diff_keras2_keras3": max(v["max_abs_diff_keras2_keras3"] for v in per_image.values()),
        "files": {f: size(OUT / f) for f in files},
    }


# --------------------------------------------------------------------------------------
# C. Sequence layouts
# --------------------------------------------------------------------------------------

def build_seq(K, name):
    L = K.layers
    x = K.Input(shape=SEQ_CASES[name], name="x")
    if name == "seq_dense":
        h = L.Dense(8, activation="relu", name="d1")(x)
        h = L.Dense(4, name="d2")(h)
        h = L.Flatten(name="flat")(h)
    elif name == "seq_conv1d":
        h = L.Conv1D(8, 3, activation="relu", name="c1")(x)
        h = L.MaxPooling1D(2, name="p1")(h)
        h = L.Conv1D(4, 3, padding="same", name="c2")(h)
        h = L.Dense(5, name="d1")(h)
        h = L.GlobalAveragePooling1D(name="gap")(h)
    elif name == "seq_gap_cf":
        h = L.GlobalAveragePooling1D(data_format="channels_first", name="gap")(x)
    elif name == "img_mean":
        # A reduction that drops the spatial axes of an image: tf_keras saves it as a TFOpLambda
        # (tf.math.reduce_mean), Keras 3 as an ops layer (Mean); a Dense reads the result.
        h = L.Conv2D(4, 3, activation="relu", name="c1")(x)
        h = tf.reduce_mean(h, axis=[1, 2]) if K is tf_keras else keras.ops.mean(h, axis=[1, 2])
    else:
        raise ValueError(name)
    out = L.Dense(1, activation="sigmoid", name="out")(h)
    return K.Model(x, out, name=name)


def seq_weights_and_input(name, model):
    """Sets model's weights (tf_keras) from the case's rng (Glorot-uniform kernels, U(-0.1, 0.1) biases);
    returns the input batch."""
    rng = np.random.default_rng(seed_of(name))
    for layer in model.layers:
        if not layer.weights:
            continue
        new = []
        for v in layer.weights:
            role, shape = short(v), tuple(v.shape)
            if role == "kernel":
                receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
                fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
                lim = np.sqrt(6.0 / (fan_in + fan_out))
                new.append(rng.uniform(-lim, lim, shape).astype(np.float32))
            elif role == "bias":
                new.append(rng.uniform(-0.1, 0.1, shape).astype(np.float32))
            else:
                raise ValueError(v.name)
        layer.set_weights(new)
    return rng.normal(0.0, 1.0, (3,) + SEQ_CASES[name]).astype(np.float32)


def run_seq(name):
    shape = SEQ_CASES[name]
    log(f"== {name}: shape {shape}")
    reset()
    m2 = build_seq(tf_keras, name)
    x = seq_weights_and_input(name, m2)
    m2.compile(optimizer="adam", loss=LOSS)
    m3 = build_seq(keras, name)
    copy_weights(m2, m3)
    m3.compile(optimizer="adam", loss=LOSS)
    wshape2, wshape3, h5, kf = save_pair(name, m2, m3, x)

    r2 = load_k2(h5)
    names = [l.name for l in r2.layers if not isinstance(l, tf_keras.layers.InputLayer)]
    l2 = layer_outputs(tf_keras, r2, x, names)
    r3 = load_k3(kf)
    # tf_keras lists an op as a TFOpLambda layer; Keras 3 does not list its ops: compared on the layers both have.
    names3 = [l.name for l in r3.layers if not isinstance(l, keras.layers.InputLayer)]
    assert names3 == [n for n in names if not n.startswith("tf.")], (name, names, names3)
    l3 = layer_outputs(keras, r3, x, names3)
    for n in names3:
        assert l2[n].shape == l3[n].shape, (name, n, l2[n].shape, l3[n].shape)
    for n in names:
        assert np.all(np.isfinite(l2[n])), (name, n)
    save_npz(OUT / f"{name}.layers.npz", l2)
    fwd_diff = {n: mad(l2[n], l3[n]) for n in names3}
    out2 = r2(tf.constant(x), training=False).numpy()
    assert np.array_equal(out2.astype(np.float32), l2["out"]), name

    files = [f"{name}.{s}" for s in ("h5", "keras", "input.npy", "layers.npz")]
    entry = {
        "seed": seed_of(name),
        "input_shape": [3] + list(shape),
        "layers": {n: list(v.shape) for n, v in l2.items()},
        "weights": {"keras2": wshape2, "keras3": wshape3},
        "scores_keras2": [float(v) for v in l2["out"].ravel()],
        "scores_keras3": [float(v) for v in l3["out"].ravel()],
        "max_abs_diff_keras2_keras3": max(fwd_diff.values()),
        "max_abs_diff_keras2_keras3_per_layer": fwd_diff,
        "files": {f: size(OUT / f) for f in files},
    }
    log(f"   layers {entry['layers']}; scores {np.round(l2['out'].ravel(), 6).tolist()}; "
        f"max|k2-k3| {max(fwd_diff.values()):.3g}")
    return entry


# --------------------------------------------------------------------------------------

def verify():
    """Every file loads back: npz/npy with np.load, .h5 with tf_keras, .keras with Keras 3."""
    for p in sorted(OUT.iterdir()):
        if p.suffix == ".npz":
            with np.load(p) as z:
                for k in z.files:
                    assert np.all(np.isfinite(z[k])), (p.name, k)
        elif p.suffix == ".npy":
            assert np.all(np.isfinite(np.load(p)))
        elif p.suffix == ".h5":
            with h5py.File(p, "r") as f:
                assert "training_config" in f.attrs, p.name
            load_k2(p)
        elif p.suffix == ".keras":
            load_k3(p)
        elif p.suffix == ".json":
            json.loads(p.read_text())
        else:
            raise AssertionError(p.name)


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    index = {
        "generator": "Fixtures/make_layout_fixtures.py",
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "tensorflow": tf.__version__,
                     "tf_keras": tf_keras.__version__, "keras": keras.__version__, "h5py": h5py.__version__},
        "paths": "file names are relative to Fixtures/layout/; image paths to Fixtures/layout/ as well",
        "key_rule": "weight arrays are keyed LAYER/ROLE, ROLE = weight.name.split('/')[-1].split(':')[0]",
        "loss": "binary_crossentropy, reduction sum_over_batch_size (mean over the batch)",
        "optimizer": f"SGD(learning_rate={LR}) (tf_keras.optimizers.SGD), fresh for every experiment",
        "layer_norm": {},
    }
    for name in LN_CASES:
        index["layer_norm"][name] = run_ln(name)
    index["augment_rescale"] = run_aug()
    index["sequence_layouts"] = {name: run_seq(name) for name in SEQ_CASES}
    verify()
    index["all_files"] = {p.name: size(p) for p in sorted(OUT.iterdir())}
    index["total_bytes_without_index"] = sum(index["all_files"].values())
    write_json(OUT / "index.json", plain(index))
    total = sum(p.stat().st_size for p in OUT.iterdir())
    assert total < 1_000_000, total
    log(f"wrote {len(list(OUT.iterdir()))} files, {total} bytes")


if __name__ == "__main__":
    main()
