#!/bin/bash
# Engine vs PyTorch, side by side in one window (see Benchmarks/README.md).
# Usage: Benchmarks/side-by-side.sh [ROUNDS]   (TORCH_PYTHON: a python with torch and numpy,
#        by default the tests' environment, ~/.cache/tlc/test-venv, which `make test` sets up)
# Builds the release test binary, then for each round trains mlp and lenet5 on all
# 60,000 images for 3 epochs and the cnn and vgg-mini for 100 batches per epoch, each
# model in tlc and right after in PyTorch; ends with each round's ratio table. Stop other
# work on the machine first: the two are compared, not the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${TORCH_PYTHON:-${TLC_TEST_VENV:-$HOME/.cache/tlc/test-venv}/bin/python}
[ -x "$python" ] || { echo "no python at $python: set TORCH_PYTHON, or run make test once to set up the tests' environment" >&2; exit 2; }
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
# tlc's allocator from the start, as `tlc` sets it up (see setUpAllocatorAsTLC); PyTorch keeps its own.
tlc_malloc=glibc.malloc.arena_max=1
rounds=${1:-2}
swift build -c release -Xswiftc -enable-testing --build-tests >/dev/null
bench=.build/release/tlcPackageTests.xctest
log=$(mktemp); trap 'rm -f "$log"' EXIT
for round in $(seq 1 "$rounds"); do
  echo "## round $round" | tee -a "$log"
  # Each model's tlc run right before its PyTorch run, so that the two share as much of this
  # machine's state as they can (a VM's speed can change within minutes).
  for model in mlp lenet5; do
    GLIBC_TUNABLES=$tlc_malloc TLC_BENCH=1 TLC_BENCH_MODELS=$model TLC_BENCH_EPOCHS=3 "$bench" --testing-library swift-testing --filter EngineBenchmarks 2>&1 | grep -E "epoch" | tee -a "$log"
    EPOCHS=3 THREADS=2 "$python" Benchmarks/pytorch_reference.py $model 2>&1 | grep -E "epoch" | tee -a "$log"
  done
  for model in cnn vgg-mini; do
    GLIBC_TUNABLES=$tlc_malloc TLC_BENCH=1 TLC_BENCH_MODELS=$model TLC_BENCH_EPOCHS=3 TLC_BENCH_LIMIT=12800 "$bench" --testing-library swift-testing --filter EngineBenchmarks 2>&1 | grep -E "epoch" | tee -a "$log"
    EPOCHS=3 BATCHES=100 THREADS=2 "$python" Benchmarks/pytorch_reference.py $model 2>&1 | grep -E "epoch" | tee -a "$log"
  done
done
echo "cnn and vgg-mini figures are per 100 batches for tlc (multiply by 4.69 for an epoch); PyTorch's are already scaled."
# The table: per round, seconds per epoch (mean of epochs 2 and 3; tlc's cnn and vgg-mini × 4.69) and tlc / PyTorch.
awk '
  /^## round/ { round = rounds = $3 }
  /^ *torch [a-z0-9-]+ epoch [23]:/ { torch[round, $2] += $5 / 2 }
  /^ *[a-z0-9-]+ epoch [23]:/ && !/torch/ { scale = ($1 == "cnn" || $1 == "vgg-mini") ? 4.69 : 1; tlc[round, $1] += $4 * scale / 2 }
  END {
    print "\n| model | round | tlc s/epoch | PyTorch s/epoch | tlc / PyTorch |"
    print "| --- | --- | --- | --- | --- |"
    split("mlp lenet5 cnn vgg-mini", names, " ")
    for (i = 1; i <= 4; i++) for (r = 1; r <= rounds; r++) {
      m = names[i]
      if ((r, m) in tlc && (r, m) in torch) printf "| %s | %s | %.2f | %.2f | %.2f |\n", m, r, tlc[r, m], torch[r, m], tlc[r, m] / torch[r, m]
    }
  }' "$log"
