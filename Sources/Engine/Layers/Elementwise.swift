// Elementwise and reshaping layers: ReLU, Dropout (seeded, inverted), Flatten.

/// An activation a ``BatchNorm`` applies as it writes its rows (``Sequential``), or in an
/// inference pass a Conv2D's epilogue after the batch norm fused into it: ReLU, and ReLU6
/// with its ceiling; a training batch norm's backward masks dy by its output.
protocol RectifierFusedIntoBatchNorm: Layer {
    /// The upper end of the clamp (ReLU6's 6), or nil.
    var ceiling: Float? { get }
    /// The forward pass when the preceding layer already applied this one to `x` (its
    /// backward passes dy through).
    func passThroughApplied(_ x: Tensor) -> Tensor
}

/// Rectified linear unit.
public final class ReLU: Layer, RectifierFusedIntoBatchNorm {
    var ceiling: Float? { nil }
    public let name: String
    public var needsInputGradient = true
    private var output: Tensor?
    /// The last forward pass was applied by the preceding Conv2D (see ``Sequential``):
    /// this layer passed its input through, and its backward does too.
    private var appliedByPrevious = false
    /// Called with this layer's output on every forward pass, whoever rectified it; where a
    /// 2×2 max pool ran in the convolution's epilogue too, with the pooled output (which is
    /// positive exactly where the gradient passes). Tests compare the branches tlc took
    /// against a reference's with it.
    var observeOutput: ((Tensor) -> Void)?
    public init(name: String) { self.name = name }
    public var parameters: [Parameter] { [] }
    public func outputShape(for input: [Int]) throws -> [Int] { input }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        appliedByPrevious = false
        let y = Tensor(uninitialized: x.shape)
        let xp = x.pointer, yp = y.pointer
        Parallel.forEachPart(x.count, parts: x.count >= 1 << 16 ? Parallel.parts : 1) { _, r in
            rectify(xp + r.lowerBound, into: yp + r.lowerBound, count: r.count)
        }
        output = training ? y : nil
        observeOutput?(y)
        return y
    }

    /// Forward pass when the preceding layer (a convolution, a dense layer, a batch norm)
    /// already rectified `x`.
    func passThroughApplied(_ x: Tensor) -> Tensor {
        appliedByPrevious = true
        output = nil
        observeOutput?(x)
        return x
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard needsInputGradient else { return nil }
        if appliedByPrevious { return dy }
        guard let y = output, y.count == dy.count else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape) does not match the last training forward pass")
        }
        return dy.maskedByPositive(y)
    }
}

/// Inverted dropout: in training, zeroes each element with probability `rate` and scales
/// the rest by 1/(1-rate); identity in inference. Draws from its own seeded stream.
public final class Dropout: Layer {
    public let name: String
    public let rate: Float
    public var needsInputGradient = true
    private var rng: SeededGenerator
    /// Where its random stream is (see ``RandomLayer``).
    public var randomState: SeededGenerator { get { rng } set { rng = newValue } }
    private var mask: Tensor?
    /// Pass everything through even in training passes (gradients of the model as it predicts).
    public var isDisabled = false
    public init(name: String, rate: Float, rng: SeededGenerator) {
        precondition(rate >= 0 && rate < 1, "dropout rate must be in [0, 1)")
        self.name = name; self.rate = rate
        self.rng = rng.split(label: name + ".dropout")
    }
    public var parameters: [Parameter] { [] }
    public func outputShape(for input: [Int]) throws -> [Int] { input }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let y = x.copy()
        guard training, rate > 0, !isDisabled else { mask = nil; return y }
        let m = Tensor(zeros: x.shape)
        let scale = 1 / (1 - rate)
        let mp = m.pointer, yp = y.pointer
        for i in 0..<x.count {
            let keep: Float = rng.nextFloat() >= rate ? scale : 0
            mp[i] = keep; yp[i] *= keep
        }
        mask = m
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard needsInputGradient else { return nil }
        let dx = dy.copy()
        if let m = mask {
            guard m.count == dy.count else {
                throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape) does not match mask \(m.shape)")
            }
            for i in 0..<dx.count { dx.pointer[i] *= m.pointer[i] }
        }
        return dx
    }
}

/// Flattens `[N, …]` to `[N, F]`.
public final class Flatten: Layer {
    public let name: String
    public var needsInputGradient = true
    private var inputShape: [Int] = []
    public init(name: String) { self.name = name }
    public var parameters: [Parameter] { [] }
    public func outputShape(for input: [Int]) throws -> [Int] { [input.reduce(1, *)] }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        guard x.shape.count >= 1 else { throw EngineError.shapeMismatch(layer: name, message: "scalar input") }
        inputShape = x.shape
        // Inference reshapes in place (nothing writes to a layer's input); training copies.
        if !training { return Tensor(viewing: x, shape: [x.batch, x.sampleCount]) }
        let y = x.copy()
        try y.reshape([x.batch, x.sampleCount])
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard needsInputGradient else { return nil }
        let dx = dy.copy()
        try dx.reshape(inputShape)
        return dx
    }
}

extension Tensor {
    /// `self` where `output` > 0, else 0: a ReLU's backward through its output (same shape), in parallel for large tensors.
    func maskedByPositive(_ output: Tensor) -> Tensor {
        let masked = Tensor(uninitialized: shape)
        let (gp, yp, mp) = (pointer, output.pointer, masked.pointer)
        Parallel.forEachPart(count, parts: count >= 1 << 16 ? Parallel.parts : 1) { _, r in
            maskByPositive(gp + r.lowerBound, yp + r.lowerBound, into: mp + r.lowerBound, count: r.count)
        }
        return masked
    }
}
