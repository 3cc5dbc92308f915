#!/usr/bin/env python3
"""Reference fixtures for ModelPort's training engine, made with the real tf_keras (Keras 2).

Run from the repository root, with the venv described in Fixtures/requirements.txt:

    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2 \
        CUDA_VISIBLE_DEVICES=-1 ~/venvs/ref/bin/python Fixtures/make_training_fixtures.py

The script takes no arguments.  It deletes Fixtures/training/ and writes it again; a rerun is
byte-identical (.h5, .npz and .json alike).  TensorFlow runs on the CPU, single-threaded, with op
determinism on and oneDNN off; every model is loaded again from its saved .h5 (compile=False) and
recompiled with a FRESH optimizer before each experiment, so every experiment starts from the same
weights.

Models (starting points, each a compiled tf_keras model.save() .h5, never trained after saving):
  seed   Fixtures/keras/seed_sigmoid.h5 itself (not copied): Sequential 128x156x1,
         3 x (Conv2D 3x3 same relu, BN, MaxPooling2D 2), Flatten, Dense(1, sigmoid); adamax + BCE.
  mlp    training/mlp.h5: the architecture of keras/mlp.h5 (Dense(32, relu), BN, Dropout,
         Dense(16), Activation(relu), Dense(1, sigmoid); input 20) with Dropout rate 0.0 and the
         weights of keras/mlp.h5 copied layer by layer; rmsprop + BCE.
  dwsep  training/dwsep.h5: Functional 24x24x3 (0..255): Rescaling(1/255), Conv2D(8, 3, stride 2,
         same, no bias), BN, ReLU, DepthwiseConv2D(3, same, no bias), BN, ReLU(6), SeparableConv2D(16, 3,
         same), a = Conv2D(16, 1), b = Conv2D(16, 1, tanh), Concatenate([Add([a, b]),
         Multiply([a, b])]), AveragePooling2D(2), MaxPooling2D(2), GlobalAveragePooling2D,
         Dense(8, elu), Dense(1, sigmoid); weights drawn from np.random.default_rng (kernels
         Glorot-uniform, biases U(-0.1, 0.1), BN gamma U(0.8, 1.2), beta N(0, 0.1), moving mean
         N(0, 0.1), moving variance U(0.5, 1.5)); adam + BCE.

Files per model NAME (keys of weight arrays are "LAYER/ROLE", ROLE = weight.name.split('/')[-1]
.split(':')[0], e.g. conv_1/kernel, bn_1/moving_variance, sep/pointwise_kernel):
  NAME.batch.npz           x float32, y float32 (N, 1), half 0 / half 1 (N = 8 seed, 16 others)
  NAME.fit.npz             x, y for the 3-epoch fit (32 seed, 64 others)
  NAME.grads.npz           loss (scalar) + d loss / d w for every trainable weight, training=True
  NAME.step.OPT.npz        every weight (trainable and not) after ONE train_on_batch with a
                           fresh OPT, + loss (what train_on_batch returned)
  NAME.step2.OPT.npz       mlp and dwsep, OPT in adam, rmsprop, adamax, sgd_momentum: after TWO
                           train_on_batch calls on the batch; loss = 2nd call, loss_first = 1st
  NAME.fit.json            model.fit(epochs=3, shuffle=False) with the compiled optimizer
  NAME.fit_weights.npz     mlp and dwsep: every weight after the fit
  mlp.step.sgd_classweight.npz, mlp.step.sgd_smooth.npz, dwsep.step.sgd_frozen.npz
  mlp_trained.h5           mlp.h5 recompiled with RMSprop(0.001, rho .9, momentum .5, centered), loss BCE,
                           after TWO train_on_batch on mlp.batch.npz, model.save() (optimizer_weights
                           included: iteration:0 = 2 and the velocity / momentum / average_gradient slots)
  mlp_trained.resume.npz   load_model(mlp_trained.h5) + ONE more train_on_batch: every weight, loss, and
                           "opt:" + each optimizer_weights name of the h5 (e.g. opt:iteration:0,
                           opt:RMSprop/velocity/dense_1/kernel:0) holding that variable after the step
  index.json               versions, files, optimizer get_config()s, the update rules read off the
                           tf_keras sources (UPDATE_RULES), BN settings, two probes (saturated-logit BCE;
                           BN moving variance on tiny 2-D/3-D/4-D batches) and the facts measured, stated
                           in "findings" (each asserted by findings()); "resume": the two files above,
                           the optimizer config, the h5's optimizer_weights names and the losses

Size: the seed step files are ~490 KB each (132k float32 weights), about 5.5 MB of the ~6.2 MB.

Inputs: seed images are 4-bit grey levels k/16 (k = 0..11; every value is exact in float32 and the
.npz files compress to ~20 %); class 1 has a brighter 40x40 square (k = 8..15).  dwsep images are whole
numbers 0..254 as float32; class 1 has a brighter 8x8 square.  mlp features are U(0, 1); for
class 1 features 0..4 lie in [0.5, 1).
"""

import json
import os
import platform
import random
import shutil
import sys
from pathlib import Path

for _k, _v in (("TF_NUM_INTEROP_THREADS", "1"), ("TF_NUM_INTRAOP_THREADS", "1"), ("OMP_NUM_THREADS", "1"),
               ("TF_ENABLE_ONEDNN_OPTS", "0"), ("TF_CPP_MIN_LOG_LEVEL", "2"), ("CUDA_VISIBLE_DEVICES", "-1"),
               ("PYTHONHASHSEED", "0")):
    os.environ.setdefault(_k, _v)

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.experimental.enable_op_determinism()

import tf_keras as K  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fixture_io  # noqa: E402
from fixture_io import f32, keyed, log, plain, seed_of, short, weights_of, write_json  # noqa: E402

OUT = HERE / "training"
SEED = 20240611
LOSS = "binary_crossentropy"
METRICS = ["accuracy"]

# name -> (constructor, the keyword arguments passed)
OPTIMIZERS = {
    "sgd": ("SGD", dict(learning_rate=0.01)),
    "sgd_momentum": ("SGD", dict(learning_rate=0.01, momentum=0.9)),
    "sgd_nesterov": ("SGD", dict(learning_rate=0.01, momentum=0.9, nesterov=True)),
    "adam": ("Adam", dict()),
    "adam_amsgrad": ("Adam", dict(learning_rate=0.002, amsgrad=True)),
    "adamw": ("AdamW", dict(learning_rate=0.001, weight_decay=0.004)),
    "adamax": ("Adamax", dict()),
    "rmsprop": ("RMSprop", dict()),
    "rmsprop_centered": ("RMSprop", dict(learning_rate=0.001, rho=0.8, momentum=0.5, centered=True)),
}
STEP2_OPTIMIZERS = ["adam", "rmsprop", "adamax", "sgd_momentum"]

MODELS = {
    # model_file is relative to Fixtures/training/
    "seed": dict(model_file="../keras/seed_sigmoid.h5", batch=8, fit_n=32, fit_batch=8,
                 compiled_optimizer="adamax", step2=False, fit_weights=False),
    "mlp": dict(model_file="mlp.h5", batch=16, fit_n=64, fit_batch=16,
                compiled_optimizer="rmsprop", step2=True, fit_weights=True),
    "dwsep": dict(model_file="dwsep.h5", batch=16, fit_n=64, fit_batch=16,
                  compiled_optimizer="adam", step2=True, fit_weights=True),
}


def save_npz(path, arrays):
    """fixture_io.save_npz (fixed zip timestamps), but keeping 0-d arrays 0-d: fixture_io.npy_bytes
    passes arrays through np.ascontiguousarray, which turns a 0-d array into shape (1,), and the
    round-trip check in fixture_io.save_npz then fails.  `loss` is stored as a 0-d float32 array."""
    import io
    import zipfile

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


def make_optimizer(name):
    cls, kw = OPTIMIZERS[name]
    return getattr(K.optimizers, cls)(**kw)


def reset(seed=SEED):
    K.backend.clear_session()
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    K.utils.set_random_seed(seed)




def model_path(name):
    return (OUT / MODELS[name]["model_file"]).resolve()


def load(name, optimizer=None, loss=LOSS):
    """The saved model, freshly loaded; compiled with `optimizer` (a name or object) if given."""
    K.backend.clear_session()
    model = K.models.load_model(str(model_path(name)), compile=False)
    if optimizer is not None:
        opt = make_optimizer(optimizer) if isinstance(optimizer, str) else optimizer
        model.compile(optimizer=opt, loss=loss, metrics=METRICS)
    return model


def size(path):
    return path.stat().st_size


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------

def build_mlp():
    L = K.layers
    src = K.models.load_model(str(HERE / "keras" / "mlp.h5"), compile=False)
    model = K.Sequential(
        [
            K.Input(shape=(20,), name="features"),
            L.Dense(32, activation="relu", name="dense_1"),
            L.BatchNormalization(name="bn"),
            L.Dropout(0.0, name="dropout"),
            L.Dense(16, name="dense_2"),
            L.Activation("relu", name="act_relu"),
            L.Dense(1, activation="sigmoid", name="output"),
        ],
        name="mlp",
    )
    assert [l.name for l in model.layers] == [l.name for l in src.layers]
    for layer in model.layers:
        s = src.get_layer(layer.name)
        assert [short(v) for v in s.weights] == [short(v) for v in layer.weights], layer.name
        layer.set_weights(s.get_weights())
    for a, b in zip(model.get_weights(), src.get_weights()):
        assert np.array_equal(a, b)
    model.compile(optimizer="rmsprop", loss=LOSS, metrics=METRICS)
    return model


def build_dwsep():
    L = K.layers
    inp = K.Input(shape=(24, 24, 3), name="image")
    x = L.Rescaling(1.0 / 255.0, name="rescale")(inp)
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="conv_1")(x)       # 12x12x8
    x = L.BatchNormalization(name="bn_1")(x)
    x = L.ReLU(name="relu")(x)
    # no bias: a bias feeding a training-mode BN has a gradient that is exactly 0 in exact arithmetic,
    # so the stored value would be rounding noise (~4e-8 here), which Adamax's first step turns into
    # an update of ~0.3 * lr (lr * g / (|g| + 1e-7)) that no other implementation can reproduce
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=1, use_bias=False, name="dw")(x)  # 12x12x8
    x = L.BatchNormalization(name="bn_2")(x)
    x = L.ReLU(6.0, name="relu6")(x)
    x = L.SeparableConv2D(16, 3, padding="same", name="sep")(x)                          # 12x12x16
    a = L.Conv2D(16, 1, name="branch_a")(x)
    b = L.Conv2D(16, 1, activation="tanh", name="branch_b")(x)
    added = L.Add(name="add")([a, b])
    mult = L.Multiply(name="multiply")([a, b])
    c = L.Concatenate(name="concat")([added, mult])                                      # 12x12x32
    c = L.AveragePooling2D(2, name="avgpool")(c)                                         # 6x6x32
    c = L.MaxPooling2D(2, name="maxpool")(c)                                             # 3x3x32
    c = L.GlobalAveragePooling2D(name="gap")(c)                                          # 32
    c = L.Dense(8, activation="elu", name="dense")(c)
    out = L.Dense(1, activation="sigmoid", name="output")(c)
    model = K.Model(inp, out, name="dwsep")

    rng = np.random.default_rng(seed_of("dwsep.init"))
    for layer in model.layers:
        new = []
        for v in layer.weights:
            role, shape = short(v), tuple(v.shape)
            if role in ("kernel", "depthwise_kernel", "pointwise_kernel"):
                rf = int(np.prod(shape[:-2]))
                if role == "depthwise_kernel":          # (kh, kw, in, multiplier)
                    fan_in, fan_out = rf, rf * shape[-1]
                elif len(shape) == 2:                   # Dense
                    fan_in, fan_out = shape
                else:                                   # Conv2D / pointwise (kh, kw, in, out)
                    fan_in, fan_out = rf * shape[-2], rf * shape[-1]
                lim = np.sqrt(6.0 / (fan_in + fan_out))
                w = rng.uniform(-lim, lim, shape)
            elif role == "bias":
                w = rng.uniform(-0.1, 0.1, shape)
            elif role == "gamma":
                w = rng.uniform(0.8, 1.2, shape)
            elif role in ("beta", "moving_mean"):
                w = rng.normal(0.0, 0.1, shape)
            elif role == "moving_variance":
                w = rng.uniform(0.5, 1.5, shape)
            else:
                raise ValueError(v.name)
            new.append(w.astype(np.float32))
        if new:
            layer.set_weights(new)
    model.compile(optimizer="adam", loss=LOSS, metrics=METRICS)
    return model


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------

def labels(rng, n):
    y = np.array([0.0] * (n // 2) + [1.0] * (n - n // 2), np.float32)
    return rng.permutation(y).reshape(n, 1).astype(np.float32)


def make_data(name, n, tag):
    rng = np.random.default_rng(seed_of(f"{name}.{tag}"))
    y = labels(rng, n)
    if name == "seed":
        x = rng.integers(0, 12, (n, 128, 156, 1)).astype(np.float32)         # grey levels 0..11
        for i in np.flatnonzero(y[:, 0] == 1):
            r, c = rng.integers(0, 128 - 40), rng.integers(0, 156 - 40)
            x[i, r:r + 40, c:c + 40, 0] = rng.integers(8, 16, (40, 40))       # brighter square
        x = x / np.float32(16.0)                                              # exact, in [0, 1)
    elif name == "mlp":
        x = rng.random((n, 20), dtype=np.float32)
        pos = y[:, 0] == 1
        x[pos, :5] = np.float32(0.5) + np.float32(0.5) * x[pos, :5]
    elif name == "dwsep":
        x = rng.integers(0, 255, (n, 24, 24, 3)).astype(np.float32)
        for i in np.flatnonzero(y[:, 0] == 1):
            r, c = rng.integers(0, 24 - 8), rng.integers(0, 24 - 8)
            x[i, r:r + 8, c:c + 8, :] = rng.integers(160, 255, (8, 8, 3))
    else:
        raise ValueError(name)
    return x.astype(np.float32), y


# --------------------------------------------------------------------------------------
# Experiments
# --------------------------------------------------------------------------------------

def loss_and_grads(model, x, y, eager=False):
    """What train_step computes before applying gradients: model(x, training=True), compute_loss."""
    tv = model.trainable_variables

    def f(x, y):
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x, y, y_pred)
        return loss, tape.gradient(loss, tv), y_pred, getattr(y_pred, "_keras_logits", None)

    fn = f if eager else tf.function(f)
    loss, grads, y_pred, logits = fn(tf.constant(x), tf.constant(y))
    keys = {id(v): k for k, v in keyed(model, "trainable_weights").items()}
    assert len(keys) == len(tv)
    g = {keys[id(v)]: gr.numpy().astype(np.float32) for v, gr in zip(tv, grads)}
    g = {k: g[k] for k in keyed(model, "trainable_weights")}   # layer order
    return float(loss.numpy()), g, y_pred.numpy(), None if logits is None else logits.numpy()


def bce_np(y, p=None, z=None, smoothing=0.0):
    """Per-sample BCE in float64: from logits z (TF's formula) or from probabilities p (clipped)."""
    y = y.astype(np.float64) * (1.0 - smoothing) + 0.5 * smoothing
    if z is not None:
        z = z.astype(np.float64)
        return (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(axis=-1)
    eps = 1e-7
    p = np.clip(p.astype(np.float64), eps, 1 - eps)
    return -(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)).mean(axis=-1)


def step(name, opt, x, y, steps=1, loss=LOSS, **kw):
    model = load(name, opt, loss=loss)
    assert int(model.optimizer.iterations.numpy()) == 0
    results = [model.train_on_batch(x, y, return_dict=True, **kw) for _ in range(steps)]
    assert int(model.optimizer.iterations.numpy()) == steps
    return model, results


def save_weights_npz(path, model, extra):
    arrays = weights_of(model)
    for k, v in extra.items():
        arrays[k] = f32(v)
    save_npz(path, arrays)


def bn_layers(model):
    return [l for l in model.layers if isinstance(l, K.layers.BatchNormalization)]


def bn_inputs(name, x):
    """Input of every BN layer in training mode (fresh model, float64)."""
    model = load(name)
    out = {}
    for bn in bn_layers(model):
        sub = K.Model(model.inputs, bn.input)
        out[bn.name] = sub(tf.constant(x), training=True).numpy().astype(np.float64)
    return out


def bn_update_check(name, x, w0, w1):
    """Compare BN moving stats after one step with what the batch predicts (biased / unbiased var)."""
    model = load(name)
    inputs = bn_inputs(name, x)
    rows = {}
    for bn in bn_layers(model):
        cfg = bn.get_config()
        mom = cfg["momentum"]
        inp = inputs[bn.name]
        axes = tuple(range(inp.ndim - 1))
        n = int(np.prod([inp.shape[a] for a in axes]))
        mean = inp.mean(axis=axes)
        var_b = ((inp - mean) ** 2).mean(axis=axes)
        var_u = var_b * n / (n - 1)
        mm0, mv0 = w0[f"{bn.name}/moving_mean"].astype(np.float64), w0[f"{bn.name}/moving_variance"].astype(np.float64)
        mm1, mv1 = w1[f"{bn.name}/moving_mean"].astype(np.float64), w1[f"{bn.name}/moving_variance"].astype(np.float64)
        pred_m = mom * mm0 + (1 - mom) * mean
        pred_b = mom * mv0 + (1 - mom) * var_b
        pred_u = mom * mv0 + (1 - mom) * var_u
        eb, eu = float(np.abs(mv1 - pred_b).max()), float(np.abs(mv1 - pred_u).max())
        ulp = float(np.spacing(np.abs(mv1).astype(np.float32)).max())
        rows[bn.name] = {
            "input_rank": inp.ndim, "fused": bool(bn.fused), "n_per_channel": n,
            "momentum": mom, "epsilon": cfg["epsilon"],
            "moving_mean_max_abs_err": float(np.abs(mm1 - pred_m).max()),
            "moving_variance_max_abs_err_if_biased": eb,
            "moving_variance_max_abs_err_if_unbiased": eu,
            "float32_ulp_of_moving_variance": ulp,
            "verdict": ("unbiased" if eu < eb else "biased") if max(eb, eu) > 4 * ulp else "indistinguishable here",
        }
    return rows


def maxpool_ties(name, x):
    """Count MaxPooling2D windows (training-mode forward on x) whose maximum occurs more than once."""
    model = load(name)
    out = {}
    for layer in model.layers:
        if not isinstance(layer, K.layers.MaxPooling2D):
            continue
        assert layer.pool_size == (2, 2) and layer.strides == (2, 2) and layer.padding == "valid"
        inp = K.Model(model.inputs, layer.input)(tf.constant(x), training=True).numpy()
        n, h, w, c = inp.shape
        win = inp[:, :h // 2 * 2, :w // 2 * 2, :].reshape(n, h // 2, 2, w // 2, 2, c)
        mx = win.max(axis=(2, 4), keepdims=True)
        tied = (win == mx).sum(axis=(2, 4)) > 1
        row = {"windows": int(tied.size), "tied_windows": int(tied.sum())}
        # in the seed model the pool input is BN(relu(conv)); ties among positions whose ReLU output is
        # 0 are harmless (the gradient reaching them is multiplied by relu'(.) = 0)
        prev = model.layers[model.layers.index(layer) - 1]
        if isinstance(prev, K.layers.BatchNormalization):
            pre = K.Model(model.inputs, prev.input)(tf.constant(x), training=True).numpy()
            pwin = pre[:, :h // 2 * 2, :w // 2 * 2, :].reshape(n, h // 2, 2, w // 2, 2, c)
            harmful = ((win == mx) & (pwin != 0)).sum(axis=(2, 4)) > 1
            row["tied_windows_not_all_relu_zero"] = int((tied & harmful).sum())
        out[layer.name] = row
    return out


class BatchLog(K.callbacks.Callback):
    """Records the logs Keras passes to on_train_batch_end (running means over the epoch so far)."""

    def __init__(self):
        super().__init__()
        self.rows = []
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = int(epoch)

    def on_train_batch_end(self, batch, logs=None):
        self.rows.append({"epoch": self.epoch, "batch": int(batch),
                          **{k: float(v) for k, v in (logs or {}).items()}})


def fit_once(name, xf, yf, perturb=False):
    """3 epochs of model.fit from the saved file, with its compiled optimizer (fresh)."""
    spec = MODELS[name]
    K.backend.clear_session()
    m = K.models.load_model(str(model_path(name)), compile=True)
    assert int(m.optimizer.iterations.numpy()) == 0
    assert type(m.optimizer).__name__ == OPTIMIZERS[spec["compiled_optimizer"]][0]
    if perturb:
        rng = np.random.default_rng(seed_of(f"{name}.perturb"))
        for v in m.trainable_weights:
            a = v.numpy()
            v.assign(a + a * np.float32(2.0 ** -23) * rng.choice(np.array([-1, 1], np.float32), a.shape))
    cb = BatchLog()
    hist = m.fit(xf, yf, epochs=3, batch_size=spec["fit_batch"], shuffle=False, verbose=0, callbacks=[cb])
    return m, hist, cb


def run_model(name, index):
    spec = MODELS[name]
    log(f"== {name}")
    files = {}
    facts = {}

    def note(path):
        files[path.name] = size(path)

    if model_path(name).parent == OUT:
        note(model_path(name))

    x, y = make_data(name, spec["batch"], "batch")
    xf, yf = make_data(name, spec["fit_n"], "fit")
    save_npz(OUT / f"{name}.batch.npz", {"x": x, "y": y})
    save_npz(OUT / f"{name}.fit.npz", {"x": xf, "y": yf})
    note(OUT / f"{name}.batch.npz")
    note(OUT / f"{name}.fit.npz")

    base = load(name)
    w0 = weights_of(base)
    weights = [{"key": k, "shape": list(v.shape), "trainable": bool(any(v is t for t in base.trainable_weights))}
               for k, v in keyed(base).items()]
    bns = {l.name: {"momentum": l.get_config()["momentum"], "epsilon": l.get_config()["epsilon"],
                    "axis": plain(l.get_config()["axis"]), "fused": bool(l.fused),
                    "input_rank": len(l.input_shape)} for l in bn_layers(base)}

    # ---- a) loss and gradients ----
    model = load(name, "sgd")
    loss_g, grads, y_pred, logits = loss_and_grads(model, x, y)
    model_e = load(name, "sgd")
    loss_e, grads_e, _, logits_e = loss_and_grads(model_e, x, y, eager=True)
    assert logits is not None and logits_e is not None, "no _keras_logits on the model output"
    save_npz(OUT / f"{name}.grads.npz", {**grads, "loss": f32(loss_g)})
    note(OUT / f"{name}.grads.npz")
    facts["loss_tf_function"] = loss_g
    facts["loss_eager"] = loss_e
    facts["grads_max_abs_diff_eager_vs_tf_function"] = max(float(np.abs(grads[k] - grads_e[k]).max()) for k in grads)
    facts["grads_max_rel_diff_eager_vs_tf_function"] = max(
        float(np.abs(grads[k] - grads_e[k]).max() / max(np.abs(grads[k]).max(), 1e-30)) for k in grads)
    facts["output_has_keras_logits"] = {"tf_function": logits is not None, "eager": logits_e is not None}
    facts["bce_from_logits_float64"] = float(bce_np(y, z=logits).mean())
    facts["bce_from_clipped_probabilities_float64"] = float(bce_np(y, p=y_pred).mean())

    # ---- b) one step per optimizer ----
    opt_configs = {}
    steps = {}
    for opt in OPTIMIZERS:
        m, (res,) = step(name, opt, x, y)
        opt_configs[opt] = plain(m.optimizer.get_config())
        path = OUT / f"{name}.step.{opt}.npz"
        save_weights_npz(path, m, {"loss": res["loss"]})
        note(path)
        steps[opt] = {"loss": res["loss"], "accuracy": res["accuracy"]}
        if opt == "sgd":
            w_sgd = weights_of(m)
        log(f"   step {opt}: loss {res['loss']:.9g}")
    facts["train_on_batch_loss"] = steps["sgd"]["loss"]
    facts["train_on_batch_loss_minus_grads_loss"] = steps["sgd"]["loss"] - loss_g
    facts["train_on_batch_loss_equal_across_optimizers"] = len({s["loss"] for s in steps.values()}) == 1
    # SGD: w1 = w0 - lr * g, with the gradients of grads.npz?
    lr = np.float32(0.01)
    facts["sgd_step_max_abs_diff_vs_w0_minus_lr_grad"] = max(
        float(np.abs(w_sgd[k] - (w0[k] - lr * g)).max()) for k, g in grads.items())
    facts["sgd_momentum_step1_equals_sgd_step1"] = all(
        np.array_equal(a, b) for a, b in zip(np.load(OUT / f"{name}.step.sgd.npz").values(),
                                             np.load(OUT / f"{name}.step.sgd_momentum.npz").values()))
    facts["non_trainable_weights_changed_by_step"] = sorted(
        k for k in w0 if not any(k == wk["key"] and wk["trainable"] for wk in weights) and not np.array_equal(w0[k], w_sgd[k]))
    # the update rules of UPDATE_RULES, in numpy float32, applied to grads.npz: they reproduce the step
    # files to rounding (SGD variants bit for bit)
    rule = {}
    for opt in OPTIMIZERS:
        with np.load(OUT / f"{name}.step.{opt}.npz") as st:
            rule[opt] = max(float(np.abs(numpy_step(opt, g, w0[k]) - st[k]).max()) for k, g in grads.items())
        assert rule[opt] < 1e-6 and (rule[opt] == 0.0 or not opt.startswith("sgd")), (opt, rule[opt])
    facts["update_rules_numpy_max_abs_diff_vs_step_files"] = rule
    facts["bn_moving_stats_update"] = bn_update_check(name, x, w0, w_sgd)
    facts["maxpool_ties_on_batch"] = maxpool_ties(name, x)

    # ---- two-step variants ----
    if spec["step2"]:
        for opt in STEP2_OPTIMIZERS:
            m, (r1, r2) = step(name, opt, x, y, steps=2)
            path = OUT / f"{name}.step2.{opt}.npz"
            save_weights_npz(path, m, {"loss": r2["loss"], "loss_first": r1["loss"]})
            note(path)
            steps[f"{opt} x2"] = {"loss_first": r1["loss"], "loss": r2["loss"]}

    # ---- e) class weights and label smoothing (mlp) ----
    extra = {}
    if name == "mlp":
        cw = {0: 1.0, 1: 3.0}
        m, (res,) = step(name, "sgd", x, y, class_weight=cw)
        path = OUT / "mlp.step.sgd_classweight.npz"
        save_weights_npz(path, m, {"loss": res["loss"]})
        note(path)
        per = bce_np(y, z=logits)
        w = np.where(y[:, 0] == 1, cw[1], cw[0])
        extra["sgd_classweight"] = {
            "class_weight": {str(k): v for k, v in cw.items()}, "loss": res["loss"],
            "sum_w_l_over_N_float64": float((w * per).sum() / len(per)),
            "sum_w_l_over_sum_w_float64": float((w * per).sum() / w.sum()),
            "accuracy": res["accuracy"],
        }
        m, (res,) = step(name, "sgd", x, y, loss=K.losses.BinaryCrossentropy(label_smoothing=0.1))
        path = OUT / "mlp.step.sgd_smooth.npz"
        save_weights_npz(path, m, {"loss": res["loss"]})
        note(path)
        extra["sgd_smooth"] = {
            "loss_config": plain(K.losses.BinaryCrossentropy(label_smoothing=0.1).get_config()),
            "loss": res["loss"], "expected_float64_targets_y_0.9_plus_0.05": float(bce_np(y, z=logits, smoothing=0.1).mean()),
            "accuracy": res["accuracy"],
        }

    # ---- f) frozen first Conv2D + first BN (dwsep) ----
    if name == "dwsep":
        m = load(name)
        for ln in ("conv_1", "bn_1"):
            m.get_layer(ln).trainable = False
        m.compile(optimizer=make_optimizer("sgd"), loss=LOSS, metrics=METRICS)
        res = m.train_on_batch(x, y, return_dict=True)
        path = OUT / "dwsep.step.sgd_frozen.npz"
        save_weights_npz(path, m, {"loss": res["loss"]})
        note(path)
        w1 = weights_of(m)
        sub = K.Model(m.inputs, m.get_layer("bn_1").output)
        xt = tf.constant(x)
        frozen_same = bool(np.array_equal(sub(xt, training=True).numpy(), sub(xt, training=False).numpy()))
        unfrozen = load(name)
        sub_u = K.Model(unfrozen.inputs, unfrozen.get_layer("bn_1").output)
        unfrozen_same = bool(np.array_equal(sub_u(xt, training=True).numpy(), sub_u(xt, training=False).numpy()))
        extra["sgd_frozen"] = {
            "frozen_layers": ["conv_1", "bn_1"], "loss": res["loss"], "accuracy": res["accuracy"],
            "trainable_weights": [k for k in keyed(m, "trainable_weights")],
            "unchanged_by_step": sorted(k for k in w0 if np.array_equal(w0[k], w1[k])),
            "bn_1_output_training_True_equals_training_False_when_frozen": frozen_same,
            "bn_1_output_training_True_equals_training_False_when_trainable": unfrozen_same,
            "loss_differs_from_unfrozen_step": res["loss"] != steps["sgd"]["loss"],
        }

    # ---- c/d) three epochs of fit with the compiled optimizer ----
    m, hist, cb = fit_once(name, xf, yf)
    # how much a float32-rounding-sized change of the starting weights moves the fit (tolerances)
    mp, hp, _ = fit_once(name, xf, yf, perturb=True)
    wf, wp = weights_of(m), weights_of(mp)
    facts["fit_sensitivity"] = {
        "perturbation": "every trainable weight w -> w + w * 2**-23 * (+1 or -1), i.e. at most 1 float32 ulp",
        "history_loss_perturbed": [float(v) for v in hp.history["loss"]],
        "history_loss_rel_change_per_epoch": [abs(a - b) / abs(a) for a, b in zip(hist.history["loss"], hp.history["loss"])],
        "history_loss_max_rel_change": max(abs(a - b) / abs(a) for a, b in zip(hist.history["loss"], hp.history["loss"])),
        "final_weights_max_abs_change": max(float(np.abs(wf[k] - wp[k]).max()) for k in wf),
        "final_weights_max_abs_change_relative_to_fit_update": max(
            float(np.abs(wf[k] - wp[k]).max() / max(np.abs(wf[k] - w0[k]).max(), 1e-30)) for k in wf),
    }
    fit = {
        "model": name, "model_file": spec["model_file"], "data_file": f"{name}.fit.npz",
        "call": f"model.fit(x, y, epochs=3, batch_size={spec['fit_batch']}, shuffle=False, verbose=0)",
        "optimizer": type(m.optimizer).__name__, "optimizer_config": plain(m.optimizer.get_config()),
        "n": spec["fit_n"], "batch_size": spec["fit_batch"], "steps_per_epoch": spec["fit_n"] // spec["fit_batch"],
        "history": {k: [float(v) for v in vals] for k, vals in hist.history.items()},
        "batch_logs": cb.rows,
        "notes": [
            "history.loss[e] is the mean of the 4 batch losses of epoch e (Keras's Mean metric weighted by batch "
            "size; all batches are full), each computed in the forward pass BEFORE that batch's update, "
            "with BN in training mode",
            "batch_logs holds the running values Keras passes to on_train_batch_end: the mean over the "
            "epoch's batches so far, so batch k's own loss is (k+1)*running[k] - k*running[k-1]",
            "history.accuracy is binary_accuracy (threshold 0.5) accumulated the same way",
            "the optimizer is the one from the file's training_config, fresh (iterations 0); its state "
            "carries over between the epochs",
        ],
    }
    rows = cb.rows
    per_batch = []
    spe = fit["steps_per_epoch"]
    for e in range(3):
        run = [r["loss"] for r in rows[e * spe:(e + 1) * spe]]
        per_batch.append([(k + 1) * run[k] - k * (run[k - 1] if k else 0.0) for k in range(spe)])
    fit["batch_loss_derived"] = per_batch
    fit["history_loss_minus_last_running_loss"] = [hist.history["loss"][e] - rows[(e + 1) * spe - 1]["loss"] for e in range(3)]
    write_json(OUT / f"{name}.fit.json", fit)
    note(OUT / f"{name}.fit.json")
    if spec["fit_weights"]:
        path = OUT / f"{name}.fit_weights.npz"
        save_npz(path, weights_of(m))
        note(path)
    log(f"   fit loss {hist.history['loss']}")

    index["models"][name] = {
        "model_file": spec["model_file"], "model_file_bytes": size(model_path(name)),
        "model_class": type(base).__name__,
        "parameters": int(base.count_params()),
        "trainable_parameters": int(sum(int(np.prod(v.shape)) for v in base.trainable_weights)),
        "compiled_optimizer": spec["compiled_optimizer"],
        "batch_file": f"{name}.batch.npz", "batch_size": spec["batch"],
        "fit_file": f"{name}.fit.npz", "fit_n": spec["fit_n"], "fit_batch_size": spec["fit_batch"],
        "weights": weights, "batch_norm": bns,
        "step_results": steps, "extra_steps": extra,
        "facts": facts,
        "files": files, "total_bytes": sum(files.values()),
    }
    index["optimizer_configs"] = opt_configs


# --------------------------------------------------------------------------------------
# Resume: a saved optimizer state, loaded and stepped once more
# --------------------------------------------------------------------------------------

RESUME_OPTIMIZER = ("RMSprop", dict(learning_rate=0.001, rho=0.9, momentum=0.5, centered=True))


def h5_optimizer_weight_names(path):
    """(datasets under optimizer_weights/ as h5py visititems lists them, the group's weight_names attr)."""
    with h5py.File(path, "r") as f:
        g = f["optimizer_weights"]
        found = []
        g.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) else None)
        attr = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in g.attrs["weight_names"]]
    return found, attr


def run_resume(index):
    """mlp.h5, recompiled with RESUME_OPTIMIZER, two train_on_batch on mlp.batch.npz, model.save ->
    mlp_trained.h5 (optimizer_weights included); then load_model(mlp_trained.h5) (restores the
    optimizer), ONE more train_on_batch -> mlp_trained.resume.npz (weights LAYER/ROLE, loss, and
    "opt:" + the h5's optimizer weight name for every optimizer variable after the step)."""
    log("== resume")
    cls, kw = RESUME_OPTIMIZER
    with np.load(OUT / "mlp.batch.npz") as z:
        x, y = z["x"], z["y"]
    trained = OUT / "mlp_trained.h5"
    resume = OUT / "mlp_trained.resume.npz"

    def fresh():
        m = load("mlp")                               # compile=False: the weights of mlp.h5
        m.compile(optimizer=getattr(K.optimizers, cls)(**kw), loss=LOSS)
        return m

    m = fresh()
    losses_before_save = [float(m.train_on_batch(x, y)) for _ in range(2)]
    assert int(m.optimizer.iterations.numpy()) == 2
    opt_config = plain(m.optimizer.get_config())
    saved_opt = {v.name: v.numpy() for v in m.optimizer.variables()}
    saved_w = weights_of(m)
    m.save(str(trained))
    del m

    visited, weight_names = h5_optimizer_weight_names(trained)
    assert sorted(visited) == sorted(weight_names) and list(saved_opt) == weight_names, (visited, weight_names)

    K.backend.clear_session()
    r = K.models.load_model(str(trained))            # compile=True: optimizer and its state restored
    assert type(r.optimizer).__name__ == cls
    restored_iterations = int(r.optimizer.iterations.numpy())
    assert restored_iterations == 2
    assert plain(r.optimizer.get_config()) == opt_config
    # the loaded optimizer's variables are the h5's weight_names in order, without the "RMSprop/" scope
    loaded = r.optimizer.variables()
    assert len(loaded) == len(weight_names)
    for v, n in zip(loaded, weight_names):
        assert v.name == n or n == f"{cls}/{v.name}", (v.name, n)
    restored_state_equal = all(np.array_equal(v.numpy(), saved_opt[n]) for v, n in zip(loaded, weight_names))
    restored_weights_equal = all(np.array_equal(a, saved_w[k]) for k, a in weights_of(r).items())
    assert restored_state_equal and restored_weights_equal

    loss = float(r.train_on_batch(x, y))
    assert int(r.optimizer.iterations.numpy()) == 3
    arrays = weights_of(r)
    arrays["loss"] = f32(loss)
    for v, n in zip(r.optimizer.variables(), weight_names):
        a = v.numpy()
        arrays[f"opt:{n}"] = a if a.dtype == np.int64 else a.astype(np.float32)
    save_npz(resume, arrays)
    resumed_w = weights_of(r)
    del r

    # the same three steps without the save / load in between
    m = fresh()
    losses_uninterrupted = [float(m.train_on_batch(x, y)) for _ in range(3)]
    w3 = weights_of(m)
    opt3 = [v.numpy() for v in m.optimizer.variables()]
    del m
    same_losses = losses_uninterrupted == losses_before_save + [loss]
    diff_w = max(float(np.abs(w3[k] - resumed_w[k]).max()) for k in w3)
    diff_opt = max(float(np.abs(a.astype(np.float64) - arrays[f"opt:{n}"].astype(np.float64)).max())
                   for a, n in zip(opt3, weight_names))
    log(f"   losses {losses_before_save} then {loss:.9g}; resumed vs uninterrupted: weights {diff_w:g}, "
        f"optimizer {diff_opt:g}")

    index["resume"] = {
        "files": {p.name: size(p) for p in (trained, resume)},
        "model_file": "mlp.h5",
        "batch_file": "mlp.batch.npz",
        "optimizer_requested": {"class": cls, "kwargs": kw},
        "optimizer_config": opt_config,
        "loss_function": LOSS,
        "metrics": None,
        "calls": [
            "m = load_model('mlp.h5', compile=False); m.compile(optimizer=RMSprop(**kwargs), loss='binary_crossentropy')",
            "m.train_on_batch(x, y) twice (mlp.batch.npz); m.save('mlp_trained.h5')   # legacy HDF5, optimizer_weights",
            "r = load_model('mlp_trained.h5')   # compile=True, restores the optimizer state (iterations 2)",
            "r.train_on_batch(x, y) once more -> mlp_trained.resume.npz",
        ],
        "optimizer_weights_names": weight_names,
        "optimizer_weights_names_note": "the weight_names attribute of mlp_trained.h5's optimizer_weights group, in "
                                        "the optimizer's variable order; h5py visititems lists the same datasets "
                                        "(alphabetically, as optimizer_weights_datasets_visititems). After "
                                        "load_model the variables are named without the 'RMSprop/' scope "
                                        "(e.g. velocity/dense_1/kernel:0); their order is the same",
        "optimizer_weights_datasets_visititems": visited,
        "resume_npz_keys": "every weight LAYER/ROLE after the 3rd step, loss (0-d float32, the 3rd train_on_batch's "
                           "value, before its update), and 'opt:' + each name of optimizer_weights_names holding that "
                           "variable after the 3rd step (opt:iteration:0 is a 0-d int64 = 3; the slots float32)",
        "losses_before_save": losses_before_save,
        "loss": loss,
        "load_model_restored_iterations": restored_iterations,
        "load_model_restored_optimizer_state_bit_identical": restored_state_equal,
        "load_model_restored_weights_bit_identical": restored_weights_equal,
        "uninterrupted_3_steps": {
            "losses": losses_uninterrupted, "losses_equal": same_losses,
            "weights_max_abs_diff_vs_resume": diff_w, "optimizer_max_abs_diff_vs_resume": diff_opt,
        },
    }


# --------------------------------------------------------------------------------------
# Probes: small decisive experiments for the facts in index.json
# --------------------------------------------------------------------------------------

def probe_bce():
    """Saturated logits: from-logits BCE gives 30, the clipped-probability formula ~15.4."""
    x = np.array([[30.0], [-30.0]], np.float32)
    y = np.array([[0.0], [1.0]], np.float32)
    out = {}
    variants = {
        "Sequential Dense(sigmoid)": lambda: K.Sequential([K.Input((1,)), K.layers.Dense(1, activation="sigmoid")]),
        "Functional Dense(sigmoid)": lambda: (lambda i: K.Model(i, K.layers.Dense(1, activation="sigmoid")(i)))(K.Input((1,))),
        "Dense then Activation(sigmoid)": lambda: K.Sequential([K.Input((1,)), K.layers.Dense(1), K.layers.Activation("sigmoid")]),
    }
    for label, mk in variants.items():
        reset()
        m = mk()
        m.layers[0 if label.startswith("Sequential") or label.startswith("Dense") else 1].set_weights(
            [np.ones((1, 1), np.float32), np.zeros(1, np.float32)])
        m.compile(optimizer=K.optimizers.SGD(0.0), loss=LOSS)
        xt, yt = tf.constant(x), tf.constant(y)
        eager = float(m.compute_loss(xt, yt, m(xt, training=True)).numpy())
        tob = float(m.train_on_batch(x, y))
        pred = m.predict(x, verbose=0)
        out[label] = {"train_on_batch": tob, "eager_compute_loss": eager,
                      "binary_crossentropy_on_predict_output": float(np.mean(K.losses.binary_crossentropy(y, pred).numpy()))}
    return {"inputs": "logits x = [30, -30], y = [0, 1], Dense kernel 1 bias 0",
            "from_logits_value": 30.0, "clipped_probability_value": float(bce_np(y, p=1 / (1 + np.exp(-x))).mean()),
            "results": out}


def probe_bn():
    """BN moving variance after one train_on_batch, fused (4-D) and non-fused (2-D, 3-D) inputs."""
    rng = np.random.default_rng(seed_of("probe_bn"))
    out = {}
    for label, shape in (("4-D (2,3,3,4)", (2, 3, 3, 4)), ("2-D (6,4)", (6, 4)), ("3-D (2,3,4)", (2, 3, 4))):
        reset()
        x = (rng.normal(0, 10, shape) + 3).astype(np.float32)
        m = K.Sequential([K.Input(shape[1:]), K.layers.BatchNormalization(name="bn")])
        m.compile(optimizer=K.optimizers.SGD(0.0), loss="mse")
        bn = m.get_layer("bn")
        out_train = m(x, training=True).numpy().astype(np.float64)
        bn.set_weights([np.ones(4, np.float32), np.zeros(4, np.float32), np.zeros(4, np.float32), np.ones(4, np.float32)])
        m.train_on_batch(x, np.zeros_like(x))
        mv = bn.moving_variance.numpy().astype(np.float64)
        mm = bn.moving_mean.numpy().astype(np.float64)
        axes = tuple(range(len(shape) - 1))
        n = int(np.prod([shape[a] for a in axes]))
        xd = x.astype(np.float64)
        mean = xd.mean(axis=axes)
        vb = ((xd - mean) ** 2).mean(axis=axes)
        vu = vb * n / (n - 1)
        eps = bn.epsilon
        y_b = (xd - mean) / np.sqrt(vb + eps)
        y_u = (xd - mean) / np.sqrt(vu + eps)
        out[label] = {
            "fused": bool(bn.fused), "n_per_channel": n,
            "moving_mean_err": float(np.abs(mm - 0.01 * mean).max()),
            "moving_variance_err_if_biased": float(np.abs(mv - (0.99 + 0.01 * vb)).max()),
            "moving_variance_err_if_unbiased": float(np.abs(mv - (0.99 + 0.01 * vu)).max()),
            "training_output_err_if_normalised_with_biased": float(np.abs(out_train - y_b).max()),
            "training_output_err_if_normalised_with_unbiased": float(np.abs(out_train - y_u).max()),
        }
    return out


# Read off tf_keras/src/optimizers/*.py (2.21), dense-gradient branch.  All arithmetic is float32;
# t = iterations + 1 (iterations counts the steps already applied); lr is the float32 learning rate.
# On a CPU-only machine jit_compile is False (the optimizers use XLA only when a GPU is present),
# so each update runs op by op.  m, v, u, a, p start at 0.
UPDATE_RULES = {
    "sgd": "w <- w - lr*g",
    "sgd_momentum": "m <- -lr*g + momentum*m;  w <- w + m   (so the first step equals plain SGD, bit for bit)",
    "sgd_nesterov": "m <- -lr*g + momentum*m;  w <- w + (-lr*g + momentum*m)   (m the new value)",
    "adam": "m <- m + (g - m)*(1 - beta_1);  v <- v + (g*g - v)*(1 - beta_2);  "
            "alpha = lr*sqrt(1 - beta_2**t)/(1 - beta_1**t);  w <- w - (m*alpha)/(sqrt(v) + epsilon).  "
            "epsilon is added to sqrt of the UNcorrected v (the 'epsilon hat' form of Kingma & Ba, end of section 2): "
            "the textbook rule lr*mhat/(sqrt(vhat) + eps') with eps' = epsilon/sqrt(1 - beta_2**t) (3.2e-6 at t = 1). "
            "Adam(adaptive_epsilon=True) would use epsilon*sqrt(1 - beta_2**t) (= the textbook rule); it is False by "
            "default and get_config() does not list it",
    "adam_amsgrad": "as adam, then vhat <- max(vhat, v) and w <- w - (m*alpha)/(sqrt(vhat) + epsilon); v keeps the plain EMA",
    "adamw": "first, for every trainable variable (biases and BN gamma/beta included; nothing is excluded by default): "
             "w <- w - w*weight_decay*lr (decoupled decay, multiplied by the current lr, computed as (w*wd)*lr), "
             "then the adam rule with the gradient taken at the pre-decay weights (AdamW has no adaptive_epsilon)",
    "adamax": "m <- m + (g - m)*(1 - beta_1);  u <- max(beta_2*u, |g|);  w <- w - (lr*m)/((1 - beta_1**t)*(u + epsilon))",
    "rmsprop": "v <- rho*v + (1 - rho)*g*g;  d = v + epsilon;  inc = lr*g*rsqrt(d)   (epsilon INSIDE the square root);  "
               "momentum > 0: p <- momentum*p + inc, w <- w - p;  else w <- w - inc",
    "rmsprop_centered": "v <- rho*v + (1 - rho)*g*g;  a <- rho*a + (1 - rho)*g;  d = v - a*a + epsilon;  inc = lr*g*rsqrt(d);  "
                        "p <- momentum*p + inc;  w <- w - p",
    "all": "weight_decay (any optimizer) is applied before the update as in adamw; then constraints; clipnorm/clipvalue "
           "are None here; RMSprop's constructor default ema_overwrite_frequency=100 is inert (use_ema False)",
}


def numpy_step(opt, g, w):
    """UPDATE_RULES for the first step (t = 1, zero slots) in float32 numpy."""
    f = np.float32
    cfg = dict(OPTIMIZERS[opt][1])
    lr = f(cfg.get("learning_rate", 0.01 if opt.startswith("sgd") else 0.001))
    b1, b2, eps, one = f(0.9), f(0.999), f(1e-7), f(1)
    z = np.zeros_like(w)
    if opt == "sgd":
        return w - lr * g
    if opt in ("sgd_momentum", "sgd_nesterov"):
        mu = f(cfg["momentum"])
        m = -g * lr + z * mu
        return w + m if opt == "sgd_momentum" else w + (-g * lr + m * mu)
    if opt in ("adam", "adam_amsgrad", "adamw"):
        if opt == "adamw":
            w = w - w * f(cfg["weight_decay"]) * lr
        m = z + (g - z) * (one - b1)
        v = z + (g * g - z) * (one - b2)
        if opt == "adam_amsgrad":
            v = np.maximum(z, v)
        alpha = lr * np.sqrt(one - b2) / (one - b1)
        return w - (m * alpha) / (np.sqrt(v) + eps)
    if opt == "adamax":
        m = z + (g - z) * (one - b1)
        u = np.maximum(b2 * z, np.abs(g))
        return w - (lr * m) / ((one - b1) * (u + eps))
    rho, mu = f(cfg.get("rho", 0.9)), f(cfg.get("momentum", 0.0))
    v = rho * z + (one - rho) * g * g
    if cfg.get("centered"):
        a = rho * z + (one - rho) * g
        inc = lr * g / np.sqrt(v - a * a + eps)
    else:
        inc = lr * g / np.sqrt(v + eps)
    return w - (mu * z + inc if mu > 0 else inc)


def findings(index):
    """Plain statements of what was measured; each is asserted against the numbers in index.json."""
    mods, probes = index["models"], index["probes"]
    bce = probes["bce_saturated_logits"]["results"]
    assert all(r["train_on_batch"] == 30.0 and r["eager_compute_loss"] == 30.0 for r in bce.values())
    for m in mods.values():
        f = m["facts"]
        assert f["output_has_keras_logits"] == {"tf_function": True, "eager": True}
        assert f["train_on_batch_loss_minus_grads_loss"] == 0.0 and f["sgd_step_max_abs_diff_vs_w0_minus_lr_grad"] == 0.0
        assert f["sgd_momentum_step1_equals_sgd_step1"] and f["train_on_batch_loss_equal_across_optimizers"]
        assert abs(f["loss_tf_function"] - f["bce_from_logits_float64"]) < abs(f["loss_tf_function"] - f["bce_from_clipped_probabilities_float64"])
        for row in f["bn_moving_stats_update"].values():
            assert row["verdict"] in ("indistinguishable here", "unbiased" if row["fused"] else "biased"), row
    bn = probes["bn_moving_variance"]
    for label, row in bn.items():
        unbiased = row["moving_variance_err_if_unbiased"] < 1e-5
        assert unbiased == row["fused"] and (row["moving_variance_err_if_biased"] < 1e-5) != unbiased, label
        assert row["training_output_err_if_normalised_with_biased"] < 1e-5, label
    cw = mods["mlp"]["extra_steps"]["sgd_classweight"]
    assert abs(cw["loss"] - cw["sum_w_l_over_N_float64"]) < 1e-6
    fr = mods["dwsep"]["extra_steps"]["sgd_frozen"]
    assert fr["bn_1_output_training_True_equals_training_False_when_frozen"]
    assert not fr["bn_1_output_training_True_equals_training_False_when_trainable"]
    assert {"bn_1/moving_mean", "bn_1/moving_variance", "bn_1/gamma", "bn_1/beta", "conv_1/kernel"} <= set(fr["unchanged_by_step"])
    sens = {n: m["facts"]["fit_sensitivity"] for n, m in mods.items()}
    return {
        "bce": "binary_crossentropy is computed FROM THE LOGITS: the sigmoid output of Dense(activation='sigmoid') and of "
               "Activation('sigmoid') carries `_keras_logits` (eagerly and inside tf.function, Sequential and Functional "
               "alike), so backend.binary_crossentropy uses tf.nn.sigmoid_cross_entropy_with_logits = "
               "max(z, 0) - z*y + log1p(exp(-|z|)), then the mean over the last axis and over the batch "
               "(sum_over_batch_size). Probe with saturated logits +-30: 30.0 (the clipped-probability formula on "
               "model.predict() output, which has no logits, gives %.2f). On seed's batch: loss %.7f, from clipped "
               "probabilities it would be %.7f." % (
                   bce["Sequential Dense(sigmoid)"]["binary_crossentropy_on_predict_output"],
                   mods["seed"]["facts"]["loss_tf_function"], mods["seed"]["facts"]["bce_from_clipped_probabilities_float64"]),
        "loss_reported": "train_on_batch returns the loss of the forward pass BEFORE the update; it equals the loss in "
                         "NAME.grads.npz exactly, and w0 - 0.01*grads reproduces NAME.step.sgd.npz bit for bit (so the "
                         "stored gradients are exactly the ones train_on_batch applied). The gradients are computed in a "
                         "tf.function like train_step; eager execution gives slightly different gradients (max relative "
                         "difference per array: seed %.1e, mlp %.1e, dwsep %.1e)." % tuple(
                             mods[n]["facts"]["grads_max_rel_diff_eager_vs_tf_function"] for n in ("seed", "mlp", "dwsep")),
        "bn_moving_variance": "fused path (4-D input: seed, dwsep; layer.fused True) updates the moving variance with the "
                              "UNBIASED batch variance (x n/(n-1), n = N*H*W): in train_on_batch/fit FusedBatchNormV3 gets "
                              "exponential_avg_factor = 1 - momentum and computes moving <- (1-f)*moving + f*var_unbiased. "
                              "Non-fused path (2-D input: mlp; also 3-D) uses the BIASED variance (tf.nn.moments): "
                              "moving <- moving - (moving - var_biased)*(1 - momentum). Both normalise the training-mode "
                              "output with the BIASED batch variance: (x - mean)/sqrt(var_biased + epsilon)*gamma + beta. "
                              "Decisive probe: probes.bn_moving_variance (n = 18 and 6); in the fixtures themselves the "
                              "difference is visible only where n is small enough (seed bn_3, dwsep bn_2: unbiased; mlp "
                              "bn: biased; see facts.bn_moving_stats_update).",
        "bn_moving_mean": "moving_mean <- momentum*moving_mean + (1 - momentum)*batch_mean in both paths",
        "bn_defaults": "every BN layer here has tf_keras's defaults momentum 0.99, epsilon 0.001 (center, scale True)",
        "bn_non_trainable": "a BatchNormalization layer with trainable=False runs in INFERENCE mode even under "
                            "training=True (BatchNormalizationBase._get_training_value forces training=False): it "
                            "normalises with the moving statistics and does not update them (dwsep.step.sgd_frozen: "
                            "bn_1's four arrays and conv_1/kernel are unchanged; bn_2's moving statistics change).",
        "class_weight": "class_weight becomes per-sample weights; the loss is sum(w_i*l_i)/N (N = batch size), NOT divided "
                        "by sum(w_i): mlp.step.sgd_classweight loss %.7f = sum/N, sum/sum(w) would be %.7f" % (
                            cw["loss"], cw["sum_w_l_over_sum_w_float64"]),
        "label_smoothing": "BinaryCrossentropy(label_smoothing=0.1) trains on y*(1 - 0.1) + 0.5*0.1, still from the logits",
        "sgd_momentum_first_step": "SGD with momentum: the first step is bit-identical to plain SGD (m starts at 0); the "
                                   "step2 files are the informative ones",
        "fit_loss": "history['loss'][e] is the mean of the epoch's batch losses (Keras's Mean metric weighted by batch "
                    "size; all batches are full), each taken in the forward pass before that batch's update",
        "maxpool_ties": "seed: many MaxPooling2D windows hold tied maxima, but all of them among positions whose ReLU "
                        "output is 0 (harmless: the gradient routed there is multiplied by relu' = 0); dwsep: no ties",
        "conditioning": "how far a change of at most 1 float32 ulp in every starting weight moves the 3-epoch fit: "
                        "seed: epoch losses by %s relative (epoch 3 has loss %.4f), "
                        "final weights by up to %.1e (%.0f%% of their fit update) -- the seed model's outputs are "
                        "saturated and adamax moves every one of the 38912 Dense inputs, so its fit is chaotic; "
                        "mlp: %.1e / %.1e; dwsep: %.1e / %.1e. Compare the seed fit with loose tolerances." % (
                            ", ".join("%.1e" % v for v in sens["seed"]["history_loss_rel_change_per_epoch"]),
                            sens["seed"]["history_loss_perturbed"][2], sens["seed"]["final_weights_max_abs_change"],
                            100 * sens["seed"]["final_weights_max_abs_change_relative_to_fit_update"],
                            sens["mlp"]["history_loss_max_rel_change"], sens["mlp"]["final_weights_max_abs_change"],
                            sens["dwsep"]["history_loss_max_rel_change"], sens["dwsep"]["final_weights_max_abs_change"]),
        "update_rules": "optimizer_update_rules re-implemented in float32 numpy (numpy_step) and applied to "
                        "NAME.grads.npz reproduce every NAME.step.OPT.npz: the SGD variants bit for bit, the others to "
                        "<= %.1e (rounding; facts.update_rules_numpy_max_abs_diff_vs_step_files)" % max(
                            v for m in mods.values() for v in m["facts"]["update_rules_numpy_max_abs_diff_vs_step_files"].values()),
        "determinism": "a rerun of the script rewrites every file byte for byte (checked)",
    }


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    reset()
    mlp = build_mlp()
    mlp.save(str(OUT / "mlp.h5"))
    reset()
    dwsep = build_dwsep()
    dwsep.save(str(OUT / "dwsep.h5"))
    for nm, m in (("mlp", mlp), ("dwsep", dwsep)):
        re = load(nm)
        for a, b in zip(m.get_weights(), re.get_weights()):
            assert np.array_equal(a, b), nm
    # seed: the committed file loads to exactly what it stores, so it is referenced, not copied
    seed = load("seed")
    with h5py.File(model_path("seed"), "r") as f:
        assert "training_config" in f.attrs

    index = {
        "generator": "Fixtures/make_training_fixtures.py",
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "tensorflow": tf.__version__,
                     "tf_keras": K.__version__, "h5py": h5py.__version__},
        "paths": "file names are relative to Fixtures/training/",
        "key_rule": "weight arrays are keyed LAYER/ROLE, ROLE = weight.name.split('/')[-1].split(':')[0]",
        "loss": "binary_crossentropy, reduction sum_over_batch_size (mean over the batch)",
        "optimizers_requested": {k: {"class": c, "kwargs": kw} for k, (c, kw) in OPTIMIZERS.items()},
        "step2_optimizers": STEP2_OPTIMIZERS,
        "models": {},
    }
    del seed
    for name in MODELS:
        reset()
        run_model(name, index)
    reset()
    run_resume(index)
    log("== probes")
    index["probes"] = {"bce_saturated_logits": probe_bce(), "bn_moving_variance": probe_bn()}
    index["bn_defaults"] = {k: v for k, v in K.layers.BatchNormalization().get_config().items()
                            if k in ("momentum", "epsilon", "center", "scale", "axis")}
    index["findings"] = findings(index)
    index["optimizer_update_rules"] = UPDATE_RULES
    index["all_files"] = {p.name: size(p) for p in sorted(OUT.iterdir()) if p.name != "index.json"}
    index["total_bytes_without_index"] = sum(index["all_files"].values())
    write_json(OUT / "index.json", plain(index))
    total = sum(p.stat().st_size for p in OUT.iterdir())
    log(f"wrote {len(list(OUT.iterdir()))} files, {total} bytes")


if __name__ == "__main__":
    main()
