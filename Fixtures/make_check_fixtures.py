#!/usr/bin/env python3
"""Generate the fixtures for `modelport check` (binary-classifier diagnosis) in Fixtures/check/.

Run from the repository root (venv from Fixtures/requirements.txt):

    TF_CPP_MIN_LOG_LEVEL=2 CUDA_VISIBLE_DEVICES=-1 ~/venvs/ref/bin/python Fixtures/make_check_fixtures.py

The script wipes Fixtures/check/ and rewrites everything.  It is deterministic: seeded
Python/NumPy/TensorFlow RNGs, TensorFlow single-threaded with op determinism, oneDNN off,
a fixed training order (train_on_batch over a precomputed, class-interleaved index list).

Image size.  The models keep the shape of the "seed" model (Fixtures/keras/seed_sigmoid.h5):
Input -> 3 x (Conv2D 3x3 same relu -> BatchNormalization -> MaxPooling2D 2) with 32/64/128
filters -> Flatten -> Dense head, adamax.  To keep Fixtures/check/ under ~6 MB the input is
64x78x1 (half of the seed's 128x156x1): Flatten then has 8*9*128 = 9216 features.

Data (Fixtures/check/data/):
    class_a/a_NNN.png  32 images, horizontal stripes (intensity varies along y) + noise
    class_b/b_NNN.png  32 images, vertical stripes (intensity varies along x) + noise
    8-bit grayscale PNGs written with tf.io.encode_png.
Arrays (Fixtures/check/):
    data_x.npy       float32 (64, 64, 78, 1): tf.cast(tf.io.decode_png(png, channels=1), tf.float32)
                     / 255.0, in sorted-path order (class_a/*, then class_b/*)
    data_x_255.npy   the same images as float32 0..255 (no division)
    data_y.npy       float32 (64,): class_a = 0, class_b = 1

Models (tf_keras model.save -> legacy HDF5 with training_config; recompiled after training so
the files hold no optimizer slot variables), each with NAME.facts.json:
    collapsed.h5    conv biases initialised very negative: most ReLUs dead, every image gets
                    (nearly) the same sigmoid score
    healthy.h5      normal init, trained well, BN moving statistics settled
    bn_lag.h5       trained a few steps only: good with batch statistics (training=True),
                    ~chance with the lagging moving statistics (training=False); the facts hold
                    what recalibrating the BN moving statistics from the data gives
    softmax_bce.h5  Dense(2, softmax) head compiled with binary_crossentropy, one-hot labels
    raw_pixels.h5   trained on 0..255 pixels without a Rescaling layer
    no_head.h5      Dense(4) linear head, mse
See Fixtures/check/README.md for the facts and their definitions.
"""

import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("PYTHONHASHSEED", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.experimental.enable_op_determinism()

import tf_keras  # noqa: E402  (Keras 2)

SEED = 20240611
OUT = Path(__file__).resolve().parent / "check"
H, W = 64, 78
PER_CLASS = 32
CLASSES = ("class_a", "class_b")


def log(*a):
    print(*a, flush=True)


def reset(seed=SEED):
    tf_keras.backend.clear_session()
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    tf_keras.utils.set_random_seed(seed)


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------

def picture(rng, horizontal):
    """One 8-bit grayscale stripe image (H x W x 1)."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    period = rng.uniform(6.0, 14.0)
    phase = rng.uniform(0.0, 2 * np.pi)
    contrast = rng.uniform(0.35, 0.7)
    brightness = rng.uniform(0.35, 0.65)
    t = y if horizontal else x
    pattern = np.sin(2 * np.pi * t / period + phase)          # horizontal stripes vary along y
    img = brightness + 0.5 * contrast * pattern + rng.normal(0.0, 0.08, (H, W))
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)[..., None]


def make_data():
    rng = np.random.default_rng(SEED)
    data = OUT / "data"
    for cls in CLASSES:
        (data / cls).mkdir(parents=True, exist_ok=True)
        for i in range(PER_CLASS):
            img = picture(rng, horizontal=(cls == "class_a"))
            tf.io.write_file(str(data / cls / f"{cls[-1]}_{i:03d}.png"), tf.io.encode_png(img))
    paths = [p for cls in CLASSES for p in sorted((data / cls).glob("*.png"))]
    xs, x255, ys = [], [], []
    for p in paths:
        dec = tf.io.decode_png(tf.io.read_file(str(p)), channels=1)
        f = tf.cast(dec, tf.float32)
        x255.append(f.numpy())
        xs.append((f / 255.0).numpy())
        ys.append(0.0 if p.parent.name == "class_a" else 1.0)
    x = np.stack(xs).astype(np.float32)
    x255 = np.stack(x255).astype(np.float32)
    y = np.asarray(ys, np.float32)
    np.save(OUT / "data_x.npy", x)
    np.save(OUT / "data_x_255.npy", x255)
    np.save(OUT / "data_y.npy", y)
    return x, x255, y


def train_order(y, steps, batch, seed):
    """Fixed list of class-balanced index batches (half class_a, half class_b each)."""
    rng = np.random.default_rng(seed)
    a, b = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    half = batch // 2
    pa, pb = np.empty(0, int), np.empty(0, int)
    out = []
    for _ in range(steps):
        if len(pa) < half:
            pa = np.concatenate([pa, rng.permutation(a)])
        if len(pb) < half:
            pb = np.concatenate([pb, rng.permutation(b)])
        idx = np.concatenate([pa[:half], pb[:half]])
        pa, pb = pa[half:], pb[half:]
        out.append(rng.permutation(idx))
    return out


# --------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------

def build(name, head="sigmoid", conv_bias=None):
    """Seed-shaped Sequential model with explicit layer names.

    head: "sigmoid" -> Dense(1, sigmoid), adamax + binary_crossentropy
          "softmax" -> Dense(2, softmax), adamax + binary_crossentropy (broken on purpose)
          "linear4" -> Dense(4) linear, adamax + mse
    conv_bias: None (zeros) or a list of 3 constants for the conv bias initialisers.
    """
    L = tf_keras.layers
    layers = [tf_keras.Input(shape=(H, W, 1), name="image")]
    for i, filters in enumerate((32, 64, 128), start=1):
        kw = {}
        if conv_bias is not None:
            kw["bias_initializer"] = tf_keras.initializers.Constant(conv_bias[i - 1])
        layers += [
            L.Conv2D(filters, (3, 3), padding="same", activation="relu", name=f"conv_{i}", **kw),
            L.BatchNormalization(name=f"bn_{i}"),
            L.MaxPooling2D(2, name=f"pool_{i}"),
        ]
    layers.append(L.Flatten(name="flatten"))
    if head == "sigmoid":
        layers.append(L.Dense(1, activation="sigmoid", name="output"))
        ckw = dict(optimizer="adamax", loss="binary_crossentropy", metrics=["accuracy"])
    elif head == "softmax":
        layers.append(L.Dense(2, activation="softmax", name="output"))
        ckw = dict(optimizer="adamax", loss="binary_crossentropy", metrics=["accuracy"])
    elif head == "linear4":
        layers.append(L.Dense(4, name="output"))
        ckw = dict(optimizer="adamax", loss="mse")
    else:
        raise ValueError(head)
    model = tf_keras.Sequential(layers, name=name)
    model.compile(**ckw)
    return model, ckw


def fit_steps(model, x, y, steps, batch=8, seed=SEED):
    for idx in train_order(y, steps, batch, seed):
        model.train_on_batch(x[idx], y[idx] if y.ndim > 1 else y[idx, None])


def bn_layers(model):
    return [l for l in model.layers if isinstance(l, tf_keras.layers.BatchNormalization)]


def conv_layers(model):
    return [l for l in model.layers if isinstance(l, tf_keras.layers.Conv2D)]


def predict(model, x):
    """Inference mode (moving statistics)."""
    return model.predict(x, batch_size=32, verbose=0)


def predict_training_mode(model, x):
    """model(x, training=True) on x as one batch (batch statistics); BN moving stats restored."""
    saved = [l.get_weights() for l in bn_layers(model)]
    out = model(tf.constant(x), training=True).numpy()
    for l, w in zip(bn_layers(model), saved):
        l.set_weights(w)
    return out


def settle_bn(model, x, y, passes, batch=8, seed=SEED + 7):
    """Forward passes in training mode (no weight update) so the moving statistics converge."""
    for idx in train_order(y, passes, batch, seed):
        model(tf.constant(x[idx]), training=True)


def layer_output(model, layer, x, use_input=False):
    sub = tf_keras.Model(model.inputs, layer.input if use_input else layer.output)
    return sub.predict(x, batch_size=32, verbose=0)


def recalibrate_bn(model, x):
    """Set every BN's moving mean/variance to the mean / population variance (divide by N*H*W)
    of its input over the whole data set, layer by layer (later layers see the recalibrated
    earlier ones).  Statistics are accumulated in float64 and stored as float32."""
    for bn in bn_layers(model):
        inp = layer_output(model, bn, x, use_input=True).astype(np.float64)
        axes = tuple(range(inp.ndim - 1))
        mean, var = inp.mean(axis=axes), inp.var(axis=axes)
        names = [v.name.split("/")[-1].split(":")[0] for v in bn.weights]
        w = bn.get_weights()
        w[names.index("moving_mean")] = mean.astype(np.float32)
        w[names.index("moving_variance")] = var.astype(np.float32)
        bn.set_weights(w)


def dead_channels(model, x):
    """Per conv layer: channels whose (ReLU) output is 0 at every position of every sample."""
    out = {}
    for conv in conv_layers(model):
        o = layer_output(model, conv, x)
        mx = o.reshape(-1, o.shape[-1]).max(axis=0)
        dead = int((mx <= 0).sum())
        out[conv.name] = {"dead": dead, "channels": int(o.shape[-1]),
                          "fraction": round(dead / o.shape[-1], 6)}
    return out


def auc(scores, y):
    """ROC AUC (Mann-Whitney U with average ranks for ties)."""
    scores = np.asarray(scores, np.float64).ravel()
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    s = scores[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    pos = y == 1
    npos, nneg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - npos * (npos + 1) / 2.0) / (npos * nneg))


def acc(scores, y, thr=0.5):
    return float(((np.asarray(scores).ravel() >= thr).astype(np.float32) == y).mean())


def r(v, n=6):
    return float(round(float(v), n))


def score_stats(scores, y):
    s = np.asarray(scores, np.float64).ravel()
    out = {}
    for cls, lab in zip(CLASSES, (0, 1)):
        c = s[y == lab]
        out[cls] = {"min": r(c.min(), 7), "max": r(c.max(), 7), "mean": r(c.mean(), 7)}
    out["all"] = {"min": r(s.min(), 7), "max": r(s.max(), 7), "mean": r(s.mean(), 7),
                  "max_minus_min": float(s.max() - s.min())}
    return out


def finish(model, ckw, name, facts):
    # fresh optimizer: training_config stays, optimizer slot variables are not saved
    model.compile(**ckw)
    model.save(str(OUT / f"{name}.h5"))
    facts = {"model": f"{name}.h5", "input_shape": [None, H, W, 1], **facts}
    with open(OUT / f"{name}.facts.json", "w") as f:
        json.dump(facts, f, indent=1)
        f.write("\n")
    log(json.dumps(facts)[:2000])
