// DenseChain — an inference pass through consecutive Dense layers (each optionally
// followed by a ReLU; nested Sequentials of them included, as an mlp's hidden layers and
// its head are) as one parallel region: each part of the batch runs through every layer
// on one thread, its rows staying in that core's cache, with no hand-over between layers.
// Each row's values are CDense's, so the result is bitwise what the layers give one at a
// time (Sequential uses it; tested).

import CDense

struct DenseChain {
    /// The layers in order: each dense layer, and the ReLU that follows it if any.
    let steps: [(dense: Dense, relu: ReLU?)]
    /// How many of the Sequential's layers (from where the chain starts) it covers.
    let span: Int

    /// The chain starting at `layers[start]` (at least two dense layers), or nil.
    static func starting(at start: Int, in layers: [Layer]) -> DenseChain? {
        guard Dense.kernelLevel > 0 else { return nil }
        var steps: [(dense: Dense, relu: ReLU?)] = []
        var i = start
        while i < layers.count {
            if let dense = layers[i] as? Dense {
                let relu = i + 1 < layers.count ? layers[i + 1] as? ReLU : nil
                steps.append((dense, relu))
                i += relu == nil ? 1 : 2
            } else if let inner = layers[i] as? Sequential, let nested = chainOfWhole(inner) {
                steps += nested
                i += 1
            } else {
                break
            }
        }
        return steps.count >= 2 ? DenseChain(steps: steps, span: i - start) : nil
    }

    /// The steps of a Sequential made only of dense layers and ReLUs after them.
    private static func chainOfWhole(_ s: Sequential) -> [(dense: Dense, relu: ReLU?)]? {
        guard !s.layers.isEmpty, let chain = starting(at: 0, in: s.layers) ?? single(s.layers), chain.span == s.layers.count else { return nil }
        return chain.steps
    }

    private static func single(_ layers: [Layer]) -> DenseChain? {
        guard let dense = layers.first as? Dense, layers.count <= 2 else { return nil }
        let relu = layers.count == 2 ? layers[1] as? ReLU : nil
        guard layers.count == 1 || relu != nil else { return nil }
        return DenseChain(steps: [(dense, relu)], span: layers.count)
    }

    /// The inference pass; throws if `x` does not fit the first layer.
    func forward(_ x: Tensor) throws -> Tensor {
        let n = x.batch
        var width = x.sampleCount
        var outputs: [Tensor] = []
        for (dense, _) in steps {
            guard dense.inFeatures == width else {
                throw EngineError.shapeMismatch(layer: dense.name, message: "expected input [N, \(dense.inFeatures)], got [\(n), \(width)]")
            }
            outputs.append(Tensor(uninitialized: [n, dense.outFeatures]))
            width = dense.outFeatures
        }
        let level = Int32(Dense.kernelLevel)
        let plan = steps.enumerated().map { (i, step) in
            (w: UnsafePointer(step.dense.weight.value.pointer), b: UnsafePointer(step.dense.bias.value.pointer),
             k: step.dense.inFeatures, m: step.dense.outFeatures, relu: Int32(step.relu == nil ? 0 : 1), y: outputs[i].pointer)
        }
        let xp = UnsafePointer(x.pointer), k0 = x.sampleCount
        Parallel.forEachPart(n) { _, r in
            var input = xp + r.lowerBound * k0
            for s in plan {
                let y = s.y + r.lowerBound * s.m
                tlc_dense(level, input, r.count, s.k, s.w, s.b, s.m, s.relu, y)
                input = UnsafePointer(y)
            }
        }
        for (step, y) in zip(steps, outputs) { _ = step.relu?.passThroughApplied(y) }
        return outputs[outputs.count - 1]
    }
}
