"""Deterministic file writers shared by the fixture scripts: reruns give byte-identical files."""
import io
import json
import zipfile
from pathlib import Path

import numpy as np


def log(*a):
    print(*a, flush=True)


def ort_literal_session(path):
    """An onnxruntime session that evaluates the stored graph literally: CPU, one thread, graph
    optimizations off (ORT_DISABLE_ALL)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def seed_of(name):
    """A stable per-name seed (crc32 of the name)."""
    import zlib
    return zlib.crc32(name.encode("utf-8"))


def npy_bytes(a):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def save_npy(path, a):
    Path(path).write_bytes(npy_bytes(a))


def save_npz(path, arrays):
    """Like np.savez_compressed(path, **arrays), with a fixed timestamp (byte-identical reruns)."""
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, a in arrays.items():
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy_bytes(a))
    tmp.replace(path)
    with np.load(path) as z:  # round trip
        assert list(z.keys()) == list(arrays.keys()), path
        for key, a in arrays.items():
            assert z[key].dtype == a.dtype and np.array_equal(z[key], a), (path, key)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def save_proto(model, path):
    """An ONNX ModelProto, serialised deterministically."""
    Path(path).write_bytes(model.SerializeToString(deterministic=True))


def train_order(y, steps, batch, seed):
    """Fixed list of class-balanced index batches (half class_a, half class_b each), as the check fixtures train."""
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


def r(v, n=6):
    """A float rounded to n digits, as the facts files store numbers."""
    return float(round(float(v), n))


def score_stats(scores, y, classes=("class_a", "class_b")):
    """Min, max and mean of the scores per class (label 0, 1) and overall, rounded to 7 digits."""
    s = np.asarray(scores, np.float64).ravel()
    out = {}
    for cls, lab in zip(classes, (0, 1)):
        c = s[y == lab]
        out[cls] = {"min": r(c.min(), 7), "max": r(c.max(), 7), "mean": r(c.mean(), 7)}
    out["all"] = {"min": r(s.min(), 7), "max": r(s.max(), 7), "mean": r(s.mean(), 7),
                  "max_minus_min": float(s.max() - s.min())}
    return out


def plain(v):
    """JSON-ready: dicts, lists (Keras's ListWrapper too) and numpy scalars as plain Python values."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)) or type(v).__name__ == "ListWrapper":
        return [plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def short(v):
    """ROLE of a weight: tf_keras "ln/gamma:0" -> "gamma"; Keras 3 "gamma" -> "gamma"."""
    return v.name.split("/")[-1].split(":")[0]


def keyed(model, which="weights"):
    """{"LAYER/ROLE": variable} in layer order (which = "weights" or "trainable_weights")."""
    out = {}
    for layer in model.layers:
        for v in getattr(layer, which):
            k = f"{layer.name}/{short(v)}"
            assert k not in out, k
            out[k] = v
    return out


def weights_of(model):
    return {k: v.numpy().astype(np.float32) for k, v in keyed(model).items()}


def f32(v):
    return np.asarray(v, dtype=np.float32).reshape(())
