#!/usr/bin/env python3
"""Keras transfer-learning, augmentation and resizing fixtures, made with the real frameworks.

Run from the repository root, with the venv described in Fixtures/requirements.txt:

    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2 CUDA_VISIBLE_DEVICES=-1 \
        ~/venvs/ref/bin/python Fixtures/make_transfer_fixtures.py [NAME ...]

With no NAME, Fixtures/transfer/ is wiped and everything is rebuilt; with names, only those
models are rewritten and their entries in transfer/index.json are updated.

The conventions are those of make_keras_fixtures.py (whose builders' helpers are imported:
reset(), copy_weights(), assert_same_weights(), perturb_bn_stats(), save_k2(), save_k3(),
describe()) and of make_reference_outputs.py (call(), layer_outputs(), io_names(), load order):
both frameworks build each model with the same builder, weights are copied from tf_keras into
Keras 3 after training so both hold identical weights, each model is saved as

    NAME.h5 / NAME_weights.h5 / NAME.json     tf_keras model.save / save_weights / to_json
    NAME.keras / NAME.weights.h5              Keras 3 model.save / save_weights
    NAME.keras2.json / NAME.keras3.json       descriptors (schema in Fixtures/README.md)

and the reference data is computed from the SAVED files (tf_keras.models.load_model("NAME.h5"),
keras.models.load_model("NAME.keras"), compile=False, training=False):

    NAME.input.npy                            float32 (2, ...), see INPUTS below
    NAME.keras2.output.npy / .keras3.output.npy    single-output models
    NAME.keras2.outputs.npz / .keras3.outputs.npz  multi-output models, keyed by output layer name
    NAME.keras2.layers.npz / .keras3.layers.npz    `augment` only: every layer's output
    index.json                                files, sizes, names, shapes, max |keras2 - keras3|

Models:
  v3small_transfer  Sequential([MobileNetV3Small(64x64x3, alpha 0.25, include_top=False,
                    weights=None, default include_preprocessing=True), GlobalAveragePooling2D,
                    Dropout(0.2), Dense(1, sigmoid)]), base.trainable = False, adam + BCE,
                    trained 2 steps (optimizer state kept).  Before training, each BN's moving
                    statistics are set to perturbed statistics of its input (calibrate_bn()).
                    tf_keras names the base's layers "Conv/BatchNorm", "expanded_conv/depthwise",
                    ...; Keras 3 names them "conv_bn", "expanded_conv_depthwise", ... so weights
                    are copied through k3_mobilenet_name().
  augment           Sequential: RandomFlip, RandomRotation, RandomZoom, RandomTranslation,
                    RandomContrast, RandomBrightness, RandomCrop, Resizing, CenterCrop, Rescaling,
                    Normalization(given mean/variance), Conv2D, BN, ReLU, MaxPooling2D, GAP,
                    Dense(1, sigmoid).  Input 40x48x3, 0..255.  Trained 2 steps, BN perturbed.
  resizing          Functional, one 20x28x3 input, one output per Resizing / CenterCrop variant
                    (RESIZES, CROPS).  No weights, not trained.  Keras 3's Resizing has no
                    "gaussian" / "mitchellcubic", so its model lacks those outputs; tf_keras has
                    no antialias / pad_to_aspect_ratio, so its model lacks the Keras-3-only ones.
"""

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_keras_fixtures as mk  # noqa: E402  (sets the env, 1 thread, op determinism)
import make_reference_outputs as mro  # noqa: E402
from fixture_io import log, save_npy, save_npz, seed_of, write_json  # noqa: E402

np, tf, keras, tf_keras = mk.np, mk.tf, mk.keras, mk.tf_keras

OUT = HERE / "transfer"
INDEX = OUT / "index.json"
mk.OUT = OUT  # mk.save_k2 / mk.save_k3 write into OUT
mro.OUT = OUT  # mro.load reads from OUT

V3_INPUT = (64, 64, 3)
V3_ALPHA = 0.25  # 0.75 would be ~583k parameters (~9.5 MB for the four model files)
AUG_INPUT = (40, 48, 3)
RES_INPUT = (20, 28, 3)
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_VAR = [0.229 ** 2, 0.224 ** 2, 0.225 ** 2]

# (output layer name, height, width, interpolation, extra kwargs, frameworks)
BOTH, K2, K3 = ("keras2", "keras3"), ("keras2",), ("keras3",)
RESIZES = [
    ("bilinear_up", 30, 56, "bilinear", {}, BOTH),                    # x1.5, x2
    ("nearest_down", 15, 14, "nearest", {}, BOTH),                    # x0.75, x0.5
    ("nearest_up", 50, 35, "nearest", {}, BOTH),                      # x2.5, x1.25
    ("bicubic_up", 33, 42, "bicubic", {}, BOTH),                      # x1.65, x1.5
    ("area_down", 10, 7, "area", {}, BOTH),                           # x0.5, x0.25
    ("area_mixed", 30, 20, "area", {}, BOTH),                         # x1.5, x5/7
    ("lanczos3_mixed", 26, 17, "lanczos3", {}, BOTH),                 # x1.3, x17/28
    ("lanczos5_mixed", 13, 40, "lanczos5", {}, BOTH),                 # x0.65, x10/7
    ("gaussian_mixed", 32, 20, "gaussian", {}, K2),                   # x1.6, x5/7
    ("mitchellcubic_mixed", 14, 36, "mitchellcubic", {}, K2),         # x0.7, x9/7
    ("bilinear_crop_aspect", 24, 24, "bilinear", {"crop_to_aspect_ratio": True}, BOTH),
    ("nearest_crop_aspect", 9, 18, "nearest", {"crop_to_aspect_ratio": True}, BOTH),
    ("bicubic_down_antialias", 9, 11, "bicubic", {"antialias": True}, K3),
    ("bilinear_pad_aspect", 24, 24, "bilinear", {"pad_to_aspect_ratio": True, "fill_value": 0.5}, K3),
]
CROPS = [  # (output layer name, height, width)
    ("center_crop_small", 12, 20),
    ("center_crop_odd", 11, 19),
    ("center_crop_large", 24, 32),
    ("center_crop_mixed", 10, 36),
]


def k2(K):
    return K is tf_keras


# --------------------------------------------------------------------------------------
# Builders: each takes the Keras module K and returns (model, compile_kwargs)
# --------------------------------------------------------------------------------------

def build_v3small_transfer(K):
    base = K.applications.MobileNetV3Small(
        input_shape=V3_INPUT, alpha=V3_ALPHA, include_top=False, weights=None
    )
    base.trainable = False
    L = K.layers
    model = K.Sequential(
        [
            base,
            L.GlobalAveragePooling2D(name="gap"),
            L.Dropout(0.2, name="dropout"),
            L.Dense(1, activation="sigmoid", name="output"),
        ],
        name="v3small_transfer",
    )
    if not model.built:
        model.build((None,) + V3_INPUT)
    return model, dict(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])


def build_augment(K):
    L = K.layers
    layers = [
        K.Input(shape=AUG_INPUT, name="image"),
        L.RandomFlip("horizontal", seed=1, name="random_flip"),
        L.RandomRotation(0.1, seed=2, name="random_rotation"),
        L.RandomZoom(0.2, seed=3, name="random_zoom"),
        L.RandomTranslation(0.1, 0.1, seed=4, name="random_translation"),
        L.RandomContrast(0.2, seed=5, name="random_contrast"),
        L.RandomBrightness(0.2, value_range=(0, 255), seed=6, name="random_brightness"),
        L.RandomCrop(36, 40, seed=7, name="random_crop"),
        L.Resizing(30, 34, name="resizing"),
        L.CenterCrop(24, 28, name="center_crop"),
        L.Rescaling(1.0 / 255, name="rescaling"),
        L.Normalization(mean=IMAGENET_MEAN, variance=IMAGENET_VAR, name="normalization"),
        L.Conv2D(8, 3, padding="same", name="conv"),
        L.BatchNormalization(name="bn"),
        L.Activation("relu", name="relu"),
        L.MaxPooling2D(2, name="pool"),
        L.GlobalAveragePooling2D(name="gap"),
        L.Dense(1, activation="sigmoid", name="output"),
    ]
    model = K.Sequential(layers, name="augment")
    return model, dict(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])


def build_resizing(K):
    L = K.layers
    fw = "keras2" if k2(K) else "keras3"
    x = K.Input(shape=RES_INPUT, name="image")
    outs = []
    for name, h, w, interp, kw, fws in RESIZES:
        if fw in fws:
            outs.append(L.Resizing(h, w, interpolation=interp, name=name, **kw)(x))
    for name, h, w in CROPS:
        outs.append(L.CenterCrop(h, w, name=name)(x))
    model = K.Model(x, outs, name="resizing")
    return model, dict(optimizer="adam", loss="mse")


# --------------------------------------------------------------------------------------
# Inputs (training data and the reference batch of 2)
# --------------------------------------------------------------------------------------

def train_data(name, shape, n=8):
    rng = np.random.default_rng(mk.SEED)
    if name == "augment":
        x = rng.integers(0, 256, (n,) + shape).astype(np.float32)
    else:
        x = (rng.random((n,) + shape, dtype=np.float32) * 255.0).astype(np.float32)
    return x, rng.integers(0, 2, (n, 1)).astype(np.float32)


INPUT_RULES = {
    "v3small_transfer": "rng.random((2, 64, 64, 3), dtype=float32) * 255 (values in [0, 255))",
    "augment": "rng.integers(0, 256, (2, 40, 48, 3)).astype(float32) (whole numbers 0..255)",
    "resizing": "rng.random((2, 20, 28, 3), dtype=float32) (values in [0, 1))",
}


def reference_input(name, shape):
    rng = np.random.default_rng(seed_of(name))
    if name == "augment":
        return rng.integers(0, 256, (2,) + shape).astype(np.float32)
    x = rng.random((2,) + shape, dtype=np.float32)
    return (x * 255.0).astype(np.float32) if name == "v3small_transfer" else x


# --------------------------------------------------------------------------------------
# Weight copying for MobileNetV3, whose layer names differ between the frameworks
# --------------------------------------------------------------------------------------

def calibrate_bn(model, x, rng):
    """Give every BatchNormalization of the nested base (tf_keras) perturbed statistics of its
    own input on x, layer by layer: moving_mean = mean + N(0, 0.1) * std, moving_variance =
    var * U(0.5, 1.5).  mk.perturb_bn_stats's absolute N(0, 0.1) mean shift is too much for
    channels whose variance is ~1e-3, and it compounds through the 11 blocks until every image
    gets the score 0; with the statistics left at 0/1 the activations grow (residual adds) the
    same way."""
    base = model.layers[0]
    assert isinstance(base, tf_keras.Model), "the nested model must come first (it is fed x)"
    for layer in base.layers:
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            a = tf_keras.Model(base.inputs, layer.input)(x, training=False).numpy()
            a = a.astype(np.float64)
            mean, var = a.mean(axis=(0, 1, 2)), a.var(axis=(0, 1, 2))
            w = layer.get_weights()
            names = [mk._short_k2(v) for v in layer.weights]
            w[names.index("moving_mean")] = (
                mean + rng.normal(0.0, 0.1, mean.shape) * np.sqrt(var)).astype(np.float32)
            w[names.index("moving_variance")] = (var * rng.uniform(0.5, 1.5, var.shape)).astype(np.float32)
            layer.set_weights(w)


def k3_mobilenet_name(name):
    """tf_keras MobileNetV3 layer name -> Keras 3 name ("Conv_1/BatchNorm" -> "conv_1_bn")."""
    return name.lower().replace("/", "_").replace("batchnorm", "bn")


def weight_pairs(m2, m3):
    """(tf_keras layer, Keras 3 layer) for every layer with weights, nested base included."""
    pairs = []
    for sl, dl in zip(m2.layers, m3.layers):
        if isinstance(sl, tf_keras.Model):
            assert isinstance(dl, keras.Model), (sl.name, dl.name)
            for s in sl.layers:
                if s.weights:
                    pairs.append((s, dl.get_layer(k3_mobilenet_name(s.name))))
        else:
            assert sl.name == dl.name, (sl.name, dl.name)
            if sl.weights:
                pairs.append((sl, dl))
    n3 = sum(1 for l in m3.layers for s in (l.layers if isinstance(l, keras.Model) else [l]) if s.weights)
    assert n3 == len(pairs), (n3, len(pairs))
    return pairs


def copy_mapped(m2, m3, notes):
    for s, d in weight_pairs(m2, m3):
        assert [tuple(v.shape) for v in s.weights] == [tuple(v.shape) for v in d.weights], s.name
        for a, b in zip(s.weights, d.weights):
            if mk._short_k2(a) != mk._short_k3(b):
                notes.append(f"weight name differs: {s.name}/{mk._short_k2(a)} vs {d.name}/{mk._short_k3(b)}")
        d.set_weights(s.get_weights())


def assert_same_mapped(m2, m3):
    for s, d in weight_pairs(m2, m3):
        for a, b in zip(s.get_weights(), d.get_weights()):
            assert np.array_equal(a, b), s.name


# --------------------------------------------------------------------------------------
# Drivers
# --------------------------------------------------------------------------------------

MODELS = {
    # name: (builder, input shape, train?, perturb BN?, mapped weight copy?, layers.npz?)
    # perturb "calibrate": calibrate_bn() before training (the base is frozen, so training
    # leaves its BN statistics alone); True: mk.perturb_bn_stats() after training
    "v3small_transfer": (build_v3small_transfer, V3_INPUT, True, "calibrate", True, False),
    "augment": (build_augment, AUG_INPUT, True, True, False, True),
    "resizing": (build_resizing, RES_INPUT, False, False, False, False),
}


# The descriptors' reference.outputs (sin inputs) would be ~2 MB of JSON per framework here.
OMIT_JSON_OUTPUTS = {
    "resizing": "left out for size (about 2 MB of JSON per framework); the reference data is "
                "resizing.input.npy -> resizing.keras2.outputs.npz / resizing.keras3.outputs.npz",
}


def size(fname):
    return (OUT / fname).stat().st_size


def make_model(name, notes):
    builder, shape, do_train, perturb, mapped, with_layers = MODELS[name]
    log(f"== {name}")
    mk.reset()
    m2, ckw2 = builder(tf_keras)
    m3, ckw3 = builder(keras)
    m2.compile(**ckw2)
    m3.compile(**ckw3)
    copy = (lambda a, b: copy_mapped(a, b, notes)) if mapped else (lambda a, b: mk.copy_weights(a, b, notes))
    same = assert_same_mapped if mapped else mk.assert_same_weights
    copy(m2, m3)
    x, y = train_data(name, shape)
    if perturb == "calibrate":
        calibrate_bn(m2, x, np.random.default_rng(mk.SEED + 1))
        copy(m2, m3)
    if do_train:
        for m in (m2, m3):  # 8 samples, batch 4: 2 steps; the optimizers keep their state
            m.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    if perturb is True:
        mk.perturb_bn_stats(m2, np.random.default_rng(mk.SEED + 1))
    copy(m2, m3)
    same(m2, m3)
    mk.save_k2(name, m2, ckw2)
    mk.save_k3(name, m3, ckw3)
    if name in OMIT_JSON_OUTPUTS:
        for fw in ("keras2", "keras3"):
            p = OUT / f"{name}.{fw}.json"
            report = json.loads(p.read_text())
            report["reference"]["outputs"] = None
            report["reference"]["outputs_omitted"] = OMIT_JSON_OUTPUTS[name]
            write_json(p, report)
    return reference_files(name, {"keras2": m2, "keras3": m3}, shape, with_layers)


def reference_files(name, built, shape, with_layers):
    """Reference data from the saved files, as make_reference_outputs.py does it."""
    x = reference_input(name, shape)
    save_npy(OUT / f"{name}.input.npy", x)
    entry = {"seed": seed_of(name), "batch": 2, "input_rule": INPUT_RULES[name],
             "inputs_file": f"{name}.input.npy", "inputs_file_bytes": size(f"{name}.input.npy"),
             "frameworks": {}}
    results = {}
    for fw in ("keras2", "keras3"):
        K = mro.FRAMEWORKS[fw]
        model = mro.load(fw, name)
        ins, outs = mro.io_names(K, model)
        ys = mro.call(model, [x])
        mem = mro.call(built[fw], [x])
        d = max(mro.max_abs_diff(a, b) for a, b in zip(ys, mem))
        assert d <= 1e-6, f"{name} {fw}: loaded model differs from the built one by {d}"
        out_names = [o[0] for o in outs]
        if len(ys) == 1:
            out_file = f"{name}.{fw}.output.npy"
            save_npy(OUT / out_file, ys[0])
        else:
            out_file = f"{name}.{fw}.outputs.npz"
            save_npz(OUT / out_file, dict(zip(out_names, ys)))
        layers, layers_file = {}, None
        if with_layers:
            louts = mro.layer_outputs(K, model, [x])
            layers = dict(louts)
            assert len(layers) == len(louts), f"{name} {fw}: duplicate layer names"
            for oname, y in zip(out_names, ys):
                assert mro.max_abs_diff(layers[oname], y) <= 1e-6, (name, fw, oname)
            layers_file = f"{name}.{fw}.layers.npz"
            save_npz(OUT / layers_file, layers)
        entry["frameworks"][fw] = {
            "framework": "tf_keras" if fw == "keras2" else "keras",
            "version": K.__version__,
            "model_file": mro.MODEL_FILE[fw].format(name),
            "model_class": type(model).__name__,
            "inputs": [{"name": a, "shape": s} for a, s in ins],
            "outputs": [{"name": a, "shape": s} for a, s in outs],
            "output_file": out_file,
            "output_file_bytes": size(out_file),
            "layers_file": layers_file,
            "layers_file_bytes": size(layers_file) if layers_file else None,
            "layers": [{"name": k, "shape": list(v.shape)} for k, v in layers.items()],
            "loaded_vs_built_max_abs_diff": d,
        }
        results[fw] = (dict(zip(out_names, ys)), layers)
        log(f"   {fw}: outputs {[(n, list(y.shape)) for n, y in zip(out_names, ys)]}")

    (o2, l2), (o3, l3) = results["keras2"], results["keras3"]
    per_out = {k: mro.max_abs_diff(v, o3[k]) for k, v in o2.items() if k in o3 and v.shape == o3[k].shape}
    entry["max_abs_diff_keras2_keras3"] = max(per_out.values())
    entry["max_abs_diff_keras2_keras3_per_output"] = per_out
    entry["outputs_not_compared"] = {
        "keras2": [k for k in o2 if k not in per_out], "keras3": [k for k in o3 if k not in per_out]}
    if with_layers:
        entry["layer_max_abs_diff_keras2_keras3"] = {
            k: mro.max_abs_diff(v, l3[k]) for k, v in l2.items() if k in l3 and v.shape == l3[k].shape}
        entry["layers_not_compared"] = {
            "keras2": [k for k in l2 if k not in l3 or l2[k].shape != l3[k].shape],
            "keras3": [k for k in l3 if k not in l2 or l2[k].shape != l3[k].shape]}
    for k, v in per_out.items():
        log(f"   max |keras2 - keras3| {k}: {v:.3g}")
    if len(o2) == 1:
        y = next(iter(o2.values()))
        log(f"   keras2 output: {y.ravel().tolist()}")
    return entry


def model_files(name):
    return sorted(p.name for p in OUT.iterdir()
                  if p.name.startswith(name + ".") or p.name.startswith(name + "_"))


def main(argv):
    unknown = [a for a in argv if a not in MODELS]
    if unknown:
        sys.exit(f"unknown model(s): {unknown}; known: {sorted(MODELS)}")
    index = {"models": {}}
    if argv and INDEX.exists():
        index = json.loads(INDEX.read_text())
    else:
        if OUT.exists():
            shutil.rmtree(OUT)
    OUT.mkdir(parents=True, exist_ok=True)
    notes = []
    for name in MODELS:
        if not argv or name in argv:
            entry = make_model(name, notes)
            entry["files"] = {f: size(f) for f in model_files(name)}
            entry["total_bytes"] = sum(entry["files"].values())
            index["models"][name] = entry
    index["models"] = {k: index["models"][k] for k in MODELS if k in index["models"]}
    header = {
        "generator": "Fixtures/make_transfer_fixtures.py",
        "versions": {"tensorflow": tf.__version__, "tf_keras": tf_keras.__version__,
                     "keras": keras.__version__, "numpy": np.__version__},
        "mode": "inference (training=False) of the loaded files, float32, CPU, single thread, "
                "op determinism, oneDNN off",
        "input_seed": "np.random.default_rng(zlib.crc32(NAME.encode('utf-8')))",
        "layers_rule": "augment only: the implicit InputLayer, then model.layers in order",
    }
    write_json(INDEX, {**header, "models": index["models"]})
    for n in sorted(set(notes)):
        log("note:", n)
    files = sorted(OUT.iterdir())
    for p in files:
        log(f"   {p.stat().st_size:>10}  {p.name}")
    log(f"done: {len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
