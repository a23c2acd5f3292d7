// Activations of torchvision's mobile networks: ReLU6 (MobileNetV2), SiLU and Sigmoid
// (EfficientNet and its squeeze-and-excitation gates). Elementwise, so splitting the
// work into parts never changes a result.

import Foundation

/// Applies `f` elementwise, in parts for large tensors.
private func elementwise(_ x: Tensor, _ f: @escaping (Float) -> Float) -> Tensor {
    let y = Tensor(uninitialized: x.shape)
    let xp = x.pointer, yp = y.pointer
    Parallel.forEachPart(x.count, parts: x.count >= 1 << 16 ? Parallel.parts : 1) { _, r in
        for i in r { yp[i] = f(xp[i]) }
    }
    return y
}

/// `dx = dy · f'(x, y)` elementwise.
private func elementwiseGradient(_ dy: Tensor, _ x: Tensor, _ y: Tensor, _ f: @escaping (Float, Float) -> Float) -> Tensor {
    let dx = Tensor(uninitialized: dy.shape)
    let gp = dy.pointer, xp = x.pointer, yp = y.pointer, dp = dx.pointer
    Parallel.forEachPart(dy.count, parts: dy.count >= 1 << 16 ? Parallel.parts : 1) { _, r in
        for i in r { dp[i] = gp[i] * f(xp[i], yp[i]) }
    }
    return dx
}

/// A parameter-free elementwise activation with its derivative.
public class ElementwiseActivation: Layer {
    public let name: String
    public var needsInputGradient = true
    private var cache: (x: Tensor, y: Tensor)?
    init(name: String) { self.name = name }
    public var parameters: [Parameter] { [] }
    public func outputShape(for input: [Int]) throws -> [Int] { input }
    func value(_ x: Float) -> Float { x }
    /// The derivative at input `x` with output `y`.
    func derivative(_ x: Float, _ y: Float) -> Float { 1 }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let y = elementwise(x) { [unowned self] in self.value($0) }
        cache = training ? (x, y) : nil
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard needsInputGradient else { return nil }
        guard let (x, y) = cache, x.count == dy.count else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape) does not match the last training forward pass")
        }
        return elementwiseGradient(dy, x, y) { [unowned self] in self.derivative($0, $1) }
    }
}

/// `min(max(x, 0), 6)`; the gradient passes where 0 < x < 6 (PyTorch's hardtanh).
public final class ReLU6: ElementwiseActivation {
    public override init(name: String) { super.init(name: name) }
    override func value(_ x: Float) -> Float { x <= 0 ? 0 : (x >= 6 ? 6 : x) }
    override func derivative(_ x: Float, _ y: Float) -> Float { x > 0 && x < 6 ? 1 : 0 }
}

/// `x · sigmoid(x)` (swish).
public final class SiLU: ElementwiseActivation {
    public override init(name: String) { super.init(name: name) }
    override func value(_ x: Float) -> Float { x / (1 + exp(-x)) }
    override func derivative(_ x: Float, _ y: Float) -> Float {
        let s = 1 / (1 + exp(-x))
        return s * (1 + x * (1 - s))
    }
}

/// `1 / (1 + e^−x)`.
public final class Sigmoid: ElementwiseActivation {
    public override init(name: String) { super.init(name: name) }
    override func value(_ x: Float) -> Float { 1 / (1 + exp(-x)) }
    override func derivative(_ x: Float, _ y: Float) -> Float { y * (1 - y) }
}
