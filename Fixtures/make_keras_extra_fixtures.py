"""Small Keras models with the pieces keras.applications bases bring (EfficientNet, ConvNeXt,
MobileNetV3), made with the real frameworks.

    TF_CPP_MIN_LOG_LEVEL=2 CUDA_VISIBLE_DEVICES=-1 ~/venvs/ref/bin/python Fixtures/make_keras_extra_fixtures.py

Writes Fixtures/keras_extra/ (rewriting it):
  preprocess.k2.h5 / preprocess.k3.keras / preprocess.k3.h5
      Rescaling(1/255) -> Normalization (adapted on random images) -> Conv2D -> BatchNormalization
      -> hard-swish written as plain ops (x * relu6(x + 3) / 6: Keras 3 saves `+ 3.0` and `* (1/6)`
      as keras.src.ops operation layers, Keras 2 as TFOpLambda) -> LayerScale (ConvNeXt's, gamma
      set to random values) -> GlobalAveragePooling2D -> Dense(1, sigmoid).
  preprocess.input.npy                  4 images, 16x16x3, values 0..255 (seed 0)
  preprocess.k2.output.npy / preprocess.k3.output.npy   each framework's model(x, training=False)
"""
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.threading.set_intra_op_parallelism_threads(1)

import keras  # noqa: E402  (Keras 3)
import tf_keras  # noqa: E402  (Keras 2)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixture_io import log, save_npy  # noqa: E402

OUT = Path(__file__).resolve().parent / "keras_extra"


def build(k, layer_scale_class, ops_style):
    rng = np.random.default_rng(1)
    x = k.Input((16, 16, 3), name="image")
    h = k.layers.Rescaling(1.0 / 255, name="rescale")(x)
    norm = k.layers.Normalization(axis=-1, name="normalization")
    norm.adapt(rng.random((32, 16, 16, 3), dtype=np.float32))
    h = norm(h)
    h = k.layers.Conv2D(8, 3, padding="same", name="conv")(h)
    h = k.layers.BatchNormalization(name="bn")(h)
    if ops_style == "keras3":
        gate = keras.ops.relu6(h + 3.0) * (1.0 / 6.0)
    else:
        gate = tf.nn.relu6(h + 3.0) * (1.0 / 6.0)
    h = k.layers.Multiply(name="hard_swish")([h, gate])
    scale = layer_scale_class(init_values=1e-6, projection_dim=8, name="layer_scale")
    h = scale(h)
    h = k.layers.GlobalAveragePooling2D(name="gap")(h)
    y = k.layers.Dense(1, activation="sigmoid", name="score")(h)
    model = k.Model(x, y, name="preprocess")
    # Non-trivial statistics and weights, so every piece shows in the output.
    bn = model.get_layer("bn")
    bn.set_weights([rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.1, 8), rng.normal(0, 0.2, 8), rng.uniform(0.5, 2, 8)])
    scale.set_weights([rng.uniform(0.5, 1.5, 8).astype(np.float32)])
    return model


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
    save_npy(OUT / "preprocess.input.npy", x)

    from tf_keras.src.applications.convnext import LayerScale as LayerScale2
    tf_keras.utils.set_random_seed(0)
    m2 = build(tf_keras, LayerScale2, "keras2")
    m2.save(OUT / "preprocess.k2.h5")
    save_npy(OUT / "preprocess.k2.output.npy", m2(x, training=False).numpy())

    from keras.src.applications.convnext import LayerScale as LayerScale3
    keras.utils.set_random_seed(0)
    m3 = build(keras, LayerScale3, "keras3")
    m3.save(OUT / "preprocess.k3.keras")
    m3.save(OUT / "preprocess.k3.h5")
    save_npy(OUT / "preprocess.k3.output.npy", np.asarray(m3(x, training=False)))
    for f in sorted(OUT.iterdir()):
        log(f"{f.name}: {f.stat().st_size} bytes")


if __name__ == "__main__":
    main()
