#!/usr/bin/env python3
"""Write the element-type fixtures in Fixtures/typed/ (integer arithmetic inside a model).

    ~/venvs/torch/bin/python Fixtures/make_typed_fixtures.py

No arguments: the script deletes everything in Fixtures/typed/ and writes it again.

Model (`HashBuckets`, random init from torch.manual_seed(SEED)): the hashing trick for token ids,
as text classifiers with open vocabularies use it: each int64 id is hashed into one of 64 buckets
by `((ids * 1000003 + 7) // 3) % 64` (int64 arithmetic in the graph: Mul, Add, Div, Mod), the
buckets index an `nn.Embedding(64, 8)`, the mean over the sequence goes through `nn.Linear(8, 1)`
and a sigmoid (`prob`); `pred = (prob > 0.5).float()` is a second output (a bool cast to float).
With ids below 16 every intermediate integer is below 2^24 (float32 holds it exactly); with ids
in the thousands `ids * 1000003` is beyond it, where a float32 engine would pick wrong buckets.

Files
- typed/hash_buckets.onnx: torch.onnx.export(dynamo=False, opset 17, dynamic batch and sequence),
  input `input_ids` (int64, [batch, sequence]), outputs `prob` and `pred` (float32, [batch, 1]).
- typed/inputs.npz: "small" (3, 10) int64 ids in 0..15; "large" (3, 10) int64 ids in 1000..50000.
- typed/expected.npz: "small", "large": onnxruntime's prob; "small/pred", "large/pred" its pred
  (ORT_DISABLE_ALL, one thread).
- typed/index.json: versions and the ops of the file.
"""
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from fixture_io import log, ort_literal_session, save_npz, write_json, save_proto

HERE = Path(__file__).resolve().parent
OUT = HERE / "typed"
SEED = 20261208


class HashBuckets(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.table = torch.nn.Embedding(64, 8)
        self.head = torch.nn.Linear(8, 1)

    def forward(self, input_ids):
        buckets = ((input_ids * 1000003 + 7) // 3) % 64
        prob = torch.sigmoid(self.head(self.table(buckets).mean(dim=1)))
        return prob, (prob > 0.5).float()


def main():
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    model = HashBuckets().eval()
    rng = np.random.default_rng(SEED)
    cases = {"small": rng.integers(0, 16, (3, 10)).astype(np.int64),
             "large": rng.integers(1000, 50000, (3, 10)).astype(np.int64)}
    save_npz(OUT / "inputs.npz", cases)
    path = OUT / "hash_buckets.onnx"
    torch.onnx.export(model, (torch.from_numpy(cases["small"]),), str(path), dynamo=False, opset_version=17,
                      input_names=["input_ids"], output_names=["prob", "pred"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "prob": {0: "batch"}, "pred": {0: "batch"}})
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    save_proto(proto, path)
    session = ort_literal_session(path)
    expected, index = {}, {"versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__},
                           "ops": sorted({n.op_type for n in proto.graph.node}), "cases": {}}
    for key, ids in cases.items():
        expected[key], expected[f"{key}/pred"] = session.run(None, {"input_ids": ids})
        torch_prob = model(torch.from_numpy(ids))[0].detach().numpy()
        index["cases"][key] = {"max_abs_ort_minus_torch": float(np.abs(expected[key] - torch_prob).max()),
                               "largest_product": int((ids * 1000003 + 7).max())}
        log(key, expected[key].ravel(), index["cases"][key])
    save_npz(OUT / "expected.npz", expected)
    write_json(OUT / "index.json", index)
    log("ops", index["ops"])


if __name__ == "__main__":
    main()
