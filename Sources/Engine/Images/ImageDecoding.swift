// ImageDecoding — JPEG and PNG files to 8-bit RGB images (CImageCodec: libjpeg-turbo
// and libpng with PIL's conversions), and the error a broken file gives. Knows
// nothing about folders, classes or caches.
import CImageCodec
import Foundation

/// An 8-bit RGB image, row-major, 3 bytes a pixel (HWC).
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)×\(height)")
        self.width = width; self.height = height; self.pixels = pixels
    }
}

/// Why a file is not a usable image (messages for people; no file name in them).
public enum ImageDecodeError: Error, CustomStringConvertible, Sendable, Equatable {
    case unreadable(String)
    case notAnImage
    case broken(format: String, reason: String)
    case tooLarge(String)

    public var description: String {
        switch self {
        case .unreadable(let m): "cannot read the file: \(m)"
        case .notAnImage: "not a JPEG or PNG file"
        case .broken(let f, let r): "broken \(f.uppercased()) file: \(r)"
        case .tooLarge(let m): "image too large: \(m)"
        }
    }
}

public enum ImageDecoder {
    /// PIL's decompression-bomb limit (twice Image.MAX_IMAGE_PIXELS): larger images are refused.
    public static let maxPixels: Int64 = 2 * 89_478_485

    /// Decodes a JPEG or PNG file's bytes the way `Image.open(f).convert("RGB")` does.
    public static func decode(_ bytes: [UInt8], maxPixels: Int64 = maxPixels) throws(ImageDecodeError) -> RGBImage {
        var out = tlc_image()
        let code = bytes.withUnsafeBufferPointer { b in
            tlc_image_decode(b.baseAddress, b.count, maxPixels, &out)
        }
        defer { tlc_image_free(&out) }
        func text<T>(_ tuple: T) -> String {
            withUnsafeBytes(of: tuple) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        switch Int(code) {
        case TLC_IMAGE_OK:
            let n = Int(out.width) * Int(out.height) * 3
            let pixels = [UInt8](UnsafeBufferPointer(start: out.pixels, count: n))
            return RGBImage(width: Int(out.width), height: Int(out.height), pixels: pixels)
        case TLC_IMAGE_UNKNOWN_FORMAT: throw .notAnImage
        case TLC_IMAGE_TOO_LARGE: throw .tooLarge(text(out.error))
        default: throw .broken(format: text(out.format), reason: text(out.error))
        }
    }

    /// Reads and decodes a file.
    public static func decode(file path: String) throws(ImageDecodeError) -> RGBImage {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable("no such file, or not readable") }
        return try decode([UInt8](data))
    }
}
