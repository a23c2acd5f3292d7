// BatchNorm — batch normalisation over the channel axis of [N, C, H, W] or [N, F]
// inputs: batch statistics in training (biased variance for normalising, unbiased for
// the running variance, momentum 0.1 as PyTorch), running statistics in inference.
// A batch norm whose scale and shift are both frozen runs in inference mode even while
// the network trains (a frozen block keeps its pretrained statistics and function).
// Training's per-channel loops run in CBatchNorm's AVX2 kernels where the CPU has AVX2
// (bitwise the Swift loops below, which run elsewhere: Swift's SIMD8 is two SSE halves here).

import CBatchNorm

/// Batch normalisation with learnable scale (`weight`) and shift (`bias`).
public final class BatchNorm: Layer {
    public let name: String
    public let channels: Int
    public let weight: Parameter, bias: Parameter
    public let runningMean: Tensor, runningVar: Tensor
    public var momentum: Float = 0.1
    public var epsilon: Float = 1e-5
    public var needsInputGradient = true
    /// What backward needs of the last training pass: its input with batch statistics
    /// (the normalized input is recomputed from it, with the same rounding, instead of
    /// being written and kept: one less pass over memory and one less tensor), or the
    /// normalized input itself with running statistics.
    private var input: Tensor?
    private var xhat: Tensor?
    private var batchMean = Tensor(zeros: [0])
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
        try forward(x, training: training, fusingReLU: false)
    }

    /// With a fused ReLU (``Sequential`` fuses a BatchNorm directly followed by a ReLU or
    /// ReLU6 in training), the output is rectified row by row as the ReLU would (clamped
    /// to [0, `ceiling`] as ReLU6 would, with a ceiling), and backward masks dy by the
    /// output itself: the gradient passes where 0 < y (< ceiling).
    public func forward(_ x: Tensor, training: Bool, fusingReLU: Bool, ceiling: Float? = nil) throws -> Tensor {
        let (n, c, h, w) = try x.nchw(layer: name)
        guard c == channels else {
            throw EngineError.shapeMismatch(layer: name, message: "expected \(channels) channels, got input \(x.shape)")
        }
        let hw = h * w, m = n * hw
        let y = Tensor(uninitialized: x.shape)
        let xp = x.pointer, yp = y.pointer
        let gamma = weight.value.pointer, beta = bias.value.pointer
        if invStd.count != c { invStd = Tensor(zeros: [c]); batchMean = Tensor(zeros: [c]) }
        let isp = invStd.pointer, bmp = batchMean.pointer, rm = runningMean.pointer, rv = runningVar.pointer
        let (momentum, epsilon) = (self.momentum, self.epsilon)
        let batchStatistics = training && !isFrozen && !usesRunningStatistics
        usedBatchStats = batchStatistics
        if batchStatistics {
            guard m > 1 else {
                throw EngineError.shapeMismatch(layer: name, message: "training needs more than one value per channel, got input \(x.shape)")
            }
            Parallel.forEachPart(c, parts: c >= 2 ? Parallel.parts : 1) { _, chans in
            for ch in chans {
                // In float64: each sample's row in 8 lanes, the rows in order.
                let (row0, stride) = (xp + ch * hw, c * hw)
                var sum = 0.0
                if BatchNorm.kernels { sum = tlc_batchnorm_sum(row0, n, stride, hw) } else {
                    for s in 0..<n { sum += BatchNorm.rowSum(xp + (s * c + ch) * hw, count: hw) }
                }
                let mean = sum / Double(m), mf = Float(mean)
                var sq = 0.0
                if BatchNorm.kernels { sq = tlc_batchnorm_squared_deviation(row0, n, stride, hw, mean) } else {
                    for s in 0..<n { sq += BatchNorm.rowSquaredDeviation(xp + (s * c + ch) * hw, count: hw, from: mean) }
                }
                let varB = sq / Double(m)
                let istd = Float(1 / (varB + Double(epsilon)).squareRoot())
                isp[ch] = istd
                bmp[ch] = mf
                let g = gamma[ch], b = beta[ch]
                if BatchNorm.kernels {
                    tlc_batchnorm_normalize(row0, yp + ch * hw, n, stride, hw, mf, istd, g, b, fusingReLU ? 1 : 0, ceiling ?? .infinity)
                } else {
                    for s in 0..<n {
                        let off = (s * c + ch) * hw
                        let p = xp + off, q = yp + off
                        for i in 0..<hw { let v = (p[i] - mf) * istd; q[i] = v * g + b }
                        if fusingReLU { BatchNorm.rectify(q, count: hw, ceiling: ceiling) }
                    }
                }
                rm[ch] = (1 - momentum) * rm[ch] + momentum * mf
                rv[ch] = (1 - momentum) * rv[ch] + momentum * Float(sq / Double(max(m - 1, 1)))
            }
            }
            input = training ? x : nil
            xhat = nil
        } else {
            input = nil
            let xh: Tensor? = training && !weight.frozen ? Tensor(uninitialized: x.shape) : nil
            let xhp = xh?.pointer
            // The channels in parts, as in the training pass (each channel's values the same whatever the parts).
            Parallel.forEachPart(c, parts: c >= 2 && n * c * hw >= 1 << 16 ? Parallel.parts : 1) { _, chans in
            for ch in chans {
                let istd = 1 / (rv[ch] + epsilon).squareRoot()
                isp[ch] = istd
                let mf = rm[ch], g = gamma[ch] * istd, b = beta[ch]
                for s in 0..<n {
                    let off = (s * c + ch) * hw
                    let p = xp + off
                    BatchNorm.inferencePlane(p, into: yp + off, count: hw, mean: mf, scale: g, shift: b, fusingReLU: fusingReLU, ceiling: ceiling)
                    if let r = xhp { for i in 0..<hw { r[off + i] = (p[i] - mf) * istd } }
                }
            }
            }
            xhat = xh
        }
        rectifiedOutput = training && fusingReLU ? y : nil
        rectifiedCeiling = ceiling
        return y
    }

    /// One plane of the inference map, dst = (src − mean)·scale + shift (scale = γ/√(var + ε);
    /// src may be dst), then ReLU or ReLU6 when `fusingReLU`: what an inference pass (and a
    /// depthwise convolution's fused epilogue, ``GroupedConv2D``) writes.
    static func inferencePlane(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int, mean: Float, scale: Float,
                               shift: Float, fusingReLU: Bool, ceiling: Float?) {
        for i in 0..<count { dst[i] = (src[i] - mean) * scale + shift }
        if fusingReLU { BatchNorm.rectify(dst, count: count, ceiling: ceiling) }
    }

    /// Whether training's per-channel loops run in CBatchNorm's kernels (AVX2) rather than the Swift loops below.
    static let kernels = tlc_batchnorm_level() > 0

    /// ReLU in place, or ReLU6's `min(max(v, 0), ceiling)` with a ceiling (as ``ReLU6`` computes it).
    static func rectify(_ q: UnsafeMutablePointer<Float>, count: Int, ceiling: Float?) {
        guard let ceiling else { Engine.rectify(q, count: count); return }
        for i in 0..<count { q[i] = min(max(q[i], 0), ceiling) }
    }

    /// Where the gradient passes through a fused ReLU: 0 < y, and y < the ceiling when there is one.
    @inline(__always) static func passes(_ y: SIMD8<Float>, ceiling: SIMD8<Float>?) -> SIMDMask<SIMD8<Int32>> {
        let positive = y .> SIMD8<Float>()
        guard let ceiling else { return positive }
        return positive .& (y .< ceiling)
    }
    @inline(__always) static func passes(_ y: Float, ceiling: Float?) -> Bool { y > 0 && ceiling.map { y < $0 } ?? true }

    /// With a fused ReLU: the output of the last training forward pass (its mask), and
    /// the ReLU6's ceiling.
    private var rectifiedOutput: Tensor?
    private var rectifiedCeiling: Float?

    /// Σ p[i] for i < count, in float64: 8 lanes, then their sum and the tail's.
    static func rowSum(_ p: UnsafePointer<Float>, count: Int) -> Double {
        var lanes = SIMD8<Double>(), i = 0
        while i + 8 <= count { lanes += SIMD8<Double>(UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)); i += 8 }
        var sum = 0.0
        for l in 0..<8 { sum += lanes[l] }
        while i < count { sum += Double(p[i]); i += 1 }
        return sum
    }

    /// Σ (p[i] − mean)² for i < count, in float64 as ``rowSum(_:count:)`` sums.
    static func rowSquaredDeviation(_ p: UnsafePointer<Float>, count: Int, from mean: Double) -> Double {
        var lanes = SIMD8<Double>(), i = 0
        let mv = SIMD8<Double>(repeating: mean)
        while i + 8 <= count {
            let d = SIMD8<Double>(UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)) - mv
            lanes += d * d; i += 8
        }
        var sum = 0.0
        for l in 0..<8 { sum += lanes[l] }
        while i < count { let d = Double(p[i]) - mean; sum += d * d; i += 1 }
        return sum
    }

    /// One row of the backward pass's operands: dy, through a fused ReLU whose output is
    /// `mask` (``passes(_:ceiling:)``), and x̂ = (x − mean)·invStd, rounded as the forward
    /// pass rounds it; 8 at a time or one at a time.
    struct BackwardRow {
        let g: UnsafePointer<Float>, x: UnsafePointer<Float>, mask: UnsafePointer<Float>?
        let mean: Float, invStd: Float, ceiling: Float?
        let meanv: SIMD8<Float>, invStdv: SIMD8<Float>, ceilingv: SIMD8<Float>?

        init(g: UnsafePointer<Float>, x: UnsafePointer<Float>, mask: UnsafePointer<Float>?, mean: Float, invStd: Float, ceiling: Float?) {
            self.g = g; self.x = x; self.mask = mask; self.mean = mean; self.invStd = invStd; self.ceiling = ceiling
            meanv = SIMD8(repeating: mean); invStdv = SIMD8(repeating: invStd); ceilingv = ceiling.map { SIMD8(repeating: $0) }
        }

        @inline(__always) func gradient8(_ i: Int) -> SIMD8<Float> {
            let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
            guard let mask else { return gv }
            return SIMD8<Float>().replacing(with: gv, where: passes(UnsafeRawPointer(mask + i).loadUnaligned(as: SIMD8<Float>.self), ceiling: ceilingv))
        }
        @inline(__always) func normalized8(_ i: Int) -> SIMD8<Float> {
            (UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) - meanv) * invStdv
        }
        @inline(__always) func gradient(_ i: Int) -> Float { mask.map { passes($0[i], ceiling: ceiling) ? g[i] : 0 } ?? g[i] }
        @inline(__always) func normalized(_ i: Int) -> Float { (x[i] - mean) * invStd }
    }

    /// (Σ g[i], Σ g[i]·x̂[i]) for i < count: in 8 float lanes each, the lanes and the tail added in float64.
    static func rowGradientSums(_ row: BackwardRow, count: Int) -> (Double, Double) {
        var sg = SIMD8<Float>(), sgx = SIMD8<Float>(), i = 0
        while i + 8 <= count {
            let gv = row.gradient8(i)
            sg += gv; sgx += gv * row.normalized8(i)
            i += 8
        }
        var (a, b) = (0.0, 0.0)
        for l in 0..<8 { a += Double(sg[l]); b += Double(sgx[l]) }
        while i < count {
            let gi = row.gradient(i)
            a += Double(gi); b += Double(gi * row.normalized(i)); i += 1
        }
        return (a, b)
    }

    /// dx[i] = k·(m·g[i] − sumG − x̂[i]·sumGX) for i < count.
    static func rowInputGradient(_ row: BackwardRow, count: Int, k: Float, m: Float, sumG: Float, sumGX: Float,
                                 into dx: UnsafeMutablePointer<Float>) {
        var i = 0
        let kv = SIMD8<Float>(repeating: k), mv = SIMD8<Float>(repeating: m)
        let sgv = SIMD8<Float>(repeating: sumG), sgxv = SIMD8<Float>(repeating: sumGX)
        while i + 8 <= count {
            let v = kv * (mv * row.gradient8(i) - sgv - row.normalized8(i) * sgxv)
            UnsafeMutableRawPointer(dx + i).storeBytes(of: v, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { dx[i] = k * (m * row.gradient(i) - sumG - row.normalized(i) * sumGX); i += 1 }
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
        let gamma = weight.value.pointer
        // Every element of dx is written below.
        let dx: Tensor? = needsInputGradient ? Tensor(uninitialized: dy.shape) : nil
        guard usedBatchStats, let x = input else {
            // Through a fused ReLU: dy masked by the output first, as the ReLU's backward would.
            let g = rectifiedOutput.map { $0.count == dy.count ? BatchNorm.masked(dy, by: $0, ceiling: rectifiedCeiling) : dy } ?? dy
            let gp = g.pointer
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
        let xp = x.pointer, isp = invStd.pointer, bmp = batchMean.pointer, dxp = dx?.pointer
        let gw: UnsafeMutablePointer<Float>? = weight.frozen ? nil : weight.grad.pointer
        let gb: UnsafeMutablePointer<Float>? = bias.frozen ? nil : bias.grad.pointer
        // Through a fused ReLU, dy is masked by the output row by row as it is read.
        let dyp = dy.pointer, mask = rectifiedOutput.flatMap { $0.count == dy.count ? UnsafePointer($0.pointer) : nil }
        let ceiling = rectifiedCeiling
        Parallel.forEachPart(c, parts: c >= 2 ? Parallel.parts : 1) { _, chans in
        for ch in chans {
            var sums = (0.0, 0.0)
            let (mean, istd) = (bmp[ch], isp[ch])
            let (first, stride) = (ch * hw, c * hw)
            if BatchNorm.kernels {
                withUnsafeTemporaryAllocation(of: Double.self, capacity: 2) { pair in
                    tlc_batchnorm_gradient_sums(dyp + first, xp + first, mask.map { $0 + first }, n, stride, hw, mean, istd,
                                                ceiling ?? .infinity, pair.baseAddress!)
                    sums = (pair[0], pair[1])
                }
            } else {
                for s in 0..<n {
                    let off = (s * c + ch) * hw
                    let row = BackwardRow(g: dyp + off, x: xp + off, mask: mask.map { $0 + off }, mean: mean, invStd: istd, ceiling: ceiling)
                    let rowSums = BatchNorm.rowGradientSums(row, count: hw)
                    sums.0 += rowSums.0; sums.1 += rowSums.1
                }
            }
            let sumG = Float(sums.0), sumGX = Float(sums.1)
            gw?[ch] = sumGX
            gb?[ch] = sumG
            if let dxp {
                let k = gamma[ch] * isp[ch] / m
                if BatchNorm.kernels {
                    tlc_batchnorm_input_gradient(dyp + first, xp + first, mask.map { $0 + first }, dxp + first, n, stride, hw, mean, istd,
                                                 ceiling ?? .infinity, k, m, sumG, sumGX)
                } else {
                    for s in 0..<n {
                        let off = (s * c + ch) * hw
                        let row = BackwardRow(g: dyp + off, x: xp + off, mask: mask.map { $0 + off }, mean: mean, invStd: istd, ceiling: ceiling)
                        BatchNorm.rowInputGradient(row, count: hw, k: k, m: m, sumG: sumG, sumGX: sumGX, into: dxp + off)
                    }
                }
            }
        }
        }
        return dx
    }

    /// dy where the gradient passes a fused ReLU whose output is `y`, 0 elsewhere.
    static func masked(_ dy: Tensor, by y: Tensor, ceiling: Float?) -> Tensor {
        guard let ceiling else { return dy.maskedByPositive(y) }
        let out = Tensor(uninitialized: dy.shape)
        let (g, m, o) = (dy.pointer, y.pointer, out.pointer)
        for i in 0..<dy.count { o[i] = passes(m[i], ceiling: ceiling) ? g[i] : 0 }
        return out
    }
}
