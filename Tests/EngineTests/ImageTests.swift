// Image decoding and transforms against PIL and torchvision: every kind of PNG and
// JPEG PIL converts (gray, 1-bit, palette with and without transparency, RGBA, LA,
// 16-bit gray/RGB/RGBA/LA, Adam7-interlaced; baseline, progressive, grayscale and CMYK JPEG),
// torchvision's Resize + CenterCrop + ToTensor + Normalize, RandomResizedCrop's
// boxes, and hostile files (truncated, garbage, empty) that must fail cleanly.
import Foundation
import Testing
import TestSupport
@testable import Engine

private func imageFolder() -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-image-tests-\(getpid())-\(UUID().uuidString.prefix(8))").path
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Writes one file of every kind, PIL's `convert("RGB")` of each as NAME.rgb, and for
/// `photo.png`/`photo.jpg` torchvision's Resize(24) + CenterCrop(20) (uint8, NAME.t8)
/// and + ToTensor + Normalize(ImageNet) (float32, NAME.tf).
private let referenceScript = #"""
import sys, os, numpy as np
from PIL import Image
import torchvision.transforms as T
d = sys.argv[1] if len(sys.argv) > 1 else os.environ["DIR"]
rng = np.random.default_rng(3)
def smooth(h, w, c):
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 / w), (y * 255 / h), ((x + y) * 127 / (w + h))], -1)[..., :c]
    return np.clip(base + rng.normal(0, 20, (h, w, c)), 0, 255)
h, w = 23, 37
rgb = smooth(h, w, 3).astype(np.uint8)
files = {}
Image.fromarray(rgb).save(f"{d}/rgb.png"); files["rgb.png"] = 1
Image.fromarray(rgb[..., 0]).save(f"{d}/gray.png")
Image.fromarray(rgb[..., 0] > 128).save(f"{d}/bits.png")
Image.fromarray(rgb).quantize(colors=17).save(f"{d}/palette.png")
p = Image.fromarray(rgb).quantize(colors=9); p.info["transparency"] = 3; p.save(f"{d}/palette_trns.png", transparency=3)
rgba = np.concatenate([rgb, rng.integers(0, 256, (h, w, 1), dtype=np.uint8)], -1)
Image.fromarray(rgba, "RGBA").save(f"{d}/rgba.png")
Image.fromarray(rgba[..., [0, 3]], "LA").save(f"{d}/la.png")
g16 = (rng.integers(0, 600, (h, w))).astype(np.uint16)
Image.fromarray(g16).save(f"{d}/gray16.png")
# 16-bit colour PNGs through raw libpng-compatible writers (PIL cannot write them): use pypng-free numpy writer
import zlib, struct
def png16(path, arr, color_type, depth=16, interlace=0):
    hh, ww = arr.shape[:2]
    dt = ">u2" if depth == 16 else "u1"
    if interlace:
        # Adam7: seven passes over sub-grids, each its own filtered rows.
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        raw = b""
        for xs, ys, xst, yst in passes:
            sub = arr[ys::yst, xs::xst]
            if sub.size: raw += b"".join(b"\x00" + sub[r].astype(dt).tobytes() for r in range(sub.shape[0]))
    else:
        raw = b"".join(b"\x00" + arr[r].astype(dt).tobytes() for r in range(hh))
    def chunk(t, data): return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xffffffff)
    ihdr = struct.pack(">IIBBBBB", ww, hh, depth, color_type, 0, 0, interlace)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
png16(f"{d}/interlaced.png", rgb, 2, depth=8, interlace=1)
png16(f"{d}/interlaced16.png", rng.integers(0, 65536, (h, w, 4)), 6, interlace=1)
png16(f"{d}/rgb16.png", rng.integers(0, 65536, (h, w, 3)), 2)
png16(f"{d}/rgba16.png", rng.integers(0, 65536, (h, w, 4)), 6)
png16(f"{d}/la16.png", rng.integers(0, 65536, (h, w, 2)), 4)
Image.fromarray(rgb).save(f"{d}/rgb.jpg", quality=90)
Image.fromarray(rgb).save(f"{d}/subsampled.jpg", quality=75, subsampling=2)
Image.fromarray(rgb).save(f"{d}/progressive.jpg", quality=85, progressive=True)
Image.fromarray(rgb[..., 1]).save(f"{d}/gray.jpg", quality=90)
cmyk = np.concatenate([rgb, rng.integers(0, 120, (h, w, 1), dtype=np.uint8)], -1)
Image.fromarray(cmyk, "CMYK").save(f"{d}/cmyk.jpg", quality=95)
photo = smooth(45, 61, 3).astype(np.uint8)
Image.fromarray(photo).save(f"{d}/photo.png")
Image.fromarray(photo).save(f"{d}/photo.jpg", quality=92)
Image.fromarray(smooth(50, 30, 3).astype(np.uint8)).save(f"{d}/tall.png")
Image.fromarray(smooth(9, 13, 3).astype(np.uint8)).save(f"{d}/small.png")   # upscaled by Resize(24)
for name in sorted(os.listdir(d)):
    if name.endswith((".png", ".jpg")):
        im = Image.open(f"{d}/{name}")
        a = np.asarray(im.convert("RGB"))
        open(f"{d}/{name}.rgb", "wb").write(a.tobytes())
for name in ["photo.png", "photo.jpg", "tall.png", "small.png"]:
    im = Image.open(f"{d}/{name}").convert("RGB")
    t8 = T.Compose([T.Resize(24), T.CenterCrop(20)])(im)
    open(f"{d}/{name}.t8", "wb").write(np.asarray(t8).tobytes())
    tf = T.Compose([T.Resize(24), T.CenterCrop(20), T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])(im)
    open(f"{d}/{name}.tf", "wb").write(tf.numpy().astype(np.float32).tobytes())
print("ok")
"""#

/// One prepared folder per test process (Python runs once).
private let references: Result<String, Error> = Result {
    let dir = imageFolder()
    let r = try pythonScript("import os, sys; sys.argv = ['', '\(dir)']\n" + referenceScript, needs: [.pillow, .torch, .torchvision])
    guard r.status == 0, r.output.contains("ok") else { throw PythonError.setup(r.output) }
    return dir
}

@Suite struct ImageDecodingTests {
    @Test func pngKindsArePILExactAndJPEGsWithinTwoLevels() throws {
        let dir = try references.get()
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".png") || $0.hasSuffix(".jpg") }.sorted()
        #expect(names.count >= 22)
        var report: [String] = []
        for name in names {
            let image = try ImageDecoder.decode(file: "\(dir)/\(name)")
            let reference = [UInt8](FileManager.default.contents(atPath: "\(dir)/\(name).rgb")!)
            #expect(image.pixels.count == reference.count, "\(name): size")
            guard image.pixels.count == reference.count else { continue }
            let maxDiff = zip(image.pixels, reference).map { abs(Int($0) - Int($1)) }.max() ?? 0
            report.append("\(name): \(maxDiff)")
            if name.hasSuffix(".png") { #expect(maxDiff == 0, "\(name) differs from PIL by \(maxDiff)") }
            else { #expect(maxDiff <= 2, "\(name) differs from PIL by \(maxDiff)") }
        }
        print("max |tlc - PIL| per file: " + report.joined(separator: ", "))
    }

    @Test func hostileFilesFailWithAReasonAndNeverCrash() throws {
        let dir = try references.get()
        let jpeg = [UInt8](FileManager.default.contents(atPath: "\(dir)/rgb.jpg")!)
        let png = [UInt8](FileManager.default.contents(atPath: "\(dir)/rgb.png")!)
        #expect(throws: ImageDecodeError.notAnImage) { try ImageDecoder.decode([]) }
        #expect(throws: ImageDecodeError.notAnImage) { try ImageDecoder.decode(Array("hello, world".utf8)) }
        // Truncated at every length from the signature on, and bytes flipped: an error or an image, never a crash.
        var rng = SeededGenerator(seed: 9)
        for bytes in [jpeg, png] {
            for cut in stride(from: 3, to: bytes.count, by: max(1, bytes.count / 40)) {
                do { _ = try ImageDecoder.decode(Array(bytes.prefix(cut))); Issue.record("a file cut at \(cut) of \(bytes.count) bytes decoded") }
                catch let e { #expect(e != .notAnImage || cut < 8) }
            }
            for _ in 0..<60 {
                var b = bytes
                for _ in 0..<4 { b[8 + rng.nextInt(below: b.count - 8)] = UInt8(truncatingIfNeeded: rng.next()) }
                _ = try? ImageDecoder.decode(b)
            }
        }
        do { _ = try ImageDecoder.decode(Array(jpeg.prefix(jpeg.count * 9 / 10))) } catch let e {
            #expect(e.description.contains("truncated"), "\(e)")
        }
        // A PNG header claiming an enormous image is refused before decoding.
        var huge = png
        huge[16...23] = [0, 0x01, 0, 0, 0, 0x01, 0, 0]   // 65536 × 65536
        #expect(throws: (any Error).self) { try ImageDecoder.decode(huge, maxPixels: 1 << 24) }
    }
}

@Suite struct ImageTransformTests {
    @Test func resizeAndCenterCropMatchTorchvisionOnPILImages() throws {
        let dir = try references.get()
        let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
        for name in ["photo.png", "photo.jpg", "tall.png", "small.png"] {
            // Start from PIL's decoding so that only the transforms are compared.
            let decoded = try ImageDecoder.decode(file: "\(dir)/\(name)")
            let pil = RGBImage(width: decoded.width, height: decoded.height,
                               pixels: [UInt8](FileManager.default.contents(atPath: "\(dir)/\(name).rgb")!))
            let out = ImageTransforms.centerCrop(ImageTransforms.resizeShorterSide(pil, to: 24), width: 20, height: 20)
            let t8 = [UInt8](FileManager.default.contents(atPath: "\(dir)/\(name).t8")!)
            #expect(out.pixels == t8, "\(name): Resize + CenterCrop differ from torchvision's on PIL")
            var floats: [Float] = []
            ImageTransforms.appendCHW(out, to: &floats)
            for c in 0..<3 { for i in 0..<400 { floats[c * 400 + i] = (floats[c * 400 + i] - mean[c]) / std[c] } }
            let tf = FileManager.default.contents(atPath: "\(dir)/\(name).tf")!.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let maxDiff = zip(floats, tf).map { abs($0 - $1) }.max() ?? 1
            print("\(name): max |tlc - torchvision| after ToTensor + Normalize: \(maxDiff)")
            #expect(floats.count == tf.count && maxDiff < 1e-5)
        }
    }

    @Test func shorterSideSizesAreTorchvisions() {
        #expect(ImageTransforms.shorterSideSize(width: 500, height: 375, size: 256) == (341, 256))
        #expect(ImageTransforms.shorterSideSize(width: 375, height: 500, size: 256) == (256, 341))
        #expect(ImageTransforms.shorterSideSize(width: 64, height: 64, size: 32) == (32, 32))
    }

    @Test func centerCropPadsWhenLargerThanTheImage() {
        let img = RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 200, count: 12))
        let out = ImageTransforms.centerCrop(img, width: 4, height: 4)
        #expect(out.width == 4 && out.pixels.filter { $0 == 200 }.count == 12)
    }

    /// The box resize against torchvision's `resized_crop` on float tensors (antialiased bilinear).
    @Test func resizedCropMatchesTorchvision() throws {
        let script = #"""
import torch, sys
import torchvision.transforms.v2.functional as F
g = torch.Generator().manual_seed(1)
x = torch.rand(3, 20, 30, generator=g)
print(" ".join(f"{v:.9g}" for v in x.flatten().tolist()))
for top, left, h, w in [(0, 0, 20, 30), (3, 5, 9, 14), (2, 1, 17, 6), (10, 20, 4, 4), (0, 3, 20, 25)]:
    y = F.resized_crop(x, top, left, h, w, [20, 30], interpolation=F.InterpolationMode.BILINEAR, antialias=True)
    print(" ".join(f"{v:.9g}" for v in y.flatten().tolist()))
"""#
        let r = try pythonScript(script, needs: [.torch, .torchvision])
        try #require(r.status == 0, "\(r.output)")
        let lines = r.output.split(separator: "\n").map { $0.split(separator: " ").compactMap { Float($0) } }.filter { $0.count == 1800 }
        try #require(lines.count == 6)
        var worst: Float = 0
        for (k, box) in [(0, 0, 20, 30), (3, 5, 9, 14), (2, 1, 17, 6), (10, 20, 4, 4), (0, 3, 20, 25)].enumerated() {
            var out = [Float](repeating: 0, count: 1800)
            lines[0].withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    RandomResizedCrop.resample(s.baseAddress!, channels: 3, height: 20, width: 30, box: box, into: o.baseAddress!)
                }
            }
            worst = max(worst, zip(out, lines[k + 1]).map { abs($0 - $1) }.max()!)
        }
        print("resized_crop: max |tlc - torchvision| = \(worst)")
        #expect(worst < 1e-5)
    }

    @Test func randomResizedCropIsSeededAndKeepsTheBoxInside() {
        let rrc = RandomResizedCrop()
        var a = SeededGenerator(seed: 5), b = SeededGenerator(seed: 5)
        for _ in 0..<200 {
            let x = rrc.box(height: 20, width: 30, rng: &a), y = rrc.box(height: 20, width: 30, rng: &b)
            #expect(x == y)
            #expect(x.top >= 0 && x.left >= 0 && x.top + x.height <= 20 && x.left + x.width <= 30)
            let area = Double(x.height * x.width) / 600
            #expect(area > 0.05 && area <= 1)
        }
        // The whole image as the box is the identity (up to float rounding).
        var sample = (0..<(3 * 8 * 8)).map { Float($0 % 17) / 17 }
        var out = [Float](repeating: 0, count: sample.count)
        sample.withUnsafeMutableBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                RandomResizedCrop.resample(s.baseAddress!, channels: 3, height: 8, width: 8, box: (0, 0, 8, 8), into: o.baseAddress!)
            }
        }
        #expect(zip(sample, out).allSatisfy { abs($0 - $1) < 1e-6 })
    }
}
