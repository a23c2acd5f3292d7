// ImageTransforms — torchvision's evaluation transforms on PIL images, reproduced:
// `Resize(size)` (shorter side to `size`, PIL's antialiased bilinear resampling with
// its 8-bit fixed-point arithmetic, so results are PIL's to the byte), `CenterCrop`
// (PIL/torchvision offsets, zero padding when the crop is larger) and `ToTensor`
// (CHW floats in [0, 1]). The resampling weights are shared with the float
// `RandomResizedCrop` in Augmentation.
import Foundation

public enum ImageTransforms {
    /// torchvision's `Resize(size)` output size for a `width`×`height` image: the
    /// shorter side becomes `size`, the longer `int(size * long / short)`.
    public static func shorterSideSize(width: Int, height: Int, size: Int) -> (width: Int, height: Int) {
        let short = min(width, height), long = max(width, height)
        let newLong = Int(Double(size * long) / Double(short))
        return width <= height ? (size, newLong) : (newLong, size)
    }

    /// `Resize(size)`: the shorter side to `size`, antialiased bilinear.
    public static func resizeShorterSide(_ image: RGBImage, to size: Int) -> RGBImage {
        let (w, h) = shorterSideSize(width: image.width, height: image.height, size: size)
        return resize(image, width: w, height: h)
    }

    /// PIL's `Image.resize((width, height), Image.BILINEAR)` on an RGB image.
    public static func resize(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        if width == image.width && height == image.height { return image }
        var current = image
        if width != image.width {
            let k = Resampling.coefficients(inSize: image.width, from: 0, to: Double(image.width), outSize: width)
            current = horizontal(current, k)
        }
        if height != image.height {
            let k = Resampling.coefficients(inSize: image.height, from: 0, to: Double(image.height), outSize: height)
            current = vertical(current, k)
        }
        return current
    }

    /// `CenterCrop(size)`: torchvision's offsets `int(round((H - h) / 2))` (round half
    /// to even); a crop larger than the image is padded with zeros first, as torchvision does.
    public static func centerCrop(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        var src = image
        if width > image.width || height > image.height {
            // torchvision pads (left, top) = (W' - W) // 2, (H' - H) // 2 and the rest right/bottom.
            let pw = max(width, image.width), ph = max(height, image.height)
            let left = (pw - image.width) / 2, top = (ph - image.height) / 2
            var padded = [UInt8](repeating: 0, count: pw * ph * 3)
            for y in 0..<image.height {
                for x in 0..<(image.width * 3) { padded[((y + top) * pw + left) * 3 + x] = image.pixels[y * image.width * 3 + x] }
            }
            src = RGBImage(width: pw, height: ph, pixels: padded)
        }
        let top = Int((Double(src.height - height) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(src.width - width) / 2).rounded(.toNearestOrEven))
        var out = [UInt8](repeating: 0, count: width * height * 3)
        out.withUnsafeMutableBufferPointer { o in
            src.pixels.withUnsafeBufferPointer { s in
                for y in 0..<height {
                    (o.baseAddress! + y * width * 3).update(from: s.baseAddress! + ((y + top) * src.width + left) * 3, count: width * 3)
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// `ToTensor`: CHW floats, value / 255, appended to `out`.
    public static func appendCHW(_ image: RGBImage, to out: inout [Float]) {
        let hw = image.width * image.height
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: 3 * hw))
        out.withUnsafeMutableBufferPointer { o in
            image.pixels.withUnsafeBufferPointer { p in
                let base = o.baseAddress! + start
                for i in 0..<hw {
                    for c in 0..<3 { base[c * hw + i] = Float(p[i * 3 + c]) / 255 }
                }
            }
        }
    }

    // MARK: PIL's 8-bit passes

    /// PIL's PRECISION_BITS for 8-bit images.
    static let precisionBits = 32 - 8 - 2

    static func fixedPoint(_ k: Resampling.Coefficients) -> [Int32] {
        k.weights.map { w in
            let scaled = w * Double(1 << precisionBits)
            return Int32(w < 0 ? (-0.5 + scaled) : (0.5 + scaled))
        }
    }

    @inline(__always) static func clip8(_ v: Int32) -> UInt8 {
        if v >= Int32(1) << Int32(precisionBits + 8) { return 255 }
        if v <= 0 { return 0 }
        return UInt8(truncatingIfNeeded: v >> Int32(precisionBits))
    }

    static func horizontal(_ image: RGBImage, _ k: Resampling.Coefficients) -> RGBImage {
        let kk = fixedPoint(k), outW = k.outSize, inW = image.width
        var out = [UInt8](repeating: 0, count: outW * image.height * 3)
        out.withUnsafeMutableBufferPointer { o in
            image.pixels.withUnsafeBufferPointer { p in
                kk.withUnsafeBufferPointer { kw in
                    for y in 0..<image.height {
                        let row = p.baseAddress! + y * inW * 3
                        for x in 0..<outW {
                            let xmin = k.bounds[2 * x], n = k.bounds[2 * x + 1]
                            let w = kw.baseAddress! + x * k.kernelSize
                            var s0: Int32 = 1 << Int32(precisionBits - 1), s1 = s0, s2 = s0
                            for i in 0..<n {
                                let px = row + (xmin + i) * 3
                                s0 &+= Int32(px[0]) &* w[i]; s1 &+= Int32(px[1]) &* w[i]; s2 &+= Int32(px[2]) &* w[i]
                            }
                            let d = (y * outW + x) * 3
                            o[d] = clip8(s0); o[d + 1] = clip8(s1); o[d + 2] = clip8(s2)
                        }
                    }
                }
            }
        }
        return RGBImage(width: outW, height: image.height, pixels: out)
    }

    static func vertical(_ image: RGBImage, _ k: Resampling.Coefficients) -> RGBImage {
        let kk = fixedPoint(k), outH = k.outSize, w3 = image.width * 3
        var out = [UInt8](repeating: 0, count: outH * w3)
        out.withUnsafeMutableBufferPointer { o in
            image.pixels.withUnsafeBufferPointer { p in
                kk.withUnsafeBufferPointer { kw in
                    for y in 0..<outH {
                        let ymin = k.bounds[2 * y], n = k.bounds[2 * y + 1]
                        let w = kw.baseAddress! + y * k.kernelSize
                        for x in 0..<w3 {
                            var s: Int32 = 1 << Int32(precisionBits - 1)
                            for i in 0..<n { s &+= Int32(p[(ymin + i) * w3 + x]) &* w[i] }
                            o[y * w3 + x] = clip8(s)
                        }
                    }
                }
            }
        }
        return RGBImage(width: image.width, height: outH, pixels: out)
    }
}

/// PIL's antialiased bilinear resampling weights (Resample.c, precompute_coeffs):
/// the triangle filter stretched by the downscaling factor, over a source box.
public enum Resampling {
    public struct Coefficients {
        public var outSize: Int
        public var kernelSize: Int
        /// Per output position: first source index and how many are used.
        public var bounds: [Int]
        /// `outSize × kernelSize` normalized weights.
        public var weights: [Double]
    }

    public static func coefficients(inSize: Int, from in0: Double, to in1: Double, outSize: Int) -> Coefficients {
        let scale = (in1 - in0) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = 1.0 * filterScale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var bounds = [Int](repeating: 0, count: outSize * 2)
        var weights = [Double](repeating: 0, count: outSize * ksize)
        for xx in 0..<outSize {
            let center = in0 + (Double(xx) + 0.5) * scale
            let ss = 1.0 / filterScale
            var xmin = Int(center - support + 0.5)   // C's truncating cast
            if center - support + 0.5 < 0 { xmin = 0 }
            xmin = max(xmin, 0)
            var xmax = Int(center + support + 0.5)
            xmax = min(xmax, inSize) - xmin
            var ww = 0.0
            for x in 0..<max(xmax, 0) {
                var t = (Double(x + xmin) - center + 0.5) * ss
                if t < 0 { t = -t }
                let w = t < 1 ? 1 - t : 0
                weights[xx * ksize + x] = w
                ww += w
            }
            if ww != 0 { for x in 0..<max(xmax, 0) { weights[xx * ksize + x] /= ww } }
            bounds[2 * xx] = xmin
            bounds[2 * xx + 1] = max(xmax, 0)
        }
        return Coefficients(outSize: outSize, kernelSize: ksize, bounds: bounds, weights: weights)
    }
}
