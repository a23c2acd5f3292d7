#!/usr/bin/env bash
# Front-end and planner speed (release build): `tlc validate` of a typical spec
# (goal < 20 ms of process time) and `tlc plan` of a 10,000-point grid (goal < 1 s).
set -euo pipefail
cd "$(dirname "$0")/.."
TLC=${TLC:-.build/release/tlc}
[ -x "$TLC" ] || swift build -c release >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

measure() {  # prints user+sys seconds, median of N runs
  local n=$1; shift
  for _ in $(seq "$n"); do
    /usr/bin/time -f "%U %S %e" "$@" 2>&1 >/dev/null | tail -1
  done | awk '{print $1+$2, $3}' | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'
}

read cpu wall < <(measure 21 "$TLC" validate Experiments/fashion-transfer.yaml)
printf "validate fashion-transfer.yaml   process time %6.1f ms   wall %6.1f ms   (goal < 20 ms)\n" \
  "$(echo "$cpu*1000" | bc)" "$(echo "$wall*1000" | bc)"

lrs=$(seq 1 100 | awk '{printf "%s%g", (NR>1?", ":""), $1*1e-5}')
seeds=$(seq 1 100 | paste -sd, -)
cat > "$tmp/grid.yaml" <<YAML
tlc: 1
name: big-grid
data: {classes: [0, 1, 2], train_per_class: 50}
backbone: {arch: mlp, options: {widths: [64]}}
sweep:
  grid:
    optimizer.lr: [$lrs]
    seed: [$seeds]
YAML
read cpu wall < <(measure 5 "$TLC" plan "$tmp/grid.yaml" --format json)
printf "plan of a 10,000-point grid      process time %6.1f ms   wall %6.1f ms   (goal < 1000 ms)\n" \
  "$(echo "$cpu*1000" | bc)" "$(echo "$wall*1000" | bc)"
