#!/usr/bin/env bash
# The inputs of the image experiments (Experiments/images-*.yaml), made by the project's
# own scripts, each only when missing:
#   Data/fashion-images/            Fashion-MNIST as 80×80 PNG files (scripts/fashion-images.py)
#   Data/resnet18-torchvision.safetensors
#                                   a torchvision resnet18 state_dict with torchvision's names,
#                                   seeded random weights (scripts/torchvision-weights.py) — the
#                                   stand-in for ImageNet weights where no model hub is reachable
# torch and torchvision come from the tests' Python environment ($TLC_TEST_VENV, else
# ~/.cache/tlc/test-venv), made here the way the tests make it when it is missing.
# Usage: scripts/example-data.sh [DATA]   (default: Data, next to this repository's Experiments/)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$root/Data}"
mkdir -p "$data"
if [ ! -d "$data/fashion-images" ]; then
  python3 "$root/scripts/fashion-images.py" "$data/fashion-images"
fi
if [ ! -f "$data/resnet18-torchvision.safetensors" ]; then
  venv="${TLC_TEST_VENV:-$HOME/.cache/tlc/test-venv}"
  if ! "$venv/bin/python" -c "import torchvision, safetensors" 2>/dev/null; then
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q torch torchvision safetensors numpy
  fi
  "$venv/bin/python" "$root/scripts/torchvision-weights.py" resnet18 "$data/resnet18-torchvision.safetensors"
fi
