#!/usr/bin/env python3
"""Runs ONNX's backend node tests through `modelport run` and classifies each one.

ONNX (1.23) builds its node tests in memory (onnx.backend.test.loader.load_node_model_tests():
a list of TestCase dataclasses with `name`, `model` (a ModelProto), `data_sets` (one
(inputs, outputs) pair of lists of numpy arrays or TensorProtos), `rtol` 1e-3 and `atol` 1e-7).
This script writes each test to a temporary folder as

    NAME/model.onnx      the test's model, unchanged (unless --max-opset / --const-inputs)
    NAME/inputs.npz      one array per graph input, keyed by the input's name
    NAME/expected.npz    one array per graph output, keyed by the output's name

runs `modelport run NAME/model.onnx --input NAME/inputs.npz --output NAME/out.npz --threads 1`
(30 s timeout; plus `--batch-size ROWS` when the first input has more than 32 rows, so that `run`
does not cut a non-batched tensor into batches of 32 -- --cli-batching turns that off) on a copy
of the binary taken at the start (a rebuild during the run changes nothing) and compares out.npz with expected.npz the way ONNX's backend runner does
(same shapes, numpy.testing.assert_allclose rtol 1e-3 atol 1e-7) except that the output dtype
may differ: ModelPort computes and writes float32, so a float expectation is compared after
casting the output to the expected dtype, and an integer or bool expectation passes when the
values are exactly equal.

Each test ends up as one of

    pass         ran, every output matches
    fail         ran but an output is wrong or missing (kind "mismatch"), exited 1 or 2 with an
                 error that is not an "unsupported" one (kind "error"), was killed by a signal or
                 exited with another code (kind "crash": a bug, its first stderr line is kept), or
                 ran past the timeout (kind "timeout")
    unsupported  exit 2 with an `error:` line saying an operator, opset, dtype or feature is not
                 supported (the message is kept)
    skip         the test cannot be expressed as .npz files (a sequence, optional or None
                 input/output); ModelPort has no sequence/optional types, so these are counted
                 apart and never run

Usage (with the reference venv, which has onnx, numpy):

    ~/venvs/ref/bin/python Conformance/run_node_tests.py [--jobs 2] [--filter REGEX]
        [--ops-of-interest] [--json results.json] [--keep DIR] [--modelport PATH]

Exit status: 0 when it ran (whatever the results), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

# ModelPort's target operator set (the ops a converted image classifier uses).
OPS_OF_INTEREST = [
    "Conv", "ConvTranspose", "BatchNormalization", "MaxPool", "AveragePool",
    "GlobalAveragePool", "GlobalMaxPool", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Pow",
    "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal", "Relu", "LeakyRelu", "PRelu", "Elu",
    "Selu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softplus", "Softsign", "Softmax",
    "LogSoftmax", "Erf", "Gelu", "Clip", "Flatten", "Reshape", "Transpose", "Squeeze",
    "Unsqueeze", "Concat", "Split", "Slice", "Gather", "Shape", "Constant", "ConstantOfShape",
    "Identity", "Dropout", "Pad", "ReduceMean", "ReduceMax", "ReduceSum", "Cast", "Expand",
    "Resize", "Upsample", "LayerNormalization",
]

# Element types left out of the ops-of-interest Cast tests (ModelPort has no such types).
EXOTIC_TYPE_PREFIXES = ("BFLOAT16", "FLOAT8", "FLOAT4", "FLOAT6", "INT4", "UINT4", "INT2", "UINT2")

# An exit-2 error line that says something is not supported (operator, opset, dtype, feature).
UNSUPPORTED_RE = re.compile(
    r"not supported|unsupported|not implemented|not yet supported|is not handled|"
    r"\bonly\b.*\b(?:is|are) supported|\bonly (?:supports?|handles?|accepts?)\b|"
    r"does not read|cannot be (?:imported|converted)|no (?:kernel|support) for|"
    r"\bneeds constant\b|needs an? \w+ known at load time|does not run yet|\bsupported only\b|"
    r"\bis supported on\b.*\bonly\b|\bonly\b.*\bruns?\b|the model expects \S+ numbers",
    re.IGNORECASE,
)

DEFAULT_TIMEOUT = 30.0
RTOL = 1e-3
ATOL = 1e-7


@dataclass
class Result:
    name: str
    op: str                      # the op the test is about (see op_label)
    ops: list[str]               # op types of the model's nodes, in order, without repeats
    nodes: int
    expanded: bool               # a function-expanded variant (test_*_expanded*)
    opset: int | None            # ai.onnx opset the model imports (after --max-opset)
    interest: bool               # counted in the --ops-of-interest totals
    status: str = "fail"         # pass / fail / unsupported / skip
    kind: str = ""               # ok, mismatch, error, crash, timeout, skip, runner
    returncode: int | None = None
    message: str = ""            # the error line, mismatch summary or crash line
    stderr_first_line: str = ""
    seconds: float = 0.0
    batch_size: int | None = None  # the --batch-size given to modelport run
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Loading and writing the tests

def load_tests():
    """ONNX's node tests, built in memory. Silences the warnings numpy prints building them."""
    from onnx.backend.test.loader import load_node_model_tests

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return list(load_node_model_tests())


def to_array(value):
    """A numpy array for a test value, or None when it is not a plain tensor."""
    import onnx
    from onnx import numpy_helper

    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return np.asarray(value)
    return None  # list (sequence), None (empty optional), dict (map), SparseTensorProto...


def npz_safe(a: np.ndarray) -> np.ndarray:
    """Strings as fixed-width unicode (no pickle in the .npz); everything else unchanged."""
    if a.dtype == object:
        try:
            return a.astype(str)
        except (TypeError, ValueError):
            return a
    return a


def ai_onnx_opset(model) -> int | None:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return None


def node_ops(model) -> list[str]:
    seen = []
    for n in model.graph.node:
        label = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
        if label not in seen:
            seen.append(label)
    return seen


EXPANDED_RE = re.compile(r"_expanded(?:_ver\d+)?$")


def op_labels(tests) -> dict[str, str]:
    """The op each test is about: its single node's op type; for a multi-node test (the
    function-expanded variants) the op of the single-node test it was expanded from; else a
    guess from the name."""
    single = {t.name: node_ops(t.model)[0] for t in tests if len(t.model.graph.node) == 1}
    labels = {}
    for t in tests:
        if t.name in single:
            labels[t.name] = single[t.name]
            continue
        base = EXPANDED_RE.sub("", t.name)
        if base in single:
            labels[t.name] = single[base]
            continue
        # Longest single-node test name that prefixes this one (test_foo_bar -> test_foo).
        best = ""
        for other in single:
            if t.name.startswith(other + "_") and len(other) > len(best):
                best = other
        labels[t.name] = single[best] if best else ("+".join(node_ops(t.model)) or "(none)")
    return labels


def is_interest(t) -> tuple[bool, str]:
    """Whether a test counts for --ops-of-interest, with the reason when it does not."""
    import onnx

    nodes = list(t.model.graph.node)
    if len(nodes) != 1:
        return False, "not a single-node test"
    n = nodes[0]
    if n.domain not in ("", "ai.onnx") or n.op_type not in OPS_OF_INTEREST:
        return False, "op not of interest"
    if n.op_type == "Cast":
        types = [v.type.tensor_type.elem_type for v in list(t.model.graph.input) + list(t.model.graph.output)]
        types += [a.i for a in n.attribute if a.name == "to"]
        names = [onnx.TensorProto.DataType.Name(x) for x in types if x]
        if any(name.startswith(EXOTIC_TYPE_PREFIXES) for name in names):
            return False, "Cast with a float8/float4/int4/int2/bfloat16 type"
    if n.op_type == "Dropout" and len(n.input) >= 3 and n.input[2]:
        return False, "training-mode Dropout"
    return True, ""


def clamp_opset(model, max_opset: int) -> int | None:
    """--max-opset: lowers the ai.onnx opset import to max_opset when every node's op exists at
    max_opset with the same inputs, outputs and attribute defaults and every attribute the node
    sets (a newer version then differs only in the element types it allows, or in an attribute
    the node leaves at its default). Returns the original opset when it changed it."""
    import onnx

    current = ai_onnx_opset(model)
    if current is None or current <= max_opset:
        return None
    for n in model.graph.node:
        if n.domain not in ("", "ai.onnx"):
            continue
        try:
            new = onnx.defs.get_schema(n.op_type, current, n.domain)
            old = onnx.defs.get_schema(n.op_type, max_opset, n.domain)
        except onnx.defs.SchemaError:
            return None
        if new.since_version == old.since_version:
            continue
        if [i.name for i in new.inputs] != [i.name for i in old.inputs] or \
                [o.name for o in new.outputs] != [o.name for o in old.outputs]:
            return None
        if any(a.name not in old.attributes for a in n.attribute):
            return None
        for name, attr in old.attributes.items():
            if name not in new.attributes or \
                    new.attributes[name].default_value.SerializeToString() != attr.default_value.SerializeToString():
                return None
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = max_opset
    return current


def inputs_to_initializers(model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """--const-inputs: every graph input after the first becomes an initializer holding the
    test's value (as weights are in a real model). Returns the inputs left as graph inputs."""
    from onnx import numpy_helper

    graph_inputs = list(model.graph.input)
    if len(graph_inputs) <= 1:
        return inputs
    for vi, a in zip(graph_inputs[1:], inputs[1:]):
        model.graph.initializer.append(numpy_helper.from_array(a, vi.name))
    del model.graph.input[1:]
    return inputs[:1]


def write_test(t, folder: Path, args) -> tuple[bool, str, list[str], int | None]:
    """Writes model.onnx, inputs.npz, expected.npz. Returns (runnable, why-not, notes, the
    leading dimension of the first input)."""
    import onnx

    notes: list[str] = []
    inputs_raw, outputs_raw = t.data_sets[0]
    inputs = [to_array(v) for v in inputs_raw]
    outputs = [to_array(v) for v in outputs_raw]
    graph_in = [v.name for v in t.model.graph.input]
    graph_out = [v.name for v in t.model.graph.output]
    if any(a is None for a in inputs) or any(a is None for a in outputs):
        kinds = sorted({type(v).__name__ for v in list(inputs_raw) + list(outputs_raw) if to_array(v) is None})
        return False, f"runner: a sequence/optional/None input or output ({', '.join(kinds)}) cannot be passed as .npz", notes, None
    if len(inputs) != len(graph_in) or len(outputs) != len(graph_out):
        return False, "runner: the test's arrays do not match the graph's inputs/outputs", notes, None

    model = onnx.ModelProto()
    model.CopyFrom(t.model)
    if args.max_opset:
        was = clamp_opset(model, args.max_opset)
        if was is not None:
            notes.append(f"opset {was} -> {args.max_opset}")
    if args.const_inputs and len(inputs) > 1:
        inputs = inputs_to_initializers(model, inputs)
        graph_in = graph_in[:1]
        notes.append("inputs after the first as initializers")

    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    np.savez(folder / "inputs.npz", **{n: npz_safe(a) for n, a in zip(graph_in, inputs)})
    np.savez(folder / "expected.npz", **{n: npz_safe(a) for n, a in zip(graph_out, outputs)})
    lead = int(inputs[0].shape[0]) if inputs and inputs[0].ndim > 0 else None
    return True, "", notes, lead


# --------------------------------------------------------------------------------------------
# Running and comparing

def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def error_line(stderr: str) -> str:
    """The `error:` line, else the first line that is not a warning, else the first line."""
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    for l in lines:
        if l.startswith("error:"):
            return l
    for l in lines:
        if "Fatal error" in l or "fatalError" in l or "Precondition failed" in l or "Assertion failed" in l:
            return l
    for l in lines:
        if not l.startswith("warning:"):
            return l
    return lines[0] if lines else ""


def compare(expected: dict, out: dict, names: list[str]) -> str | None:
    """None when every output matches; else what is wrong (one line)."""
    problems = []
    for name in names:
        ref = expected[name]
        if name not in out:
            problems.append(f"output '{name}' missing from out.npz (it has: {', '.join(sorted(out)) or 'nothing'})")
            continue
        got = out[name]
        if tuple(got.shape) != tuple(ref.shape):
            problems.append(f"output '{name}' has shape {tuple(got.shape)}, expected {tuple(ref.shape)}")
            continue
        try:
            if ref.dtype.kind in "iub":
                g = got.astype(np.float64)
                r = ref.astype(np.float64)
                if not np.array_equal(g, r):
                    bad = int(np.count_nonzero(g != r))
                    problems.append(f"output '{name}' ({ref.dtype}): {bad}/{ref.size} values differ")
            elif ref.dtype.kind in "USO":
                problems.append(f"output '{name}' is {ref.dtype} strings; got {got.dtype}")
            else:
                rtol = RTOL
                if ref.dtype.kind == "f" and ref.dtype.name in ("float16", "float32", "float64"):
                    g, r = got.astype(ref.dtype), ref
                elif ref.dtype.kind == "c":
                    g, r = got, ref
                else:  # ml_dtypes (bfloat16, float8...): compare as float32 like ONNX does
                    g, r = got.astype(np.float32), ref.astype(np.float32)
                    rtol = max(RTOL, 2 ** -6) if ref.dtype.name == "bfloat16" else RTOL
                with np.errstate(all="ignore"):
                    np.testing.assert_allclose(g, r, rtol=rtol, atol=ATOL)
        except AssertionError as e:
            detail = " ".join(l.strip() for l in str(e).splitlines() if l.strip().startswith(("Mismatched", "Max absolute", "Max relative")))
            problems.append(f"output '{name}': {detail or first_line(str(e))}")
        except (TypeError, ValueError) as e:
            problems.append(f"output '{name}': cannot compare {got.dtype} with {ref.dtype}: {e}")
    return "; ".join(problems) if problems else None


def run_one(t, res: Result, folder: Path, args) -> Result:
    cmd = [args.modelport, "run", str(folder / "model.onnx"), "--input", str(folder / "inputs.npz"),
           "--output", str(folder / "out.npz"), "--threads", "1"]
    if res.batch_size is not None:
        cmd += ["--batch-size", str(res.batch_size)]
    start = time.monotonic()
    try:
        for attempt in range(20):
            try:
                proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                      errors="replace", timeout=args.timeout)
                break
            except OSError as e:  # the binary is being rewritten by a build (only with --no-snapshot)
                if e.errno != errno.ETXTBSY or attempt == 19:
                    raise
                time.sleep(0.5)
    except subprocess.TimeoutExpired as e:
        res.seconds = round(time.monotonic() - start, 3)
        res.status, res.kind = "fail", "timeout"
        res.message = f"timed out after {args.timeout:g} s"
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        res.stderr_first_line = first_line(err)
        return res
    res.seconds = round(time.monotonic() - start, 3)
    res.returncode = proc.returncode
    res.stderr_first_line = first_line(proc.stderr)
    line = error_line(proc.stderr)

    if proc.returncode == 0:
        out_path = folder / "out.npz"
        if not out_path.exists():
            res.status, res.kind = "fail", "mismatch"
            res.message = "exit 0 but no out.npz was written"
            return res
        try:
            with np.load(out_path, allow_pickle=False) as z:
                out = {k: z[k] for k in z.files}
            with np.load(folder / "expected.npz", allow_pickle=False) as z:
                expected = {k: z[k] for k in z.files}
        except Exception as e:  # noqa: BLE001 - an unreadable out.npz is a failure, not a crash of ours
            res.status, res.kind = "fail", "mismatch"
            res.message = f"cannot read out.npz: {e}"
            return res
        names = [v.name for v in t.model.graph.output]
        problem = compare(expected, out, names)
        if problem is None:
            res.status, res.kind = "pass", "ok"
        else:
            res.status, res.kind, res.message = "fail", "mismatch", problem
        return res

    if proc.returncode == 2 and line.startswith("error:"):
        res.message = line
        res.kind = "error"
        res.status = "unsupported" if UNSUPPORTED_RE.search(line) else "fail"
        return res
    if proc.returncode == 1:
        res.status, res.kind, res.message = "fail", "error", line or "exit 1"
        return res
    # Killed by a signal, or an exit code the command never uses on purpose: a crash.
    res.status, res.kind = "fail", "crash"
    if proc.returncode < 0:
        try:
            sig = signal.Signals(-proc.returncode).name
        except ValueError:
            sig = f"signal {-proc.returncode}"
        res.message = f"{sig}: {line}" if line else sig
    else:
        res.message = f"exit {proc.returncode}: {line}" if line else f"exit {proc.returncode}"
    return res


# --------------------------------------------------------------------------------------------
# Reporting

MESSAGE_PATH_RE = re.compile(r"^error:\s*")


def normalize_message(msg: str, folder_root: str) -> str:
    """A message with the test-specific parts (paths, node/input names, numbers in shapes)
    replaced, so that the same problem in different tests counts once."""
    m = MESSAGE_PATH_RE.sub("", msg)
    m = m.replace(folder_root.rstrip("/") + "/", "")
    m = re.sub(r"(?:\S*/)?test_[A-Za-z0-9_]+/(model\.onnx|inputs\.npz|out\.npz|expected\.npz)", r"\1", m)
    m = re.sub(r"'([^']*)'", lambda q: q.group(0) if q.group(1).startswith("ai.onnx") else "'…'", m)
    m = re.sub(r"\[[-0-9, ]*\]|\((?:-?\d+, *)*-?\d*\)|\((?:(?:-?\d+|nil|\?|None), *)*(?:-?\d+|nil|\?|None)\)", "(…)", m)
    m = re.sub(r"(?<![A-Za-z])\d+/\d+(?![A-Za-z])", "N/M", m)
    m = re.sub(r"(has|expected|is|got) \d+\b", r"\1 N", m)
    m = re.sub(r"\b\d+\.\d+(e-?\d+)?\b", "X", m)
    return m


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    lines = [fmt(header), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines)


def counts_by_op(results: list[Result]) -> dict[str, collections.Counter]:
    by_op: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in results:
        by_op[r.op][r.status] += 1
    return by_op


def summary(results: list[Result], title: str) -> str:
    c = collections.Counter(r.status for r in results)
    n = len(results)
    pct = lambda k: f"{100.0 * c[k] / n:.1f}%" if n else "-"
    return (f"{title}: {n} tests  pass {c['pass']} ({pct('pass')})  fail {c['fail']} ({pct('fail')})  "
            f"unsupported {c['unsupported']} ({pct('unsupported')})  skip {c['skip']}")


def report(results: list[Result], args, folder_root: str) -> str:
    out = []
    shown = [r for r in results if r.interest] if args.ops_of_interest else results
    by_op = counts_by_op(shown)
    rows = []
    for op in sorted(by_op, key=str.lower):
        c = by_op[op]
        rows.append([op, c["pass"], c["fail"], c["unsupported"], c["skip"], sum(c.values())])
    if args.ops_of_interest and not args.filter:
        present = set(by_op)
        for op in OPS_OF_INTEREST:
            if op not in present:
                rows.append([op + " (no test)", 0, 0, 0, 0, 0])
    out.append(table(rows, ["op", "pass", "fail", "unsupported", "skip", "total"]))
    out.append("")
    out.append(summary(results, "all tests run"))
    interest = [r for r in results if r.interest]
    out.append(summary(interest, "ops of interest (single-node)"))
    kinds = collections.Counter(r.kind for r in shown if r.status == "fail")
    out.append("failures by kind: " + (", ".join(f"{k} {v}" for k, v in kinds.most_common()) or "none"))

    msgs = collections.Counter()
    examples: dict[str, str] = {}
    for r in shown:
        if r.status in ("fail", "unsupported") and r.kind != "crash":
            key = f"[{r.status}/{r.kind}] " + normalize_message(r.message, folder_root)
            msgs[key] += 1
            examples.setdefault(key, r.name)
    out.append("")
    out.append(f"most common failure/unsupported messages (top {args.top}):")
    for key, n in msgs.most_common(args.top):
        out.append(f"  {n:5d}  {key}   (e.g. {examples[key]})")

    crashes = [r for r in shown if r.kind in ("crash", "timeout")]
    out.append("")
    out.append(f"crashes and timeouts ({len(crashes)}):")
    for r in sorted(crashes, key=lambda r: r.name):
        out.append(f"  {r.name}  [{r.op}]  rc={r.returncode}  {r.message}")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------

def find_modelport(explicit: str | None) -> str:
    if explicit:
        return explicit
    root = Path(__file__).resolve().parent.parent
    for candidate in (root / ".build/release/modelport", root / ".build/debug/modelport"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("modelport")
    if found:
        return found
    sys.exit("error: no modelport binary (.build/release/modelport, .build/debug/modelport); give --modelport PATH")


def snapshot(binary: str, folder: Path) -> tuple[str, str]:
    """Copies the binary (so that a rebuild during the run neither fails the exec with ETXTBSY
    nor mixes two builds in one run). Returns (the copy's path, its sha256 prefix). The copy
    still finds the Swift runtime through its absolute RUNPATH."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "modelport"
    shutil.copy2(binary, copy)
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()[:12]
    return str(copy), digest


def git_commit(binary: str) -> str:
    root = Path(binary).resolve().parent
    while root != root.parent and not (root / ".git").exists():
        root = root.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "log", "--oneline", "-1"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + (" (working tree has uncommitted changes)" if dirty else "")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Run ONNX's backend node tests through `modelport run`.")
    p.add_argument("--modelport", help="the modelport binary (default: .build/release, then .build/debug)")
    p.add_argument("--filter", help="only tests whose name matches this regular expression (re.search)")
    p.add_argument("--jobs", type=int, default=2, help="tests run at once (default 2)")
    p.add_argument("--json", metavar="OUT", help="write every test's result to this JSON file")
    p.add_argument("--keep", metavar="DIR", help="write the tests here and keep them (default: a temporary folder, removed)")
    p.add_argument("--ops-of-interest", action="store_true",
                   help="run and count only single-node tests of ModelPort's target ops")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per test (default 30)")
    p.add_argument("--top", type=int, default=15, help="how many common messages to print (default 15)")
    p.add_argument("--max-opset", type=int, default=0, metavar="N",
                   help="diagnostic: lower a model's ai.onnx opset import to N when each of its ops has the same "
                        "inputs, outputs and attribute defaults at N (newer versions mostly add element types)")
    p.add_argument("--const-inputs", action="store_true",
                   help="diagnostic: pass every graph input after the first as an initializer, as weights are "
                        "in a real model")
    p.add_argument("--cli-batching", action="store_true",
                   help="leave `run` at its default --batch-size 32 (by default a test whose first input has more "
                        "than 32 rows gets --batch-size ROWS, so that the whole input runs at once)")
    p.add_argument("--no-snapshot", action="store_true",
                   help="run the binary in place (by default a copy is run, so a rebuild during the run does not "
                        "interfere)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error("--jobs must be at least 1")
    if args.filter:
        try:
            filt = re.compile(args.filter)
        except re.error as e:
            p.error(f"--filter: {e}")
    else:
        filt = None
    args.modelport = find_modelport(args.modelport)

    tests = load_tests()
    labels = op_labels(tests)
    total_loaded = len(tests)
    if filt:
        tests = [t for t in tests if filt.search(t.name)]
    interest = {t.name: is_interest(t)[0] for t in tests}
    if args.ops_of_interest:
        tests = [t for t in tests if interest[t.name]]
    if not tests:
        print("no test matches", file=sys.stderr)
        return 0

    if args.keep:
        root = Path(args.keep)
        root.mkdir(parents=True, exist_ok=True)
        cleanup = False
    else:
        root = Path(tempfile.mkdtemp(prefix="modelport-onnx-node-"))
        cleanup = True

    results: list[Result] = []
    runnable = []
    binary_dir = Path(tempfile.mkdtemp(prefix="modelport-bin-"))
    source_binary = args.modelport
    built = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(source_binary)))
    commit = git_commit(source_binary)
    try:
        if args.no_snapshot:
            digest = hashlib.sha256(Path(source_binary).read_bytes()).hexdigest()[:12]
        else:
            args.modelport, digest = snapshot(source_binary, binary_dir)
        for t in tests:
            res = Result(name=t.name, op=labels[t.name], ops=node_ops(t.model), nodes=len(t.model.graph.node),
                         expanded=bool(EXPANDED_RE.search(t.name)), opset=ai_onnx_opset(t.model),
                         interest=interest[t.name])
            folder = root / t.name
            try:
                ok, why, notes, lead = write_test(t, folder, args)
            except Exception as e:  # noqa: BLE001 - a test we cannot write is reported, not fatal
                ok, why, notes, lead = False, f"runner: cannot write the test: {type(e).__name__}: {e}", [], None
            res.notes = notes
            if not args.cli_batching and lead is not None and lead > 32:
                res.batch_size = lead
            if any(n.startswith("opset ") for n in notes):
                res.opset = args.max_opset
            if not ok:
                res.status, res.kind, res.message = "skip", "skip", why
                results.append(res)
            else:
                runnable.append((t, res, folder))

        lock = threading.Lock()
        done = [0]
        started = time.monotonic()

        def task(item):
            t, res, folder = item
            try:
                r = run_one(t, res, folder, args)
            except Exception as e:  # noqa: BLE001
                res.status, res.kind, res.message = "fail", "runner", f"runner error: {type(e).__name__}: {e}"
                r = res
            with lock:
                done[0] += 1
                if not args.quiet and sys.stderr.isatty():
                    print(f"\r{done[0]}/{len(runnable)} {t.name[:60]:60s}", end="", file=sys.stderr, flush=True)
                elif not args.quiet and done[0] % 200 == 0:
                    print(f"{done[0]}/{len(runnable)} done", file=sys.stderr, flush=True)
            return r

        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results.extend(pool.map(task, runnable))
        if not args.quiet and sys.stderr.isatty():
            print("\r" + " " * 80 + "\r", end="", file=sys.stderr)
        elapsed = time.monotonic() - started
    finally:
        if cleanup:
            shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(binary_dir, ignore_errors=True)

    results.sort(key=lambda r: r.name)
    print(f"modelport: {source_binary} (built {built}, sha256 {digest}; repository at {commit})")
    print(f"ONNX node tests: {total_loaded} loaded, {len(tests)} selected, {len(runnable)} run "
          f"in {elapsed:.0f} s with {args.jobs} jobs" + (f"; tests kept in {root}" if not cleanup else ""))
    modes = [m for m, on in (("--ops-of-interest", args.ops_of_interest), (f"--max-opset {args.max_opset}", args.max_opset),
                             ("--const-inputs", args.const_inputs)) if on]
    if modes:
        print("modes: " + " ".join(modes))
    print()
    print(report(results, args, str(root)))

    if args.json:
        import onnx

        doc = {
            "onnx_version": onnx.__version__,
            "modelport": source_binary,
            "modelport_built": built,
            "modelport_sha256": digest,
            "repository": commit,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "args": {k: v for k, v in vars(args).items() if k != "modelport"},
            "counts": dict(collections.Counter(r.status for r in results)),
            "counts_ops_of_interest": dict(collections.Counter(r.status for r in results if r.interest)),
            "results": [asdict(r) for r in results],
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
