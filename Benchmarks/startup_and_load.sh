#!/usr/bin/env bash
# Benchmarks/startup_and_load.sh [MODEL.h5] — two measurements compare.sh does not make:
#   1. start-up: whole-process `modelport run MODEL --input ONE_IMAGE.npy` (load, plan, create
#      the oneDNN primitives, one run), against onnxruntime's session creation + one run inside
#      Python (import not counted) and the whole `python ort_once.py` process;
#   2. batch 1 on 2 threads with the other core busy (a shell busy loop), modelport and
#      onnxruntime alternating, ROUNDS rounds of SECONDS_PER_RUN seconds, after LOAD_WARMUP
#      (1) second of the busy loop alone.
# Needs compare.sh's ONNX conversion in Benchmarks/.cache (run compare.sh once first).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); ROOT=$(dirname "$HERE")
MODEL=${1:-$ROOT/Fixtures/keras/seed_sigmoid.h5}
MODELPORT=${MODELPORT:-$ROOT/.build/release/modelport}
PYTHON=${PYTHON:-$HOME/venvs/ref/bin/python}
ROUNDS=${ROUNDS:-3}; SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}
ONNX=$(ls "$HERE"/.cache/"$(basename "${MODEL%.h5}")"-*-opset13.onnx 2>/dev/null | head -1)
[ -n "$ONNX" ] || { echo "error: no ONNX conversion of $MODEL in Benchmarks/.cache (run Benchmarks/compare.sh first)" >&2; exit 2; }
TMP=$(mktemp -d); trap 'rm -rf "$TMP"; [ -n "${BUSY:-}" ] && kill $BUSY 2>/dev/null' EXIT
"$PYTHON" - "$MODEL" "$TMP/one.npy" <<'PY'
import sys, numpy as np, h5py, json
cfg = json.loads(h5py.File(sys.argv[1], "r").attrs["model_config"])
shape = cfg["config"]["layers"][0]["config"]["batch_input_shape"]
np.save(sys.argv[2], np.random.default_rng(0).random([1] + shape[1:], dtype=np.float32))
PY
cat > "$TMP/ort_once.py" <<'PY'
import sys, time, numpy as np, onnxruntime as ort
t0 = time.perf_counter()
o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1
s = ort.InferenceSession(sys.argv[1], o, providers=["CPUExecutionProvider"])
x = np.load(sys.argv[2]); s.run(None, {s.get_inputs()[0].name: x})
print(f"{(time.perf_counter() - t0) * 1000:.1f}")
PY
echo "== start-up, one image, 1 thread (ms; 10 runs each, median)"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for i in $(seq 10); do s=$(date +%s%N); "$MODELPORT" run "$MODEL" --input "$TMP/one.npy" --threads 1 >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); done | median | sed 's/^/  modelport run, whole process: /'
for i in $(seq 10); do "$PYTHON" "$TMP/ort_once.py" "$ONNX" "$TMP/one.npy"; done | median | sed 's/^/  onnxruntime session + run, in-process: /'
for i in $(seq 5); do s=$(date +%s%N); "$PYTHON" "$TMP/ort_once.py" "$ONNX" "$TMP/one.npy" >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); done | median | sed 's/^/  python ort_once.py, whole process: /'
echo "== batch 1, 2 threads, the other core busy (img/s, median ms)"
( while :; do :; done ) & BUSY=$!
sleep "${LOAD_WARMUP:-1}"; echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  "$MODELPORT" bench "$MODEL" --batch-size 1 --threads 2 --seconds "$SECONDS_PER_RUN" --json | "$PYTHON" -c "import json,sys; r=json.load(sys.stdin); print('  round $r modelport  ', round(r['images_per_second'],1), round(r['latency_ms']['median'],2))"
  "$PYTHON" "$HERE/ort_bench.py" "$ONNX" --batch-size 1 --threads 2 --seconds "$SECONDS_PER_RUN" --json | "$PYTHON" -c "import json,sys; r=json.load(sys.stdin); print('  round $r onnxruntime', round(r['images_per_second'],1), round(r['latency_ms']['median'],2))"
done
