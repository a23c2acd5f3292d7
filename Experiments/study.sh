#!/usr/bin/env bash
# The first real study, end to end, as docs/study.md walks through it: pretrain,
# a cases × seeds sweep, a change diffed against it, the best point compressed by
# reference, the top two ensembled (in the sweep), and the index of every run.
# Usage: Experiments/study.sh [TLC] [OUTPUT]   (defaults: .build/release/tlc, Outputs)
set -euo pipefail
cd "$(dirname "$0")/.."
tlc=${1:-.build/release/tlc}
out=${2:-Outputs}
"$tlc" validate Experiments/study-*.yaml
"$tlc" run Experiments/study-transfer.yaml --output "$out"          # trains study-pretrain on the way
"$tlc" show study-transfer@latest --output "$out"
"$tlc" run Experiments/study-transfer.yaml --set training.epochs=20 --output "$out"
"$tlc" diff study-transfer@1 study-transfer@latest --output "$out"    # the two sweeps, point by point
"$tlc" run Experiments/study-compress.yaml --output "$out"           # the best point (on validation), compressed
"$tlc" report --index --output "$out"                                # Outputs/index.html
