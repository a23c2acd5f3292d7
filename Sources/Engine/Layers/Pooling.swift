// Pooling — MaxPool2D and AvgPool2D (square window, stride, zero padding, floor mode
// or, for max pooling, PyTorch's ceil mode; max pooling ignores padding, average
// pooling counts it as PyTorch's default), GlobalAvgPool (NCHW → [N, C]) and
// AdaptiveAvgPool2D (PyTorch's bins, NCHW → [N, C, OH, OW]). Max pooling's forward pass
// runs in CPooling's kernel over each part's planes.

import CPooling
import ModelZoo

/// `[C, H', W']` of a square pooling window over a `[C, H, W]` input (floor mode).
func poolOutputShape(layer: String, input: [Int], size: Int, stride: Int, padding: Int) throws -> [Int] {
    guard input.count == 3, input[1] + 2 * padding >= size, input[2] + 2 * padding >= size else {
        throw EngineError.shapeMismatch(layer: layer, message: "expected [C, H, W] input of at least \(size)×\(size), got \(input)")
    }
    return [input[0], (input[1] + 2 * padding - size) / stride + 1, (input[2] + 2 * padding - size) / stride + 1]
}

/// `[C, H', W']` in PyTorch's ceil mode: ⌈(in + 2·pad − k) / stride⌉ + 1, less one when
/// the last window would start in the right padding.
func ceilPoolOutputShape(layer: String, input: [Int], size: Int, stride: Int, padding: Int) throws -> [Int] {
    guard input.count == 3 else {
        throw EngineError.shapeMismatch(layer: layer, message: "expected [C, H, W] input, got \(input)")
    }
    let out = [input[0], Architecture.ceilPoolSize(input[1], size, stride, padding), Architecture.ceilPoolSize(input[2], size, stride, padding)]
    guard out[1] >= 1, out[2] >= 1 else {
        throw EngineError.shapeMismatch(layer: layer, message: "input \(input) is too small for a \(size)×\(size) window with stride \(stride)")
    }
    return out
}

/// Max pooling over `[N, C, H, W]`.
public final class MaxPool2D: Layer {
    public let name: String
    public let size: Int, stride: Int, padding: Int
    /// PyTorch's `ceil_mode=True`: a last, partial window at the bottom and right.
    public let ceilMode: Bool
    public var needsInputGradient = true
    private var argmax: [Int32] = []
    private var inputShape: [Int] = []
    /// When the ReLU before this pool ran with it in the convolution's epilogue
    /// (``Conv2D/forwardReLUPool(_:pool:)``): the pooled output, whose positive values are
    /// the ReLU's mask (backward passes dy only there).
    private var rectifiedOutput: Tensor?

    public init(name: String, size: Int, stride: Int, padding: Int = 0, ceilMode: Bool = false) {
        precondition(size > 0 && stride > 0 && padding >= 0)
        self.name = name; self.size = size; self.stride = stride; self.padding = padding; self.ceilMode = ceilMode
    }
    public var parameters: [Parameter] { [] }

    public func outputShape(for input: [Int]) throws -> [Int] {
        ceilMode ? try ceilPoolOutputShape(layer: name, input: input, size: size, stride: stride, padding: padding)
            : try poolOutputShape(layer: name, input: input, size: size, stride: stride, padding: padding)
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        try x.expectRank(4, layer: name)
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let os = try outputShape(for: [c, h, w])
        let oh = os[1], ow = os[2]
        let y = Tensor(uninitialized: [n, c, oh, ow])
        let keep = training && needsInputGradient
        if keep && argmax.count != y.count { argmax = [Int32](repeating: 0, count: y.count) }
        let (size, stride, padding) = (self.size, self.stride, self.padding)
        let xp = x.pointer, yp = y.pointer
        let inPlane = h * w, outPlane = oh * ow
        argmax.withUnsafeMutableBufferPointer { amb in
            let am = keep ? amb.baseAddress : nil
            // Each part's planes in CPooling's kernel (the same result on every CPU).
            Parallel.forEachPart(n) { _, r in
                let first = r.lowerBound * c
                tlc_max_pool(xp + first * inPlane, r.count * c, Int32(h), Int32(w), Int32(oh), Int32(ow),
                             Int32(size), Int32(stride), Int32(padding), yp + first * outPlane, am.map { $0 + first * outPlane })
            }
        }
        inputShape = x.shape
        rectifiedOutput = nil
        return y
    }

    /// Whether the last training pass ran in the convolution's epilogue (``adoptFusedForward(input:output:fill:)``).
    var ranInEpilogue: Bool { rectifiedOutput != nil }

    /// `body` with the pooled output and the winners of a training pass that ran in the
    /// convolution's epilogue; nil after any other pass.
    func withFusedForward<R>(_ body: (UnsafePointer<Float>, UnsafePointer<Int32>) throws -> R) rethrows -> R? {
        guard let y = rectifiedOutput, argmax.count == y.count else { return nil }
        return try argmax.withUnsafeBufferPointer { try body(UnsafePointer(y.pointer), $0.baseAddress!) }
    }

    /// Whether a convolution's training pass can run a ReLU and this pool in its epilogue:
    /// 2×2 windows at stride 2, no padding, floor mode.
    var poolsTwoByTwo: Bool { size == 2 && stride == 2 && padding == 0 && !ceilMode }

    /// A training pass run by the convolution before (with the ReLU between): `fill` writes
    /// each window's winner's index in its plane of `input` (as the forward pass would), and
    /// `output` is the pooled, rectified output.
    func adoptFusedForward(input: [Int], output: Tensor, fill: (UnsafeMutablePointer<Int32>) -> Void) {
        if argmax.count != output.count { argmax = [Int32](repeating: 0, count: output.count) }
        argmax.withUnsafeMutableBufferPointer { fill($0.baseAddress!) }
        inputShape = input
        rectifiedOutput = output
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard needsInputGradient else { return nil }
        guard argmax.count == dy.count, inputShape.count == 4 else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape) does not match the last training forward pass")
        }
        if dy.count == 0 { return Tensor(zeros: inputShape) }
        let dx = Tensor(uninitialized: inputShape)
        let c = inputShape[1], hw = inputShape[2] * inputShape[3], ohw = dy.shape[2] * dy.shape[3]
        let dxp = dx.pointer, dyp = dy.pointer, rp = rectifiedOutput.map { UnsafePointer($0.pointer) }
        argmax.withUnsafeBufferPointer { amb in
            let am = amb.baseAddress!
            // Each part zeroes and fills its own samples' planes (a plane's scatter in output order;
            // after a fused ReLU only where the output is positive, as the ReLU's backward would mask it).
            Parallel.forEachPart(dy.shape[0]) { _, r in
                (dxp + r.lowerBound * c * hw).update(repeating: 0, count: r.count * c * hw)
                for plane in (r.lowerBound * c)..<(r.upperBound * c) {
                    let d = dxp + plane * hw, g = dyp + plane * ohw, a = am + plane * ohw
                    if let rp {
                        let y = rp + plane * ohw
                        for p in 0..<ohw where y[p] > 0 { d[Int(a[p])] += g[p] }
                    } else {
                        for p in 0..<ohw { d[Int(a[p])] += g[p] }
                    }
                }
            }
        }
        return dx
    }
}

/// Average pooling over `[N, C, H, W]`.
public final class AvgPool2D: Layer {
    public let name: String
    public let size: Int, stride: Int, padding: Int
    public var needsInputGradient = true
    private var inputShape: [Int] = []

    public init(name: String, size: Int, stride: Int, padding: Int = 0) {
        precondition(size > 0 && stride > 0 && padding >= 0)
        self.name = name; self.size = size; self.stride = stride; self.padding = padding
    }
    public var parameters: [Parameter] { [] }

    public func outputShape(for input: [Int]) throws -> [Int] {
        try poolOutputShape(layer: name, input: input, size: size, stride: stride, padding: padding)
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        try x.expectRank(4, layer: name)
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let os = try outputShape(for: [c, h, w])
        let oh = os[1], ow = os[2]
        let y = Tensor(zeros: [n, c, oh, ow])
        let scale = 1 / Float(size * size)
        for plane in 0..<(n * c) {
            let xs = x.pointer + plane * h * w, ys = y.pointer + plane * oh * ow
            for i in 0..<oh {
                for j in 0..<ow {
                    var acc: Float = 0
                    let r0 = i * stride - padding, c0 = j * stride - padding
                    for a in Swift.stride(from: max(0, -r0), to: min(size, h - r0), by: 1) {
                        let row = xs + (r0 + a) * w + c0
                        for b in Swift.stride(from: max(0, -c0), to: min(size, w - c0), by: 1) { acc += row[b] }
                    }
                    ys[i * ow + j] = acc * scale
                }
            }
        }
        inputShape = x.shape
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard needsInputGradient else { return nil }
        guard inputShape.count == 4, dy.shape.count == 4, dy.shape[0] == inputShape[0], dy.shape[1] == inputShape[1] else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape) does not match input \(inputShape)")
        }
        let (h, w, oh, ow) = (inputShape[2], inputShape[3], dy.shape[2], dy.shape[3])
        let dx = Tensor(zeros: inputShape)
        let scale = 1 / Float(size * size)
        for plane in 0..<(dy.shape[0] * dy.shape[1]) {
            let d = dx.pointer + plane * h * w, g = dy.pointer + plane * oh * ow
            for i in 0..<oh {
                for j in 0..<ow {
                    let v = g[i * ow + j] * scale
                    let r0 = i * stride - padding, c0 = j * stride - padding
                    for a in Swift.stride(from: max(0, -r0), to: min(size, h - r0), by: 1) {
                        let row = d + (r0 + a) * w + c0
                        for b in Swift.stride(from: max(0, -c0), to: min(size, w - c0), by: 1) { row[b] += v }
                    }
                }
            }
        }
        return dx
    }
}

/// Global average pooling: `[N, C, H, W]` → `[N, C]`.
public final class GlobalAvgPool: Layer {
    public let name: String
    public var needsInputGradient = true
    private var inputShape: [Int] = []
    public init(name: String) { self.name = name }
    public var parameters: [Parameter] { [] }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.count == 3 else {
            throw EngineError.shapeMismatch(layer: name, message: "expected [C, H, W] input, got \(input)")
        }
        return [input[0]]
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let (n, c, h, w) = try x.nchw(layer: name)
        let hw = h * w
        let y = Tensor(zeros: [n, c])
        for plane in 0..<(n * c) {
            let xs = x.pointer + plane * hw
            var acc: Float = 0
            for p in 0..<hw { acc += xs[p] }
            y.pointer[plane] = acc / Float(hw)
        }
        inputShape = x.shape
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard needsInputGradient else { return nil }
        let dx = Tensor(zeros: inputShape)
        let hw = dx.count / max(dy.count, 1)
        guard dy.count * hw == dx.count else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape) does not match input \(inputShape)")
        }
        let scale = 1 / Float(hw)
        for plane in 0..<dy.count {
            let v = dy.pointer[plane] * scale, d = dx.pointer + plane * hw
            for p in 0..<hw { d[p] = v }
        }
        return dx
    }
}

/// Adaptive average pooling to `[N, C, OH, OW]`: output cell (i, j) averages input rows
/// ⌊i·H/OH⌋ ..< ⌈(i+1)·H/OH⌉ and the columns likewise (PyTorch's bins; they overlap
/// when the sizes do not divide, and repeat input cells when the output is larger).
public final class AdaptiveAvgPool2D: Layer {
    public let name: String
    public let outHeight: Int, outWidth: Int
    public var needsInputGradient = true
    private var inputShape: [Int] = []

    public init(name: String, height: Int, width: Int) {
        precondition(height > 0 && width > 0)
        self.name = name; self.outHeight = height; self.outWidth = width
    }
    public var parameters: [Parameter] { [] }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.count == 3 else {
            throw EngineError.shapeMismatch(layer: name, message: "expected [C, H, W] input, got \(input)")
        }
        return [input[0], outHeight, outWidth]
    }

    /// The input range of output index `i` of `out` over an axis of `n`.
    @inline(__always) static func bin(_ i: Int, _ out: Int, _ n: Int) -> Range<Int> {
        (i * n / out)..<(((i + 1) * n + out - 1) / out)
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let (n, c, h, w) = try x.nchw(layer: name)
        let (oh, ow) = (outHeight, outWidth)
        let y = Tensor(uninitialized: [n, c, oh, ow])
        let xp = x.pointer, yp = y.pointer
        Parallel.forEachPart(n * c, parts: n * c * h * w >= 1 << 16 ? Parallel.parts : 1) { _, planes in
            for plane in planes {
                let xs = xp + plane * h * w, ys = yp + plane * oh * ow
                for i in 0..<oh {
                    let rows = Self.bin(i, oh, h)
                    for j in 0..<ow {
                        let cols = Self.bin(j, ow, w)
                        var acc: Float = 0
                        for r in rows { for q in cols { acc += xs[r * w + q] } }
                        ys[i * ow + j] = acc / Float(rows.count * cols.count)
                    }
                }
            }
        }
        inputShape = x.shape
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard needsInputGradient else { return nil }
        guard inputShape.count == 4, dy.shape == [inputShape[0], inputShape[1], outHeight, outWidth] else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape) does not match input \(inputShape)")
        }
        let (h, w, oh, ow) = (inputShape[2], inputShape[3], outHeight, outWidth)
        let dx = Tensor(zeros: inputShape)
        let dp = dx.pointer, gp = dy.pointer
        Parallel.forEachPart(inputShape[0] * inputShape[1], parts: dx.count >= 1 << 16 ? Parallel.parts : 1) { _, planes in
            for plane in planes {
                let d = dp + plane * h * w, g = gp + plane * oh * ow
                for i in 0..<oh {
                    let rows = Self.bin(i, oh, h)
                    for j in 0..<ow {
                        let cols = Self.bin(j, ow, w)
                        let v = g[i * ow + j] / Float(rows.count * cols.count)
                        for r in rows { for q in cols { d[r * w + q] += v } }
                    }
                }
            }
        }
        return dx
    }
}
