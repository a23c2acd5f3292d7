#!/usr/bin/env python3
# Writes a torchvision model's state_dict as safetensors, torchvision's own names (what
# `backbone.weights: file:PATH` loads): with --pretrained torchvision's ImageNet weights
# (they download from torchvision's hub), otherwise a seeded random model whose
# batch-norm weights and statistics are randomized too, as the tests make them — the
# stand-in where no model hub is reachable. Needs torch, torchvision and safetensors
# (the test environment's; Tests/Support/Python.swift, scripts/example-data.sh).
# Usage: scripts/torchvision-weights.py ARCH OUT.safetensors [--seed 0] [--classes 1000] [--pretrained]
import argparse, os, warnings
import torch, torchvision.models as tvm
from safetensors.torch import save_file

ap = argparse.ArgumentParser(description="A torchvision state_dict as safetensors.")
ap.add_argument("arch")
ap.add_argument("out")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--classes", type=int, default=1000)
ap.add_argument("--pretrained", action="store_true", help="torchvision's ImageNet weights (DEFAULT)")
a = ap.parse_args()
warnings.filterwarnings("ignore")
if a.pretrained:
    model = tvm.get_model(a.arch, weights="DEFAULT")
else:
    torch.manual_seed(a.seed)
    kw = {"aux_logits": False, "init_weights": True} if a.arch == "googlenet" else {}
    model = tvm.get_model(a.arch, weights=None, num_classes=a.classes, **kw)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5); m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1); m.running_var.uniform_(0.5, 1.5)
os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, a.out + ".partial")
os.replace(a.out + ".partial", a.out)
print(f"torchvision-weights: {a.arch} ({'ImageNet' if a.pretrained else f'seed {a.seed}'}) state_dict in {a.out}")
