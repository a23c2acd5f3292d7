#!/usr/bin/env python3
# Writes Fashion-MNIST (the Debian package dataset-fashion-mnist, or $TLC_DATA) as an
# image folder for the image experiments (Experiments/images-*.yaml): grayscale PNG
# files upscaled from 28×28 to SIZE×SIZE (bilinear), one subfolder per class named
# like the class, in two tasks —
#   OUT/pretrain/{train,test}/CLASS/NNNNN.png   classes 0-4 (T-shirt … Coat)
#   OUT/transfer/{train,test}/CLASS/NNNNN.png   classes 5-9 (Sandal … Ankle boot)
# the first TRAIN images of each class from Fashion-MNIST's training set and the
# first TEST of its test set. Python's standard library only; the same files every time.
# Usage: scripts/fashion-images.py OUT [--size 80] [--pretrain-train 300] [--transfer-train 100] [--test 100]
import argparse, gzip, os, shutil, struct, sys, zlib

NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return shape, data[4 + 4 * dims:]


def upscale(pixels, side):
    """28×28 bytes to side×side, bilinear with half-pixel centers (edges clamped)."""
    out = bytearray(side * side)
    scale = 28 / side
    taps = []
    for o in range(side):
        s = min(max((o + 0.5) * scale - 0.5, 0.0), 27.0)
        i = min(int(s), 26)
        taps.append((i, s - i))
    for y, (y0, fy) in enumerate(taps):
        r0, r1 = y0 * 28, (y0 + 1) * 28
        for x, (x0, fx) in enumerate(taps):
            top = pixels[r0 + x0] * (1 - fx) + pixels[r0 + x0 + 1] * fx
            bottom = pixels[r1 + x0] * (1 - fx) + pixels[r1 + x0 + 1] * fx
            out[y * side + x] = int(top * (1 - fy) + bottom * fy + 0.5)
    return out


def png(gray, side):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes(gray[r * side:(r + 1) * side]) for r in range(side))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser(description="Fashion-MNIST as folders of PNG images.")
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=80)
    ap.add_argument("--pretrain-train", type=int, default=300)
    ap.add_argument("--transfer-train", type=int, default=100)
    ap.add_argument("--test", type=int, default=100)
    a = ap.parse_args()
    source = os.environ.get("TLC_DATA") or "/usr/share/datasets/fashion-mnist"
    splits = {}
    for split, prefix in [("train", "train"), ("test", "t10k")]:
        try:
            (n, h, w), images = idx(f"{source}/{prefix}-images-idx3-ubyte.gz")
            _, labels = idx(f"{source}/{prefix}-labels-idx1-ubyte.gz")
        except OSError as e:
            sys.exit(f"fashion-images: cannot read Fashion-MNIST in {source} ({e}); install dataset-fashion-mnist or set TLC_DATA")
        splits[split] = (images, labels)
    tmp = a.out + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    written = 0
    for task, classes, train in [("pretrain", range(0, 5), a.pretrain_train), ("transfer", range(5, 10), a.transfer_train)]:
        for split, count in [("train", train), ("test", a.test)]:
            images, labels = splits[split]
            for c in classes:
                folder = os.path.join(tmp, task, split, NAMES[c])
                os.makedirs(folder)
                picked = [i for i, l in enumerate(labels) if l == c][:count]
                for i in picked:
                    with open(os.path.join(folder, f"{i:05d}.png"), "wb") as f:
                        f.write(png(upscale(images[i * 784:(i + 1) * 784], a.size), a.size))
                written += len(picked)
    shutil.rmtree(a.out, ignore_errors=True)
    os.rename(tmp, a.out)
    print(f"fashion-images: {written} PNG images of {a.size}×{a.size} in {a.out}")


main()
