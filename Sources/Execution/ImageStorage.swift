// ImageStorage — a data.decode stage's cache entry: `images.u8` (every preprocessed
// image's bytes, one after another, HWC) and `images.json` (classes, size, each
// image's label and part, the skipped files). Read back as they were written.
import Engine
import Foundation

public enum ImageStorage {
    struct Index: Codable {
        var classes: [String]
        var size: Int
        var labels: [Int]
        var test: [Bool]
        var skipped: [DecodedImages.Skipped]
    }

    static func save(_ images: DecodedImages, to dir: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try images.pixels.withUnsafeBytes { raw in
            try Data(raw).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("images.u8")))
        }
        let index = Index(classes: images.classes, size: images.size, labels: images.labels, test: images.test, skipped: images.skipped)
        try encoder.encode(index).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("images.json")))
    }

    /// A cache entry's image count and skipped files, without reading the images.
    public static func summary(from dir: String) throws -> (images: Int, skipped: [DecodedImages.Skipped]) {
        let indexPath = (dir as NSString).appendingPathComponent("images.json")
        guard let indexData = FileManager.default.contents(atPath: indexPath) else { throw CacheError.corrupt("\(indexPath) is missing") }
        let index = try JSONDecoder().decode(Index.self, from: indexData)
        return (index.labels.count, index.skipped)
    }

    static func load(from dir: String) throws -> DecodedImages {
        let indexPath = (dir as NSString).appendingPathComponent("images.json"), bytesPath = (dir as NSString).appendingPathComponent("images.u8")
        guard let indexData = FileManager.default.contents(atPath: indexPath) else { throw CacheError.corrupt("\(indexPath) is missing") }
        guard let bytes = FileManager.default.contents(atPath: bytesPath) else { throw CacheError.corrupt("\(bytesPath) is missing") }
        let index = try JSONDecoder().decode(Index.self, from: indexData)
        guard index.size > 0, index.labels.count == index.test.count, bytes.count == index.labels.count * index.size * index.size * 3,
              index.labels.allSatisfy({ $0 >= 0 && $0 < index.classes.count }) else {
            throw CacheError.corrupt("\(bytesPath) does not hold the images \(indexPath) lists")
        }
        return DecodedImages(classes: index.classes, size: index.size, pixels: [UInt8](bytes), labels: index.labels,
                             test: index.test, skipped: index.skipped)
    }
}
