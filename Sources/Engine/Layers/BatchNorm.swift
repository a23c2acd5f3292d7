// BatchNorm — batch normalisation over the channel axis of [N, C, H, W] or [N, F]
// inputs: batch statistics in training (biased variance for normalising, unbiased for
// the running variance, momentum 0.1 as PyTorch), running statistics in inference.
// A batch norm whose scale and shift are both frozen runs in inference mode even while
// the network trains (a frozen block keeps its pretrained statistics and function).

/// Batch normalisation with learnable scale (`weight`) and shift (`bias`).
public final class BatchNorm: Layer {
    public let name: String
    public let channels: Int
    public let weight: Parameter, bias: Parameter
    public let runningMean: Tensor, runningVar: Tensor
    public var momentum: Float = 0.1
    public var epsilon: Float = 1e-5
    public var needsInputGradient = true
    private var xhat: Tensor?
    private var invStd = Tensor(zeros: [0])
    private var usedBatchStats = true
    /// Use the running statistics even in a training pass, keeping what the backward
    /// pass needs for the scale's and shift's gradients: gradients of the model as it
    /// predicts (per-sample gradients for the Fisher information of EWC).
    public var usesRunningStatistics = false
    /// True when training would use running statistics: scale and shift are frozen.
    public var isFrozen: Bool { weight.frozen && bias.frozen }

    public init(name: String, channels: Int) {
        self.name = name; self.channels = channels
        weight = Parameter(name: name + ".weight", value: Tensor(shape: [channels], repeating: 1), isWeight: false)
        bias = Parameter(name: name + ".bias", value: Tensor(zeros: [channels]), isWeight: false)
        runningMean = Tensor(zeros: [channels])
        runningVar = Tensor(shape: [channels], repeating: 1)
    }

    public var parameters: [Parameter] { [weight, bias] }
    public var buffers: [(name: String, tensor: Tensor)] {
        [(name + ".running_mean", runningMean), (name + ".running_var", runningVar)]
    }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.first == channels else {
            throw EngineError.shapeMismatch(layer: name, message: "expected \(channels) channels, got input \(input)")
        }
        return input
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let (n, c, h, w) = try x.nchw(layer: name)
        guard c == channels else {
            throw EngineError.shapeMismatch(layer: name, message: "expected \(channels) channels, got input \(x.shape)")
        }
        let hw = h * w, m = n * hw
        let y = Tensor(uninitialized: x.shape)
        let xp = x.pointer, yp = y.pointer
        let gamma = weight.value.pointer, beta = bias.value.pointer
        if invStd.count != c { invStd = Tensor(zeros: [c]) }
        let isp = invStd.pointer, rm = runningMean.pointer, rv = runningVar.pointer
        let (momentum, epsilon) = (self.momentum, self.epsilon)
        let batchStatistics = training && !isFrozen && !usesRunningStatistics
        usedBatchStats = batchStatistics
        if batchStatistics {
            guard m > 1 else {
                throw EngineError.shapeMismatch(layer: name, message: "training needs more than one value per channel, got input \(x.shape)")
            }
            let xh = Tensor(uninitialized: x.shape)
            let xhp = xh.pointer
            Parallel.forEachPart(c, parts: c >= 2 ? Parallel.parts : 1) { _, chans in
            for ch in chans {
                var sum = 0.0
                for s in 0..<n { let p = xp + (s * c + ch) * hw; for i in 0..<hw { sum += Double(p[i]) } }
                let mean = sum / Double(m)
                var sq = 0.0
                for s in 0..<n { let p = xp + (s * c + ch) * hw; for i in 0..<hw { let d = Double(p[i]) - mean; sq += d * d } }
                let varB = sq / Double(m)
                let istd = Float(1 / (varB + Double(epsilon)).squareRoot())
                isp[ch] = istd
                let mf = Float(mean), g = gamma[ch], b = beta[ch]
                for s in 0..<n {
                    let off = (s * c + ch) * hw
                    let p = xp + off, q = yp + off, r = xhp + off
                    for i in 0..<hw { let v = (p[i] - mf) * istd; r[i] = v; q[i] = v * g + b }
                }
                rm[ch] = (1 - momentum) * rm[ch] + momentum * mf
                rv[ch] = (1 - momentum) * rv[ch] + momentum * Float(sq / Double(max(m - 1, 1)))
            }
            }
            xhat = xh
        } else {
            let xh: Tensor? = training && !weight.frozen ? Tensor(uninitialized: x.shape) : nil
            for ch in 0..<c {
                let istd = 1 / (rv[ch] + epsilon).squareRoot()
                isp[ch] = istd
                let mf = rm[ch], g = gamma[ch] * istd, b = beta[ch]
                for s in 0..<n {
                    let off = (s * c + ch) * hw
                    let p = xp + off, q = yp + off
                    for i in 0..<hw { q[i] = (p[i] - mf) * g + b }
                    if let r = xh?.pointer { for i in 0..<hw { r[off + i] = (p[i] - mf) * istd } }
                }
            }
            xhat = xh
        }
        return y
    }

    /// The inference pass as `(v − mean)·scale + shift` per channel, each factor computed
    /// as ``forward(_:training:)`` computes it with running statistics (Conv2D's direct
    /// convolution applies it in its epilogue, bitwise as this layer would).
    func inferenceAffine() -> (mean: Tensor, scale: Tensor, shift: Tensor) {
        let scale = Tensor(zeros: [channels]), sp = scale.pointer
        let rv = runningVar.pointer, gamma = weight.value.pointer
        for ch in 0..<channels { sp[ch] = gamma[ch] * (1 / (rv[ch] + epsilon).squareRoot()) }
        return (runningMean.copy(), scale, bias.value.copy())
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        let (n, c, h, w) = try dy.nchw(layer: name)
        guard c == channels, invStd.count == c else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape) does not match the last forward pass")
        }
        let hw = h * w, m = Float(n * hw)
        let gp = dy.pointer, gamma = weight.value.pointer
        let dx: Tensor? = needsInputGradient ? Tensor(zeros: dy.shape) : nil
        guard let xh = xhat, usedBatchStats else {
            // Inference-mode statistics: y = (x - mean)·istd·γ + β; the statistics are constants.
            if !weight.frozen && xhat == nil {
                throw EngineError.invalidArgument("layer '\(name)': backward through inference-mode batch norm needs the normalised input; run forward with training: true")
            }
            let xn = xhat?.pointer
            for ch in 0..<c {
                var sb: Float = 0, sw: Float = 0
                for s in 0..<n {
                    let off = (s * c + ch) * hw, g = gp + off
                    for i in 0..<hw { sb += g[i] }
                    if let xn { for i in 0..<hw { sw += g[i] * xn[off + i] } }
                }
                if !bias.frozen { bias.grad[ch] = sb }
                if !weight.frozen { weight.grad[ch] = sw }
                if let dx {
                    let k = gamma[ch] * invStd[ch]
                    for s in 0..<n { let off = (s * c + ch) * hw; for i in 0..<hw { dx.pointer[off + i] = gp[off + i] * k } }
                }
            }
            return dx
        }
        let xp = xh.pointer, isp = invStd.pointer, dxp = dx?.pointer
        let gw: UnsafeMutablePointer<Float>? = weight.frozen ? nil : weight.grad.pointer
        let gb: UnsafeMutablePointer<Float>? = bias.frozen ? nil : bias.grad.pointer
        Parallel.forEachPart(c, parts: c >= 2 ? Parallel.parts : 1) { _, chans in
        for ch in chans {
            var sumG: Float = 0, sumGX: Float = 0
            for s in 0..<n {
                let off = (s * c + ch) * hw
                for i in 0..<hw { let g = gp[off + i]; sumG += g; sumGX += g * xp[off + i] }
            }
            gw?[ch] = sumGX
            gb?[ch] = sumG
            if let dxp {
                let k = gamma[ch] * isp[ch] / m
                let meanG = sumG, meanGX = sumGX
                for s in 0..<n {
                    let off = (s * c + ch) * hw
                    for i in 0..<hw { dxp[off + i] = k * (m * gp[off + i] - meanG - xp[off + i] * meanGX) }
                }
            }
        }
        }
        return dx
    }
}
