#!/usr/bin/env bash
# Front-end and planner speed on a release build: `tlc validate` of a typical spec
# (goal < 20 ms of process time), `tlc plan` of a 10,000-point grid (goal < 1 s wall;
# big sweeps are decoded and lowered on two threads, so process time is higher) and
# of a 1,000,000-point grid (goal < 30 s wall and 2 GB peak memory).
# Process time is user + system CPU of the child and peak memory its maximum resident
# set, both from wait4.
set -euo pipefail
cd "$(dirname "$0")/.."
TLC=${TLC:-.build/release/tlc}
[ -x "$TLC" ] || swift build -c release --static-swift-stdlib >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

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
# Six paths of ten values: 1,000,000 points (and five of them: 100,000).
values() { seq 1 10 | awk -v f="$1" '{printf "%s" f, (NR>1?", ":""), $1}'; }
{
  echo "tlc: 1"; echo "name: huge-grid"
  echo "data: {classes: [0, 1, 2], train_per_class: 50}"
  echo "backbone: {arch: mlp, options: {widths: [64]}}"
  echo "sweep:"; echo "  grid:"
  echo "    optimizer.lr: [$(values '%de-4')]"
  echo "    seed: [$(values '%d')]"
  echo "    training.epochs: [$(values '%d')]"
  echo "    training.batch_size: [$(values '%d0')]"
  echo "    optimizer.weight_decay: [$(values '%de-5')]"
} > "$tmp/grid100k.yaml"
{ cat "$tmp/grid100k.yaml"; echo "    description: [$(values 'd%d')]"; } > "$tmp/grid1m.yaml"

python3 - "$TLC" "$tmp/grid.yaml" "$tmp/grid100k.yaml" "$tmp/grid1m.yaml" <<'PY'
import os, subprocess, sys, time, statistics
tlc, grid, grid100k, grid1m = sys.argv[1:5]
def measure(args, runs):
    cpu, wall, peak = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(p.pid, 0)
        wall.append(time.perf_counter() - t0)
        cpu.append(usage.ru_utime + usage.ru_stime)
        peak.append(usage.ru_maxrss / 1024)
    return statistics.median(cpu) * 1000, statistics.median(wall) * 1000, max(peak)
rows = [
    ("tlc --version (process start-up)", [tlc, "--version"], 30, None),
    ("tlc validate fashion-transfer.yaml", [tlc, "validate", "Experiments/fashion-transfer.yaml"], 30, ("process", 20, None)),
    ("tlc plan, 10,000-point grid (text)", [tlc, "plan", grid], 9, ("wall", 1000, None)),
    ("tlc plan, 10,000-point grid (json)", [tlc, "plan", grid, "--format", "json"], 5, None),
    ("tlc plan, 100,000-point grid (text)", [tlc, "plan", grid100k], 1, None),
    ("tlc plan, 1,000,000-point grid (text)", [tlc, "plan", grid1m], 1, ("wall", 30000, 2048)),
]
print(f"{'benchmark':40} {'process ms':>11} {'wall ms':>9} {'peak MB':>8}  goal")
for name, args, runs, goal in rows:
    cpu, wall, peak = measure(args, runs)
    verdict = ""
    if goal is not None:
        kind, limit, memory = goal
        value = cpu if kind == "process" else wall
        met = value < limit and (memory is None or peak < memory)
        verdict = f"{kind} < {limit} ms" + (f", < {memory} MB" if memory else "") + ("  ok" if met else "  MISSED")
    print(f"{name:40} {cpu:11.1f} {wall:9.1f} {peak:8.0f}  {verdict}")
PY
