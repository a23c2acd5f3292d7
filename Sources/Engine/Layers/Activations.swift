// Activations of torchvision's mobile networks: ReLU6 (MobileNetV2), SiLU and Sigmoid
// (EfficientNet and its squeeze-and-excitation gates). Elementwise, so splitting the
// work into parts never changes a result. Each kernel runs over a whole part of the
// tensor (one call per part, not per element).

import Foundation

/// A parameter-free elementwise activation: a subclass supplies the kernels.
public class ElementwiseActivation: Layer {
    public let name: String
    public var needsInputGradient = true
    private var cache: (x: Tensor, y: Tensor)?
    /// The last forward pass was applied by the layer before (``passThroughApplied(_:)``),
    /// which also masks the gradient: backward passes dy through.
    private var appliedByPrevious = false
    init(name: String) { self.name = name }
    public var parameters: [Parameter] { [] }
    public func outputShape(for input: [Int]) throws -> [Int] { input }

    /// `y[i] = f(x[i])` for i in `range`.
    func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>) {}
    /// `dx[i] = dy[i] · f′(x[i])` for i in `range`; `y` is the forward output.
    func gradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
                  _ dx: UnsafeMutablePointer<Float>, _ range: Range<Int>) {}

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let y = Tensor(uninitialized: x.shape)
        let xp = UnsafePointer(x.pointer), yp = y.pointer
        Parallel.forEachPart(x.count, parts: x.count >= 1 << 16 ? Parallel.parts : 1) { _, r in self.apply(xp, yp, r) }
        cache = training ? (x, y) : nil
        appliedByPrevious = false
        return y
    }

    /// Forward pass when the preceding layer already applied this activation to `x`
    /// (a batch norm followed by ReLU6 in training, see ``RectifierFusedIntoBatchNorm``).
    func passThroughApplied(_ x: Tensor) -> Tensor {
        appliedByPrevious = true
        cache = nil
        return x
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard needsInputGradient else { return nil }
        if appliedByPrevious { return dy }
        guard let (x, y) = cache, x.count == dy.count else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape) does not match the last training forward pass")
        }
        let dx = Tensor(uninitialized: dy.shape)
        let gp = UnsafePointer(dy.pointer), xp = UnsafePointer(x.pointer), yp = UnsafePointer(y.pointer), dp = dx.pointer
        Parallel.forEachPart(dy.count, parts: dy.count >= 1 << 16 ? Parallel.parts : 1) { _, r in self.gradient(gp, xp, yp, dp, r) }
        return dx
    }
}

/// `min(max(x, 0), 6)`; the gradient passes where 0 < x < 6 (PyTorch's hardtanh).
public final class ReLU6: ElementwiseActivation, RectifierFusedIntoBatchNorm {
    public override init(name: String) { super.init(name: name) }
    var ceiling: Float? { 6 }
    override func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        for i in range { y[i] = min(max(x[i], 0), 6) }
    }
    override func gradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
                           _ dx: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        // 16 at a time as a select (the scalar `&&` compiled to branches: a quarter of
        // mobilenet_v2's fine-tuning step); the same values.
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            let g = UnsafeRawPointer(dy + i).loadUnaligned(as: SIMD16<Float>.self)
            let passes = (v .> 0) .& (v .< 6)
            UnsafeMutableRawPointer(dx + i).storeBytes(of: SIMD16<Float>().replacing(with: g, where: passes), as: SIMD16<Float>.self)
            i += 16
        }
        for j in i..<range.upperBound { dx[j] = x[j] > 0 && x[j] < 6 ? dy[j] : 0 }
    }
}

/// `x · sigmoid(x)` (swish), computed as `x / (1 + e^−x)` like PyTorch.
public final class SiLU: ElementwiseActivation {
    public override init(name: String) { super.init(name: name) }
    override func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        for i in range { y[i] = x[i] / (1 + exp(-x[i])) }
    }
    override func gradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
                           _ dx: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        for i in range {
            let s = 1 / (1 + exp(-x[i]))
            dx[i] = dy[i] * s * (1 + x[i] * (1 - s))
        }
    }
}

/// `1 / (1 + e^−x)`.
public final class Sigmoid: ElementwiseActivation {
    public override init(name: String) { super.init(name: name) }
    override func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        for i in range { y[i] = 1 / (1 + exp(-x[i])) }
    }
    override func gradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
                           _ dx: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        for i in range { dx[i] = dy[i] * y[i] * (1 - y[i]) }
    }
}
