// Fine-tuning mechanics: frozen batch norm in inference mode, gradual unfreezing,
// per-parameter Adam steps, L2-SP / EWC penalties and the Fisher estimate.
import Testing
import Foundation
import ModelZoo
@testable import Engine

@Suite struct FineTuningTests {
    @Test func frozenBatchNormRunsOnRunningStatistics() throws {
        let train = try blobs(128, seed: 1)
        let net = try Network(architecture: blobNet(), seed: 3)
        // Pretend it was pretrained: non-trivial running statistics.
        let bn = net.leafLayers.compactMap { $0 as? BatchNorm }.first!
        for c in 0..<bn.channels { bn.runningMean[c] = 0.1 * Float(c); bn.runningVar[c] = 1 + Float(c) }
        let before = (bn.runningMean.values, bn.runningVar.values)
        net.freeze(["conv", "bn"])
        try Trainer.fit(net, train: train, config: TrainingConfig(epochs: 1, batchSize: 32, learningRate: 0.01, seed: 2))
        #expect(bn.runningMean.values == before.0 && bn.runningVar.values == before.1, "a frozen batch norm keeps its statistics")
        // Unfrozen, the same layer learns batch statistics again.
        net.unfreezeAll()
        try Trainer.fit(net, train: train, config: TrainingConfig(epochs: 1, batchSize: 32, learningRate: 0.01, seed: 2))
        #expect(bn.runningMean.values != before.0)
    }

    @Test func frozenBatchNormBackboneMatchesInferenceOutputs() throws {
        // With every backbone layer frozen, a training-mode pass through the backbone equals the inference pass.
        let arch = blobNet()
        let backboneOnly = Architecture(name: "b", input: arch.input, backbone: arch.backbone, head: [])
        let net = try Network(architecture: backboneOnly, seed: 4)
        let bn = net.leafLayers.compactMap { $0 as? BatchNorm }.first!
        for c in 0..<bn.channels { bn.runningMean[c] = 0.2; bn.runningVar[c] = 2 }
        net.freeze(["conv", "bn"])
        let x = try blobs(16, seed: 9).batch(Array(0..<16)[...]).0
        #expect(try net.forward(x, training: true).values == net.forward(x, training: false).values)
    }

    @Test func gradualUnfreezingStartsAtItsEpoch() throws {
        let train = try blobs(128, seed: 1)
        let net = try Network(architecture: blobNet(), seed: 3)
        net.freeze(["conv", "bn"])
        let conv0 = net.parameterObjects.first { $0.name == "conv.weight" }!.value.values
        var config = TrainingConfig(epochs: 3, batchSize: 32, optimizer: .adam(), learningRate: 0.01, seed: 2)
        config.unfreeze = [(epoch: 3, names: ["conv"])]
        var afterTwo: [Float] = []
        let result = try Trainer.fit(net, train: train, config: config) { record in
            if record.epoch == 2 { afterTwo = net.parameterObjects.first { $0.name == "conv.weight" }!.value.values }
            return true
        }
        #expect(afterTwo == conv0, "still frozen in epochs 1 and 2")
        #expect(net.parameterObjects.first { $0.name == "conv.weight" }!.value.values != conv0, "trained in epoch 3")
        let counts = result.history.compactMap(\.trainableParameters)
        #expect(counts.count == 3 && counts[0] == counts[1] && counts[2] > counts[1])
        #expect(net.parameterObjects.first { $0.name == "bn.weight" }!.frozen, "only what the step names unfreezes")
    }

    @Test func adamCountsStepsPerParameter() throws {
        // A parameter that joins late takes a bias-corrected first step of size ≈ lr, as in PyTorch.
        let a = Parameter(name: "a", value: Tensor(shape: [1], repeating: 0), isWeight: true)
        let b = Parameter(name: "b", value: Tensor(shape: [1], repeating: 0), isWeight: true)
        let opt = try Optimizer(kind: .adam(), parameters: [a, b], learningRate: 0.1)
        b.frozen = true
        for _ in 0..<10 { a.grad[0] = 1; opt.step() }
        b.frozen = false
        b.grad[0] = 1; a.grad[0] = 1
        opt.step()
        #expect(abs(b.value[0] + 0.1) < 1e-5)
    }

    @Test func anchorPenaltyGradientMatchesFiniteDifferences() throws {
        let p = Parameter(name: "w", value: Tensor(shape: [3], repeating: 0), isWeight: true)
        for (i, v) in [0.5, -1.0, 2.0].enumerated() { p.value[i] = Float(v) }
        let penalty = AnchorPenalty(name: "ewc", strength: 0.7,
                                    anchors: ["w": ParameterAnchor(reference: [0, 1, 1], importance: [2, 0.5, 3])])
        for i in 0..<3 { p.grad[i] = 0 }
        let value = penalty.addGradient(to: [p])
        #expect(abs(value - 0.5 * 0.7 * (2 * 0.25 + 0.5 * 4 + 3 * 1)) < 1e-5)
        let analytic = p.grad.values
        for i in 0..<3 {
            let h: Float = 1e-2
            let saved = p.value[i]
            p.value[i] = saved + h; for j in 0..<3 { p.grad[j] = 0 }; let up = penalty.addGradient(to: [p])
            p.value[i] = saved - h; for j in 0..<3 { p.grad[j] = 0 }; let down = penalty.addGradient(to: [p])
            p.value[i] = saved
            #expect(abs(Float((up - down) / Double(2 * h)) - analytic[i]) < 1e-3)
        }
        p.frozen = true
        #expect(penalty.addGradient(to: [p]) == 0, "frozen parameters cost nothing")
    }

    @Test func l2spKeepsWeightsNearTheirAnchors() throws {
        let train = try blobs(128, seed: 1)
        func distance(strength: Float) throws -> Double {
            let net = try Network(architecture: blobNet(), seed: 3)
            var config = TrainingConfig(epochs: 2, batchSize: 32, optimizer: .sgd(momentum: 0.9), learningRate: 0.05, seed: 2)
            let anchors = AnchorPenalty.anchors(at: net, covering: ["conv"])
            config.penalties = [AnchorPenalty(name: "l2sp", strength: strength, anchors: anchors)]
            let result = try Trainer.fit(net, train: train, config: config)
            #expect(result.history.allSatisfy { $0.penalty != nil })
            let w = net.parameterObjects.first { $0.name == "conv.weight" }!.value.values
            return zip(w, anchors["conv.weight"]!.reference).reduce(0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
        }
        let free = try distance(strength: 0), pulled = try distance(strength: 10)
        #expect(pulled < free / 4, "strong L2-SP keeps the weights close: \(pulled) vs \(free)")
    }

    @Test func fisherIsTheSquaredGradientOfASampledLabel() throws {
        // One dense layer: ∂/∂bias of −log p(y|x) is p − onehot(y), so each sample's bias Fisher is (p − e_y)² for some y.
        let arch = Architecture(name: "lin", input: .flat(3), backbone: [], head: [.dense(name: "out", units: 3)])
        let net = try Network(architecture: arch, seed: 1)
        let data = try Dataset(sampleShape: .flat(3), features: [0.3, -1, 2], labels: [0], classNames: ["a", "b", "c"])
        let fisher = try Fisher.diagonal(of: net, on: data, samples: 10, seed: 5)
        let logits = try net.forward(data.batch([0][...]).0, training: false).values
        let z = logits.map { expf($0 - logits.max()!) }, p = z.map { $0 / z.reduce(0, +) }
        var candidates: [[Float]] = []
        for y in 0..<3 {
            var row: [Float] = []
            for k in 0..<3 { let d: Float = p[k] - (k == y ? 1 : 0); row.append(d * d) }
            candidates.append(row)
        }
        #expect(candidates.contains { zip($0, fisher["out.bias"]!).allSatisfy { abs($0 - $1) < 1e-5 } })
        // Weights: (p − e_y)_k² · x_j².
        let fw = fisher["out.weight"]!, fb = fisher["out.bias"]!
        let xs: [Float] = [0.3, -1, 2]
        for k in 0..<3 { for j in 0..<3 { let expected: Float = fb[k] * xs[j] * xs[j]; #expect(abs(fw[k * 3 + j] - expected) < 1e-5) } }
        #expect(try Fisher.diagonal(of: net, on: data, samples: 10, seed: 5) == fisher, "seeded")
    }

    @Test func fisherWorksThroughBatchNormInInferenceMode() throws {
        let net = try Network(architecture: blobNet(), seed: 3)
        let data = try blobs(40, seed: 3)
        let fisher = try Fisher.diagonal(of: net, on: data, samples: 20, seed: 1)
        #expect(fisher["bn.weight"]!.contains { $0 > 0 }, "the batch-norm scale gets a Fisher value")
        #expect(fisher.values.allSatisfy { $0.allSatisfy { $0 >= 0 && $0.isFinite } })
        #expect(net.parameterObjects.allSatisfy { !$0.frozen })
    }
}
