// An image folder through `tlc run`: a few dozen small JPEG and PNG files (RGB,
// grayscale, RGBA) in three classes written by PIL, plus a broken and a truncated
// file. The broken ones are warnings naming the file and are counted; the rerun
// comes from the cache without decoding; strict makes them an error; editing an
// image changes the decode stage's hash.
import Foundation
import Testing
import FrontEnd
import Planner
import Jobs
import TestSupport
@testable import TLCCommands

@Suite(.serialized) struct ImageFolderRunTests {
    static let writer = #"""
import sys, os, numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(7)
for ci, c in enumerate(["cat", "dog", "emu"]):
    os.makedirs(f"{d}/photos/{c}", exist_ok=True)
    for i in range(12):
        h, w = (int(v) for v in rng.integers(18, 40, 2))
        a = np.clip(rng.normal(90, 40, (h, w, 3)), 0, 255).astype(np.uint8)
        a[..., ci] = np.clip(a[..., ci].astype(int) + 120, 0, 255)
        im = Image.fromarray(a)
        if i % 4 == 1: im = im.convert("RGBA")
        if i % 6 == 5: im = im.convert("L")
        im.save(f"{d}/photos/{c}/{i:02d}." + ("png" if i % 2 else "jpg"), **({} if i % 2 else {"quality": 90}))
open(f"{d}/photos/dog/broken.jpg", "wb").write(b"\xff\xd8\xff\xe0 this is not a jpeg")
good = open(f"{d}/photos/emu/00.jpg", "rb").read()
open(f"{d}/photos/emu/truncated.jpg", "wb").write(good[: len(good) * 2 // 3])
open(f"{d}/photos/cat/notes.txt", "w").write("taken in the garden")
print("ok")
"""#

    /// The newest run's log (run ids sort by time; a failed run is not `latest`).
    func runFolder(_ out: String, _ name: String) throws -> String {
        let runs = try FileManager.default.contentsOfDirectory(atPath: out + "/\(name)").filter { !$0.hasPrefix(".") && $0 != "latest" }.sorted()
        return try String(contentsOfFile: out + "/\(name)/\(runs.last ?? "")/log.txt", encoding: .utf8)
    }

    @Test func anImageFolderTrainsWarnsAboutBrokenFilesAndIsDecodedOnce() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-images-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let made = try pythonScript("import sys; sys.argv = ['', '\(dir)']\n" + Self.writer, needs: [.pillow])
        try #require(made.status == 0, "\(made.output)")
        let file = dir + "/photos.yaml", out = dir + "/Outputs"
        try """
            tlc: 1
            name: photos
            seed: 3
            data:
              dataset: folder:photos
              image_size: 12
              resize: 14
              test_fraction: 0.25
              augment: {random_resized_crop: true, horizontal_flip: true}
            normalization: {kind: imagenet}
            backbone: {arch: mlp, options: {widths: [32]}}
            optimizer: {lr: 3e-3}
            training: {epochs: 6, batch_size: 8}

            """.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", file, "--output", out]) == 0)
        let log = try runFolder(out, "photos")
        // Three files are not images: each is named, skipped and counted.
        for bad in ["dog/broken.jpg", "emu/truncated.jpg", "cat/notes.txt"] {
            #expect(log.contains("warning: \(dir)/photos/\(bad): ") && log.contains("\(bad): ") , "\(bad) not warned about:\n\(log)")
        }
        #expect(log.contains("emu/truncated.jpg: broken JPEG file: image file is truncated; skipped"), "\(log)")
        #expect(log.contains("cat/notes.txt: not a JPEG or PNG file; skipped"), "\(log)")
        #expect(log.contains("36 images decoded and resized to 12×12; 3 files skipped"), "\(log)")
        // 36 images: 9 held out for testing (stratified, 3 a class), 27 train and validate.
        #expect(log.contains("24 training, 3 validation, 9 test images; 3 classes"), "\(log)")
        let metrics = out + "/photos/" + (try FileManager.default.destinationOfSymbolicLink(atPath: out + "/photos/latest")) + "/metrics.json"
        let m = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: metrics))) as! [String: Any]
        #expect(((m["test.accuracy"] as? Double) ?? 0) > 0.6, "\(m)")

        // Again: every stage from the cache, nothing decoded, no warning.
        #expect(TLC.run(["run", file, "--output", out]) == 0)
        let again = try runFolder(out, "photos")
        #expect(again.contains("all 6 stages from the cache") || again.contains("0 ran, 6 from the cache"), "\(again)")
        #expect(!again.contains("warning:") && !again.contains("images decoded"), "\(again)")

        // A changed learning rate reuses the decoded images (a sweep never decodes twice).
        #expect(TLC.run(["run", file, "--output", out, "--set", "optimizer.lr=1e-3"]) == 0)
        let lr = try runFolder(out, "photos")
        #expect(!lr.contains("images decoded") && lr.contains("[train]"), "\(lr)")

        // Strict: the first broken file fails the run, named.
        #expect(TLC.run(["run", file, "--output", out, "--set", "data.strict=true"]) == 1)
        let strict = try runFolder(out, "photos")
        #expect(strict.contains("photos/cat/notes.txt: not a JPEG or PNG file (data.strict is true"), "\(strict)")

        // Editing one image renames the decode stage (contents are hashed, not stat'ed).
        func decodeHash() throws -> String {
            let plan = try PlanBuilder().plan(try ExperimentLoader().load(path: file))
            return try #require(plan.stages.first { $0.kind == .dataDecode }).hash
        }
        let before = try decodeHash()
        let image = dir + "/photos/cat/00.jpg"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: image))
        let attributes = try FileManager.default.attributesOfItem(atPath: image)
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: image))
        try FileManager.default.setAttributes([.modificationDate: attributes[.modificationDate]!], ofItemAtPath: image)
        #expect(try decodeHash() != before)
    }
}
