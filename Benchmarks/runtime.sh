#!/usr/bin/env bash
# Runtime speed on a release build: a fully cached rerun (goal < 0.5 s wall) and a
# 12-point head sweep on a frozen pretrained backbone against one point of it
# (goal: the sweep costs less than 3× the single point, because the backbone's
# features are computed once).
set -euo pipefail
cd "$(dirname "$0")/.."
TLC=${TLC:-.build/release/tlc}
[ -x "$TLC" ] || swift build -c release --static-swift-stdlib >/dev/null
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT

seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }

"$TLC" run Experiments/quickstart.yaml --output "$out" >/dev/null 2>&1
cached=$(seconds "$TLC" run Experiments/quickstart.yaml --output "$out")
printf "cached rerun of the quickstart         %6.2f s wall   (goal < 0.5 s)\n" "$cached"

# Each measurement gets its own output root with the source model already cached.
"$TLC" run Benchmarks/specs/bench-source.yaml --output "$out/one" >/dev/null 2>&1
"$TLC" run Benchmarks/specs/bench-source.yaml --output "$out/sweep" >/dev/null 2>&1
single=$(seconds "$TLC" run Benchmarks/specs/bench-head-sweep.yaml --output "$out/one" --set sweep=null)
sweep=$(seconds "$TLC" run Benchmarks/specs/bench-head-sweep.yaml --output "$out/sweep")
printf "one point of the head sweep            %6.2f s wall\n" "$single"
printf "all 12 points                          %6.2f s wall   ratio %.2f (goal < 3)\n" "$sweep" "$(echo "$sweep / $single" | bc -l)"

# Scheduler overhead: the 12-point sweep again, every stage cached. The wall time
# covers planning, scheduling every stage and assembling 12 run directories, so
# wall / stages is an upper bound on the per-stage overhead (goal < 5 ms).
stages=$("$TLC" plan Benchmarks/specs/bench-head-sweep.yaml --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["stages"]))')
cachedsweep=$(seconds "$TLC" run Benchmarks/specs/bench-head-sweep.yaml --output "$out/sweep")
sched=$("$TLC" run Benchmarks/specs/bench-head-sweep.yaml --output "$out/sweep" 2>&1 | sed -n 's/.*; \([0-9.]*\) s in the scheduler/\1/p')
printf "12-point sweep, all cached             %6.2f s wall   %d stages: %.1f ms per stage overall\n" \
  "$cachedsweep" "$stages" "$(echo "$cachedsweep * 1000 / $stages" | bc -l)"
printf "scheduler alone (cached stages)        %6.3f s        %.2f ms per stage (goal < 5 ms)\n" \
  "$sched" "$(echo "$sched * 1000 / $stages" | bc -l)"
