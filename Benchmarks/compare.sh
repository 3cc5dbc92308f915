#!/usr/bin/env bash
# Benchmarks/compare.sh [MODEL.h5] [--modelport PATH] [--no-tf]
#
# Runs `modelport bench` next to onnxruntime (and TensorFlow) on one Keras 2 .h5 model and prints
# a table of throughput, median latency and peak RSS, then the load times of the .h5.
# See Benchmarks/README.md for what each number means.
#
# Environment:
#   SECONDS_PER_RUN  timed seconds of each benchmark (default 5)
#   CONFIGS          "BATCHxTHREADS ..." (default "32x1 1x1 32x2 1x2")
#   PYTHON           the reference interpreter (default ~/venvs/ref/bin/python)
#   MODELPORT        the modelport binary (default .build/release/modelport, else .build/debug/modelport)
#   OPSET            ONNX opset for the conversion (default 13)
#   TF_COLUMN        1 (default) to also benchmark TensorFlow, 0 to skip it (same as --no-tf)
#   LOAD_RUNS        runs of `modelport inspect` for the load time (default 10)
#
# Exit status: 0 when every run worked, 1 when one failed (the table marks it), 2 on bad usage.
set -uo pipefail

usage() { sed -n '2,3p' "$0" | sed 's/^# //' >&2; exit 2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

MODEL=""
MODELPORT_BIN=${MODELPORT:-}
TF_COLUMN=${TF_COLUMN:-1}
while [ $# -gt 0 ]; do
    case "$1" in
        --modelport) [ $# -ge 2 ] || usage; MODELPORT_BIN=$2; shift 2 ;;
        --modelport=*) MODELPORT_BIN=${1#*=}; shift ;;
        --no-tf) TF_COLUMN=0; shift ;;
        -h|--help) usage ;;
        -*) echo "error: unknown option $1" >&2; usage ;;
        *) [ -z "$MODEL" ] || usage; MODEL=$1; shift ;;
    esac
done

abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
if [ -n "$MODEL" ]; then MODEL=$(abspath "$MODEL"); else MODEL="$ROOT/Fixtures/keras/seed_sigmoid.h5"; fi
[ -n "$MODELPORT_BIN" ] && MODELPORT_BIN=$(abspath "$MODELPORT_BIN")
cd "$ROOT" || exit 2

if [ ! -f "$MODEL" ]; then echo "error: $MODEL: no such file" >&2; exit 2; fi
if [ -z "$MODELPORT_BIN" ]; then
    for candidate in .build/release/modelport .build/debug/modelport; do
        if [ -x "$candidate" ]; then MODELPORT_BIN="$ROOT/$candidate"; break; fi
    done
fi
if [ -z "$MODELPORT_BIN" ] || [ ! -x "$MODELPORT_BIN" ]; then
    echo "error: no modelport binary (build with 'swift build -c release' or pass --modelport PATH)" >&2
    exit 2
fi

PYTHON=${PYTHON:-$HOME/venvs/ref/bin/python}
if ! [ -x "$PYTHON" ] && ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "error: $PYTHON: no Python interpreter (set PYTHON to the reference venv's python)" >&2
    exit 2
fi
export TF_CPP_MIN_LOG_LEVEL=2 CUDA_VISIBLE_DEVICES=-1 TF_USE_LEGACY_KERAS=1
SECS=${SECONDS_PER_RUN:-5}
CONFIGS=${CONFIGS:-"32x1 1x1 32x2 1x2"}
OPSET=${OPSET:-13}
LOAD_RUNS=${LOAD_RUNS:-10}

# GNU time for the peak RSS.
if [ ! -x /usr/bin/time ]; then
    echo "/usr/bin/time is missing; installing Debian 'time'..." >&2
    if [ "$(id -u)" = 0 ]; then apt-get install -y time >/dev/null || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
    elif command -v sudo >/dev/null 2>&1; then sudo apt-get install -y time >/dev/null || { sudo apt-get update >/dev/null && sudo apt-get install -y time >/dev/null; }
    fi
    [ -x /usr/bin/time ] || { echo "error: /usr/bin/time is missing and could not be installed (apt-get install -y time)" >&2; exit 2; }
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/modelport-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
CACHE="$HERE/.cache"
mkdir -p "$CACHE"

echo "== ModelPort benchmark: $(basename "$MODEL")"
echo "model:      $MODEL"
echo "modelport:  $MODELPORT_BIN"
case "$MODELPORT_BIN" in
    */debug/*) echo "            WARNING: a debug build; its numbers say nothing about release speed" ;;
esac
echo "machine:    $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$PYTHON" -c 'import onnxruntime, tensorflow, tf_keras, tf2onnx; print(f"python:     onnxruntime {onnxruntime.__version__}, tensorflow {tensorflow.__version__}, tf_keras {tf_keras.__version__}, tf2onnx {tf2onnx.__version__}")' 2>/dev/null
echo "protocol:   3 warm-up runs, then ${SECS} s of timed runs (at least 3) of one random [0,1) batch"
echo

# --- 1. ONNX conversion (cached by the model's hash and the opset) ---------------------------
HASH=$(sha256sum "$MODEL" | cut -c1-16)
STEM=$(basename "$MODEL" .h5)
ONNX="$CACHE/$STEM-$HASH-opset$OPSET.onnx"
if [ -f "$ONNX" ] && [ -f "$ONNX.convert.txt" ]; then
    echo "== ONNX model (cached): $ONNX"
else
    echo "== Converting to ONNX (tf2onnx, opset $OPSET)"
    if "$PYTHON" "$HERE/convert_to_onnx.py" "$MODEL" "$WORK/model.onnx" --opset "$OPSET" \
            --summary-json "$WORK/model.onnx.json" >"$WORK/convert.txt" 2>"$WORK/convert.err"; then
        mv "$WORK/model.onnx.json" "$ONNX.json"
        sed "s|$WORK/model.onnx|$ONNX|g" "$WORK/convert.txt" >"$ONNX.convert.txt"
        mv "$WORK/model.onnx" "$ONNX"
    else
        cat "$WORK/convert.txt"
        grep -v -E '^(WARNING: All log messages|[IWE]0000 )' "$WORK/convert.err" | tail -20 >&2
        echo "error: conversion to ONNX failed" >&2
        exit 1
    fi
fi
grep -v '^graph: ' "$ONNX.convert.txt" | sed 's/^/  /'
echo

# --- 2. Throughput, latency, peak RSS --------------------------------------------------------
ENGINES="modelport onnxruntime"
[ "$TF_COLUMN" = 1 ] && ENGINES="$ENGINES tensorflow"
FAILED=0
: >"$WORK/results.tsv"

run_one() { # engine batch threads
    local engine=$1 batch=$2 threads=$3 out="$WORK/$1-$2x$3"
    local -a cmd
    case "$engine" in
        modelport) cmd=("$MODELPORT_BIN" bench "$MODEL" --batch-size "$batch" --threads "$threads" --seconds "$SECS" --json) ;;
        onnxruntime) cmd=("$PYTHON" "$HERE/ort_bench.py" "$ONNX" --batch-size "$batch" --threads "$threads" --seconds "$SECS" --json) ;;
        tensorflow) cmd=("$PYTHON" "$HERE/tf_bench.py" "$MODEL" --batch-size "$batch" --threads "$threads" --seconds "$SECS" --json) ;;
    esac
    printf '  %-12s batch %-3s threads %-2s ... ' "$engine" "$batch" "$threads"
    if /usr/bin/time -v -o "$out.time" "${cmd[@]}" >"$out.json" 2>"$out.err"; then
        local rss
        rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): *//p' "$out.time")
        printf '%s\t%s\t%s\tok\t%s\t%s\n' "$engine" "$batch" "$threads" "$out.json" "${rss:-0}" >>"$WORK/results.tsv"
        "$PYTHON" -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.1f images/s, median %.2f ms, %d runs" % (r["images_per_second"], r["latency_ms"]["median"], r["runs"]))' "$out.json"
    else
        FAILED=1
        printf '%s\t%s\t%s\tfailed\t-\t0\n' "$engine" "$batch" "$threads" >>"$WORK/results.tsv"
        echo "FAILED"
        grep -v -E '^(WARNING: All log messages|[IWE]0000 )' "$out.err" | tail -5 | sed 's/^/    /'
    fi
}

echo "== Throughput and latency (${SECS} s per run)"
for config in $CONFIGS; do
    batch=${config%x*}; threads=${config#*x}
    for engine in $ENGINES; do run_one "$engine" "$batch" "$threads"; done
done
echo

# --- 3. Load times ---------------------------------------------------------------------------
echo "== Load time of the .h5"
if "$MODELPORT_BIN" inspect "$MODEL" >/dev/null 2>"$WORK/inspect.err" || { echo "exit status $?" >>"$WORK/inspect.err"; false; }; then
    if command -v hyperfine >/dev/null 2>&1; then
        hyperfine --warmup 1 --runs "$LOAD_RUNS" --export-json "$WORK/inspect.json" \
            "'$MODELPORT_BIN' inspect '$MODEL'" >/dev/null 2>&1
        "$PYTHON" -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("  modelport inspect (hyperfine, %d runs): mean %.1f ms, median %.1f ms, min %.1f ms" % (len(r["times"]), r["mean"]*1e3, r["median"]*1e3, r["min"]*1e3))' "$WORK/inspect.json"
    else
        : >"$WORK/inspect.times"
        for _ in $(seq "$LOAD_RUNS"); do
            t0=$(date +%s%N)
            "$MODELPORT_BIN" inspect "$MODEL" >/dev/null 2>&1
            t1=$(date +%s%N)
            echo $(( (t1 - t0) / 1000 )) >>"$WORK/inspect.times"
        done
        "$PYTHON" -c 'import statistics,sys; t=[int(l)/1e3 for l in open(sys.argv[1]) if l.strip()]; print(f"  modelport inspect ({len(t)} runs, date loop): mean {statistics.mean(t):.1f} ms, median {statistics.median(t):.1f} ms, min {min(t):.1f} ms")' "$WORK/inspect.times"
    fi
    /usr/bin/time -v -o "$WORK/inspect.time" "$MODELPORT_BIN" inspect "$MODEL" >/dev/null 2>&1
    echo "  modelport inspect peak RSS: $(( $(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): *//p' "$WORK/inspect.time") / 1024 )) MB (whole process)"
else
    FAILED=1
    echo "  modelport inspect FAILED: $(grep -v '^$' "$WORK/inspect.err" | head -1)"
fi
if "$PYTHON" "$HERE/load_times.py" "$MODEL" --json >"$WORK/load.json" 2>"$WORK/load.err"; then
    "$PYTHON" - "$WORK/load.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"  h5py, read all {r['datasets']} datasets ({r['dataset_bytes'] / 1e6:.2f} MB), in-process: "
      f"median {r['h5py_read_all_median_ms']:.1f} ms (first {r['h5py_read_all_first_ms']:.1f} ms)")
print(f"  tf_keras.models.load_model(compile=False), in-process: median {r['tf_keras_load_model_median_ms']:.1f} ms "
      f"(first {r['tf_keras_load_model_first_ms']:.1f} ms; import tensorflow + tf_keras {r['tf_import_ms']:.0f} ms not included)")
EOF
else
    FAILED=1
    echo "  load_times.py FAILED"; tail -3 "$WORK/load.err" | sed 's/^/    /'
fi
echo

# Baselines for the RSS column: what the Python processes hold before any model is loaded.
rss_of() { /usr/bin/time -v -o "$WORK/base.time" "$@" >/dev/null 2>&1 &&
    echo "$(( $(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): *//p' "$WORK/base.time") / 1024 )) MB"; }
BASE="python + numpy + onnxruntime imported $(rss_of "$PYTHON" -c 'import numpy, onnxruntime' || echo '?')"
[ "$TF_COLUMN" = 1 ] && BASE="$BASE; python + tensorflow + tf_keras imported $(rss_of "$PYTHON" -c 'import tensorflow, tf_keras' || echo '?')"

# --- 4. Table --------------------------------------------------------------------------------
echo "== Results: $(basename "$MODEL"), ${SECS} s per run"
"$PYTHON" - "$WORK/results.tsv" "$CONFIGS" "$ENGINES" "$BASE" <<'EOF' | tee "$WORK/table.txt"
import json, sys
rows = {}
for line in open(sys.argv[1]):
    engine, batch, threads, status, path, rss = line.rstrip("\n").split("\t")
    r = json.load(open(path)) if status == "ok" else None
    rows[(engine, batch, threads)] = (r, int(rss))
configs = [c.split("x") for c in sys.argv[2].split()]
tf = "tensorflow" in sys.argv[3].split()

def get(engine, b, t):
    return rows.get((engine, b, t), (None, 0))

def num(v, f="{:.1f}"):
    return "failed" if v is None else f.format(v)

def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"

head = ["config", "modelport img/s", "ort img/s", "mp/ort"]
if tf: head += ["tf img/s"]
head += ["mp median ms", "ort median ms", "mp/ort"]
if tf: head += ["tf median ms"]
head += ["mp RSS MB", "ort RSS MB"]
if tf: head += ["tf RSS MB"]
table = [head]
for b, t in configs:
    mp, mp_rss = get("modelport", b, t)
    ort, ort_rss = get("onnxruntime", b, t)
    tfr, tf_rss = get("tensorflow", b, t)
    ips = lambda r: None if r is None else r["images_per_second"]
    med = lambda r: None if r is None else r["latency_ms"]["median"]
    row = [f"batch {b}, {t} thr", num(ips(mp)), num(ips(ort)), ratio(ips(mp), ips(ort))]
    if tf: row += [num(ips(tfr))]
    row += [num(med(mp), "{:.2f}"), num(med(ort), "{:.2f}"), ratio(med(mp), med(ort))]
    if tf: row += [num(med(tfr), "{:.2f}")]
    mb = lambda r, kb: "-" if r is None else f"{kb / 1024:.0f}"
    row += [mb(mp, mp_rss), mb(ort, ort_rss)]
    if tf: row += [mb(tfr, tf_rss)]
    table.append(row)
widths = [max(len(r[i]) for r in table) for i in range(len(head))]
for n, r in enumerate(table):
    print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    if n == 0:
        print("  ".join("-" * w for w in widths))
print()
print("img/s mp/ort > 1: modelport has the higher throughput; median ms mp/ort > 1: modelport is slower.")
print("RSS: peak resident set of the whole benchmark process (Python + framework for ort/tf).")
print(f"RSS baselines: {sys.argv[4]}.")
EOF

# Keep the raw numbers of the last run for the README's results section.
rm -rf "$CACHE/last" && mkdir -p "$CACHE/last"
cp "$WORK"/*.json "$WORK"/*.time "$WORK/results.tsv" "$WORK/table.txt" "$CACHE/last/" 2>/dev/null
echo "(raw JSON and /usr/bin/time -v output of this run: $CACHE/last/)"
exit $FAILED
