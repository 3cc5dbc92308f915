"""Cross-checks ModelPort's Keras writers with the real tf_keras and Keras 3.

Every case converts one fixture with `modelport convert IN OUT` (OUT's name picks the kind) and
loads OUT in the framework of that kind:

    kind              OUT               loaded with
    keras-h5          NAME.h5           tf_keras.models.load_model
    keras-h5-weights  NAME_weights.h5   tf_keras model built from NAME.json (or NAME.h5) + load_weights
    keras-v3          NAME.keras        keras.saving.load_model
    keras-v3-weights  NAME.weights.h5   model loaded from the fixture's NAME.keras + load_weights

The matrix (a row per source file, a column per written kind; the tables below list the cases):

    source                 .h5        _weights.h5   .keras     .weights.h5
    NAME.h5 (tf_keras)     same-gen   same-gen      cross-gen  cross-gen
    NAME.keras (Keras 3)   cross-gen  cross-gen     same-gen   same-gen
    NAME.opsetN.onnx       onnx       -             onnx       -

Every case must load without NEW warnings (Python warnings, logging records and stderr lines
captured around the file read, compared with what the same load of Keras' own fixture of that
kind prints), and predict within 1e-5 of the reference: the source's own Keras outputs
(NAME.keras2/keras3.output(s)) for full models, the outputs of the architecture's framework for
weights files (the fixtures of both generations hold identical weights), and onnxruntime's for
ONNX sources. Same-generation cases must also keep every weight bit-identical to the source, the
optimizer state (iterations and every slot, as the source file restores them) and train:
one `model.fit` step moves the iteration counter from k to k + 1. Weights-only targets are
loaded into a model whose weights and optimizer state were zeroed first, so they must come from
the file.

One line per case: PASS, FAIL, SKIP or XFAIL (a failure listed in EXPECTED_TO_FAIL). tf_keras and
Keras 3 each run in one worker subprocess (they cannot share a process cleanly); the two run in
parallel, single-threaded. Run by `make test` (see the crosscheck target):

    python CrossCheck/keras_crosscheck.py --modelport .build/release/modelport [--only 'mlp*']
"""
import argparse
import collections
import contextlib
import fnmatch
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Fixtures")
TOLERANCE = 1e-5

# Keras fixtures: NAME -> (folder in Fixtures/, the generations it was saved in).
# k2 = tf_keras files (NAME.h5, NAME_weights.h5, NAME.json), k3 = Keras 3 (NAME.keras, NAME.weights.h5).
KERAS_FIXTURES = {
    "seed_sigmoid": ("keras", ("k2", "k3")),
    "seed_softmax": ("keras", ("k2", "k3")),
    "functional": ("keras", ("k2", "k3")),
    "nested": ("keras", ("k2", "k3")),
    "mobilenet_transfer": ("keras", ("k2", "k3")),
    "mlp": ("keras", ("k2", "k3")),
    "activations": ("keras", ("k2", "k3")),
    "channels_first": ("keras", ("k2", "k3")),  # no reference outputs: TF on CPU cannot run NCHW Conv2D
    "tfop": ("keras", ("k2",)),
    "many_layers": ("keras", ("k2",)),
    "v3small_transfer": ("transfer", ("k2", "k3")),
    "augment": ("transfer", ("k2", "k3")),
    "resizing": ("transfer", ("k2", "k3")),
}
# The file each generation's cases convert from.
SOURCE_SUFFIX = {"k2": ".h5", "k3": ".keras"}
# The kinds ModelPort writes (`--format` names), by OUT suffix.
Kind = collections.namedtuple("Kind", "suffix generation has_optimizer weights_only")
KINDS = {
    "keras-h5": Kind(".h5", "k2", has_optimizer=True, weights_only=False),
    "keras-h5-weights": Kind("_weights.h5", "k2", has_optimizer=False, weights_only=True),
    "keras-v3": Kind(".keras", "k3", has_optimizer=True, weights_only=False),
    "keras-v3-weights": Kind(".weights.h5", "k3", has_optimizer=True, weights_only=True),
}
FRAMEWORK = {"k2": "tf_keras", "k3": "keras"}
REFERENCE = {"k2": "keras2", "k3": "keras3"}
# tf2onnx fixtures (Fixtures/onnx/NAME.opsetN.onnx, see Fixtures/onnx/index.json), each to these kinds.
ONNX_FIXTURES = ("seed_sigmoid", "mlp", "nested", "functional", "tfop")
ONNX_OPSETS = (13, 17)
# torch.onnx-style and other single files (Fixtures/onnx/NAME.onnx), NCHW inputs.
ONNX_SINGLE_FIXTURES = ("torch_cnn", "torch_mlp", "external_data")
ONNX_KINDS = ("keras-h5", "keras-v3")

# Cases that fail today because ModelPort cannot write them yet (cross-generation and ONNX ->
# Keras are being built). Remove a case here once it passes; the run says which ones do.
# Even a perfect copy may not pass some: activations (hard_sigmoid differs between the generations),
# augment (Keras 3's RandomCrop is the identity at inference, keras-team/keras#21868) and resizing
# (each framework has two interpolations the other lacks).
EXPECTED_TO_FAIL = {
    # ONNX -> Keras: tf2onnx writes this model's ReLU(max_value, negative_slope, threshold) and
    # PReLU as Neg/ThresholdedRelu/Min/Max chains around NHWC<->NCHW transposes, which have no
    # Keras layers (modelport refuses them, naming the node).
    "functional.opset13.onnx -> .h5", "functional.opset13.onnx -> .keras",
    "functional.opset17.onnx -> .h5", "functional.opset17.onnx -> .keras",
}

# Conversions modelport must refuse, with exit 2 and an error line saying this: the target generation
# cannot express the model (a check of the refusal, not of a file).
EXPECTED_REFUSALS = {
    # hard_sigmoid is clip(0.2x + 0.5) in tf_keras and relu6(x + 3) / 6 in Keras 3.
    "activations.h5 -> .keras": "computes differently", "activations.h5 -> .weights.h5": "computes differently",
    "activations.keras -> .h5": "computes differently", "activations.keras -> _weights.h5": "computes differently",
    # TFOpLambda layers run TensorFlow functions by name; Keras 3 has no such layer.
    "tfop.h5 -> .keras": "no Keras 3 equivalent",
    # tf_keras' MobileNetV3 names layers 'Conv/BatchNorm'; Keras 3 refuses '/' in names and builds
    # hard-swish as Activation('hard_silu'), which tf_keras lacks.
    "v3small_transfer.h5 -> .keras": "'/' in its name", "v3small_transfer.h5 -> .weights.h5": "'/' in its name",
    "v3small_transfer.keras -> .h5": "computes differently", "v3small_transfer.keras -> _weights.h5": "computes differently",
    # At inference tf_keras' RandomCrop resizes an input of another size, Keras 3.15's passes it on.
    "augment.h5 -> .keras": "passes it through", "augment.h5 -> .weights.h5": "passes it through",
    "augment.keras -> .h5": "passes it through", "augment.keras -> _weights.h5": "passes it through",
    # Each generation's Resizing has interpolations or options the other lacks.
    "resizing.h5 -> .keras": "has no 'gaussian'", "resizing.h5 -> .weights.h5": "has no 'gaussian'",
    "resizing.keras -> .h5": "cannot antialias", "resizing.keras -> _weights.h5": "cannot antialias",
}

SINGLE_THREADED = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                   "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2"}


# ---------------------------------------------------------------------------------------------
# The matrix as cases. A case is a dict; the worker gets it as JSON.

def first_existing(*paths):
    return next((p for p in paths if p and os.path.exists(p)), None)


def fixture_file(name, suffix):
    folder, _ = KERAS_FIXTURES[name]
    return os.path.join(FIXTURES, folder, name + suffix)


def architecture_for(name, kind):
    """The model a weights-only kind is loaded into (None for full models)."""
    if not KINDS[kind].weights_only:
        return None
    if kind == "keras-h5-weights":
        return first_existing(fixture_file(name, ".json"), fixture_file(name, ".h5"))
    return first_existing(fixture_file(name, ".keras"))


def reference_files(name, generation):
    """(inputs file, reference outputs file or None) of a Keras fixture."""
    ref = REFERENCE[generation]
    inputs = first_existing(fixture_file(name, ".input.npy"), fixture_file(name, ".inputs.npz"))
    outputs = first_existing(fixture_file(name, f".{ref}.output.npy"), fixture_file(name, f".{ref}.outputs.npz"))
    return inputs, outputs


def keras_cases():
    for name, (_, generations) in KERAS_FIXTURES.items():
        for source_gen in generations:
            source = fixture_file(name, SOURCE_SUFFIX[source_gen])
            for kind, (suffix, kind_gen, _, weights_only) in KINDS.items():
                arch = architecture_for(name, kind)
                inputs, outputs = reference_files(name, kind_gen if weights_only else source_gen)
                yield {
                    "id": f"{name}{SOURCE_SUFFIX[source_gen]} -> {suffix}",
                    "name": name, "source": source, "kind": kind, "out_name": name + suffix,
                    "framework": FRAMEWORK[kind_gen], "same_generation": source_gen == kind_gen,
                    "architecture": arch, "baseline": first_existing(fixture_file(name, suffix)),
                    "inputs": inputs, "reference": outputs,
                    "skip": (f"no {'tf_keras' if kind_gen == 'k2' else 'Keras 3'} architecture to load the weights into"
                             if weights_only and arch is None else None),
                }


def onnx_cases():
    index = json.load(open(os.path.join(FIXTURES, "onnx", "index.json")))
    files = [(name, f"{name}.opset{opset}.onnx") for name in ONNX_FIXTURES for opset in ONNX_OPSETS]
    files += [(name, f"{name}.onnx") for name in ONNX_SINGLE_FIXTURES]
    for name, file in files:
        inputs = os.path.normpath(os.path.join(FIXTURES, "onnx", index["models"][name]["inputs_file"]))
        for kind in ONNX_KINDS:
            suffix, gen = KINDS[kind].suffix, KINDS[kind].generation
            yield {
                "id": f"{file} -> {suffix}", "name": name,
                "source": os.path.join(FIXTURES, "onnx", file),
                "kind": kind, "out_name": name + suffix, "framework": FRAMEWORK[gen],
                "same_generation": False, "architecture": None, "baseline": None,
                "inputs": inputs, "reference": None,  # onnxruntime's outputs, filled in by prepare()
                "skip": None,
            }


# ---------------------------------------------------------------------------------------------
# The driver: convert, hand the loads to one worker per framework, report.

def convert(modelport, case, tmp):
    folder = os.path.join(tmp, re.sub(r"[^A-Za-z0-9]+", "_", os.path.basename(case["source"])))
    os.makedirs(folder, exist_ok=True)
    out = os.path.join(folder, case["out_name"])
    r = subprocess.run([modelport, "convert", case["source"], out], capture_output=True, text=True)
    if r.returncode != 0:
        message = (r.stderr.strip() or r.stdout.strip()).replace(folder + os.sep, "").splitlines()
        return None, f"convert exited {r.returncode}: {message[-1] if message else '(no output)'}"
    return out, None


def onnxruntime_reference(case, tmp):
    """Runs the source ONNX model in onnxruntime on the case's inputs; returns the outputs file."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3  # tf2onnx's Resize mode draws a deprecation warning
    sess = ort.InferenceSession(case["source"], options, providers=["CPUExecutionProvider"])
    given = np.load(case["inputs"])
    feeds = {i.name: given[i.name].astype(np.float32) for i in sess.get_inputs()}
    outs = sess.run(None, feeds)
    path = os.path.join(tmp, case["id"].replace(" -> ", ".to.").replace("/", "_") + ".ort.npz")
    np.savez(path, **{o.name: y for o, y in zip(sess.get_outputs(), outs)})
    return path


def prepare(case, modelport, tmp):
    """Converts the case; returns (job for a worker, None) or (None, result)."""
    if case["skip"]:
        return None, ("SKIP", case["skip"])
    out, error = convert(modelport, case, tmp)
    refusal = EXPECTED_REFUSALS.get(case["id"])
    if refusal is not None:
        if error and "exited 2" in error and refusal in error:
            return None, ("PASS", f"refused as it must be: {error.split('error: ', 1)[-1]}")
        return None, ("FAIL", f"should be refused ('{refusal}'), got: {error or 'a file'}")
    if error:
        return None, ("FAIL", error)
    job = dict(case, path=out)
    if case["source"].endswith(".onnx"):
        job["reference"] = onnxruntime_reference(case, tmp)
    return job, None


def start_worker(framework, jobs, tmp):
    jobs_file = os.path.join(tmp, f"{framework}.jobs.json")
    results_file = os.path.join(tmp, f"{framework}.results.jsonl")
    log_file = os.path.join(tmp, f"{framework}.log")
    json.dump(jobs, open(jobs_file, "w"))
    env = dict(os.environ, **SINGLE_THREADED)
    with open(log_file, "w") as log:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", framework, jobs_file, results_file],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    return proc, results_file, log_file


def collect_worker(framework, jobs, proc, results_file, log_file):
    rc = proc.wait()
    results = {}
    if os.path.exists(results_file):
        for line in open(results_file):
            r = json.loads(line)
            if r["id"] is None:
                WORKER_SECONDS[framework] = r["seconds"]
            else:
                results[r["id"]] = (r["status"], r["detail"])
    tail = " | ".join(open(log_file, errors="replace").read().strip().splitlines()[-3:])
    for job in jobs:
        results.setdefault(job["id"], ("FAIL", f"{framework} worker exited {rc} before this case: {tail}"))
    return results


WORKER_SECONDS = {}


def run_workers(jobs, tmp):
    by_framework = {fw: [j for j in jobs if j["framework"] == fw] for fw in ("tf_keras", "keras")}
    started = {fw: start_worker(fw, js, tmp) for fw, js in by_framework.items() if js}
    results = {}
    for fw, (proc, results_file, log_file) in started.items():
        results.update(collect_worker(fw, by_framework[fw], proc, results_file, log_file))
    return results


def report(cases, results):
    counts = dict.fromkeys(("PASS", "FAIL", "SKIP", "XFAIL", "XPASS"), 0)
    for case in cases:
        status, detail = results[case["id"]]
        expected = case["id"] in EXPECTED_TO_FAIL
        if expected and status == "FAIL":
            status = "XFAIL"
        elif expected and status == "PASS":
            counts["XPASS"] += 1
            detail += " -- now passes, remove from EXPECTED_TO_FAIL"
        counts[status] += 1
        print(f"{status:<5} {case['id']}: {detail}")
    ids = {c["id"] for c in cases}
    for stale in sorted(EXPECTED_TO_FAIL - ids):
        print(f"note: EXPECTED_TO_FAIL lists {stale!r}, which is no case of the matrix")
    return counts


def driver(args):
    started = time.monotonic()
    cases = [c for c in (*keras_cases(), *onnx_cases())
             if not args.only or any(fnmatch.fnmatch(c["id"], p) for p in args.only)]
    results, jobs = {}, []
    with tempfile.TemporaryDirectory(prefix="keras-crosscheck-") as tmp:
        for case in cases:
            job, result = prepare(case, args.modelport, tmp)
            if job:
                jobs.append(job)
            else:
                results[case["id"]] = result
        results.update(run_workers(jobs, tmp))
    counts = report(cases, results)
    xpass = f"; {counts['XPASS']} of them now pass: remove from EXPECTED_TO_FAIL" if counts["XPASS"] else ""
    print(f"{counts['PASS']} passed{xpass}, {counts['FAIL']} failed, {counts['XFAIL']} expected to fail, "
          f"{counts['SKIP']} skipped ({len(cases)} cases, {time.monotonic() - started:.0f} s; "
          + ", ".join(f"{fw} worker {s} s" for fw, s in WORKER_SECONDS.items()) + ")")
    return 1 if counts["FAIL"] else 0


# ---------------------------------------------------------------------------------------------
# The worker: one process per framework loads, compares and trains every converted file.

class CheckFailed(Exception):
    pass


class Framework:
    """The bits that differ between tf_keras and Keras 3."""

    def __init__(self, name):
        if name == "tf_keras":
            import tf_keras as keras
        else:
            import keras
        import tensorflow as tf
        self.keras = keras
        tf.constant(1.0) + 1.0  # first device use logs CUDA lines: keep them out of the first load

    def architecture(self, path):
        if path.endswith(".json"):
            with open(path) as f:
                return self.keras.models.model_from_json(f.read())
        return self.keras.models.load_model(path, compile=path.endswith(".keras"))

    def load(self, path, architecture=None):
        """(model, normalised messages printed while reading `path`)."""
        messages = []
        if architecture:
            model = self.architecture(architecture)
            scrub(model)
            with captured(messages):
                model.load_weights(path)
        else:
            with captured(messages):
                model = self.keras.models.load_model(path)
        return model, {normalise(m, (path, architecture)) for m in messages if m.strip()}


def optimizer_variables(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    variables = optimizer.variables
    return list(variables() if callable(variables) else variables)


def variable_name(v):
    return getattr(v, "path", None) or v.name


def numpy(v):
    return v.numpy() if hasattr(v, "numpy") else np.asarray(v)


def scrub(model):
    """Zeroes every weight and every optimizer variable but the learning rate."""
    for v in list(model.weights) + (optimizer_variables(model) or []):
        if "learning_rate" not in variable_name(v):
            v.assign(np.zeros(v.shape, dtype=numpy(v).dtype))


def iterations(model):
    return int(numpy(model.optimizer.iterations))


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def captured(messages):
    """Collects Python warnings, logging records (WARNING and up) and what goes to fd 2."""
    handler = _Records()
    loggers = [logging.getLogger()] + [logging.getLogger(n) for n in ("tensorflow", "absl", "keras", "tf_keras")
                                       if not logging.getLogger(n).propagate]
    for logger in loggers:
        logger.addHandler(handler)
    sys.stderr.flush()
    saved_fd = os.dup(2)
    with tempfile.TemporaryFile() as err, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        os.dup2(err.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            for logger in loggers:
                logger.removeHandler(handler)
            err.seek(0)
            python_side = [str(w.message) for w in caught] + handler.messages
            stderr_lines = [line for line in err.read().decode(errors="replace").splitlines()
                            if not any(m and m.splitlines()[0] in line for m in python_side)]
            messages.extend(python_side + stderr_lines)


def normalise(message, paths):
    for p in filter(None, paths):
        message = message.replace(p, "<file>").replace(os.path.basename(p), "<file>")
    message = re.sub(r"^[IWEF]\d{4} [\d:.]+\s+\d+ [^\]]+\] ", "", message.strip())  # absl C++ prefix
    message = re.sub(r"0x[0-9a-fA-F]+", "0x?", message)
    return re.sub(r"(?<=[A-Za-z])_\d+\b", "", message)  # Keras' per-process name counters: adamax_1


def read_arrays(path):
    """[(name or None, array)] from a .npy or .npz file."""
    if path.endswith(".npy"):
        return [(None, np.load(path))]
    with np.load(path) as z:
        return [(k, z[k]) for k in z.files]


def model_inputs(model, given):
    names = [t.name.split(":")[0] for t in model.inputs]
    named = dict(given)
    if set(names) <= set(named):
        xs = [named[n] for n in names]
    elif len(given) == len(names):
        xs = [x for _, x in given]
    else:
        raise CheckFailed(f"model inputs {names}, the inputs file has {list(named)}")
    xs = [np.asarray(x, np.float32) for x in xs]
    # A channels-first ONNX input becomes a channels_last Keras input.
    xs = [x.transpose(0, *range(2, x.ndim), 1) if x.ndim >= 3 and tuple(x.shape[1:]) != tuple(t.shape[1:]) else x
          for x, t in zip(xs, model.inputs)]
    return xs[0] if len(xs) == 1 else xs


def output_names(model):
    names = getattr(model, "output_names", None)
    return list(names) if names else [model.layers[-1].name]


def predict(model, x):
    """{output name: array} of one inference-mode call."""
    y = model(x, training=False)
    if isinstance(y, dict):
        return {k: numpy(v) for k, v in y.items()}
    ys = list(y) if isinstance(y, (list, tuple)) else [y]
    return dict(zip(output_names(model), (numpy(v) for v in ys)))


def compare_outputs(got, reference):
    ref = dict(reference)
    if None in ref:
        if len(got) != 1:
            raise CheckFailed(f"{len(got)} outputs, the reference has 1")
        pairs = [(next(iter(got)), next(iter(got.values())), ref[None])]
    elif set(got) != set(ref):
        raise CheckFailed(f"outputs {sorted(got)}, the reference has {sorted(ref)}")
    else:
        pairs = [(k, got[k], ref[k]) for k in ref]
    worst = 0.0
    for name, y, want in pairs:
        if y.shape != want.shape:
            raise CheckFailed(f"output {name} has shape {y.shape}, the reference {want.shape}")
        worst = max(worst, float(np.max(np.abs(y - want))) if y.size else 0.0)
    if not worst <= TOLERANCE:
        raise CheckFailed(f"max |output - reference| {worst:.2e} > {TOLERANCE:g}")
    return worst


def snapshot(model):
    """The state a same-generation copy must reproduce bit for bit."""
    opt = optimizer_variables(model)
    return {"weights": [(variable_name(v), numpy(v)) for v in model.weights],
            "optimizer": None if opt is None else [(variable_name(v), numpy(v)) for v in opt],
            "iterations": iterations(model) if opt is not None else None}


def first_difference(got, want, what):
    if len(got) != len(want):
        return f"{len(got)} {what}, the source has {len(want)}"
    for (name, a), (_, b) in zip(got, want):
        if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
            return f"{what} {name} differs from the source ({a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)})"
    return None


def fit_one_step(model, x, outputs):
    """One model.fit step on the case's inputs (targets: the model's own outputs, clipped to [0, 1]).

    Eager: the same train step as a traced one, without seconds of tf.function tracing per model."""
    ys = [np.clip(outputs[n], 0.0, 1.0) for n in output_names(model) if n in outputs] or list(outputs.values())
    k = iterations(model)
    batch = len(x[0] if isinstance(x, list) else x)
    model.run_eagerly = True
    model.fit(x, ys[0] if len(ys) == 1 else ys, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    return k, iterations(model)


class Worker:
    def __init__(self, framework):
        self.fw = Framework(framework)
        self.snapshots = {}
        self.baselines = {}

    def source_snapshot(self, path):
        if path not in self.snapshots:
            self.snapshots[path] = snapshot(self.fw.load(path)[0])
        return self.snapshots[path]

    def baseline_messages(self, job):
        """What loading Keras' own file of this kind prints (nothing when there is none)."""
        key = (job["baseline"], job["architecture"])
        if job["baseline"] is None:
            return set()
        if key not in self.baselines:
            self.baselines[key] = self.fw.load(job["baseline"], job["architecture"])[1]
        return self.baselines[key]

    def check(self, job):
        notes = []
        model, messages = self.fw.load(job["path"], job["architecture"])
        new = messages - self.baseline_messages(job)
        if job["source"].endswith(".onnx"):
            # An ONNX graph has no training configuration, so the file has none: tf_keras says so,
            # as it does for any model saved without compile().
            new = {m for m in new if not m.startswith("No training configuration found in the save file")}
        if new:
            raise CheckFailed(f"new warnings on load: {' | '.join(sorted(new))[:400]}")
        notes.append(f"loads ({len(messages)} warning(s), as Keras' own file)" if messages else "loads cleanly")
        if job["inputs"] and job["reference"]:
            x = model_inputs(model, read_arrays(job["inputs"]))
            outputs = predict(model, x)
            notes.append(f"max |output - reference| {compare_outputs(outputs, read_arrays(job['reference'])):.1e}")
        else:
            x = outputs = None
            notes.append("not run (the fixture has no reference inputs and outputs)")
        if job["same_generation"]:
            notes += self.same_generation(job, model, x, outputs)
        return notes

    def same_generation(self, job, model, x, outputs):
        want = self.source_snapshot(job["source"])
        got = snapshot(model)
        difference = first_difference(got["weights"], want["weights"], "weight")
        if difference:
            raise CheckFailed(difference)
        notes = [f"{len(got['weights'])} weights bit-identical"]
        if not KINDS[job["kind"]].has_optimizer:
            return notes + ["no optimizer state in this kind"]
        difference = first_difference(got["optimizer"] or [], want["optimizer"] or [], "optimizer variable")
        if difference:
            raise CheckFailed(difference)
        notes.append(f"optimizer state equal ({len(got['optimizer'] or [])} variables, iterations {got['iterations']})")
        if outputs is None:
            return notes + ["fit not run"]
        before, after = fit_one_step(model, x, outputs)
        steps = 1 if model.trainable_weights else 0  # with nothing to train, Keras takes no optimizer step
        if after != before + steps:
            raise CheckFailed(f"model.fit moved iterations from {before} to {after}, not {before + steps}")
        return notes + [f"fit: iterations {before} -> {after}" + ("" if steps else " (nothing to train)")]


def worker(framework, jobs_file, results_file):
    started = time.monotonic()
    jobs = json.load(open(jobs_file))
    w = Worker(framework)
    with open(results_file, "w") as out:
        for job in jobs:
            try:
                status, detail = "PASS", "; ".join(w.check(job))
            except CheckFailed as e:
                status, detail = "FAIL", str(e)
            except Exception as e:  # noqa: BLE001 - any error of the framework is this case's failure
                lines = str(e).strip().splitlines()
                status, detail = "FAIL", f"{type(e).__name__}: {lines[0][:300] if lines else ''}"
            out.write(json.dumps({"id": job["id"], "status": status, "detail": detail}) + "\n")
            out.flush()
        out.write(json.dumps({"id": None, "seconds": round(time.monotonic() - started)}) + "\n")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modelport", default=os.path.join(ROOT, ".build", "release", "modelport"))
    ap.add_argument("--only", action="append", metavar="PATTERN", help="run only cases whose id matches (fnmatch)")
    ap.add_argument("--worker", nargs=3, metavar=("FRAMEWORK", "JOBS", "RESULTS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(*args.worker)
    return driver(args)


if __name__ == "__main__":
    sys.exit(main())
