#!/usr/bin/env bash
# Benchmarks/train_compare.sh [MODEL.h5] [--modelport PATH]
#
# Training throughput: `modelport bench --train` against TensorFlow's `model.train_on_batch`
# (Benchmarks/tf_bench.py --train) on one Keras 2 .h5 model with its training configuration (the
# seed model: Adamax + binary_crossentropy), alternating the two, ROUNDS rounds of each config.
# Prints images/s, the ratio of each pair measured back to back, and peak RSS.
#
# Environment:
#   SECONDS_PER_RUN  timed seconds of each benchmark (default 6)
#   CONFIGS          "BATCHxTHREADS ..." (default "32x1 32x2")
#   ROUNDS           rounds per config (default 3)
#   PYTHON           the reference interpreter (default ~/venvs/ref/bin/python)
#   MODELPORT        the modelport binary (default .build/release/modelport)
#
# Exit status: 0 when every run worked, 1 when one failed, 2 on bad usage.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
MODEL=""
MODELPORT_BIN=${MODELPORT:-}
while [ $# -gt 0 ]; do
    case "$1" in
        --modelport) [ $# -ge 2 ] || exit 2; MODELPORT_BIN=$2; shift 2 ;;
        -h|--help) sed -n '2,7p' "$0" | sed 's/^# //'; exit 0 ;;
        -*) echo "error: unknown option $1" >&2; exit 2 ;;
        *) MODEL=$1; shift ;;
    esac
done
MODEL=${MODEL:-$ROOT/Fixtures/keras/seed_sigmoid.h5}
MODELPORT_BIN=${MODELPORT_BIN:-$ROOT/.build/release/modelport}
PYTHON=${PYTHON:-$HOME/venvs/ref/bin/python}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-6}
CONFIGS=${CONFIGS:-"32x1 32x2"}
ROUNDS=${ROUNDS:-3}
[ -f "$MODEL" ] || { echo "error: $MODEL: no such file" >&2; exit 2; }
[ -x "$MODELPORT_BIN" ] || { echo "error: $MODELPORT_BIN: no modelport binary (swift build -c release)" >&2; exit 2; }
command -v "$PYTHON" >/dev/null 2>&1 || [ -x "$PYTHON" ] || { echo "error: $PYTHON: no Python" >&2; exit 2; }
export TF_CPP_MIN_LOG_LEVEL=2 CUDA_VISIBLE_DEVICES=-1 TF_USE_LEGACY_KERAS=1

field() { "$PYTHON" -c "import json,sys; d=json.load(sys.stdin); print('%.1f' % d['$1'])"; }
status=0
printf '%-8s %-6s %12s %12s %7s %10s %10s\n' config round "modelport" "tensorflow" ratio "mp MB" "tf MB"
for config in $CONFIGS; do
    batch=${config%x*}; threads=${config#*x}
    for round in $(seq 1 "$ROUNDS"); do
        mp=$("$MODELPORT_BIN" bench "$MODEL" --train --batch-size "$batch" --threads "$threads" --seconds "$SECONDS_PER_RUN" --json) || { status=1; continue; }
        tf=$("$PYTHON" "$HERE/tf_bench.py" "$MODEL" --train --batch-size "$batch" --threads "$threads" --seconds "$SECONDS_PER_RUN" --json 2>/dev/null) || { status=1; continue; }
        a=$(echo "$mp" | field images_per_second); b=$(echo "$tf" | field images_per_second)
        printf '%-8s %-6s %12s %12s %7s %10s %10s\n' "$config" "$round" "$a" "$b" "$("$PYTHON" -c "print('%.2fx' % ($a / $b))")" \
            "$(echo "$mp" | field peak_rss_mb)" "$(echo "$tf" | field peak_rss_mb)"
    done
done
exit $status
