"""onnxruntime's float and int8 inference on tlc's zoo architectures, for
Benchmarks/int8-vs-onnxruntime.sh.

Builds mlp, lenet5, cnn and vgg-mini in PyTorch exactly as tlc's zoo lays them out
(Fashion-MNIST's 1x28x28 input, 10 classes, random weights), exports each with
torch.onnx.export, quantizes it statically with onnxruntime (QDQ, per-channel int8
weights, uint8 activations, calibrated on two batches of normal noise as tlc's
benchmark is), and times both models on one batch with `THREADS` intra-op threads
(default 2; one inter-op thread, all graph optimizations): warm-up, then the median of `ROUNDS` runs (default 21), the two models
interleaved. Prints one JSON object per model: {"model", "float_ms", "int8_ms", ...}.

    python onnxruntime_reference.py [models (comma-separated)] [batch]
"""
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from torch import nn


def vgg(blocks, batchnorm, fc):
    layers, channels = [], 1
    for filters in blocks:
        for f in filters:
            layers.append(nn.Conv2d(channels, f, 3, padding=1))
            if batchnorm:
                layers.append(nn.BatchNorm2d(f))
            layers.append(nn.ReLU())
            channels = f
        layers.append(nn.MaxPool2d(2, 2))
    side = 28
    for _ in blocks:
        side //= 2
    layers.append(nn.Flatten())
    features = channels * side * side
    for width in fc:
        layers += [nn.Linear(features, width), nn.ReLU()]
        features = width
    layers.append(nn.Linear(features, 10))
    return nn.Sequential(*layers)


def architecture(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    if name == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
                             nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    if name == "cnn":
        return vgg([[32, 32], [64, 64]], batchnorm=False, fc=[128])
    if name == "vgg-mini":
        return vgg([[32, 32], [64, 64], [128, 128]], batchnorm=True, fc=[256])
    raise SystemExit(f"unknown model {name}")


class NoiseBatches(CalibrationDataReader):
    def __init__(self, batches):
        self.batches = iter(batches)

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {"x": batch}


def session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main():
    models = (sys.argv[1] if len(sys.argv) > 1 else "mlp,lenet5,cnn,vgg-mini").split(",")
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    threads = int(os.environ.get("THREADS", "2"))
    rounds = int(os.environ.get("ROUNDS", "21"))
    torch.manual_seed(2)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
    calibration = [x[i:i + 128] for i in range(0, min(batch, 256), 128)]
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            net = architecture(name).eval()
            fp32, prepared = os.path.join(tmp, f"{name}.onnx"), os.path.join(tmp, f"{name}.prepared.onnx")
            int8 = os.path.join(tmp, f"{name}.int8.onnx")
            torch.onnx.export(net, torch.from_numpy(x[:1]), fp32, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=17, dynamo=False)
            quant_pre_process(fp32, prepared)   # shape inference and graph optimization, as onnxruntime recommends
            quantize_static(prepared, int8, NoiseBatches(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            sessions = {"float": session(fp32, threads), "int8": session(int8, threads)}
            times = {"float": [], "int8": []}
            # Warm up for at least 0.25 s, as tlc-inference-latency does.
            start, warmups = time.perf_counter(), 0
            while warmups < 3 or time.perf_counter() - start < 0.25:
                for s in sessions.values():
                    s.run(None, {"x": x})
                warmups += 1
            for r in range(rounds):
                order = ["float", "int8"] if r % 2 == 0 else ["int8", "float"]
                for kind in order:
                    t0 = time.perf_counter()
                    sessions[kind].run(None, {"x": x})
                    times[kind].append((time.perf_counter() - t0) * 1000)
            f, i = statistics.median(times["float"]), statistics.median(times["int8"])
            print(json.dumps({"model": name, "batch": batch, "threads": threads, "rounds": rounds,
                              "float_ms": round(f, 3), "int8_ms": round(i, 3), "int8_over_float": round(i / f, 3),
                              "onnxruntime": ort.__version__, "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
