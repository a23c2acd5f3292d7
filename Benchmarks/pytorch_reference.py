"""PyTorch reference for the engine benchmark (same models, Adam 1e-3, batch 128,
standardized inputs, all 60k Fashion-MNIST training images). Not a project dependency:
run it from a virtual environment outside the repository (vgg-mini too), e.g.
    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy
    /tmp/torchenv/bin/python Benchmarks/pytorch_reference.py mlp lenet5 cnn
Env: EPOCHS (default 5), THREADS (default 2), BATCHES (stop each epoch after this many
batches and extrapolate seconds per epoch to 469 batches; for quick side-by-side timing)."""
import gzip, os, sys, time
import numpy as np
import torch, torch.nn as nn

D = os.environ.get("TLC_DATA", "/usr/share/datasets/fashion-mnist")
def idx(name):
    with gzip.open(os.path.join(D, name + ".gz")) as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)

def models(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    if name == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    if name == "vgg-mini":   # tlc's zoo preset: conv-bn-relu blocks [[32, 32], [64, 64], [128, 128]], fc 256
        layers, channels = [], 1
        for filters in [[32, 32], [64, 64], [128, 128]]:
            for f in filters:
                layers += [nn.Conv2d(channels, f, 3, padding=1), nn.BatchNorm2d(f), nn.ReLU()]
                channels = f
            layers.append(nn.MaxPool2d(2))
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * 9, 256), nn.ReLU(), nn.Linear(256, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 49, 128), nn.ReLU(), nn.Linear(128, 10))

def main():
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    torch.manual_seed(1)
    epochs = int(os.environ.get("EPOCHS", "5"))
    xtr = idx("train-images-idx3-ubyte").astype(np.float32) / 255; ytr = idx("train-labels-idx1-ubyte").astype(np.int64)
    xte = idx("t10k-images-idx3-ubyte").astype(np.float32) / 255; yte = idx("t10k-labels-idx1-ubyte").astype(np.int64)
    m, s = xtr.mean(), xtr.std()
    xtr = torch.from_numpy((xtr - m) / s).unsqueeze(1); xte = torch.from_numpy((xte - m) / s).unsqueeze(1)
    ytr = torch.from_numpy(ytr); yte = torch.from_numpy(yte)
    for name in sys.argv[1:] or ["mlp", "lenet5", "cnn"]:
        net = models(name)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        lossf = nn.CrossEntropyLoss()
        times = []
        for e in range(epochs):
            t0 = time.time()
            net.train()
            perm = torch.randperm(60000)
            limit = int(os.environ.get("BATCHES", "0")) or 469
            for i in range(0, 128 * limit, 128):
                idxs = perm[i:i + 128]
                opt.zero_grad()
                loss = lossf(net(xtr[idxs]), ytr[idxs])
                loss.backward()
                opt.step()
            times.append((time.time() - t0) * 469 / limit)
            print(f"  torch {name} epoch {e + 1}: {times[-1]:.2f} s", flush=True)
        net.eval()
        with torch.no_grad():
            acc = sum((net(xte[i:i + 256]).argmax(1) == yte[i:i + 256]).sum().item() for i in range(0, 10000, 256)) / 10000
        tail = sorted(times[1:] or times)
        print(f"| torch {name} | {tail[len(tail) // 2]:.2f} s/epoch | acc {acc * 100:.1f}% |", flush=True)

main()
