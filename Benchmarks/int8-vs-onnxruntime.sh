#!/bin/bash
# tlc's float and int8 inference against onnxruntime's, side by side (see Benchmarks/README.md).
# Usage: Benchmarks/int8-vs-onnxruntime.sh [ROUNDS]   (MODELS=mlp,lenet5,cnn,vgg-mini  BATCH=256  THREADS=2)
# Builds tlc-inference-latency (release), then for each round and model times tlc's float
# and int8 paths and onnxruntime's float and static-QDQ int8 models of the same architecture
# (Benchmarks/onnxruntime_reference.py; the test virtual environment's python unless
# TORCH_PYTHON is set), alternating which goes first. Prints a table of per-batch
# milliseconds (median over each run's rounds; a range when the rounds of this script
# disagree) and every ratio. Stop other work on the machine first for figures worth quoting.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${TORCH_PYTHON:-$HOME/.cache/tlc/test-venv/bin/python}
rounds=${1:-2}
models=${MODELS:-mlp,lenet5,cnn,vgg-mini}
batch=${BATCH:-256}
export THREADS=${THREADS:-2} TLC_BENCH_THREADS=${THREADS:-2}
# Benchmarks only: let OpenBLAS pick its own kernels and cache sizes for this CPU.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
swift build -c release --static-swift-stdlib --product tlc-inference-latency >/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for round in $(seq 1 "$rounds"); do
  for model in ${models//,/ }; do
    tlc() { .build/release/tlc-inference-latency "$model" "$batch" | sed 's/^{/{"engine": "tlc", /' >>"$out"; }
    ort() { "$python" Benchmarks/onnxruntime_reference.py "$model" "$batch" 2>/dev/null | grep '^{' | sed 's/^{/{"engine": "onnxruntime", /' >>"$out"; }
    if (( round % 2 )); then tlc; ort; else ort; tlc; fi
  done
done
"$python" - "$out" "$models" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def span(values):
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}–{hi:.2f}"
def ratio(a, b):
    return span([x / y for x, y in zip(a, b)])
print(f"batch {rows[0]['batch']}, {rows[0]['threads']} threads, tlc int8 kernel {next(r['kernel'] for r in rows if r['engine'] == 'tlc')}, "
      f"onnxruntime {next(r['onnxruntime'] for r in rows if r['engine'] == 'onnxruntime')}; ms per batch, then ratios")
print("| model | tlc float | tlc int8 | tlc int8/float | ort float | ort int8 | ort int8/float | tlc/ort float | tlc/ort int8 |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for m in sys.argv[2].split(","):
    t = [r for r in rows if r["model"] == m and r["engine"] == "tlc"]
    o = [r for r in rows if r["model"] == m and r["engine"] == "onnxruntime"]
    tf, ti = [r["float_ms"] for r in t], [r["int8_ms"] for r in t]
    of, oi = [r["float_ms"] for r in o], [r["int8_ms"] for r in o]
    print(f"| {m} | {span(tf)} | {span(ti)} | {ratio(ti, tf)} | {span(of)} | {span(oi)} | {ratio(oi, of)} | {ratio(tf, of)} | {ratio(ti, oi)} |")
PY
