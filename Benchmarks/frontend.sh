#!/usr/bin/env bash
# Front-end and planner speed on a release build: `tlc validate` of a typical spec
# (goal < 20 ms of process time) and `tlc plan` of a 10,000-point grid (goal < 1 s
# wall; big sweeps are decoded and lowered on two threads, so process time is higher).
# Process time is user + system CPU of the child, from getrusage (microseconds).
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

python3 - "$TLC" "$tmp/grid.yaml" <<'PY'
import resource, subprocess, sys, time, statistics
tlc, grid = sys.argv[1], sys.argv[2]
def measure(args, runs):
    cpu, wall = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        wall.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return statistics.median(cpu) * 1000, statistics.median(wall) * 1000
rows = [
    ("tlc --version (process start-up)", [tlc, "--version"], 30, None),
    ("tlc validate fashion-transfer.yaml", [tlc, "validate", "Experiments/fashion-transfer.yaml"], 30, ("process", 20)),
    ("tlc plan, 10,000-point grid (text)", [tlc, "plan", grid], 9, ("wall", 1000)),
    ("tlc plan, 10,000-point grid (json)", [tlc, "plan", grid, "--format", "json"], 5, None),
]
print(f"{'benchmark':38} {'process ms':>11} {'wall ms':>9}  goal")
for name, args, runs, goal in rows:
    cpu, wall = measure(args, runs)
    if goal is None:
        verdict = ""
    else:
        kind, limit = goal
        value = cpu if kind == "process" else wall
        verdict = f"{kind} < {limit} ms  " + ("ok" if value < limit else "MISSED")
    print(f"{name:38} {cpu:11.1f} {wall:9.1f}  {verdict}")
PY
