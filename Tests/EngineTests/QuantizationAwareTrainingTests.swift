// Quantization-aware training: during QAT the float forward pass computes what the
// integer path will (weights and activations fake-quantized at the same points), the
// observers leave the network when QAT ends, and at 4 bits (per tensor) the model
// after QAT is no less accurate through the integer path than post-training
// quantization of the model before it.
import Foundation
import ModelZoo
import Testing
@testable import Engine

@Suite struct QuantizationAwareTrainingTests {
    /// conv → relu → pool → flatten → fc → relu → out: no batchnorm, so the weights the
    /// forward pass sees are exactly the integer path's.
    func plainNet() -> Architecture {
        Architecture(name: "plain", input: FeatureShape(channels: 1, height: 8, width: 8),
                     backbone: [.conv2d(name: "conv", filters: 4, kernel: 3, stride: 1, padding: 1), .relu(name: "relu"),
                                .maxPool(name: "pool", size: 2, stride: 2, padding: 0), .flatten(name: "flat")],
                     head: [.dense(name: "fc", units: 16), .relu(name: "r"), .dense(name: "out", units: 4)])
    }

    func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> (diff: Float, scale: Float) {
        var d: Float = 0, s: Float = 0
        for i in 0..<a.count { d = max(d, abs(a[i] - b[i])); s = max(s, abs(a[i])) }
        return (d, s)
    }

    @Test func qatForwardIsTheIntegerPath() throws {
        let train = try blobs(256, seed: 1), test = try blobs(200, seed: 2)
        let net = try Network(architecture: plainNet(), seed: 3)
        try Trainer.fit(net, train: train, config: TrainingConfig(epochs: 3, batchSize: 32, learningRate: 0.01, seed: 5))
        for bits in [8, 4] {
            let copy = try Network(architecture: plainNet(), seed: 0)
            for (d, s) in zip(copy.stateTensors, net.stateTensors) { d.tensor.copyValues(from: s.tensor) }
            let config = QuantizationConfig(bits: bits, calibrationBatches: 4, batchSize: 64)
            let qat = try QuantizationAwareTraining(copy, calibration: train, config: config)
            // Observers at the input and after the conv unit's and the fc unit's ReLU (not after the logits).
            #expect(copy.leafLayers.filter { $0 is FakeQuantize }.map(\.name) == ["input.fake_quant", "conv.fake_quant", "fc.fake_quant"])
            try Trainer.fit(copy, train: train, config: TrainingConfig(epochs: 1, batchSize: 32, learningRate: 0.002, seed: 6),
                            batchProgress: { _, _, _, _ in qat.afterStep(); return true })
            let (x, _) = test.batch(Array(0..<test.count)[...])
            let fake = try copy.forward(x, training: false)
            let ranges = qat.ranges
            #expect(ranges.input.lo < 0 && ranges.input.hi > 0 && ranges.units["conv"]!.hi > 0 && ranges.units["fc"]!.hi > 0)
            qat.finish()
            #expect(!copy.leafLayers.contains { $0 is FakeQuantize })
            let float = try copy.forward(x, training: false)
            let q = try QuantizedNetwork.quantize(copy, calibration: train, config: config, ranges: ranges)
            let int = try q.forward(x)
            let (qatErr, scale) = maxAbsDiff(int, fake), (floatErr, _) = maxAbsDiff(int, float)
            // The QAT forward pass is the integer path up to float summation order; the
            // float network (masters, no fake quantization) is visibly further away.
            #expect(qatErr < 2e-3 * scale, "\(bits) bits: max |int − QAT forward| = \(qatErr) for logits up to \(scale)")
            #expect(qatErr * 20 < floatErr, "\(bits) bits: QAT forward \(qatErr) vs float \(floatErr) away from the integer path")
        }
    }

    /// Like `blobs`, but noisy enough that the classes overlap (accuracy well below 100 %).
    func noisyBlobs(_ n: Int, seed: UInt64) throws -> Dataset {
        var g = SeededGenerator(seed: seed)
        var feats: [Float] = [], labels: [Int] = []
        for _ in 0..<n {
            let c = g.nextInt(below: 4)
            var img = (0..<64).map { _ in g.normal(std: 1) }
            let (r0, c0) = (c / 2 * 4, c % 2 * 4)
            for i in 0..<3 { for j in 0..<3 { img[(r0 + i) * 8 + c0 + j] += 0.6 } }
            feats += img; labels.append(c)
        }
        return try Dataset(sampleShape: FeatureShape(channels: 1, height: 8, width: 8), features: feats, labels: labels,
                           classNames: ["tl", "tr", "bl", "br"])
    }

    @Test func qatIsNoWorseThanPostTrainingQuantization() throws {
        let train = try noisyBlobs(1024, seed: 11), test = try noisyBlobs(1000, seed: 12)
        let net = try Network(architecture: plainNet(), seed: 13)
        try Trainer.fit(net, train: train, config: TrainingConfig(epochs: 4, batchSize: 32, learningRate: 0.01, seed: 15))
        let config = QuantizationConfig(bits: 4, perChannel: false, calibrationBatches: 4, batchSize: 64)
        let ptq = try QuantizedNetwork.quantize(net, calibration: train, config: config).evaluate(test)
        let qat = try QuantizationAwareTraining(net, calibration: train, config: config)
        try Trainer.fit(net, train: train, config: TrainingConfig(epochs: 2, batchSize: 32, learningRate: 0.002, seed: 16),
                        batchProgress: { _, _, _, _ in qat.afterStep(); return true })
        let ranges = qat.ranges
        qat.finish()
        let after = try QuantizedNetwork.quantize(net, calibration: train, config: config, ranges: ranges).evaluate(test)
        #expect(after.accuracy >= ptq.accuracy, "int4 after QAT \(after.accuracy), post-training \(ptq.accuracy)")
    }

    @Test func prunedWeightsStayZeroThroughQAT() throws {
        let train = try blobs(256, seed: 21)
        let net = try Network(architecture: plainNet(), seed: 23)
        try Trainer.fit(net, train: train, config: TrainingConfig(epochs: 2, batchSize: 32, learningRate: 0.01, seed: 25))
        try PruningMasks.magnitude(net, sparsity: 0.5, global: true).apply(to: net)
        let before = PruningMasks.sparsity(net)
        let qat = try QuantizationAwareTraining(net, calibration: train, config: QuantizationConfig(calibrationBatches: 2, batchSize: 64))
        try Trainer.fit(net, train: train, config: TrainingConfig(epochs: 1, batchSize: 32, learningRate: 0.01, seed: 26),
                        batchProgress: { _, _, _, _ in qat.afterStep(); return true })
        qat.finish()
        #expect(PruningMasks.sparsity(net) >= before)
    }
}
