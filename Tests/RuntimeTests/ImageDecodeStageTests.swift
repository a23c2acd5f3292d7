// The data.decode stage on its own: the same bytes whatever the thread count, files
// checked against the digests the plan recorded, strict mode, and its cache entry
// read back exactly.
import Foundation
import Testing
import TestSupport
@testable import Engine
@testable import Execution
import Jobs

@Suite(.serialized) struct ImageDecodeStageTests {
    static let writer = #"""
import sys, os, numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(2)
for c in ["a", "b"]:
    os.makedirs(f"{d}/{c}", exist_ok=True)
    for i in range(7):
        h, w = (int(v) for v in rng.integers(10, 50, 2))
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(f"{d}/{c}/{i}." + ("png" if i % 2 else "jpg"))
open(f"{d}/b/bad.png", "wb").write(b"\x89PNG\r\n\x1a\n not really")
print("ok")
"""#

    func work(_ dir: String, strict: Bool = false) throws -> ImageDecodeWork {
        var images: [ImageDecodeWork.Image] = []
        for (label, c) in ["a", "b"].enumerated() {
            for name in try FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(c)").sorted() {
                let path = "\(dir)/\(c)/\(name)"
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                images.append(.init(file: FileReference(path: path, sha256: StageHashing.sha256(data)), label: label, test: name.hasPrefix("6")))
            }
        }
        return ImageDecodeWork(classes: ["a", "b"], images: images, separateTest: true, resize: 12, size: 10, strict: strict)
    }

    func decode(_ w: ImageDecodeWork, log: @escaping @Sendable (String) -> Void = { _ in }) throws -> DecodedImages {
        let context = StageContext(stage: "data.decode:test", log: log, events: nil, isCancelled: { false }, sources: DataSourceCache())
        guard case .images(let images) = try StageExecutor.execute(.dataDecode(w), inputs: StageInputs(count: 0) { _ in .report }, context: context) else {
            throw StageFailure(stage: "test", message: "not images")
        }
        return images
    }

    @Test func decodingIsTheSameOnAnyNumberOfThreadsAndReadsBackExactly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-decode-\(UUID().uuidString)").path
        let made = try pythonScript("import sys; sys.argv = ['', '\(dir)']\n" + Self.writer, needs: [.pillow])
        try #require(made.status == 0, "\(made.output)")
        let w = try work(dir)
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 1
        let one = try decode(w)
        Parallel.threads = 4
        let lines = LockedLines()
        let four = try decode(w, log: { lines.append($0) })
        #expect(one.pixels == four.pixels && one.labels == four.labels && one.test == four.test)
        #expect(four.count == 14 && four.pixels.count == 14 * 10 * 10 * 3)
        #expect(four.labels == [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1] && four.test.filter { $0 }.count == 2)
        #expect(four.skipped.map(\.path) == ["\(dir)/b/bad.png"] && four.skipped[0].reason.hasPrefix("broken PNG file"))
        #expect(lines.text.contains("warning: \(dir)/b/bad.png: broken PNG file"), "\(lines.text)")

        // Each image is torchvision's Resize(12) + CenterCrop(10) of the decoded file.
        let first = try ImageDecoder.decode(file: w.images[0].file.path)
        #expect(Array(four.pixels[0..<300]) == ImageTransforms.centerCrop(ImageTransforms.resizeShorterSide(first, to: 12), width: 10, height: 10).pixels)

        // The cache entry reads back exactly; its float data set is ToTensor's.
        let entry = dir + "/entry"
        try FileManager.default.createDirectory(atPath: entry, withIntermediateDirectories: true)
        try StageStorage.save(.images(four), stage: "data.decode:test", to: entry)
        let back = try ImageStorage.load(from: entry)
        #expect(back.pixels == four.pixels && back.labels == four.labels && back.test == four.test && back.skipped == four.skipped)
        let data = try back.dataset([0])
        #expect(data.features[0] == Float(four.pixels[0]) / 255 && data.features[100] == Float(four.pixels[1]) / 255)
        // A truncated images.u8 is a corrupt entry, not a crash.
        try Data(four.pixels.prefix(100)).write(to: URL(fileURLWithPath: entry + "/images.u8"))
        #expect(throws: CacheError.self) { try ImageStorage.load(from: entry) }

        // Strict: the broken file fails the stage, named.
        #expect { try decode(try work(dir, strict: true)) } throws: { "\($0)".contains("b/bad.png: broken PNG file") && "\($0)".contains("data.strict") }
        // A file edited after planning is refused.
        try Data([0xff, 0xd8, 0xff]).write(to: URL(fileURLWithPath: "\(dir)/a/0.jpg"))
        #expect { try decode(w) } throws: { "\($0)".contains("a/0.jpg changed since the plan was made") }
    }
}

final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return lines.joined(separator: "\n") }
}
