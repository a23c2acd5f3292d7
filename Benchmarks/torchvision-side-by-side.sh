#!/bin/bash
# torchvision's architectures at 224×224, batch 32, against PyTorch in one window: one eval
# forward pass and one fine-tuning step (Adam), median of 3, and each one's peak RSS (see
# Benchmarks/README.md). Stop other work on the machine first.
# Usage: Benchmarks/torchvision-side-by-side.sh [MODELS] [ROUNDS]   (default resnet50,resnet18,mobilenet_v2,vgg16;
#        1 round; each model in its own process). Ends with each round's tlc / PyTorch ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
swift build -c release -Xswiftc -enable-testing --build-tests >/dev/null
grep -m1 "model name" /proc/cpuinfo | sed 's/.*: /CPU: /'
grep -qw avx512f /proc/cpuinfo && echo "AVX-512: yes" || echo "AVX-512: no (AVX2)"
# tlc's allocator from the start, as `tlc` sets it up (see setUpAllocatorAsTLC); the PyTorch
# side runs without it.
log=$(mktemp); trap 'rm -f "$log"' EXIT
# One process per model (its peak RSS its own), PyTorch's passes right before tlc's.
models=${1:-resnet50,resnet18,mobilenet_v2,vgg16}
for round in $(seq 1 "${2:-1}"); do
  echo "## round $round" | tee -a "$log"
  for model in ${models//,/ }; do
    GLIBC_TUNABLES=glibc.malloc.arena_max=1 TLC_BENCH=1 TLC_BENCH_MODELS=$model \
      .build/release/tlcPackageTests.xctest --testing-library swift-testing --filter TorchvisionBenchmarks 2>&1 |
      awk '/GFLOP\/s|ceiling|^note/ { print } /^\| model/ { table = 1 } table && /^\|/ { print }' | tee -a "$log"
  done
done
# The ratios, per round: forward, step, peak RSS.
awk '
  /^## round/ { round = $3 }
  /^\| [a-z0-9_]+ \| [0-9.]+ / && $2 != "model" {
    rows[++n] = sprintf("| %s | %s | %.2f | %.2f | %.2f |", $2, round, $4 / $6, $8 / $10, $12 / $15)
  }
  END {
    print "\n| model | round | forward tlc / PyTorch | step tlc / PyTorch | peak RSS tlc / PyTorch |"
    print "| --- | --- | --- | --- | --- |"
    for (i = 1; i <= n; i++) print rows[i]
  }' "$log"
