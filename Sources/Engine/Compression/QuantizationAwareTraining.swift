// Quantization-aware training (QAT) — fine-tuning a float network while its forward
// pass sees what the integer path will compute: weights fake-quantized exactly as
// ``QuantizedNetwork`` quantizes them (symmetric, per channel or per tensor), and
// activations fake-quantized per tensor at the points where the integer path
// requantizes them (the network input and the output of every conv/dense unit but
// the last, after its ReLU). Activation ranges start from the same min/max
// calibration as post-training quantization and then follow the training batches
// (exponential moving average); the int8 network is built from those ranges.
// Backward is the straight-through estimator: gradients pass through the rounding,
// and are zero where an activation was clamped to the edge of its range.
//
// Owns: ActivationRange(s), FakeQuantize (an observer layer inserted into the
// network only for the duration of QAT), QuantizationAwareTraining.

import Foundation

/// A per-tensor activation range.
public struct ActivationRange: Hashable, Sendable, Codable {
    public var lo: Float, hi: Float
    public init(lo: Float, hi: Float) { self.lo = lo; self.hi = hi }
}

/// The ranges of every activation the integer path quantizes: the network input and
/// each conv/dense unit's output, keyed by the conv/dense layer's name.
public struct ActivationRanges: Hashable, Sendable {
    public var input: ActivationRange
    public var units: [String: ActivationRange]
    public init(input: ActivationRange, units: [String: ActivationRange]) { self.input = input; self.units = units }
}

/// Fake quantization of an activation (identity shape). `calibrating`: records the
/// min/max of what passes and changes nothing. Otherwise quantizes and dequantizes to
/// the uint8 grid of its range; training passes also move the range toward the
/// batch's min/max by `momentum`.
public final class FakeQuantize: Layer {
    public let name: String
    public var needsInputGradient = true
    public var parameters: [Parameter] { [] }
    public private(set) var range = ActivationRange(lo: 0, hi: 0)
    public var calibrating = true
    let activationMax: Int
    let momentum: Float
    private var mask: Tensor?

    init(name: String, activationMax: Int, momentum: Float) {
        self.name = name; self.activationMax = activationMax; self.momentum = momentum
    }

    public func outputShape(for input: [Int]) throws -> [Int] { input }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let xp = x.pointer
        var lo = Float.infinity, hi = -Float.infinity
        if calibrating || training {
            for i in 0..<x.count { let v = xp[i]; if v < lo { lo = v }; if v > hi { hi = v } }
        }
        if calibrating {
            range = ActivationRange(lo: min(range.lo, lo), hi: max(range.hi, hi))
            mask = nil
            return x
        }
        if training && x.count > 0 {
            range = ActivationRange(lo: range.lo + momentum * (lo - range.lo), hi: range.hi + momentum * (hi - range.hi))
        }
        let (scale, zero) = QuantizedNetwork.activationParameters(lo: range.lo, hi: range.hi, activationMax: activationMax)
        let inv = 1 / scale, z = Float(zero), qmax = Float(activationMax)
        let y = Tensor(uninitialized: x.shape)
        let yp = y.pointer
        let m = training ? Tensor(uninitialized: x.shape) : nil
        for i in 0..<x.count {
            // As the integer path: round half to even of x / scale, plus the zero point, clamped.
            var t = xp[i] * inv
            t = max(-1e6, min(1e6, t))
            let q = t.rounded(.toNearestOrEven) + z
            let c = max(0, min(qmax, q))
            yp[i] = (c - z) * scale
            m?[i] = q >= 0 && q <= qmax ? 1 : 0
        }
        mask = m
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard needsInputGradient else { return nil }
        guard !calibrating else { return dy }
        guard let m = mask, m.count == dy.count else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape) does not match the last training forward pass")
        }
        let dx = Tensor(uninitialized: dy.shape)
        for i in 0..<dy.count { dx[i] = dy[i] * m[i] }
        return dx
    }
}

/// Quantization-aware fine-tuning of one network. Create it (fake-quantizes the
/// weights, calibrates and inserts the activation observers), train the network with
/// ``afterStep()`` called after every optimizer step, then ``finish()`` (removes the
/// observers, restores float weights) and build the int8 network with
/// `QuantizedNetwork.quantize(network, calibration:, config:, ranges: qat.ranges)`.
/// Weights that are exactly zero when QAT starts (pruned) stay zero.
public final class QuantizationAwareTraining {
    public let network: Network
    public let config: QuantizationConfig
    private let params: [Parameter]
    private var masters: [Tensor]
    private var shown: [Tensor]
    private let zeros: PruningMasks
    /// Observers: the input's, then one per conv/dense unit but the last (by layer name).
    private let inputObserver: FakeQuantize
    private let unitObservers: [(layer: String, observer: FakeQuantize)]
    private var installed: [(parent: Sequential, observer: FakeQuantize)] = []

    /// `momentum`: how far each training batch moves an activation range toward the batch's min/max.
    public init(_ network: Network, calibration: Dataset, config: QuantizationConfig, momentum: Float = 0.01) throws {
        guard config.bits == 8 || config.bits == 4 else { throw EngineError.invalidArgument("quantization supports 8 or 4 bits, not \(config.bits)") }
        self.network = network; self.config = config
        let layers = try QuantizedNetwork.leaves(network)
        let units = try QuantizedNetwork.units(layers)
        params = PruningMasks.prunable(network)
        zeros = PruningMasks.fromZeros(network)
        masters = params.map { $0.value.copy() }
        shown = []
        // Where each leaf sits (its parent sequence and index).
        var parents: [ObjectIdentifier: Sequential] = [:]
        func walk(_ s: Sequential) {
            for l in s.layers {
                if let inner = l as? Sequential { walk(inner) } else { parents[ObjectIdentifier(l)] = s }
            }
        }
        walk(network.root)
        let lastLinear = units.lastIndex { if case .linear = $0 { true } else { false } }
        var points: [(after: Layer, observer: FakeQuantize, layer: String)] = []
        for (u, unit) in units.enumerated() {
            guard case .linear(let l, _, _, let end) = unit, u != lastLinear else { continue }
            points.append((layers[end - 1], FakeQuantize(name: l.name + ".fake_quant", activationMax: config.activationMax, momentum: momentum), l.name))
        }
        inputObserver = FakeQuantize(name: "input.fake_quant", activationMax: config.activationMax, momentum: momentum)
        unitObservers = points.map { ($0.layer, $0.observer) }
        guard let first = layers.first, let firstParent = parents[ObjectIdentifier(first)] else {
            throw EngineError.invalidArgument("quantization-aware training needs a network with layers")
        }
        // Insert from the last point back, so earlier indices stay valid; the input's last.
        for p in points.reversed() {
            guard let parent = parents[ObjectIdentifier(p.after)], let i = parent.layers.firstIndex(where: { $0 === p.after }) else {
                throw EngineError.invalidArgument("quantization-aware training: cannot place an observer after '\(p.after.name)'")
            }
            parent.insert(p.observer, at: i + 1)
            installed.append((parent, p.observer))
        }
        firstParent.insert(inputObserver, at: firstParent.layers.firstIndex { $0 === first }!)
        installed.append((firstParent, inputObserver))
        network.configureGradients()
        fakeQuantizeWeights()
        // Calibrate as post-training quantization does: min/max over the first batches, in order.
        let n = min(calibration.count, max(1, config.calibrationBatches) * config.batchSize)
        guard n > 0 else { finish(); throw EngineError.invalidArgument("quantization needs calibration data") }
        var start = 0
        while start < n {
            let end = min(start + config.batchSize, n)
            let (x, _) = calibration.batch(Array(start..<end)[...])
            _ = try network.forward(x, training: false)
            start = end
        }
        for (_, o) in installed { o.calibrating = false }
    }

    /// The observers' current ranges.
    public var ranges: ActivationRanges {
        ActivationRanges(input: inputObserver.range, units: Dictionary(uniqueKeysWithValues: unitObservers.map { ($0.layer, $0.observer.range) }))
    }

    /// After an optimizer step: the step goes to the float masters (straight-through),
    /// pruned weights stay zero, and the network gets the masters fake-quantized again.
    public func afterStep() {
        for (i, p) in params.enumerated() {
            // master += (updated − shown): the step the optimizer took.
            let m = masters[i], s = shown[i]
            for j in 0..<m.count { m[j] += p.value[j] - s[j] }
            if let mask = zeros.masks[p.name] { for j in 0..<mask.count { m[j] *= mask[j] } }
        }
        fakeQuantizeWeights()
    }

    /// Removes the observers and puts the float masters back into the network.
    public func finish() {
        for (parent, o) in installed { parent.removeAll { $0 === o } }
        installed = []
        network.configureGradients()
        for (i, p) in params.enumerated() { p.value.copyValues(from: masters[i]) }
    }

    /// Each weight row (output channel) as the integer path quantizes it: scale
    /// max|row| / qmax (or the tensor's max), round half away from zero.
    private func fakeQuantizeWeights() {
        let qmax = Float(config.weightMax)
        shown = []
        for (i, p) in params.enumerated() {
            let m = masters[i], rows = m.shape[0], per = m.count / rows
            var tensorMax: Float = 0
            for j in 0..<m.count { tensorMax = max(tensorMax, abs(m[j])) }
            for r in 0..<rows {
                var mx = tensorMax
                if config.perChannel { mx = 0; for j in 0..<per { mx = max(mx, abs(m[r * per + j])) } }
                let s = mx > 0 ? mx / qmax : 1
                for j in 0..<per { p.value[r * per + j] = max(-qmax, min(qmax, (m[r * per + j] / s).rounded())) * s }
            }
            shown.append(p.value.copy())
        }
    }
}
