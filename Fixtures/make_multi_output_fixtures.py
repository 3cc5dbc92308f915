#!/usr/bin/env python3
"""Write the several-outputs fixtures in Fixtures/multi_output/ (ops with more than one output).

    ~/venvs/torch/bin/python Fixtures/make_multi_output_fixtures.py

No arguments: the script deletes everything in Fixtures/multi_output/ and writes it again.

Model (`SplitTopK`, random init from torch.manual_seed(SEED)): a small binary classifier over 12
features whose hidden layer is cut with `torch.split` into three parts of 4, 5 and 3 (one ONNX
Split with three outputs, each read by a different op) and whose middle part goes through
`torch.topk(k=3)` (one ONNX TopK with two outputs: values and int64 indices). Outputs:
`prob` (batch, 1), the sigmoid of the head, and `top` (batch, 3), TopK's indices, so both of
TopK's outputs are read.

    h = relu(fc(x))                       # Linear(12, 12)
    a, b, c = split(h, [4, 5, 3], dim=1)
    v, i = topk(b, 3, dim=1)
    z = cat([a * c.sum(1, keepdim=True), v * 2], 1)   # (batch, 7)
    prob = sigmoid(head(z))               # Linear(7, 1)

Files
- multi_output/split_topk.torchscript.onnx: torch.onnx.export(dynamo=False, opset 17, dynamic batch).
- multi_output/split_topk.dynamo.onnx: torch.onnx.export(dynamo=True, dynamic batch; the exporter's opset).
- multi_output/inputs.npz: "x" (8, 12) float32 from numpy.random.default_rng(SEED), scale 2;
  "y" (8,) labels 0/1.
- multi_output/expected.npz: "{file}/prob", "{file}/top" (onnxruntime, ORT_DISABLE_ALL, one thread;
  "top" as int64 as the file declares it); "torch/prob"; "grad/{parameter}": PyTorch's gradient of
  the mean binary cross-entropy of prob against y at these weights, per parameter (`fc.weight`
  (12, 12) [out, in], `fc.bias`, `head.weight` (1, 7), `head.bias`): what one training step of
  the ONNX model must compute. ReLU zeros tie inside `b`: onnxruntime (as ONNX specifies) puts the
  lower index first, torch's own order differs (index.json says where); the gradients do not depend
  on it (ReLU's gradient is zero at the tied zeros).
- multi_output/index.json: versions, opsets, op types per file.
"""
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from fixture_io import log, ort_literal_session, save_npz, write_json, save_proto

HERE = Path(__file__).resolve().parent
OUT = HERE / "multi_output"
SEED = 20261207


class SplitTopK(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(12, 12)
        self.head = torch.nn.Linear(7, 1)

    def forward(self, x):
        h = torch.relu(self.fc(x))
        a, b, c = torch.split(h, [4, 5, 3], dim=1)
        v, i = torch.topk(b, 3, dim=1)
        z = torch.cat([a * c.sum(1, keepdim=True), v * 2], 1)
        return torch.sigmoid(self.head(z)), i


def run_ort(path, x):
    return ort_literal_session(path).run(None, {"x": x})


def main():
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    model = SplitTopK().eval()
    rng = np.random.default_rng(SEED)
    x = (rng.standard_normal((8, 12)) * 2).astype(np.float32)
    y = (rng.random(8) < 0.5).astype(np.float32)
    save_npz(OUT / "inputs.npz", {"x": x, "y": y})

    expected = {}
    index = {"versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__,
                          "numpy": np.__version__}, "files": {}}
    example = torch.from_numpy(x)
    files = {"torchscript": OUT / "split_topk.torchscript.onnx", "dynamo": OUT / "split_topk.dynamo.onnx"}
    torch.onnx.export(model, (example,), str(files["torchscript"]), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["prob", "top"],
                      dynamic_axes={"x": {0: "batch"}, "prob": {0: "batch"}, "top": {0: "batch"}})
    program = torch.onnx.export(model, (example,), dynamo=True, input_names=["x"], output_names=["prob", "top"],
                                dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    program.save(str(files["dynamo"]), external_data=False)
    for key, path in files.items():
        proto = onnx.load(str(path))
        save_proto(proto, path)
        onnx.checker.check_model(proto)
        prob, top = run_ort(path, x)
        expected[f"{key}/prob"] = prob
        expected[f"{key}/top"] = top
        ops = sorted({n.op_type for n in proto.graph.node})
        index["files"][path.name] = {"opset": max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                                     "ops": ops}
        log(path.name, ops)

    out, top = model(example)
    expected["torch/prob"] = out.detach().numpy()
    loss = torch.nn.functional.binary_cross_entropy(out[:, 0], torch.from_numpy(y))
    loss.backward()
    for name, p in model.named_parameters():
        expected[f"grad/{name}"] = p.grad.numpy().copy()
    index["loss"] = float(loss.detach())
    for key in files:
        d = np.abs(expected[f"{key}/prob"] - expected["torch/prob"]).max()
        index["files"][files[key].name]["max_abs_ort_minus_torch"] = float(d)
        # ReLU zeros tie in b; ONNX (and onnxruntime) put the lower index first, torch leaves it open.
        index["files"][files[key].name]["top_equal_to_torch"] = bool((expected[f"{key}/top"] == top.numpy()).all())
    save_npz(OUT / "expected.npz", expected)
    write_json(OUT / "index.json", index)
    log("loss", loss.item())


if __name__ == "__main__":
    main()
