// DecodedImages — an image folder after decoding and the evaluation transforms:
// square 8-bit RGB images of one size with their labels, which part of the folder
// each came from, and the files that were skipped. Small (bytes, not floats) so a
// whole folder's worth fits where its decoded full-size images would not; turned
// into float data sets (ToTensor) only when a stage needs them.
import Foundation
import ModelZoo

public struct DecodedImages: Sendable {
    /// A file that could not be used, and why.
    public struct Skipped: Codable, Hashable, Sendable {
        public var path: String
        public var reason: String
        public init(path: String, reason: String) { self.path = path; self.reason = reason }
    }
    public var classes: [String]
    /// Every image is `size`×`size`.
    public var size: Int
    /// `count × size × size × 3` bytes, HWC per image.
    public var pixels: [UInt8]
    public var labels: [Int]
    /// From the folder's `val/` or `test/` part.
    public var test: [Bool]
    public var skipped: [Skipped]

    public init(classes: [String], size: Int, pixels: [UInt8], labels: [Int], test: [Bool], skipped: [Skipped]) {
        self.classes = classes; self.size = size; self.pixels = pixels; self.labels = labels; self.test = test; self.skipped = skipped
    }

    public var count: Int { labels.count }

    /// The images at `indices` as a float data set (3×size×size, values / 255).
    public func dataset(_ indices: [Int]) throws -> Dataset {
        let hw = size * size, n = indices.count
        var features = [Float](repeating: 0, count: n * 3 * hw)
        features.withUnsafeMutableBufferPointer { f in
            pixels.withUnsafeBufferPointer { p in
                for (k, i) in indices.enumerated() {
                    let src = p.baseAddress! + i * hw * 3, dst = f.baseAddress! + k * 3 * hw
                    for j in 0..<hw {
                        dst[j] = Float(src[3 * j]) / 255
                        dst[hw + j] = Float(src[3 * j + 1]) / 255
                        dst[2 * hw + j] = Float(src[3 * j + 2]) / 255
                    }
                }
            }
        }
        return try Dataset(sampleShape: FeatureShape(channels: 3, height: size, width: size), features: features,
                           labels: indices.map { labels[$0] }, classNames: classes)
    }

    /// torchvision's evaluation transform of one file's bytes: decode, `Resize(resize)`,
    /// `CenterCrop(size)`; the result is `size × size × 3` bytes.
    public static func preprocess(_ bytes: [UInt8], resize: Int, size: Int) throws(ImageDecodeError) -> [UInt8] {
        let image = try ImageDecoder.decode(bytes)
        return ImageTransforms.centerCrop(ImageTransforms.resizeShorterSide(image, to: resize), width: size, height: size).pixels
    }
}
