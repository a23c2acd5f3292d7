// An image folder through `tlc run`: a few dozen small JPEG and PNG files (RGB,
// grayscale, RGBA) in three classes written by PIL, plus a broken, a truncated and
// a text file. Those are warnings naming the file and are counted; `tlc verify`
// re-executes the run bitwise; the rerun comes from the cache without decoding;
// strict makes them an error; editing an image changes the decode stage's hash.
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

    /// Runs `tlc` with `arguments` and returns its exit code and the new run's log
    /// (the run folder that was not there before; a failed run is not `latest`).
    func run(_ arguments: [String], _ out: String, _ name: String) throws -> (code: Int32, log: String) {
        func runs() -> Set<String> {
            Set(((try? FileManager.default.contentsOfDirectory(atPath: out + "/\(name)")) ?? []).filter { !$0.hasPrefix(".") && $0 != "latest" })
        }
        let before = runs()
        let code = TLC.run(arguments)
        let new = try #require(runs().subtracting(before).first, "no new run folder")
        return (code, try String(contentsOfFile: out + "/\(name)/\(new)/log.txt", encoding: .utf8))
    }

    /// A scratch folder with the generated photos/ in it.
    func photos() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-images-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let made = try pythonScript("import sys; sys.argv = ['', '\(dir)']\n" + Self.writer, needs: [.pillow])
        try #require(made.status == 0, "\(made.output)")
        return dir
    }

    @Test func anImageFolderTrainsWarnsAboutBrokenFilesAndIsDecodedOnce() throws {
        let dir = try photos()
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
        let (code, log) = try run(["run", file, "--output", out], out, "photos")
        #expect(code == 0)
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
        #expect(m["data.images"] as? Double == 36 && m["data.skipped_files"] as? Double == 3, "\(m)")

        // Re-executed from scratch (decoding, random resized crops, training): bitwise the same.
        #expect(TLC.run(["verify", "photos@latest", "--output", out]) == 0)

        // Again: every stage from the cache, nothing decoded, no warning.
        let again = try run(["run", file, "--output", out], out, "photos")
        #expect(again.code == 0)
        #expect(again.log.contains("0 ran, 6 from the cache"), "\(again.log)")
        #expect(!again.log.contains("warning:") && !again.log.contains("images decoded"), "\(again.log)")
        // The count is still in the metrics (read from the cache entry's index).
        let cachedMetrics = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/photos/latest/metrics.json"))) as! [String: Any]
        #expect(cachedMetrics["data.skipped_files"] as? Double == 3, "\(cachedMetrics)")

        // A changed learning rate reuses the decoded images (a sweep never decodes twice).
        let lr = try run(["run", file, "--output", out, "--set", "optimizer.lr=1e-3"], out, "photos")
        #expect(lr.code == 0 && !lr.log.contains("images decoded") && lr.log.contains("[train]"), "\(lr.log)")

        // Strict: the first broken file fails the run, named.
        let strict = try run(["run", file, "--output", out, "--set", "data.strict=true"], out, "photos")
        #expect(strict.code == 1 && strict.log.contains("photos/cat/notes.txt: not a JPEG or PNG file (data.strict is true"), "\(strict.log)")

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

    /// `normalization.kind: checkpoint` takes the pretrained backbone's statistics: the
    /// upstream experiment's fitted ones (run:), or a tlc checkpoint's metadata (file:).
    @Test func checkpointStatisticsComeWithTheBackbone() throws {
        let dir = try photos(), out = dir + "/Outputs"
        try """
            tlc: 1
            name: source
            data: {dataset: folder:photos, image_size: 8, resize: 9, classes: [0, 1]}
            normalization: {kind: standardize}
            backbone: {arch: mlp, options: {widths: [16]}}
            training: {epochs: 2, batch_size: 8}

            """.write(toFile: dir + "/source.yaml", atomically: true, encoding: .utf8)
        try """
            tlc: 1
            name: target
            data: {dataset: folder:photos, image_size: 8, resize: 9, classes: [1, 2]}
            normalization: {kind: checkpoint}
            backbone: {arch: mlp, options: {widths: [16]}, weights: run:source}
            training: {epochs: 2, batch_size: 8}

            """.write(toFile: dir + "/target.yaml", atomically: true, encoding: .utf8)
        let plan = try PlanBuilder().plan(try ExperimentLoader().load(path: dir + "/target.yaml"))
        let norms = plan.stages.filter { $0.kind == .dataNormalize }
        let target = try #require(norms.first { $0.experiment == "target" }), source = try #require(norms.first { $0.experiment == "source" })
        #expect(target.deps.count == 2 && target.deps[1] == source.id)
        // One decode stage serves both experiments' data.
        #expect(plan.stages.filter { $0.kind == .dataDecode }.count == 1)
        #expect(TLC.run(["run", dir + "/target.yaml", "--output", out]) == 0)
        func statistics(_ stage: Stage) throws -> String {
            try String(contentsOfFile: out + "/.cache/\(stage.hash)/normalization.json", encoding: .utf8)
        }
        #expect(try statistics(target) == statistics(source))
        #expect(try statistics(source).contains("standardize"))

        // A tlc checkpoint (the source run's model.safetensors) carries them too.
        let model = out + "/source/" + (try FileManager.default.destinationOfSymbolicLink(atPath: out + "/source/latest")) + "/model.safetensors"
        try """
            tlc: 1
            name: fromfile
            data: {dataset: folder:photos, image_size: 8, resize: 9, classes: [1, 2]}
            normalization: {kind: checkpoint}
            backbone: {arch: mlp, options: {widths: [16]}, weights: "file:\(model)"}
            training: {epochs: 1, batch_size: 8}

            """.write(toFile: dir + "/fromfile.yaml", atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", dir + "/fromfile.yaml", "--output", out]) == 0)
        let filePlan = try PlanBuilder().plan(try ExperimentLoader().load(path: dir + "/fromfile.yaml"))
        #expect(try statistics(try #require(filePlan.stages.first { $0.kind == .dataNormalize })) == statistics(source))
        // Without weights there is nothing to take.
        try "tlc: 1\nname: none\ndata: {dataset: folder:photos}\nnormalization: {kind: checkpoint}\n".write(toFile: dir + "/none.yaml", atomically: true, encoding: .utf8)
        #expect(TLC.run(["validate", dir + "/none.yaml"]) == 2)
    }
}
