#!/usr/bin/env python3
"""Generate the Keras test fixtures used by ModelPort's Keras importer tests.

Run from the repository root (with the venv described in Fixtures/requirements.txt):

    TF_CPP_MIN_LOG_LEVEL=2 CUDA_VISIBLE_DEVICES=-1 python Fixtures/make_keras_fixtures.py

Everything is (re)written into Fixtures/keras/.  The script is deterministic: it
seeds Python/NumPy/TensorFlow/Keras RNGs, runs TensorFlow single-threaded with op
determinism enabled, and clears both Keras sessions before each model, so weights,
configs and reports are byte-identical across runs; only the .keras zips change
(metadata.json date_saved, the model.weights.h5 zip timestamp, and the
"shared_object_id" numbers in config.json, which are Python object ids).

Usage:  python Fixtures/make_keras_fixtures.py [NAME ...]
With no NAME, Fixtures/keras/ is wiped and everything is rebuilt; with names, only those
fixtures are rewritten (NAME as below, or "plain").

For every model NAME built in both frameworks it writes
    NAME.h5            tf_keras (Keras 2) model.save(), legacy HDF5 full model, compiled
                       (so the root attribute `training_config` is present)
    NAME_weights.h5    tf_keras model.save_weights() (Keras 2 HDF5 weights only)
    NAME.json          tf_keras model.to_json() (architecture only)
    NAME.keras         keras 3 model.save() (zip: config.json, metadata.json, model.weights.h5)
    NAME.weights.h5    keras 3 model.save_weights()
    NAME.keras2.json   what tf_keras reports about its model (see `describe()`)
    NAME.keras3.json   what keras 3 reports about its model
Both frameworks' models are built by the same builder function (parameterised by the
Keras module) with explicit layer names; after training the tf_keras model, its
weights are copied layer-by-layer (by name, recursing into nested models) into the
keras 3 model, so both hold identical weights.  The keras 3 model is trained on the same
data too (so its optimizer has state) before the final copy.  seed_* and
mobilenet_transfer are recompiled after training, so their files carry no optimizer slot
variables (file size); functional, nested and mlp keep them.

Models (all float32):
  seed_sigmoid        Sequential CNN 128x156x1, 3x(Conv2D-BN-MaxPool), Flatten, Dense(1,sigmoid); adamax+BCE
  seed_softmax        same with a Dense(2,softmax) head, compiled adamax+binary_crossentropy
  functional          2-input / 2-output Functional model covering many layer types and a shared Dense
  nested              (extra) Functional model containing a nested Sequential called twice (shared
                      nested model) and a nested Functional model
  mobilenet_transfer  Sequential([MobileNetV2(96x96x3, alpha .35, no top), GAP, Dense(1,sigmoid)]);
                      2 train steps, then BN moving stats are perturbed (mean += N(0,.1),
                      var *= U(.5,1.5)) because BN momentum .999 leaves them near 0/1
  mlp                 Sequential Dense/BN/Dropout/Activation MLP, rmsprop
  activations         Sequential chain of Dense + Activation layers (every built-in activation);
                      tf_keras has no hard_swish, so its model lacks the act_hard_swish layer
  channels_first      Sequential Conv2D/MaxPool/BN(axis=1)/Flatten in channels_first; TF on CPU
                      cannot run NCHW Conv2D, so it is untrained (BN stats perturbed instead)
                      and its reference outputs are null
tf_keras-only models (NAME.h5, NAME_weights.h5, NAME.json, NAME.keras2.json):
  tfop                Functional model whose config contains TFOpLambda layers
  many_layers         72 Dense(1) layers, the first with a 1000-character name: the `layer_names`
                      attribute (72 x S1000 > 64512 bytes) is split into layer_names0, layer_names1 (no NAME.json)
tf_keras-only full models for error tests (NAME.h5, NAME.keras2.json):
  unsupported_lambda  contains a Lambda layer wrapping a Python lambda
  unsupported_lstm    contains an LSTM layer
plus plain.h5: an HDF5 file (h5py) with a dataset and an attribute but no Keras structure.

Each NAME.keras2.json / .keras3.json also has a "reference" entry: outputs of the model
(inference mode) for a batch of 2 deterministic inputs.  Input k (0-based, in model.inputs
order) has, at row-major flat index i over its full (2, ...) shape, the value
float32(0.5 + 0.5*sin(0.1*i + k)) computed in double precision.  For the small models
activations, mlp and tfop, "reference.layer_outputs" also holds every layer's output.
"""

import json
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("PYTHONHASHSEED", "0")
os.environ["COLUMNS"] = "200"  # keras 3 prints summary() through rich, which wraps at $COLUMNS

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.experimental.enable_op_determinism()

import keras  # noqa: E402  (Keras 3)
import tf_keras  # noqa: E402  (Keras 2)

SEED = 20240611
OUT = Path(__file__).resolve().parent / "keras"


def log(*a):
    print(*a, flush=True)


def reset(seed=SEED):
    tf_keras.backend.clear_session()
    keras.backend.clear_session()
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    keras.utils.set_random_seed(seed)
    tf_keras.utils.set_random_seed(seed)


def is_k2(K):
    return K is tf_keras


# --------------------------------------------------------------------------------------
# Builders: each takes the Keras module K (tf_keras or keras) and returns
# (model, compile_kwargs).  All layer names are explicit.
# --------------------------------------------------------------------------------------

def build_seed(K, name, softmax):
    L = K.layers
    layers = [K.Input(shape=(128, 156, 1), name="image")]
    for i, filters in enumerate((32, 64, 128), start=1):
        layers += [
            L.Conv2D(filters, (3, 3), padding="same", activation="relu", name=f"conv_{i}"),
            L.BatchNormalization(name=f"bn_{i}"),
            L.MaxPooling2D(2, name=f"pool_{i}"),
        ]
    layers.append(L.Flatten(name="flatten"))
    if softmax:
        layers.append(L.Dense(2, activation="softmax", name="output"))
    else:
        layers.append(L.Dense(1, activation="sigmoid", name="output"))
    model = K.Sequential(layers, name=name)
    return model, dict(optimizer="adamax", loss="binary_crossentropy", metrics=["accuracy"])


def build_seed_sigmoid(K):
    return build_seed(K, "seed_sigmoid", softmax=False)


def build_seed_softmax(K):
    return build_seed(K, "seed_softmax", softmax=True)


def build_functional(K):
    L = K.layers
    leaky_kw = {"alpha": 0.2} if is_k2(K) else {"negative_slope": 0.2}

    image = K.Input(shape=(32, 32, 3), name="image")
    sequence = K.Input(shape=(24, 4), name="sequence")

    # ---- image branch ----
    x = L.Rescaling(1.0 / 255.0, offset=-0.5, name="rescale")(image)                 # 32x32x3
    x = L.GaussianNoise(0.05, name="gaussian_noise")(x)
    x = L.ZeroPadding2D(((1, 2), (2, 1)), name="zero_pad")(x)                       # 35x35x3
    x = L.Conv2D(8, 3, strides=2, padding="valid", use_bias=False, name="conv_s2")(x)  # 17x17x8
    x = L.BatchNormalization(name="bn_1")(x)
    x = L.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5, name="relu_custom")(x)
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw_conv")(x)  # 17x17x16
    x = L.PReLU(shared_axes=[1, 2], name="prelu")(x)
    x = L.SeparableConv2D(16, 3, padding="same", dilation_rate=2, name="sep_conv")(x)  # 17x17x16
    x = L.ELU(alpha=1.0, name="elu")(x)
    x = L.Conv2D(16, 3, padding="same", dilation_rate=2, name="dilated_conv")(x)     # 17x17x16
    x = L.Conv2DTranspose(8, 3, strides=2, padding="same", name="deconv")(x)         # 34x34x8
    x = L.Cropping2D(((1, 2), (2, 1)), name="crop")(x)                               # 31x31x8
    x = L.UpSampling2D(2, name="upsample")(x)                                        # 62x62x8
    x = L.MaxPooling2D(3, strides=2, padding="same", name="maxpool_same")(x)         # 31x31x8 (pad 0/1)
    x = L.AveragePooling2D(2, padding="valid", name="avgpool_valid")(x)              # 15x15x8
    x = L.LeakyReLU(name="leaky_relu", **leaky_kw)(x)

    a = L.Conv2D(8, 1, name="branch_a")(x)
    b = L.Conv2D(8, 1, name="branch_b")(x)
    added = L.Add(name="add")([a, b])
    subbed = L.Subtract(name="subtract")([a, b])
    mult = L.Multiply(name="multiply")([a, b])
    avg = L.Average(name="average")([a, b, added])
    mx = L.Maximum(name="maximum")([added, subbed])
    mn = L.Minimum(name="minimum")([mult, avg])
    cat = L.Concatenate(axis=-1, name="concat")([mx, mn, x])                        # 15x15x24
    y = L.LayerNormalization(name="layer_norm")(cat)
    y = L.SpatialDropout2D(0.2, name="spatial_dropout")(y)
    y = L.Activation("tanh", name="act_tanh")(y)
    y = L.Permute((2, 1, 3), name="permute")(y)
    gap = L.GlobalAveragePooling2D(keepdims=True, name="gap_keepdims")(y)           # 1x1x24
    gap = L.Reshape((24,), name="reshape")(gap)                                      # 24
    gmp = L.GlobalMaxPooling2D(name="gmp")(y)                                        # 24
    gmp = L.Softmax(axis=-1, name="softmax_layer")(gmp)
    img_feat = L.Concatenate(name="img_concat")([gap, gmp])                           # 48
    img_feat = L.Dense(16, name="img_proj")(img_feat)                                 # 16

    # ---- sequence branch ----
    s = L.Conv1D(8, 3, dilation_rate=2, activation="relu", name="conv1d")(sequence)  # 20x8
    s = L.MaxPooling1D(2, name="maxpool1d")(s)                                       # 10x8
    s = L.AveragePooling1D(2, name="avgpool1d")(s)                                   # 5x8
    s1 = L.GlobalAveragePooling1D(name="gap1d")(s)
    s2 = L.GlobalMaxPooling1D(name="gmp1d")(s)
    seq_feat = L.Concatenate(name="seq_concat")([s1, s2])                            # 16

    # ---- shared Dense called on two different tensors ----
    shared = L.Dense(16, activation="relu", name="shared_dense")
    h1 = shared(img_feat)
    h2 = shared(seq_feat)
    merged = L.Concatenate(name="merge")([h1, h2])                                   # 32
    merged = L.Dropout(0.3, name="dropout")(merged)
    out_binary = L.Dense(1, activation="sigmoid", name="out_binary")(merged)
    out_class = L.Dense(3, activation="softmax", name="out_class")(merged)

    model = K.Model(inputs=[image, sequence], outputs=[out_binary, out_class], name="functional")
    compile_kwargs = dict(
        optimizer="adam",
        loss={"out_binary": "binary_crossentropy", "out_class": "categorical_crossentropy"},
        metrics={"out_binary": ["accuracy"], "out_class": ["accuracy"]},
    )
    return model, compile_kwargs


def build_nested(K):
    L = K.layers
    encoder = K.Sequential(
        [
            K.Input(shape=(8,), name="enc_in"),
            L.Dense(8, activation="relu", name="enc_dense_1"),
            L.BatchNormalization(name="enc_bn"),
            L.Dense(4, name="enc_dense_2"),
        ],
        name="encoder",
    )
    blk_in = K.Input(shape=(4,), name="block_in")
    blk_h = L.Dense(4, activation="tanh", name="block_dense")(blk_in)
    blk_out = L.Add(name="block_add")([blk_in, blk_h])
    block = K.Model(blk_in, blk_out, name="residual_block")

    a = K.Input(shape=(8,), name="input_a")
    b = K.Input(shape=(8,), name="input_b")
    ea = encoder(a)            # nested Sequential, first call
    eb = encoder(b)            # same nested Sequential, second call (shared nested model)
    m = L.Concatenate(name="concat")([ea, eb])
    r = L.Dense(4, name="proj")(m)
    r = block(r)               # nested Functional
    out = L.Dense(1, activation="sigmoid", name="output")(r)
    model = K.Model([a, b], out, name="nested")
    return model, dict(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])


def build_mobilenet_transfer(K):
    base = K.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, include_top=False, weights=None
    )
    model = K.Sequential(
        [
            base,
            K.layers.GlobalAveragePooling2D(name="gap"),
            K.layers.Dense(1, activation="sigmoid", name="output"),
        ],
        name="mobilenet_transfer",
    )
    if not model.built:
        model.build((None, 96, 96, 3))
    return model, dict(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])


def build_mlp(K):
    L = K.layers
    model = K.Sequential(
        [
            K.Input(shape=(20,), name="features"),
            L.Dense(32, activation="relu", name="dense_1"),
            L.BatchNormalization(name="bn"),
            L.Dropout(0.3, name="dropout"),
            L.Dense(16, name="dense_2"),
            L.Activation("relu", name="act_relu"),
            L.Dense(1, activation="sigmoid", name="output"),
        ],
        name="mlp",
    )
    return model, dict(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])


ACTIVATIONS = [
    "linear", "relu", "relu6", "sigmoid", "hard_sigmoid", "hard_swish", "tanh", "elu",
    "selu", "softplus", "softsign", "swish", "gelu", "exponential", "softmax",
]
INLINE_ACTIVATIONS = ["tanh", "swish", "gelu", "hard_sigmoid", "relu"]
SKIPPED_IN_K2 = {"hard_swish"}  # tf_keras 2.21 has no hard_swish / hard_silu activation


def build_activations(K):
    L = K.layers
    layers = [K.Input(shape=(8,), name="x"), L.Dense(8, name="dense_0")]
    for i, act in enumerate(ACTIVATIONS):
        if not (is_k2(K) and act in SKIPPED_IN_K2):
            layers.append(L.Activation(act, name=f"act_{act}"))
        if act != "softmax":
            layers.append(L.Dense(8, name=f"dense_after_{act}"))
    for act in INLINE_ACTIVATIONS:
        layers.append(L.Dense(8, activation=act, name=f"dense_inline_{act}"))
    layers.append(L.Dense(4, activation="softmax", name="output"))
    model = K.Sequential(layers, name="activations")
    return model, dict(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])


def build_channels_first(K):
    L = K.layers
    model = K.Sequential(
        [
            K.Input(shape=(3, 16, 16), name="image_nchw"),
            L.Conv2D(4, 3, data_format="channels_first", name="conv"),                # 4x14x14
            L.MaxPooling2D(2, data_format="channels_first", name="pool"),            # 4x7x7
            L.BatchNormalization(axis=1, name="bn"),
            L.Flatten(data_format="channels_first", name="flatten"),                 # 196
            L.Dense(1, activation="sigmoid", name="output"),
        ],
        name="channels_first",
    )
    return model, dict(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])


def build_tfop(K):
    assert is_k2(K)
    L = K.layers
    inputs = K.Input(shape=(6,), name="x_in")
    x = inputs * 2.0                      # TFOpLambda tf.math.multiply, constant operand
    x = x + 1.0                           # TFOpLambda tf.__operators__.add
    y = tf.nn.relu6(x)                    # TFOpLambda tf.nn.relu6
    z = tf.math.truediv(y, 3.0)           # TFOpLambda tf.math.truediv
    w = x - y                             # TFOpLambda tf.math.subtract, tensor operand
    m = tf.math.multiply(z, w)            # TFOpLambda tf.math.multiply_1, tensor operands
    s = tf.math.sigmoid(m)                # TFOpLambda tf.math.sigmoid
    out = L.Dense(2, name="dense_out")(s)
    model = K.Model(inputs, out, name="tfop")
    return model, dict(optimizer="adam", loss="mse", metrics=["mae"])


# tf_keras writes `layer_names` as ONE fixed-length byte-string array (numpy dtype
# S<longest name>; shorter names are NUL-padded to that length) and splits it into
# layer_names0, layer_names1, ... once the array exceeds 64512 bytes
# (HDF5_OBJECT_HEADER_LIMIT), so count * longest-name-length must exceed 64512.
# 1100 layers with 60-character names works too, but costs ~4 MB per file (HDF5 overhead
# is ~3 KB per layer); here a single 1000-character name among 72 short ones gives the same
# two-way split (72 * 1000 bytes) for a fraction of the size, and exercises NUL padding.
MANY_LAYERS = 72
MANY_LAYERS_LONG_NAME_LEN = 1000


def many_layer_name(i):
    if i != 0:
        return f"dense_{i:03d}"
    name = "dense_000_with_a_deliberately_very_long_name_"
    return name + "x" * (MANY_LAYERS_LONG_NAME_LEN - len(name))


def build_many_layers(K):
    assert is_k2(K)
    L = K.layers
    layers = [K.Input(shape=(1,), name="x")]
    for i in range(MANY_LAYERS):
        layers.append(
            L.Dense(1, kernel_initializer="ones", bias_initializer="zeros", name=many_layer_name(i))
        )
    model = K.Sequential(layers, name="many_layers")
    return model, dict(optimizer="sgd", loss="mse")


def build_unsupported_lambda(K):
    L = K.layers
    model = K.Sequential(
        [
            K.Input(shape=(4,), name="x"),
            L.Dense(4, name="dense"),
            L.Lambda(lambda t: t * 2.0 + 1.0, name="lambda_affine"),
            L.Dense(1, activation="sigmoid", name="output"),
        ],
        name="unsupported_lambda",
    )
    return model, dict(optimizer="adam", loss="binary_crossentropy")


def build_unsupported_lstm(K):
    L = K.layers
    model = K.Sequential(
        [
            K.Input(shape=(10, 4), name="x"),
            L.LSTM(8, name="lstm"),
            L.Dense(1, activation="sigmoid", name="output"),
        ],
        name="unsupported_lstm",
    )
    return model, dict(optimizer="adam", loss="binary_crossentropy")


# --------------------------------------------------------------------------------------
# Training data
# --------------------------------------------------------------------------------------

def make_train_data(name, model):
    rng = np.random.default_rng(SEED)
    n = 16
    xs = [rng.random((n,) + tuple(t.shape[1:]), dtype=np.float32) for t in model.inputs]
    if name == "functional":
        ys = {
            "out_binary": rng.integers(0, 2, (n, 1)).astype(np.float32),
            "out_class": np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)],
        }
        xs[0] = xs[0] * 255.0  # image input is in [0, 255] (Rescaling 1/255)
        return xs, ys
    if name == "seed_softmax":
        return xs, np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)]
    return xs, rng.integers(0, 2, (n, 1)).astype(np.float32)


def train(name, model, epochs=2, batch_size=8, n=16):
    xs, ys = make_train_data(name, model)
    if n != 16:
        xs = [x[:n] for x in xs]
        ys = {k: v[:n] for k, v in ys.items()} if isinstance(ys, dict) else ys[:n]
    model.fit(xs if len(xs) > 1 else xs[0], ys, batch_size=batch_size, epochs=epochs,
              verbose=0, shuffle=False)


# --------------------------------------------------------------------------------------
# Weight copying tf_keras -> keras 3
# --------------------------------------------------------------------------------------

def _short_k2(v):
    return v.name.split("/")[-1].split(":")[0]


def _short_k3(v):
    return v.name.split("/")[-1]


def copy_weights(src, dst, notes, path=""):
    """Copy weights of tf_keras model `src` into keras 3 model `dst`, layer by layer by name."""
    done = set()
    for sl in src.layers:
        try:
            dl = dst.get_layer(sl.name)
        except ValueError:
            assert not sl.weights, f"tf_keras layer {sl.name} has weights but no keras 3 twin"
            notes.append(f"layer {path}{sl.name} ({type(sl).__name__}) exists only in tf_keras")
            continue
        done.add(dl.name)
        if isinstance(sl, tf_keras.Model):
            assert isinstance(dl, keras.Model), sl.name
            copy_weights(sl, dl, notes, path + sl.name + "/")
            continue
        sw, dw = sl.weights, dl.weights
        assert len(sw) == len(dw), (sl.name, [v.name for v in sw], [v.name for v in dw])
        for a, b in zip(sw, dw):
            if _short_k2(a) != _short_k3(b):
                notes.append(f"weight name differs in {path}{sl.name}: {a.name} vs {b.name}")
            assert tuple(a.shape) == tuple(b.shape), (sl.name, a.name, a.shape, b.shape)
        dl.set_weights(sl.get_weights())
    for dl in dst.layers:
        if dl.name not in done:
            assert not dl.weights, f"keras3 layer {dl.name} has weights but no tf_keras twin"
            notes.append(f"layer {path}{dl.name} ({type(dl).__name__}) exists only in keras 3")


def assert_same_weights(src, dst):
    for sl in src.layers:
        if not sl.weights:
            continue
        dl = dst.get_layer(sl.name)
        if isinstance(sl, tf_keras.Model):
            assert_same_weights(sl, dl)
            continue
        for a, b in zip(sl.get_weights(), dl.get_weights()):
            assert np.array_equal(a, b), sl.name


def perturb_bn_stats(model, rng):
    """Give BatchNormalization layers non-trivial moving statistics (tf_keras model)."""
    for layer in model.layers:
        if isinstance(layer, tf_keras.Model):
            perturb_bn_stats(layer, rng)
        elif isinstance(layer, tf_keras.layers.BatchNormalization):
            w = layer.get_weights()
            names = [_short_k2(v) for v in layer.weights]
            mm, mv = names.index("moving_mean"), names.index("moving_variance")
            w[mm] = w[mm] + rng.normal(0.0, 0.1, w[mm].shape).astype(np.float32)
            w[mv] = w[mv] * rng.uniform(0.5, 1.5, w[mv].shape).astype(np.float32)
            layer.set_weights(w)


# --------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------

def _shape(s):
    if hasattr(s, "as_list"):
        s = s.as_list()
    return [None if d is None else int(d) for d in s]


def _dtype(t):
    d = t.dtype
    return getattr(d, "name", str(d))


def _hist_layer(K, t):
    h = t._keras_history
    return h.layer if is_k2(K) else h.operation


def _first_node(K, layer):
    # Note: for nested graph models tf_keras' *config* numbers the first call as node 1
    # (see tf_keras functional._should_skip_first_node), but `_inbound_nodes[0]` is
    # already that first call.
    nodes = layer._inbound_nodes
    return nodes[0] if nodes else None


def _node_io(K, node):
    if is_k2(K):
        return list(node.keras_inputs), tf.nest.flatten(node.outputs)
    return list(node.input_tensors), tf.nest.flatten(node.output_tensors)


def _params(weights):
    return int(sum(int(np.prod(v.shape)) for v in weights))


def _layer_rows(K, model, parent, rows):
    for layer in model.layers:
        is_model = isinstance(layer, K.Model)
        node = _first_node(K, layer)
        inbound = []
        out_shapes = None
        if node is not None:
            ins, outs = _node_io(K, node)
            inbound = [_hist_layer(K, t).name for t in ins]
            out_shapes = [_shape(t.shape) for t in outs]
        if is_model:
            out_shapes = [_shape(t.shape) for t in layer.outputs]
        if out_shapes is None:
            out_shapes = [_shape(t.shape) for t in tf.nest.flatten(layer.output)]
        rows.append({
            "name": layer.name,
            "class_name": type(layer).__name__,
            "output_shape": out_shapes[0] if len(out_shapes) == 1 else out_shapes,
            "parameters": int(layer.count_params()),
            "trainable_parameters": _params(layer.trainable_weights),
            "parent": parent,
            "inbound": inbound,
        })
        if is_model:
            _layer_rows(K, layer, layer.name, rows)
    return rows


def reference_inputs(model):
    xs = []
    for k, t in enumerate(model.inputs):
        shape = (2,) + tuple(int(d) for d in _shape(t.shape)[1:])
        i = np.arange(int(np.prod(shape)), dtype=np.float64)
        xs.append((0.5 + 0.5 * np.sin(0.1 * i + k)).astype(np.float32).reshape(shape))
    return xs


LAYER_OUTPUT_MODELS = {"activations", "mlp", "tfop"}


def layer_outputs(K, model, xs):
    """Output of every (non-input) layer for the reference inputs, keyed by layer name."""
    layers = [l for l in model.layers if type(l).__name__ != "InputLayer"]
    probe = K.Model(model.inputs, [l.output for l in layers])
    outs = probe(xs, training=False)
    return {l.name: np.asarray(o, dtype=np.float32).tolist() for l, o in zip(layers, outs)}


def reference(K, model):
    xs = reference_inputs(model)
    ref = {
        "input_formula": "input k, flat row-major index i over (2, ...): "
                         "float32(0.5 + 0.5*sin(0.1*i + k)) computed in float64",
        "batch": 2,
    }
    if sum(x.size for x in xs) <= 1024:
        ref["inputs"] = [x.tolist() for x in xs]
    try:
        y = model(xs if len(xs) > 1 else xs[0], training=False)
        ys = [np.asarray(t, dtype=np.float32) for t in tf.nest.flatten(y)]
        ref["outputs"] = [v.tolist() for v in ys]
    except Exception as e:  # e.g. channels_first conv on TF CPU
        ref["outputs"] = None
        ref["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
    if model.name in LAYER_OUTPUT_MODELS:
        ref["layer_outputs"] = layer_outputs(K, model, xs)
    return ref


def summary_text(K, model):
    lines = []
    model.summary(line_length=110, print_fn=lambda s, *a, **kw: lines.append(str(s)))
    text = "\n".join(lines)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


def describe(K, model, compile_kwargs, ref):
    opt = model.optimizer
    lr = opt.learning_rate
    lr = float(np.asarray(lr.numpy() if hasattr(lr, "numpy") else lr))
    return {
        "framework": "tf_keras" if is_k2(K) else "keras",
        "version": K.__version__,
        "model_class": type(model).__name__,
        "inputs": [
            {"name": _hist_layer(K, t).name, "shape": _shape(t.shape), "dtype": _dtype(t)}
            for t in model.inputs
        ],
        "outputs": [
            {"name": _hist_layer(K, t).name, "shape": _shape(t.shape), "dtype": _dtype(t)}
            for t in model.outputs
        ],
        "total_parameters": int(model.count_params()),
        "trainable_parameters": _params(model.trainable_weights),
        "non_trainable_parameters": _params(model.non_trainable_weights),
        "layers": _layer_rows(K, model, None, []),
        "training_config": {
            "loss": compile_kwargs["loss"],
            "optimizer": type(opt).__name__,
            "learning_rate": lr,
            "metrics": compile_kwargs.get("metrics", []),
        },
        "summary": summary_text(K, model),
        "reference": ref,
    }


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


# --------------------------------------------------------------------------------------
# Per-model drivers
# --------------------------------------------------------------------------------------

def save_k2(name, model, ckw, json_arch=True, weights=True, report=True):
    model.save(str(OUT / f"{name}.h5"))
    if weights:
        model.save_weights(str(OUT / f"{name}_weights.h5"))
    if json_arch:
        (OUT / f"{name}.json").write_text(model.to_json())
    if report:
        write_json(OUT / f"{name}.keras2.json", describe(tf_keras, model, ckw, reference(tf_keras, model)))


def save_k3(name, model, ckw):
    model.save(str(OUT / f"{name}.keras"))
    model.save_weights(str(OUT / f"{name}.weights.h5"))
    write_json(OUT / f"{name}.keras3.json", describe(keras, model, ckw, reference(keras, model)))


def make_pair(name, builder, notes, do_train=True, train_kw=None, perturb_bn=False,
              drop_optimizer_state=False):
    log(f"== {name}")
    reset()
    m2, ckw2 = builder(tf_keras)
    m3, ckw3 = builder(keras)
    m2.compile(**ckw2)
    m3.compile(**ckw3)
    copy_weights(m2, m3, notes)
    train_kw = train_kw or {}
    if do_train:
        # the keras 3 model is trained too, so that its optimizer has real state
        for fw, m in (("tf_keras", m2), ("keras", m3)):
            try:
                train(name, m, **train_kw)
            except Exception as e:
                msg = f"{name}: {fw} training failed, skipped ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
                notes.append(msg)
                log("   " + msg)
    if perturb_bn:
        perturb_bn_stats(m2, np.random.default_rng(SEED + 1))
    if drop_optimizer_state:
        # Recompile with a fresh (unbuilt) optimizer: keeps training_config / compile_config
        # but keeps optimizer slot variables out of the files (size).
        m2.compile(**ckw2)
        m3.compile(**ckw3)
    copy_weights(m2, m3, [])
    assert_same_weights(m2, m3)
    save_k2(name, m2, ckw2)
    save_k3(name, m3, ckw3)


def make_k2_only(name, builder, notes, json_arch=True, weights=True, report=True):
    log(f"== {name} (tf_keras only)")
    reset()
    m2, ckw2 = builder(tf_keras)
    m2.compile(**ckw2)
    save_k2(name, m2, ckw2, json_arch=json_arch, weights=weights, report=report)
    return m2


def make_plain_h5():
    with h5py.File(OUT / "plain.h5", "w") as f:
        d = f.create_dataset("data", data=np.arange(12, dtype=np.float32).reshape(3, 4))
        d.attrs["units"] = "none"
        f.attrs["description"] = "plain HDF5 file without any Keras structure"


# --------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------

def verify_tfop():
    cfg = json.loads((OUT / "tfop.json").read_text())
    classes = [l["class_name"] for l in cfg["config"]["layers"]]
    assert "TFOpLambda" in classes, classes
    with h5py.File(OUT / "tfop.h5", "r") as f:
        mc = f.attrs["model_config"]
        mc = mc.decode() if isinstance(mc, bytes) else mc
        assert '"class_name": "TFOpLambda"' in mc
    log("   tfop: TFOpLambda present:", classes.count("TFOpLambda"), "layers")


def verify_many_layers():
    for fname, grp in (("many_layers.h5", "model_weights"), ("many_layers_weights.h5", None)):
        with h5py.File(OUT / fname, "r") as f:
            g = f[grp] if grp else f
            keys = sorted(k for k in g.attrs.keys() if k.startswith("layer_names"))
            assert "layer_names" not in keys and "layer_names0" in keys and "layer_names1" in keys, keys
            log(f"   {fname}: split attributes {keys}")


def main(argv):
    """Build all fixtures, or only the models named on the command line."""
    only = set(argv)
    sys.setrecursionlimit(100000)  # tf_keras walks the 1100-layer graph recursively
    OUT.mkdir(parents=True, exist_ok=True)
    if not only:
        for p in OUT.iterdir():
            if p.is_file():
                p.unlink()
    notes = []

    def want(name):
        return not only or name in only

    pairs = [
        # drop_optimizer_state: recompile after training so the big adamax slot variables
        # are not saved (file size); functional/nested/mlp keep their optimizer state.
        ("seed_sigmoid", build_seed_sigmoid, dict(drop_optimizer_state=True)),
        ("seed_softmax", build_seed_softmax, dict(drop_optimizer_state=True)),
        ("functional", build_functional, {}),
        ("nested", build_nested, {}),
        ("mobilenet_transfer", build_mobilenet_transfer,
         dict(train_kw=dict(epochs=1, batch_size=4, n=8), perturb_bn=True,
              drop_optimizer_state=True)),
        ("mlp", build_mlp, {}),
        ("activations", build_activations, dict(do_train=False)),
        ("channels_first", build_channels_first, dict(perturb_bn=True)),
    ]
    for name, builder, kw in pairs:
        if want(name):
            make_pair(name, builder, notes, **kw)
    if want("tfop"):
        make_k2_only("tfop", build_tfop, notes)
        verify_tfop()
    if want("many_layers"):
        make_k2_only("many_layers", build_many_layers, notes, json_arch=False)
        verify_many_layers()
    for name, builder in (("unsupported_lambda", build_unsupported_lambda),
                          ("unsupported_lstm", build_unsupported_lstm)):
        if want(name):
            make_k2_only(name, builder, notes, json_arch=False, weights=False)
    if want("plain"):
        make_plain_h5()
    for n in sorted(set(notes)):
        log("note:", n)
    files = sorted(OUT.iterdir())
    total = sum(p.stat().st_size for p in files)
    log(f"done: {len(files)} files, {total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    # Run in a thread with a large stack: building/saving the 1100-layer model recurses deeply.
    import threading
    threading.stack_size(512 * 1024 * 1024)
    t = threading.Thread(target=main, args=(sys.argv[1:],))
    t.start()
    t.join()
