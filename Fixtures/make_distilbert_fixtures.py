#!/usr/bin/env python3
"""Write the text-model fixtures in Fixtures/text/ (a tiny DistilBERT exported to ONNX two ways).

    HF_HUB_OFFLINE=1 ~/venvs/torch/bin/python Fixtures/make_distilbert_fixtures.py

No arguments: the script deletes everything in Fixtures/text/ and writes it again. Nothing is
downloaded (HF_HUB_OFFLINE=1 is also set by the script): the model is built from a config with
random weights (torch.manual_seed(SEED)), the inputs come from numpy.random.default_rng(SEED).
After transformers' init every parameter is redrawn from the same torch seed stream (weights and
embeddings N(0, 0.2), biases N(0, 0.1), LayerNorm weights 1 + N(0, 0.1)): with the stock init
(std 0.02, zero biases) the logits are ~0.02 and the attention mask moves them by only ~1e-4.

Model: transformers.DistilBertForSequenceClassification(DistilBertConfig(vocab_size=1000, dim=64,
n_layers=2, n_heads=2, hidden_dim=128, num_labels=2)), .eval(), default attention implementation
("sdpa" in transformers 5.25; it exports cleanly with both exporters, so "eager" is not needed).
168,130 parameters. It is wrapped so that forward(input_ids, attention_mask) returns the logits
tensor only (no ModelOutput).

Files
- text/distilbert.torchscript.onnx: torch.onnx.export(dynamo=False, opset_version=17,
  dynamic_axes): inputs input_ids, attention_mask (int64, [batch, sequence]), output logits
  (float32, [batch, 2]).
- text/distilbert.dynamo.onnx: torch.onnx.export(dynamo=True, dynamic_shapes with
  torch.export.Dim("batch"), Dim("sequence"), external_data=False, opset chosen by the exporter).
  Same input/output names and symbolic dims. All weights are inside the file.
- text/distilbert.inputs.npz: cases keyed "L{len}_B{batch}/input_ids" and
  "L{len}_B{batch}/attention_mask" (both int64, shape (batch, len)) for (len, batch) in CASES.
  Token ids are rng.integers(0, 1000). For batch > 1 the last sample(s) are padded: the mask is 0
  from the sample's valid length on and the token ids there are 0. Sample 0 is never padded.
- text/distilbert.expected.npz: "L{len}_B{batch}/torchscript" and "L{len}_B{batch}/dynamo" are
  onnxruntime's logits (float32, (batch, 2)) for each file: CPUExecutionProvider, 1 thread,
  graph optimizations off (ORT_DISABLE_ALL), i.e. the literal evaluation of the stored graph.
  "L{len}_B{batch}/torch" is the PyTorch model's own logits on the same inputs.
- text/index.json: versions, file sizes, opsets, inputs/outputs with their symbolic dims, ONNX op
  types with counts, the nodes that take run-time (not constant-foldable) integer inputs, and per
  case: the valid lengths, max |ORT - torch|, max |ORT_DISABLE_ALL - ORT_ENABLE_ALL| for each
  file, max |torchscript - dynamo|, and max |torch(padded) - torch(each sample unpadded)| (how
  far padding is from being invisible; it should be float noise only).

Notes on the exports (what the run printed; also in index.json "export_warnings"):
- torchscript: TracerWarnings from transformers/masking_utils.py (the "mask shorter than the
  keys" padding branch) and sdpa_attention.py (is_causal) are frozen at trace time; both are
  shape comparisons that are false for every input of these graphs (mask length == sequence
  length, non-causal), so the traced graph is still valid for any batch/sequence (the cases
  check lengths 16, 32, 50 and batch 1, 3, 8 against torch). The mask's advanced indexing
  becomes Flatten + Gather on a bool tensor (the exporter warns about negative indices; the
  indices here are Range outputs, never negative). Padding is applied with Where(mask, 0, -inf)
  and, after Softmax, Where(IsNaN(p), 0, p).
- dynamo: no failures; it chose opset 20 (Gelu is a single op there) and the fill value is
  float32 min (-3.4028235e38) instead of -inf. Its nodes carry metadata_props (stack traces,
  class hierarchy, ...), about 0.27 MB of the file; they are kept as the exporter wrote them.
  Both files have all weights inline (about 0.67 MB of initializers; 168,130 parameters).

Versions used: Python 3.11.7, torch 2.13.0+cpu, transformers 5.25.0, onnx 1.23.2,
onnxruntime 1.32.0, onnxscript 0.7.2, numpy 2.4.6 (the exact versions are also in index.json).
torch runs single-threaded. The .npz files are written with fixture_io.save_npz (fixed zip
timestamp) so reruns are byte-identical; the .onnx files are re-serialised with
fixture_io.save_proto (deterministic protobuf serialisation).
"""

import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import collections  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import onnxscript  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from onnx import TensorProto  # noqa: E402
from transformers import DistilBertConfig, DistilBertForSequenceClassification  # noqa: E402

from fixture_io import log, save_npz, write_json, save_proto  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "text"
INDEX = OUT / "index.json"

SEED = 20240607
CONFIG = dict(vocab_size=1000, dim=64, n_layers=2, n_heads=2, hidden_dim=128, num_labels=2)
CASES = [(16, 1), (16, 3), (32, 8), (50, 3), (50, 1)]  # (sequence length, batch)
INPUTS = ["input_ids", "attention_mask"]
OUTPUTS = ["logits"]
TORCHSCRIPT_OPSET = 17
# transformers' own init (weights N(0, 0.02), biases 0, LayerNorm 1/0) gives logits of ~0.02 on
# which the attention mask changes the logits by ~1e-4 only, so an engine that ignored the mask
# would still pass. Every parameter is redrawn instead: weights and embeddings N(0, 0.2), biases
# and LayerNorm biases N(0, 0.1), LayerNorm weights 1 + N(0, 0.1).
REINIT = {"weight_std": 0.2, "bias_std": 0.1, "norm_weight_std": 0.1}
FILES = {"torchscript": "distilbert.torchscript.onnx", "dynamo": "distilbert.dynamo.onnx"}


def rel(path):
    return Path(path).resolve().relative_to(OUT).as_posix()


def size(path):
    return Path(path).stat().st_size


def case_key(length, batch):
    return f"L{length}_B{batch}"


# --------------------------------------------------------------------------------------
# Model and inputs
# --------------------------------------------------------------------------------------

class LogitsOnly(torch.nn.Module):
    """forward(input_ids, attention_mask) -> logits (the exporters want plain tensors out)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def build_model():
    """The model with transformers' random init, then every parameter redrawn (see REINIT)."""
    torch.manual_seed(SEED)
    model = DistilBertForSequenceClassification(DistilBertConfig(**CONFIG)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():  # fixed order; draws from the torch.manual_seed stream
            if "norm" in name.lower() and name.endswith("weight"):  # LayerNorm, *_layer_norm
                p.copy_(1.0 + REINIT["norm_weight_std"] * torch.randn(p.shape))
            elif name.endswith("bias"):
                p.copy_(REINIT["bias_std"] * torch.randn(p.shape))
            else:
                p.copy_(REINIT["weight_std"] * torch.randn(p.shape))
    return LogitsOnly(model).eval(), model


def make_inputs(rng):
    """{case: {"input_ids", "attention_mask"}} and {case: valid length per sample}."""
    cases, valid = {}, {}
    for length, batch in CASES:
        ids = rng.integers(0, CONFIG["vocab_size"], size=(batch, length), dtype=np.int64)
        lengths = [length] * batch
        if batch > 1:
            # pad the last max(1, batch // 3) samples; valid lengths drawn from [2, length - 1)
            n_pad = max(1, batch // 3)
            for b in range(batch - n_pad, batch):
                lengths[b] = int(rng.integers(2, length - 1))
        mask = np.zeros((batch, length), np.int64)
        for b, n in enumerate(lengths):
            mask[b, :n] = 1
            ids[b, n:] = 0
        key = case_key(length, batch)
        cases[key] = {"input_ids": ids, "attention_mask": mask}
        valid[key] = lengths
    return cases, valid


# --------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------

def example_args():
    ids = torch.zeros((2, 8), dtype=torch.int64)
    ids[:, 1:] = torch.arange(1, 8)
    mask = torch.ones((2, 8), dtype=torch.int64)
    mask[1, 5:] = 0
    return ids, mask


def export_torchscript(wrapper, path):
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            "logits": {0: "batch"}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.onnx.export(wrapper, example_args(), str(path), dynamo=False, opset_version=TORCHSCRIPT_OPSET,
                          input_names=INPUTS, output_names=OUTPUTS, dynamic_axes=axes, do_constant_folding=True)
    return sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught})


def export_dynamo(wrapper, path):
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    shapes = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.onnx.export(wrapper, example_args(), str(path), dynamo=True, input_names=INPUTS,
                          output_names=OUTPUTS, dynamic_shapes=shapes, external_data=False, verbose=False)
    return sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught})


def export_all(wrapper):
    """Exports into a temporary folder, checks the files, re-serialises them deterministically into OUT."""
    warn = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, export in (("torchscript", export_torchscript), ("dynamo", export_dynamo)):
            path = Path(tmp) / FILES[kind]
            warn[kind] = export(wrapper, path)
            extra = sorted(p.name for p in Path(tmp).iterdir() if p.name != path.name and not p.name.endswith(".onnx"))
            assert not extra, f"{kind} export wrote external data: {extra}"
            model = onnx.load(str(path))
            assert not any(t.data_location == TensorProto.EXTERNAL for t in model.graph.initializer), kind
            onnx.checker.check_model(model, full_check=True)
            save_proto(model, OUT / FILES[kind])
    return warn


# --------------------------------------------------------------------------------------
# Describing a model
# --------------------------------------------------------------------------------------

def dims(vi):
    out = []
    for d in vi.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(d.dim_value)
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def dtype_name(elem_type):
    return TensorProto.DataType.Name(elem_type).lower()


INT_TYPES = {TensorProto.INT64, TensorProto.INT32, TensorProto.INT8, TensorProto.INT16, TensorProto.UINT8,
             TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64, TensorProto.BOOL}


def runtime_integer_inputs(model):
    """Nodes with an integer/bool input that is computed at run time (it depends on a graph input,
    possibly only on its shape, so it cannot be folded into a constant)."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    g = inferred.graph
    types = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        types[vi.name] = vi.type.tensor_type.elem_type
    for t in g.initializer:
        types[t.name] = t.data_type
    static = {t.name for t in g.initializer}
    producer = {}
    for n in g.node:
        for o in n.output:
            producer[o] = n
        if all(i == "" or i in static for i in n.input):  # Constant, or folds from constants only
            static.update(n.output)
    nodes = []
    for n in g.node:
        computed = []
        for k, name in enumerate(n.input):
            # Shape/Size: a run-time integer from any run-time input (its dtype does not matter)
            if name == "" or name in static or (types.get(name) not in INT_TYPES
                                                and n.op_type not in ("Shape", "Size")):
                continue
            src = producer[name].op_type if name in producer else "graph input"
            computed.append({"index": k, "name": name, "dtype": dtype_name(types[name]), "from": src})
        if computed:
            nodes.append({"op": n.op_type, "node": n.name, "runtime_int_inputs": computed})
    return nodes


def describe(model, path):
    g = model.graph
    inits = {t.name for t in g.initializer}
    ops = collections.Counter(n.op_type for n in g.node)
    rt = runtime_integer_inputs(model)
    return {
        "file": rel(path),
        "bytes": size(path),
        "ir_version": model.ir_version,
        "opset": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        "producer_name": model.producer_name,
        "producer_version": model.producer_version,
        "inputs": [{"name": i.name, "shape": dims(i), "dtype": dtype_name(i.type.tensor_type.elem_type)}
                   for i in g.input if i.name not in inits],
        "outputs": [{"name": o.name, "shape": dims(o), "dtype": dtype_name(o.type.tensor_type.elem_type)}
                    for o in g.output],
        "nodes": len(g.node),
        "initializers": len(g.initializer),
        "initializer_bytes": sum(len(t.raw_data) for t in g.initializer),
        "functions": [f.name for f in model.functions],
        "ops": dict(sorted(ops.items())),
        "op_sequence": [n.op_type for n in g.node],
        "runtime_int_ops": dict(sorted(collections.Counter(n["op"] for n in rt).items())),
        "runtime_int_nodes": rt,
    }


# --------------------------------------------------------------------------------------
# onnxruntime
# --------------------------------------------------------------------------------------

def session(path, level):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = level
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def max_abs(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)))


# --------------------------------------------------------------------------------------

def main(argv):
    if argv:
        sys.exit("usage: make_distilbert_fixtures.py   (no arguments; rewrites Fixtures/text/)")
    torch.set_num_threads(1)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)

    wrapper, model = build_model()
    attn = model.config._attn_implementation
    n_params = sum(p.numel() for p in model.parameters())
    log(f"DistilBERT: {n_params} parameters, attention implementation {attn!r}")

    rng = np.random.default_rng(SEED)
    cases, valid = make_inputs(rng)
    save_npz(OUT / "distilbert.inputs.npz",
             {f"{key}/{name}": arrays[name] for key, arrays in cases.items() for name in INPUTS})

    warn = export_all(wrapper)
    sessions = {kind: {level: session(OUT / FILES[kind], level)
                       for level in (ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                                     ort.GraphOptimizationLevel.ORT_ENABLE_ALL)}
                for kind in FILES}

    expected, per_case = {}, {}
    for key, feeds in cases.items():
        with torch.no_grad():
            ref = wrapper(*(torch.from_numpy(feeds[n]) for n in INPUTS)).numpy()
            # the same samples one by one, cut to their valid length (no padding at all)
            alone = np.concatenate([
                wrapper(torch.from_numpy(feeds["input_ids"][b:b + 1, :n]),
                        torch.from_numpy(feeds["attention_mask"][b:b + 1, :n])).numpy()
                for b, n in enumerate(valid[key])])
            no_mask = wrapper(torch.from_numpy(feeds["input_ids"]),
                              torch.ones(feeds["attention_mask"].shape, dtype=torch.int64)).numpy()
        entry = {"shape": list(feeds["input_ids"].shape), "valid_lengths": valid[key],
                 "max_abs_logits": float(np.max(np.abs(ref))),
                 "max_abs_torch_padded_vs_unpadded": max_abs(ref, alone),
                 "max_abs_torch_mask_vs_all_ones_mask": max_abs(ref, no_mask)}
        got = {}
        for kind in FILES:
            plain, opt = (sessions[kind][level].run(OUTPUTS, feeds)[0]
                          for level in (ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                                        ort.GraphOptimizationLevel.ORT_ENABLE_ALL))
            assert plain.dtype == np.float32 and plain.shape == ref.shape, (kind, key, plain.dtype, plain.shape)
            got[kind] = plain
            expected[f"{key}/{kind}"] = plain
            entry[kind] = {"max_abs_ort_vs_torch": max_abs(plain, ref),
                           "max_abs_ort_enable_all_vs_torch": max_abs(opt, ref),
                           "max_abs_disable_all_vs_enable_all": max_abs(plain, opt)}
            assert entry[kind]["max_abs_ort_vs_torch"] < 1e-4, (kind, key, entry[kind])
        expected[f"{key}/torch"] = ref.astype(np.float32)
        entry["max_abs_torchscript_vs_dynamo"] = max_abs(got["torchscript"], got["dynamo"])
        per_case[key] = entry
        log(key, {k: v for k, v in entry.items() if k not in ("shape", "valid_lengths")})
    save_npz(OUT / "distilbert.expected.npz", expected)

    index = {
        "generator": "Fixtures/make_distilbert_fixtures.py",
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "transformers": transformers.__version__, "onnx": onnx.__version__,
                     "onnxruntime": ort.__version__, "onnxscript": onnxscript.__version__,
                     "numpy": np.__version__},
        "model": {"class": "transformers.DistilBertForSequenceClassification", "config": CONFIG,
                  "attn_implementation": attn, "parameters": n_params, "seed": SEED,
                  "reinit": {**REINIT, "rule": "LayerNorm weight: 1 + N(0, norm_weight_std); other biases "
                             "(LayerNorm bias too): N(0, bias_std); everything else: N(0, weight_std)"},
                  "wrapper": "forward(input_ids, attention_mask) -> logits"},
        "expected_outputs": "onnxruntime CPUExecutionProvider, 1 thread, ORT_DISABLE_ALL; "
                            "'/torch' keys: the PyTorch model (1 thread)",
        "inputs_file": "distilbert.inputs.npz",
        "expected_file": "distilbert.expected.npz",
        "files": {},
        "cases": per_case,
    }
    for kind, how in (("torchscript", f"torch.onnx.export(dynamo=False, opset_version={TORCHSCRIPT_OPSET}, "
                                      "dynamic_axes)"),
                      ("dynamo", "torch.onnx.export(dynamo=True, dynamic_shapes, external_data=False)")):
        path = OUT / FILES[kind]
        index["files"][kind] = {"export": how, **describe(onnx.load(str(path)), path), "export_warnings": warn[kind]}
    for kind, d in index["files"].items():
        log(kind, d["bytes"], "bytes, opset", d["opset"], "ops", d["ops"])
    write_json(INDEX, index)
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    log(f"wrote {sum(1 for p in OUT.rglob('*') if p.is_file())} files, {total} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
