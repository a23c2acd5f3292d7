// Compression in the engine: the integer inference path against the float network
// (its kernels against each other: Int8KernelTests), int8 checkpoints (size, round
// trip), pruning masks that persist through fine-tuning, structured pruning that
// really removes channels, the distillation loss gradient, ensemble combination.
import Foundation
import ModelZoo
import Testing
@testable import Engine

@Suite struct CompressionTests {
    // MARK: int8

    func trainedBlobNet() throws -> (Network, Dataset, Dataset) {
        let train = try blobs(256, seed: 1), test = try blobs(200, seed: 2)
        let net = try Network(architecture: blobNet(), seed: 3)
        try Trainer.fit(net, train: train, config: TrainingConfig(epochs: 3, batchSize: 32, learningRate: 0.01, seed: 5))
        return (net, train, test)
    }

    @Test func integerInferenceFollowsTheFloatNetwork() throws {
        let (net, train, test) = try trainedBlobNet()
        let q = try QuantizedNetwork.quantize(net, calibration: train, config: QuantizationConfig(calibrationBatches: 4, batchSize: 64))
        // conv (bn folded, relu fused), pool, fc+relu, out: four integer ops.
        #expect(q.ops.count == 4)
        let (x, _) = test.batch(Array(0..<test.count)[...])
        let f = try net.forward(x, training: false), i = try q.forward(x)
        var err: Float = 0, scale: Float = 0, agree = 0
        for s in 0..<test.count {
            var af = 0, ai = 0
            for c in 0..<4 {
                err = max(err, abs(f[s * 4 + c] - i[s * 4 + c])); scale = max(scale, abs(f[s * 4 + c]))
                if f[s * 4 + c] > f[s * 4 + af] { af = c }
                if i[s * 4 + c] > i[s * 4 + ai] { ai = c }
            }
            if af == ai { agree += 1 }
        }
        #expect(err < 0.05 * scale, "max |float − int8| = \(err) for logits up to \(scale)")
        #expect(agree >= test.count * 97 / 100)
        let ef = try net.evaluate(test), ei = try q.evaluate(test)
        #expect(abs(ef.accuracy - ei.accuracy) <= 0.02)
        // Integer results do not depend on the batch cut.
        let one = try q.forward(test.batch([5][...]).x)
        #expect((0..<4).allSatisfy { one[$0] == i[5 * 4 + $0] })
    }

    @Test func int8CheckpointIsAQuarterAndRoundTrips() throws {
        let arch = Architecture(name: "wide", input: .flat(256), backbone: [.dense(name: "fc1", units: 256), .relu(name: "r1")],
                                head: [.dense(name: "out", units: 4)])
        let net = try Network(architecture: arch, seed: 1)
        var g = SeededGenerator(seed: 2)
        let data = try Dataset(sampleShape: .flat(256), features: (0..<(64 * 256)).map { _ in g.normal(std: 1) },
                               labels: (0..<64).map { $0 % 4 }, classNames: ["a", "b", "c", "d"])
        let q = try QuantizedNetwork.quantize(net, calibration: data, config: QuantizationConfig(calibrationBatches: 1, batchSize: 64))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-int8-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try net.save(to: dir + "/f.safetensors"); try q.save(to: dir + "/q.safetensors")
        let fb = try FileManager.default.attributesOfItem(atPath: dir + "/f.safetensors")[.size] as! Int
        let qb = try FileManager.default.attributesOfItem(atPath: dir + "/q.safetensors")[.size] as! Int
        #expect(Double(fb) / Double(qb) > 3.5, "float \(fb) bytes, int8 \(qb) bytes")
        let raw = try SafeTensors.read(dir + "/q.safetensors")
        #expect(raw.tensor("fc1.weight")?.shape == [256, 256])
        let back = try QuantizedNetwork.load(from: dir + "/q.safetensors")
        #expect(back.ops == q.ops)
        let (x, _) = data.batch(Array(0..<64)[...])
        #expect(try back.forward(x).values == (try q.forward(x)).values)
    }

    // MARK: pruning

    @Test func masksPersistThroughFineTuning() throws {
        let (net, train, _) = try trainedBlobNet()
        let masks = try PruningMasks.magnitude(net, sparsity: 0.8, global: true)
        masks.apply(to: net)
        #expect(abs(PruningMasks.sparsity(net) - 0.8) < 0.01)
        let cfg = TrainingConfig(epochs: 2, batchSize: 32, learningRate: 0.01, seed: 9)
        try Trainer.fit(net, train: train, config: cfg, batchProgress: { _, _, _, _ in masks.apply(to: net); return true })
        // Every pruned weight is still exactly zero; the survivors moved.
        for p in PruningMasks.prunable(net) {
            let m = try #require(masks.masks[p.name])
            for i in 0..<m.count where m[i] == 0 { #expect(p.value[i] == 0) }
        }
        #expect(PruningMasks.fromZeros(net).masks == masks.masks)
        // Per layer: each layer reaches the sparsity on its own.
        let fresh = try Network(architecture: blobNet(), seed: 4)
        try PruningMasks.magnitude(fresh, sparsity: 0.5, global: false).apply(to: fresh)
        for l in PruningMasks.sparsityByLayer(fresh) { #expect(abs(l.sparsity - 0.5) < 0.02, "\(l.name)") }
        #expect(throws: EngineError.self) { try PruningMasks.magnitude(fresh, sparsity: 1.0, global: true) }
    }

    @Test func structuredPruningRemovesChannels() throws {
        let (net, _, test) = try trainedBlobNet()
        let sel = try StructuredPruning.select(net, fraction: 0.5, global: false)
        #expect(sel["conv"]?.count == 2 && sel["fc"]?.count == 8 && sel["out"] == nil)
        let small = try StructuredPruning.apply(sel, to: net)
        #expect(small.parameters.first { $0.name == "conv.weight" }?.tensor.shape == [2, 1, 3, 3])
        #expect(small.parameters.first { $0.name == "fc.weight" }?.tensor.shape == [8, 2 * 16])
        #expect(small.parameters.first { $0.name == "out.weight" }?.tensor.shape == [4, 8])
        // Equal to the full network with the removed filters silenced: zero the removed
        // conv filters' outputs (batchnorm shift) and fc units, compare logits.
        let bn = try #require(QuantizedNetwork.leaves(net).compactMap { $0 as? BatchNorm }.first)
        let fc = try #require(QuantizedNetwork.leaves(net).compactMap { $0 as? Dense }.first)
        for c in 0..<4 where !sel["conv"]!.contains(c) { bn.weight.value[c] = 0; bn.bias.value[c] = 0 }
        for u in 0..<16 where !sel["fc"]!.contains(u) {
            for j in 0..<fc.inFeatures { fc.weight.value[u * fc.inFeatures + j] = 0 }
            fc.bias.value[u] = 0
        }
        let (x, _) = test.batch(Array(0..<32)[...])
        let a = try net.forward(x, training: false), b = try small.forward(x, training: false)
        for i in 0..<a.count { #expect(abs(a[i] - b[i]) < 1e-4) }
    }

    // MARK: distillation, ensembles

    @Test func distillationGradientMatchesFiniteDifferences() throws {
        var g = SeededGenerator(seed: 11)
        let logits = try Tensor(shape: [3, 5], values: (0..<15).map { _ in g.normal(std: 2) })
        let teacher = softmax(try Tensor(shape: [3, 5], values: (0..<15).map { _ in g.normal(std: 2) }), temperature: 4)
        let labels = [0, 3, 4]
        let loss = DistillationLoss(temperature: 4, alpha: 0.7)
        let (_, grad, _) = try loss(logits: logits, teacher: teacher, labels: labels)
        for i in 0..<15 {
            let h: Float = 1e-2
            let plus = logits.copy(), minus = logits.copy()
            plus[i] += h; minus[i] -= h
            let numeric = (try loss(logits: plus, teacher: teacher, labels: labels).loss - loss(logits: minus, teacher: teacher, labels: labels).loss) / (2 * h)
            #expect(abs(numeric - grad[i]) < 2e-3, "logit \(i): numeric \(numeric), analytic \(grad[i])")
        }
        // alpha 0 is plain cross-entropy.
        let ce = try SoftmaxCrossEntropy()(logits: logits, labels: labels)
        #expect(abs(try DistillationLoss(temperature: 4, alpha: 0)(logits: logits, teacher: teacher, labels: labels).loss - ce.loss) < 1e-6)
    }

    @Test func ensembleMethodsOnHandMadeProbabilities() throws {
        // Two samples, three classes, three members.
        let a = try Tensor(shape: [2, 3], values: [0.6, 0.3, 0.1, 0.2, 0.5, 0.3])
        let b = try Tensor(shape: [2, 3], values: [0.1, 0.8, 0.1, 0.4, 0.3, 0.3])
        let c = try Tensor(shape: [2, 3], values: [0.5, 0.4, 0.1, 0.1, 0.1, 0.8])
        let mean = try EnsembleCombiner.combine([a, b, c], method: .meanProbs)
        #expect(abs(mean[0] - 0.4) < 1e-6 && abs(mean[1] - 0.5) < 1e-6 && abs(mean[5] - 1.4 / 3) < 1e-6)
        // Votes: sample 0 → classes 0, 1, 0 → class 0 wins although the mean prefers 1.
        let vote = try EnsembleCombiner.combine([a, b, c], method: .vote)
        #expect(vote[0] > vote[1] && vote[0] > vote[2])
        // Sample 1: one vote each (1, 0, 2) → the tie goes to the highest mean probability (class 2).
        #expect(vote[5] > vote[3] && vote[5] > vote[4])
        #expect(abs((0..<3).reduce(Float(0)) { $0 + vote[3 + $1] } - 1) < 1e-6)
        // Weighted: fit on labels where member b is always right and a never is.
        let labels = [1, 0]
        let bRight = try Tensor(shape: [2, 3], values: [0.05, 0.9, 0.05, 0.9, 0.05, 0.05])
        let w = try EnsembleCombiner.fitWeights([a, bRight], labels: labels)
        #expect(abs(w.reduce(0, +) - 1) < 1e-9 && w[1] > 0.9)
        let weighted = try EnsembleCombiner.combine([a, bRight], method: .weighted, weights: [0.25, 0.75])
        #expect(abs(weighted[1] - (0.25 * 0.3 + 0.75 * 0.9)) < 1e-6)
        #expect(throws: EngineError.self) { try EnsembleCombiner.combine([a, b], method: .weighted, weights: [1]) }
    }
}
