// Pruning — magnitude pruning (Han et al., 2015): unstructured masks chosen by
// weight magnitude over the whole network or per layer, kept applied while the
// network is fine-tuned; and structured L1-norm filter pruning (Li et al., 2017)
// that really removes conv filters / dense units and shrinks the layers that read
// them, producing a smaller architecture.
//
// Owns: PruningMasks, StructuredPruning. Does not know about stages or specs.

import ModelZoo

/// Binary masks over the weights of conv and dense layers (biases and
/// normalisation parameters are never pruned). A pruned weight is exactly zero.
public struct PruningMasks: Sendable {
    /// Parameter name → mask (1 keeps, 0 prunes), one value per weight.
    public var masks: [String: [Float]]
    public init(masks: [String: [Float]] = [:]) { self.masks = masks }

    /// The prunable parameters of a network, in forward order: conv and dense weights.
    public static func prunable(_ network: Network) -> [Parameter] {
        network.parameterObjects.filter { $0.isWeight && $0.value.shape.count >= 2 }
    }

    /// Masks that remove the fraction `sparsity` of the prunable weights with the
    /// smallest magnitude — across the whole network (`global`) or in every layer.
    /// Already-zero weights count as pruned, so iterating with rising sparsity keeps
    /// earlier decisions. Ties are broken by position, so the result is deterministic.
    public static func magnitude(_ network: Network, sparsity: Double, global: Bool) throws -> PruningMasks {
        guard sparsity >= 0 && sparsity < 1 else { throw EngineError.invalidArgument("sparsity must be in [0, 1), got \(sparsity)") }
        let params = prunable(network)
        var out: [String: [Float]] = [:]
        func threshold(_ values: [Float], prune: Int) -> (Float, Int) {
            // The prune-th smallest magnitude and how many equal values to prune at it.
            guard prune > 0 else { return (-1, 0) }
            let sorted = values.sorted()
            let t = sorted[prune - 1]
            let below = sorted.prefix(prune).filter { $0 < t }.count
            return (t, prune - below)
        }
        func mask(_ p: Parameter, t: Float, atThreshold: inout Int) -> [Float] {
            let v = p.value
            return (0..<v.count).map { i in
                let m = abs(v[i])
                if m < t { return 0 }
                if m == t && atThreshold > 0 { atThreshold -= 1; return 0 }
                return 1
            }
        }
        if global {
            let all = params.flatMap { p in (0..<p.value.count).map { abs(p.value[$0]) } }
            var (t, equal) = threshold(all, prune: Int((Double(all.count) * sparsity).rounded(.down)))
            for p in params { out[p.name] = mask(p, t: t, atThreshold: &equal) }
        } else {
            for p in params {
                let values = (0..<p.value.count).map { abs(p.value[$0]) }
                var (t, equal) = threshold(values, prune: Int((Double(values.count) * sparsity).rounded(.down)))
                out[p.name] = mask(p, t: t, atThreshold: &equal)
            }
        }
        return PruningMasks(masks: out)
    }

    /// Masks read off a network's zero weights (how masks persist in a checkpoint:
    /// a pruned weight is stored as exactly 0).
    public static func fromZeros(_ network: Network) -> PruningMasks {
        var out: [String: [Float]] = [:]
        for p in prunable(network) { out[p.name] = (0..<p.value.count).map { p.value[$0] == 0 ? 0 : 1 } }
        return PruningMasks(masks: out)
    }

    /// Zeroes the masked weights (call after every optimizer step while fine-tuning).
    public func apply(to network: Network) {
        for p in network.parameterObjects {
            guard let m = masks[p.name], m.count == p.value.count else { continue }
            let v = p.value.pointer
            m.withUnsafeBufferPointer { mp in for i in 0..<mp.count { v[i] *= mp[i] } }
        }
    }

    /// Fraction of zero weights per prunable layer (parameter name → fraction).
    public static func sparsityByLayer(_ network: Network) -> [(name: String, sparsity: Double, count: Int)] {
        prunable(network).map { p in
            let zeros = (0..<p.value.count).reduce(0) { $0 + (p.value[$1] == 0 ? 1 : 0) }
            return (p.name, Double(zeros) / Double(max(p.value.count, 1)), p.value.count)
        }
    }

    /// Fraction of zero weights over all prunable layers.
    public static func sparsity(_ network: Network) -> Double {
        let s = sparsityByLayer(network)
        let total = s.reduce(0) { $0 + $1.count }
        return total == 0 ? 0 : s.reduce(0.0) { $0 + $1.sparsity * Double($1.count) } / Double(total)
    }
}

/// Structured pruning: removes whole conv filters and dense units by L1 norm.
public enum StructuredPruning {
    /// Which output channels of every prunable layer to keep (layer path → sorted indices).
    public typealias Selection = [String: [Int]]

    /// The layers whose outputs may be removed: conv and dense layers whose output
    /// feeds only the next conv/dense layer of a plain sequence (never the last layer).
    static func candidates(_ network: Network) throws -> [Layer] {
        let layers = try QuantizedNetwork.leaves(network)
        let linear = layers.filter { $0 is Conv2D || $0 is Dense }
        return Array(linear.dropLast())
    }

    /// Keeps the `1 - fraction` filters with the largest L1 norm (at least one) in every
    /// layer (`global: false`), or ranks all filters by mean absolute weight together.
    public static func select(_ network: Network, fraction: Double, global: Bool) throws -> Selection {
        guard fraction >= 0 && fraction < 1 else { throw EngineError.invalidArgument("sparsity must be in [0, 1), got \(fraction)") }
        let layers = try candidates(network)
        func norms(_ l: Layer) -> [Double] {
            let w = (l as? Conv2D)?.weight.value ?? (l as! Dense).weight.value
            let rows = w.shape[0], per = w.count / rows
            return (0..<rows).map { r in (0..<per).reduce(0.0) { $0 + Double(abs(w[r * per + $1])) } / Double(per) }
        }
        var out: Selection = [:]
        if global {
            var all: [(norm: Double, layer: Int, index: Int)] = []
            for (li, l) in layers.enumerated() { for (i, n) in norms(l).enumerated() { all.append((n, li, i)) } }
            let remove = Int(Double(all.count) * fraction)
            let removed = all.sorted { ($0.norm, $0.layer, $0.index) < ($1.norm, $1.layer, $1.index) }.prefix(remove)
            var drop = [Set<Int>](repeating: [], count: layers.count)
            for r in removed { drop[r.layer].insert(r.index) }
            for (li, l) in layers.enumerated() {
                let n = norms(l)
                var keep = (0..<n.count).filter { !drop[li].contains($0) }
                if keep.isEmpty { keep = [n.indices.max { (n[$0], -$0) < (n[$1], -$1) }!] }
                out[l.name] = keep
            }
        } else {
            for l in layers {
                let n = norms(l)
                let keepCount = max(1, n.count - Int(Double(n.count) * fraction))
                out[l.name] = n.indices.sorted { (n[$0], -$0) > (n[$1], -$1) }.prefix(keepCount).sorted()
            }
        }
        return out
    }

    /// The architecture with the selected filter/unit counts.
    public static func architecture(_ arch: Architecture, keeping selection: Selection) -> Architecture {
        func rewrite(_ d: LayerDescription, prefix: String) -> LayerDescription {
            switch d {
            case let .conv2d(name, _, kernel, stride, padding):
                guard let keep = selection[joinName(prefix, name)] else { return d }
                return .conv2d(name: name, filters: keep.count, kernel: kernel, stride: stride, padding: padding)
            case let .dense(name, _):
                guard let keep = selection[joinName(prefix, name)] else { return d }
                return .dense(name: name, units: keep.count)
            case let .block(name, layers):
                let p = joinName(prefix, name)
                return .block(name: name, layers: layers.map { rewrite($0, prefix: p) })
            default: return d
            }
        }
        return Architecture(name: arch.name, input: arch.input, backbone: arch.backbone.map { rewrite($0, prefix: "") },
                            head: arch.head.map { rewrite($0, prefix: "") })
    }

    /// A new, smaller network holding the kept filters of `network` (and the matching
    /// input channels of each following layer, batchnorm channels, and dense columns
    /// after a flatten).
    public static func apply(_ selection: Selection, to network: Network) throws -> Network {
        let small = try Network(architecture: architecture(network.architecture, keeping: selection), seed: 0)
        let src = try QuantizedNetwork.leaves(network), dst = try QuantizedNetwork.leaves(small)
        if let other = src.first(where: { $0 is AdaptiveAvgPool2D || $0 is GroupedConv2D || ($0 as? MaxPool2D)?.ceilMode == true }) {
            throw EngineError.invalidArgument("structured pruning cannot follow channels through layer '\(other.name)' (\(type(of: other)))")
        }
        guard src.count == dst.count else { throw EngineError.invalidArgument("structured pruning changed the layer count") }
        // Channels alive at the current point of the network (nil: all), and the spatial size per channel.
        var inKeep: [Int]? = nil
        var spatial = 1
        var shape = network.architecture.input
        for (a, b) in zip(src, dst) {
            if let c = a as? Conv2D, let d = b as? Conv2D {
                let outKeep = selection[c.name] ?? Array(0..<c.outChannels)
                let ins = inKeep ?? Array(0..<c.inChannels), kk = c.kernel * c.kernel
                for (no, o) in outKeep.enumerated() {
                    for (ni, i) in ins.enumerated() {
                        for t in 0..<kk { d.weight.value[(no * ins.count + ni) * kk + t] = c.weight.value[(o * c.inChannels + i) * kk + t] }
                    }
                    d.bias.value[no] = c.bias.value[o]
                }
                inKeep = outKeep
                let out = try c.outputShape(for: [shape.channels, shape.height, shape.width])
                shape = FeatureShape(channels: out[0], height: out[1], width: out[2])
            } else if let c = a as? BatchNorm, let d = b as? BatchNorm {
                let keep = inKeep ?? Array(0..<c.channels)
                for (n, o) in keep.enumerated() {
                    d.weight.value[n] = c.weight.value[o]; d.bias.value[n] = c.bias.value[o]
                    d.runningMean[n] = c.runningMean[o]; d.runningVar[n] = c.runningVar[o]
                }
            } else if let c = a as? Dense, let d = b as? Dense {
                let outKeep = selection[c.name] ?? Array(0..<c.outFeatures)
                // Input columns: kept channels × their spatial positions (float order c, h, w).
                let cols: [Int]
                if let keep = inKeep {
                    cols = spatial > 1 ? keep.flatMap { ch in (0..<spatial).map { ch * spatial + $0 } } : keep
                } else { cols = Array(0..<c.inFeatures) }
                for (no, o) in outKeep.enumerated() {
                    for (ni, i) in cols.enumerated() { d.weight.value[no * cols.count + ni] = c.weight.value[o * c.inFeatures + i] }
                    d.bias.value[no] = c.bias.value[o]
                }
                inKeep = outKeep
                spatial = 1
                shape = .flat(outKeep.count)
            } else if let p = a as? MaxPool2D {
                let out = try p.outputShape(for: [shape.channels, shape.height, shape.width])
                shape = FeatureShape(channels: out[0], height: out[1], width: out[2])
            } else if let p = a as? AvgPool2D {
                let out = try p.outputShape(for: [shape.channels, shape.height, shape.width])
                shape = FeatureShape(channels: out[0], height: out[1], width: out[2])
            } else if a is GlobalAvgPool {
                shape = .flat(shape.channels)
            } else if a is Flatten {
                spatial = shape.height * shape.width
                shape = .flat(shape.count)
            }
        }
        return small
    }
}
