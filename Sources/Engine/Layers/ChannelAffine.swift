// ChannelAffine — a fixed per-channel `y = x · scale[c] + shift[c]` with no parameters:
// torchvision's googlenet `transform_input`, which turns ImageNet-normalised input into
// the (x − 0.5) / 0.5 scaling its IMAGENET1K_V1 weights were trained on.

/// Constant per-channel scale and shift over `[N, C, H, W]`.
public final class ChannelAffine: Layer {
    public let name: String
    public let scale: [Float], shift: [Float]
    public var needsInputGradient = true

    public init(name: String, scale: [Float], shift: [Float]) {
        precondition(scale.count == shift.count)
        self.name = name; self.scale = scale; self.shift = shift
    }
    public var parameters: [Parameter] { [] }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.first == scale.count else {
            throw EngineError.shapeMismatch(layer: name, message: "expected \(scale.count) channels, got input \(input)")
        }
        return input
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let (n, c, h, w) = try x.nchw(layer: name)
        guard c == scale.count else { throw EngineError.shapeMismatch(layer: name, message: "expected \(scale.count) channels, got input \(x.shape)") }
        let y = Tensor(uninitialized: x.shape)
        for plane in 0..<(n * c) {
            let a = scale[plane % c], b = shift[plane % c], xs = x.pointer + plane * h * w, ys = y.pointer + plane * h * w
            for i in 0..<(h * w) { ys[i] = xs[i] * a + b }
        }
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard needsInputGradient else { return nil }
        let (n, c, h, w) = try dy.nchw(layer: name)
        let dx = Tensor(uninitialized: dy.shape)
        for plane in 0..<(n * c) {
            let a = scale[plane % c], g = dy.pointer + plane * h * w, d = dx.pointer + plane * h * w
            for i in 0..<(h * w) { d[i] = g[i] * a }
        }
        return dx
    }
}
