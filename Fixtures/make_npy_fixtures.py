"""Writes small .npy/.npz files with numpy itself, for ModelPort's DataIO tests.

Each array's values are `arange(n)` (as the dtype) in shape (2, 3, 4) unless noted, so a
reader can check every element. Run from the repository root:

    ~/venvs/ref/bin/python Fixtures/make_npy_fixtures.py
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "npy")
os.makedirs(OUT, exist_ok=True)

index = {}
base = np.arange(24).reshape(2, 3, 4)
for name in ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]:
    a = base.astype(name)
    np.save(os.path.join(OUT, f"{name}.npy"), a)
    index[f"{name}.npy"] = {"dtype": name, "shape": list(a.shape), "fortran": False}
np.save(os.path.join(OUT, "bool.npy"), (base % 3 == 0))
index["bool.npy"] = {"dtype": "bool", "shape": [2, 3, 4], "fortran": False}
np.save(os.path.join(OUT, "float32_fortran.npy"), np.asfortranarray(base.astype(np.float32)))
index["float32_fortran.npy"] = {"dtype": "float32", "shape": [2, 3, 4], "fortran": True}
np.save(os.path.join(OUT, "float64_bigendian.npy"), base.astype(">f8"))
index["float64_bigendian.npy"] = {"dtype": "float64", "shape": [2, 3, 4], "fortran": False}
np.save(os.path.join(OUT, "scalar.npy"), np.float32(2.5))
np.save(os.path.join(OUT, "empty.npy"), np.zeros((0, 3), np.float32))
np.savez(os.path.join(OUT, "stored.npz"), image=base.astype(np.float32), labels=np.array([0, 1], np.int64))
np.savez_compressed(os.path.join(OUT, "deflated.npz"), image=base.astype(np.float32), labels=np.array([0, 1], np.int64))
with open(os.path.join(OUT, "index.json"), "w") as f:
    json.dump({"numpy": np.__version__, "files": index}, f, indent=1, sort_keys=True)
