// StochasticDepth — torchvision's StochasticDepth in "row" mode (EfficientNet's
// residual blocks): in training each sample's input is kept with probability
// 1 − rate and scaled by 1 / (1 − rate), or zeroed; the identity in inference.
// Draws one number per sample from its own seeded stream, so a run is deterministic.

/// Drops whole samples of a residual branch in training.
public final class StochasticDepth: Layer {
    public let name: String
    public let rate: Float
    public var needsInputGradient = true
    private var rng: SeededGenerator
    /// Where its random stream is (see ``RandomLayer``).
    public var randomState: SeededGenerator { get { rng } set { rng = newValue } }
    /// Per-sample factor of the last training pass (0 or 1 / (1 − rate)); nil: identity.
    private var factors: [Float]?
    /// Pass everything through even in training passes (as ``Dropout/isDisabled``).
    public var isDisabled = false

    public init(name: String, rate: Float, rng: SeededGenerator) {
        precondition(rate >= 0 && rate < 1, "stochastic depth rate must be in [0, 1)")
        self.name = name; self.rate = rate
        self.rng = rng.split(label: name + ".stochastic_depth")
    }
    public var parameters: [Parameter] { [] }
    public func outputShape(for input: [Int]) throws -> [Int] { input }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let y = x.copy()
        guard training, rate > 0, !isDisabled else { factors = nil; return y }
        let n = x.batch, per = x.count / max(n, 1)
        let keep = 1 / (1 - rate)
        var f = [Float](repeating: 0, count: n)
        for s in 0..<n {
            f[s] = rng.nextFloat() >= rate ? keep : 0
            let p = y.pointer + s * per
            for i in 0..<per { p[i] *= f[s] }
        }
        factors = f
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard needsInputGradient else { return nil }
        let dx = dy.copy()
        guard let f = factors else { return dx }
        guard f.count == dy.batch else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape) does not match the last training forward pass")
        }
        let per = dy.count / max(f.count, 1)
        for s in 0..<f.count { let p = dx.pointer + s * per; for i in 0..<per { p[i] *= f[s] } }
        return dx
    }
}
