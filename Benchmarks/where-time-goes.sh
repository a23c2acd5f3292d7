#!/usr/bin/env bash
# Where tlc's training time goes, per model: each model's training under `perf record`
# (tlc's threads only), its samples bucketed by Benchmarks/time_shares.py into OpenBLAS,
# tlc's convolution kernels, the lowering copies, elementwise layers, page faults and
# allocation, and waiting threads; with the GFLOP/s the benchmark reached and OpenBLAS's
# own sgemm ceiling on this machine. See Benchmarks/README.md.
#
# Usage: Benchmarks/where-time-goes.sh [MODEL ...]
#   Fashion-MNIST models, batch 128: mlp and lenet5 5 epochs on all 60,000 images, the cnn and
#   vgg-mini 3 epochs on 12,800 (the profile includes loading the data set and the test pass);
#   224×224 models (resnet18, resnet50, mobilenet_v2, vgg16, …): 5 fine-tuning steps (Adam) at batch 32.
# Stop other work first. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset here, as for every benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(mlp lenet5 cnn vgg-mini resnet18 resnet50 mobilenet_v2 vgg16)
command -v perf >/dev/null || make --no-print-directory install PACKAGES=linux-perf
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
export GLIBC_TUNABLES=glibc.malloc.arena_max=1   # tlc's allocator from the start (see setUpAllocatorAsTLC)
swift build -c release -Xswiftc -enable-testing --build-tests >/dev/null
bench=.build/release/tlcPackageTests.xctest
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
grep -m1 "model name" /proc/cpuinfo | sed 's/.*: /CPU: /'
grep -qw avx512f /proc/cpuinfo && echo "AVX-512: yes" || echo "AVX-512: no (AVX2)"
header=--header
for m in "${models[@]}"; do
  case "$m" in
    mlp|lenet5)
      TLC_BENCH=1 TLC_BENCH_MODELS=$m TLC_BENCH_EPOCHS=5 \
        perf record -q -e cpu-clock -o "$out/$m.data" "$bench" --testing-library swift-testing --filter EngineBenchmarks \
        >"$out/$m.log" 2>&1 ;;
    cnn|vgg-mini)
      TLC_BENCH=1 TLC_BENCH_MODELS=$m TLC_BENCH_EPOCHS=3 TLC_BENCH_LIMIT=12800 \
        perf record -q -e cpu-clock -o "$out/$m.data" "$bench" --testing-library swift-testing --filter EngineBenchmarks \
        >"$out/$m.log" 2>&1 ;;
    *)
      TLC_BENCH=1 TLC_BENCH_MODELS=$m TLC_BENCH_TORCH=0 TLC_BENCH_PASSES=step TLC_BENCH_REPEATS=5 \
        perf record -q -e cpu-clock -o "$out/$m.data" "$bench" --testing-library swift-testing --filter TorchvisionBenchmarks \
        >"$out/$m.log" 2>&1 ;;
  esac
  grep -E "sgemm ceiling|GFLOP/s" "$out/$m.log" | sed 's/^/  /' >&2
  python3 Benchmarks/time_shares.py "$out/$m.data" "$m" $header
  header=
done
