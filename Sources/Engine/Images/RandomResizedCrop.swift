// RandomResizedCrop — torchvision's `RandomResizedCrop(size, scale, ratio)` with
// tlc's seeded generator: the same choice of box (ten tries at a random area and
// log-uniform aspect ratio, then the central crop clamped to the ratio range), cut
// out and resized back to the sample's size (antialiased bilinear), on CHW floats.
// Deterministic: each sample draws from the caller's generator in sample order.
import Foundation

public struct RandomResizedCrop: Hashable, Sendable {
    public var scale: ClosedRange<Double>
    public var ratio: ClosedRange<Double>
    public init(scale: ClosedRange<Double> = 0.08...1, ratio: ClosedRange<Double> = (3.0 / 4)...(4.0 / 3)) {
        self.scale = scale; self.ratio = ratio
    }

    /// torchvision's `get_params`: the crop box (top, left, height, width).
    public func box(height: Int, width: Int, rng: inout SeededGenerator) -> (top: Int, left: Int, height: Int, width: Int) {
        let area = Double(height * width)
        let logLow = Foundation.log(ratio.lowerBound), logHigh = Foundation.log(ratio.upperBound)
        for _ in 0..<10 {
            let target = area * (scale.lowerBound + (scale.upperBound - scale.lowerBound) * rng.nextDouble())
            let aspect = Foundation.exp(logLow + (logHigh - logLow) * rng.nextDouble())
            let w = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = rng.nextInt(below: height - h + 1), left = rng.nextInt(below: width - w + 1)
                return (top, left, h, w)
            }
        }
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratio.lowerBound { h = Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven)) }
        else if inRatio > ratio.upperBound { w = Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven)) }
        return ((height - h) / 2, (width - w) / 2, h, w)
    }

    /// Crops a random box of the `channels × height × width` sample at `sample` and
    /// resizes it back to `height × width` in place; `scratch` holds at least a sample.
    public func apply(_ sample: UnsafeMutablePointer<Float>, channels: Int, height: Int, width: Int,
                      scratch: UnsafeMutablePointer<Float>, rng: inout SeededGenerator) {
        let b = box(height: height, width: width, rng: &rng)
        Self.resample(sample, channels: channels, height: height, width: width,
                      box: b, into: scratch)
        sample.update(from: scratch, count: channels * height * width)
    }

    /// torchvision's `resized_crop`: the box is cut out, then resized (antialiased
    /// bilinear, PIL's weights) to the full `height × width`, into `out`.
    static func resample(_ src: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                         box: (top: Int, left: Int, height: Int, width: Int), into out: UnsafeMutablePointer<Float>) {
        let kx = Resampling.coefficients(inSize: box.width, from: 0, to: Double(box.width), outSize: width)
        let ky = Resampling.coefficients(inSize: box.height, from: 0, to: Double(box.height), outSize: height)
        var tmp = [Float](repeating: 0, count: box.height * width)
        for c in 0..<channels {
            let plane = src + c * height * width + box.top * width + box.left, dst = out + c * height * width
            // Horizontal pass over the box's rows, then vertical.
            for y in 0..<box.height {
                for x in 0..<width {
                    let xmin = kx.bounds[2 * x], n = kx.bounds[2 * x + 1]
                    var s = 0.0
                    for i in 0..<n { s += Double(plane[y * width + xmin + i]) * kx.weights[x * kx.kernelSize + i] }
                    tmp[y * width + x] = Float(s)
                }
            }
            for y in 0..<height {
                let ymin = ky.bounds[2 * y], n = ky.bounds[2 * y + 1]
                for x in 0..<width {
                    var s = 0.0
                    for i in 0..<n { s += Double(tmp[(ymin + i) * width + x]) * ky.weights[y * ky.kernelSize + i] }
                    dst[y * width + x] = Float(s)
                }
            }
        }
    }
}
