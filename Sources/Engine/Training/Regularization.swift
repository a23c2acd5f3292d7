// Regularization — penalties that pull parameters toward reference values to limit
// forgetting of a source task while fine-tuning: L2-SP (Li et al., 2018: a quadratic
// pull toward the pretrained weights) and EWC (Kirkpatrick et al., 2017: the same pull
// weighted by the diagonal Fisher information of the source task). Also the Fisher
// estimate itself.

import Foundation

/// Where one parameter is pulled: reference values and optional per-value importance.
public struct ParameterAnchor: Hashable, Sendable {
    public var reference: [Float]
    /// Per-value weight (the Fisher diagonal for EWC); nil means 1 everywhere (L2-SP).
    public var importance: [Float]?
    public init(reference: [Float], importance: [Float]? = nil) { self.reference = reference; self.importance = importance }
}

/// `strength / 2 · Σ importance · (θ − θ*)²` over the anchored parameters.
public struct AnchorPenalty: Hashable, Sendable {
    /// For logs: `l2sp` or `ewc`.
    public var name: String
    public var strength: Float
    /// Anchors by parameter name.
    public var anchors: [String: ParameterAnchor]
    public init(name: String, strength: Float, anchors: [String: ParameterAnchor]) {
        self.name = name; self.strength = strength; self.anchors = anchors
    }

    /// Adds the penalty's gradient to the trainable anchored parameters' gradients and
    /// returns the penalty's value. Frozen parameters cost nothing.
    public func addGradient(to parameters: [Parameter]) -> Double {
        var total = 0.0
        let lambda = strength
        for p in parameters where !p.frozen {
            guard let anchor = anchors[p.name], anchor.reference.count == p.value.count else { continue }
            let w = p.value.pointer, g = p.grad.pointer, n = p.value.count
            var sum: Float = 0
            anchor.reference.withUnsafeBufferPointer { ref in
                if let importance = anchor.importance {
                    importance.withUnsafeBufferPointer { f in
                        for i in 0..<n {
                            let d = w[i] - ref[i], fd = f[i] * d
                            g[i] += lambda * fd
                            sum += fd * d
                        }
                    }
                } else {
                    for i in 0..<n {
                        let d = w[i] - ref[i]
                        g[i] += lambda * d
                        sum += d * d
                    }
                }
            }
            total += Double(sum)
        }
        return 0.5 * Double(lambda) * total
    }

    /// Anchors at a network's current values (L2-SP toward the pretrained weights), for
    /// the parameters `names` covers (parameter names or layer paths).
    public static func anchors(at network: Network, covering names: Set<String>) -> [String: ParameterAnchor] {
        var out: [String: ParameterAnchor] = [:]
        for p in network.parameterObjects where Network.covers(names, p.name) {
            out[p.name] = ParameterAnchor(reference: Array(UnsafeBufferPointer(start: p.value.pointer, count: p.value.count)))
        }
        return out
    }
}

public enum Fisher {
    /// The diagonal of the Fisher information of `network` on `data`, estimated over
    /// `samples` examples drawn without replacement (seeded): for each, a label is drawn
    /// from the model's own predictive distribution and the squared gradient of its
    /// log-likelihood is accumulated (the true Fisher, not the "empirical" one that uses
    /// the data's labels). The network runs in inference mode (running batch-norm
    /// statistics, no dropout), one example at a time. Returns values by parameter name.
    public static func diagonal(of network: Network, on data: Dataset, samples: Int, seed: UInt64) throws -> [String: [Float]] {
        guard !data.isEmpty else { throw EngineError.invalidArgument("the Fisher information needs data; the set is empty") }
        let params = network.parameterObjects
        let wasFrozen = params.map(\.frozen)
        let batchNorms = network.leafLayers.compactMap { $0 as? BatchNorm }
        let dropouts = network.leafLayers.compactMap { $0 as? Dropout }
        let dropPaths = network.leafLayers.compactMap { $0 as? StochasticDepth }
        for p in params { p.frozen = false }
        network.configureGradients()
        // A training pass (layers keep what backward needs) that computes the inference function.
        for bn in batchNorms { bn.usesRunningStatistics = true }
        for d in dropouts { d.isDisabled = true }
        for d in dropPaths { d.isDisabled = true }
        defer {
            for (p, f) in zip(params, wasFrozen) { p.frozen = f }
            network.configureGradients()
            for bn in batchNorms { bn.usesRunningStatistics = false }
            for d in dropouts { d.isDisabled = false }
            for d in dropPaths { d.isDisabled = false }
        }
        var sums = params.map { [Float](repeating: 0, count: $0.value.count) }
        let root = SeededGenerator(seed: seed)
        var order = root.split(label: "fisher.order")
        var labels = root.split(label: "fisher.labels")
        let chosen = order.permutation(data.count).prefix(min(samples, data.count))
        for index in chosen {
            let (x, _) = data.batch([index][...])
            let logits = try network.forward(x, training: true)
            let c = logits.count
            var probs = [Float](repeating: 0, count: c)
            var maxLogit = -Float.infinity
            for k in 0..<c { maxLogit = max(maxLogit, logits[k]) }
            var z: Float = 0
            for k in 0..<c { probs[k] = expf(logits[k] - maxLogit); z += probs[k] }
            for k in 0..<c { probs[k] /= z }
            // Draw y ~ p(y|x); the gradient of −log p(y|x) with respect to the logits is p − onehot(y).
            var u = Float(labels.nextDouble()), y = c - 1
            for k in 0..<c { u -= probs[k]; if u < 0 { y = k; break } }
            let dy = Tensor(zeros: logits.shape)
            for k in 0..<c { dy[k] = probs[k] - (k == y ? 1 : 0) }
            try network.backward(dy)
            for (j, p) in params.enumerated() {
                let g = p.grad.pointer
                sums[j].withUnsafeMutableBufferPointer { s in for i in 0..<s.count { s[i] += g[i] * g[i] } }
            }
        }
        let scale = 1 / Float(chosen.count)
        var out: [String: [Float]] = [:]
        for (j, p) in params.enumerated() { out[p.name] = sums[j].map { $0 * scale } }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#endif
