// Image folders in the spec: `folder:PATH` with class subfolders (or train/ beside
// val/ or test/), classes and the input shape taken from the folder, and located
// errors for a missing folder, an empty class folder, a folder without classes,
// image keys on other data, a resize below the crop and keys that do not exist.
import Foundation
import Testing
@testable import FrontEnd

@Suite struct ImageFolderSpecTests {
    /// A folder with `layout` (relative file paths) and `spec` as w.yaml beside it.
    func load(_ spec: String, layout: [String], folders: [String] = []) throws -> Result<LoadedExperiment, DiagnosticError> {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-imgspec-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in folders { try FileManager.default.createDirectory(atPath: "\(dir)/\(f)", withIntermediateDirectories: true) }
        for f in layout {
            try FileManager.default.createDirectory(atPath: ("\(dir)/\(f)" as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data("x".utf8).write(to: URL(fileURLWithPath: "\(dir)/\(f)"))
        }
        try ("tlc: 1\nname: w\n" + spec).write(toFile: dir + "/w.yaml", atomically: true, encoding: .utf8)
        do { return .success(try ExperimentLoader().load(path: dir + "/w.yaml")) } catch { return .failure(DiagnosticError(error.diagnostics)) }
    }

    func errors(_ spec: String, layout: [String], folders: [String] = []) throws -> [Diagnostic] {
        if case .failure(let e) = try load(spec, layout: layout, folders: folders) { return e.diagnostics }
        return []
    }

    let threeClasses = ["photos/cat/1.jpg", "photos/cat/2.png", "photos/dog/a.jpg", "photos/emu/z.png", "photos/.DS_Store"]

    @Test func classesAndInputShapeComeFromTheFolder() throws {
        let loaded = try load("data: {dataset: folder:photos, image_size: 32}\nnormalization: {kind: imagenet}\nbackbone: {arch: cnn}\n",
                              layout: threeClasses).get()
        let data = loaded.base.data
        #expect(data.folderClasses == ["cat", "dog", "emu"])
        #expect(data.classCount == 3)
        #expect(data.inputShape.channels == 3 && data.inputShape.height == 32 && data.inputShape.width == 32)
        #expect(data.effectiveResize == 37)   // 32 · 256/224, rounded
        // The defaults: 224 and 256, as torchvision's ImageNet evaluation.
        let plain = try load("data: {dataset: folder:photos}\nbackbone: {arch: mlp}\n", layout: threeClasses).get().base.data
        #expect(plain.effectiveImageSize == 224 && plain.effectiveResize == 256 && !plain.strict)
    }

    @Test func classesCanBeNamed() throws {
        let named = try load("data: {dataset: folder:photos, classes: [emu, 0]}\nbackbone: {arch: mlp}\n", layout: threeClasses).get()
        #expect(named.base.data.classes == [2, 0] && named.base.data.classCount == 2)
        let typo = try errors("data: {dataset: folder:photos, classes: [emus, dog]}\n", layout: threeClasses)
        #expect(typo.count == 1 && typo[0].message == "class 'emus' is not a subfolder of photos; did you mean 'emu'?", "\(typo)")
        #expect(typo.first?.location?.line == 3)
        let twice = try errors("data: {dataset: folder:photos, classes: [dog, 1]}\n", layout: threeClasses)
        #expect(twice.count == 1 && twice[0].message == "class 'dog' is listed twice in data.classes", "\(twice)")
        // Names are for image folders: elsewhere a class is an index.
        let csv = try errors("data: {classes: [cat, dog]}\n", layout: [])
        #expect(csv.contains { $0.message.contains("must be an integer") }, "\(csv)")
    }

    @Test func aTrainAndValFolderIsTheTestSplit() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-imgscan-\(UUID().uuidString)").path
        for f in ["train/b/1.png", "train/a/2.png", "train/a/1.png", "val/a/3.png", "val/b/4.png", "val/b/sub/5.png"] {
            try FileManager.default.createDirectory(atPath: ("\(dir)/\(f)" as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data("x".utf8).write(to: URL(fileURLWithPath: "\(dir)/\(f)"))
        }
        // Only regular files are samples: a pipe, a link to a device and hidden files are not.
        #expect(mkfifo("\(dir)/train/a/pipe", 0o644) == 0)
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/train/b/zero", withDestinationPath: "/dev/zero")
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(dir)/train/b/.hidden.png"))
        let scan = try ImageFolderScan.scan(dir).get()
        #expect(scan.classes == ["a", "b"] && scan.separateTest && scan.testPart == "val")
        #expect(scan.files.map { String($0.path.dropFirst(dir.count + 1)) }
                == ["train/a/1.png", "train/a/2.png", "train/b/1.png", "val/a/3.png", "val/b/4.png", "val/b/sub/5.png"])
        #expect(scan.files.map(\.label) == [0, 0, 1, 0, 1, 1] && scan.files.map(\.test) == [false, false, false, true, true, true])
        // A test class the training part lacks is a problem.
        try FileManager.default.createDirectory(atPath: "\(dir)/val/c", withIntermediateDirectories: true)
        guard case .failure(let p) = ImageFolderScan.scan(dir) else { Issue.record("val/c accepted"); return }
        #expect(p.messages.contains { $0.contains("val/c is not a class of") })
        #expect(throws: (any Error).self) { try ImageFolderScan.scan("\(dir)/nowhere").get() }
    }

    @Test func folderProblemsAreLocatedErrors() throws {
        let missing = try errors("data: {dataset: folder:nowhere}\n", layout: [])
        #expect(missing.count == 1 && missing[0].message.contains("does not exist"))
        #expect(missing[0].location?.line == 3 && missing[0].location?.column == 17, "\(missing)")

        let empty = try errors("data: {dataset: folder:photos}\n", layout: threeClasses, folders: ["photos/fox"])
        #expect(empty.contains { $0.message.contains("class folder") && $0.message.contains("photos/fox is empty") }, "\(empty)")

        let flat = try errors("data: {dataset: folder:photos}\n", layout: ["photos/1.png", "photos/2.png"])
        #expect(flat.contains { $0.message.contains("has no class subfolders") }, "\(flat)")

        let one = try errors("data: {dataset: folder:photos}\n", layout: ["photos/a/1.png"])
        #expect(one.contains { $0.message.contains("a classifier needs at least 2") }, "\(one)")

        let unknownClass = try errors("data: {dataset: folder:photos, classes: [0, 3]}\n", layout: threeClasses)
        #expect(unknownClass.contains { $0.message.contains("class 3 does not exist") && $0.location?.line == 3 }, "\(unknownClass)")
    }

    @Test func imageKeysMustAgree() throws {
        let small = try errors("data: {dataset: folder:photos, image_size: 64, resize: 48}\n", layout: threeClasses)
        #expect(small.contains { $0.message.contains("data.resize (48) is smaller than data.image_size (64)") }, "\(small)")
        let shape = try errors("data: {dataset: folder:photos, input_shape: [3, 8, 8]}\n", layout: threeClasses)
        #expect(shape.contains { $0.message.contains("set data.image_size instead of data.input_shape") }, "\(shape)")
        let elsewhere = try errors("data: {classes: [0, 1], image_size: 64, strict: true}\n", layout: [])
        #expect(elsewhere.filter { $0.message.contains("applies to image folders") }.count == 2, "\(elsewhere)")
        let typo = try errors("data: {dataset: folder:photos, image_sise: 64}\n", layout: threeClasses)
        #expect(typo.contains { $0.message.contains("image_sise") && $0.message.contains("image_size") }, "\(typo)")
        let range = try errors("data: {dataset: folder:photos, image_size: 4}\n", layout: threeClasses)
        #expect(range.contains { $0.message.contains("image_size") }, "\(range)")
        let gray = try errors("normalization: {kind: imagenet}\n", layout: [])
        #expect(gray.contains { $0.message.contains("imagenet is for RGB images") }, "\(gray)")
        let split = try errors("data: {dataset: folder:d, test_fraction: 0.3}\n", layout: ["d/train/a/1.png", "d/train/b/1.png", "d/test/a/2.png"])
        #expect(split.contains { $0.message.contains("data.test_fraction applies to an image folder without a test/ part") }, "\(split)")
    }
}
