"""Small PNG/JPEG files and what TensorFlow makes of them, for ModelPort's image input tests.

Writes Fixtures/images/{cat,dog}/*.png|jpg (a two-class folder as image_dataset_from_directory
expects) and, for each image, the array TensorFlow produces for the seed model's input:
tf.io.decode_image (channels 1), tf.image.resize to 128x156 (bilinear), / 255 —
saved as Fixtures/images/reference.npz keyed by the image's path relative to images/.
Run from the repository root: ~/venvs/ref/bin/python Fixtures/make_image_fixtures.py
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")
rng = np.random.default_rng(7)


def picture(h, w, c, kind):
    y, x = np.mgrid[0:h, 0:w]
    base = (np.sin(x / 5.0) + np.cos(y / 7.0)) if kind == "cat" else ((x // 8 + y // 8) % 2) * 1.6 - 0.8
    img = np.stack([base + 0.3 * k for k in range(c)], axis=-1)
    img = (img - img.min()) / (img.max() - img.min() + 1e-9) * 255
    img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


files = []
for cls in ["cat", "dog"]:
    os.makedirs(os.path.join(ROOT, cls), exist_ok=True)
    specs = [("a.png", 40, 52, 1), ("b.png", 130, 160, 3), ("c.jpg", 64, 80, 3), ("d.jpg", 96, 90, 1)]
    for name, h, w, c in specs:
        img = picture(h, w, c, cls)
        data = tf.io.encode_png(img) if name.endswith(".png") else tf.io.encode_jpeg(img, quality=90)
        path = os.path.join(ROOT, cls, name)
        tf.io.write_file(path, data)
        files.append(os.path.join(cls, name))

reference = {}
for rel in files:
    raw = tf.io.read_file(os.path.join(ROOT, rel))
    image = tf.io.decode_image(raw, channels=1, expand_animations=False)
    resized = tf.image.resize(tf.cast(image, tf.float32), (128, 156), method="bilinear")
    reference[rel] = (resized.numpy() / 255.0).astype(np.float32)
np.savez_compressed(os.path.join(ROOT, "reference.npz"), **reference)
# An image that fails to decode (outside images/, which must hold only good ones).
BAD = os.path.join(os.path.dirname(ROOT), "bad")
os.makedirs(BAD, exist_ok=True)
with open(os.path.join(BAD, "broken.png"), "wb") as f:
    f.write(open(os.path.join(ROOT, "cat", "a.png"), "rb").read()[:60])
print("wrote", len(files), "images")
