import Testing
import Foundation
import ModelZoo
@testable import Engine

/// A small, learnable synthetic problem: class = which quadrant holds the bright blob.
func blobs(_ n: Int, seed: UInt64) throws -> Dataset {
    var g = SeededGenerator(seed: seed)
    var feats: [Float] = [], labels: [Int] = []
    for _ in 0..<n {
        let c = g.nextInt(below: 4)
        var img = [Float](repeating: 0, count: 64)
        for i in 0..<64 { img[i] = g.normal(std: 0.3) }
        let (r0, c0) = (c / 2 * 4, c % 2 * 4)
        for i in 0..<3 { for j in 0..<3 { img[(r0 + i) * 8 + c0 + j] += 1.5 } }
        feats += img; labels.append(c)
    }
    return try Dataset(sampleShape: FeatureShape(channels: 1, height: 8, width: 8), features: feats, labels: labels,
                       classNames: ["tl", "tr", "bl", "br"])
}

func blobNet() -> Architecture {
    Architecture(name: "blobnet", input: FeatureShape(channels: 1, height: 8, width: 8),
                 backbone: [.conv2d(name: "conv", filters: 4, kernel: 3, stride: 1, padding: 1), .batchNorm(name: "bn"),
                            .relu(name: "relu"), .maxPool(name: "pool", size: 2, stride: 2, padding: 0), .flatten(name: "flat")],
                 head: [.dense(name: "fc", units: 16), .relu(name: "r"), .dropout(name: "d", rate: 0.1), .dense(name: "out", units: 4)])
}

@Suite struct TrainingTests {
    @Test func trainsAndEvaluates() throws {
        let train = try blobs(256, seed: 1), test = try blobs(128, seed: 2)
        let net = try Network(architecture: blobNet(), seed: 3)
        var epochs: [Int] = []
        let r = try Trainer.fit(net, train: train, validation: test,
                                config: TrainingConfig(epochs: 4, batchSize: 32, optimizer: .adam(), learningRate: 0.01,
                                                       schedule: .cosine(warmupEpochs: 1), seed: 5)) { epochs.append($0.epoch); return true }
        #expect(epochs == [1, 2, 3, 4])
        #expect(r.history.last!.trainLoss < r.history.first!.trainLoss)
        let e = try net.evaluate(test, topK: 2)
        #expect(e.accuracy > 0.9)
        #expect(e.topKAccuracy >= e.accuracy)
        #expect(e.confusion.flatMap { $0 }.reduce(0, +) == 128)
        #expect(abs(e.accuracy - r.history.last!.validationAccuracy!) < 1e-9)
        #expect(e.f1.allSatisfy { $0 > 0.5 && $0 <= 1 })
        #expect(net.sizeInBytes == 4 * (net.parameterCount + 8))
    }

    @Test func sameSeedGivesBitwiseEqualWeights() throws {
        let train = try blobs(96, seed: 1)
        func run(_ seed: UInt64) throws -> [[Float]] {
            let net = try Network(architecture: blobNet(), seed: 3)
            try Trainer.fit(net, train: train, config: TrainingConfig(epochs: 2, batchSize: 16, optimizer: .sgd(momentum: 0.9),
                                                                      learningRate: 0.05, augmentation: Augmentation(cropPadding: 1, horizontalFlip: true), seed: seed))
            return net.stateTensors.map { $0.tensor.values }
        }
        let a = try run(7), b = try run(7), c = try run(8)
        #expect(a == b)
        #expect(a != c)
        // The batch is cut into fixed parts, so the thread count does not change results.
        let saved = Parallel.threads
        Parallel.threads = 1
        let single = try run(7)
        Parallel.threads = saved
        #expect(single == a)
    }

    @Test func earlyStoppingRestoresBest() throws {
        let train = try blobs(64, seed: 1), val = try blobs(64, seed: 9)
        let net = try Network(architecture: blobNet(), seed: 3)
        // A huge learning rate makes validation loss worse after the first epoch or so.
        let r = try Trainer.fit(net, train: train, validation: val,
                                config: TrainingConfig(epochs: 30, batchSize: 16, optimizer: .sgd(), learningRate: 0.02,
                                                       earlyStopping: (.trainLoss, 1), seed: 1))
        #expect(r.history.count <= 30)
        let bestLoss = r.history.map(\.trainLoss).min()!
        #expect(r.history[r.bestEpoch - 1].trainLoss == bestLoss)
        #expect(throws: EngineError.self) {
            try Trainer.fit(net, train: train, config: TrainingConfig(epochs: 1, earlyStopping: (.validationLoss, 1)))
        }
        #expect(throws: EngineError.self) { try Trainer.fit(net, train: train.subset([]), config: TrainingConfig(epochs: 1)) }
    }

    @Test func parameterGroupsAndFreezing() throws {
        let net = try Network(architecture: blobNet(), seed: 3)
        net.freeze(["conv"])
        let before = net.parameters.first { $0.name == "conv.weight" }!.tensor.values
        let cfg = TrainingConfig(epochs: 1, batchSize: 32, learningRate: 0.01, groups: [GroupRule(match: ["backbone"], learningRate: 0.001)])
        let opt = try Trainer.makeOptimizer(for: net, config: cfg)
        #expect(opt.groups.count == 2)
        #expect(opt.groups[0].learningRate == 0.001 && opt.groups[0].parameters.map(\.name).contains("bn.weight"))
        #expect(opt.groups[1].parameters.map(\.name) == ["fc.weight", "fc.bias", "out.weight", "out.bias"])
        let fit = try Trainer.fit(net, train: try blobs(64, seed: 1), config: cfg)
        #expect(net.parameters.first { $0.name == "conv.weight" }!.tensor.values == before)
        // The history records every group's rate, and the rate of the ungrouped parameters (the head here).
        #expect(fit.history[0].learningRate == Double(Float(0.01)))
        #expect(fit.history[0].groupLearningRates == ["backbone": Double(Float(0.001))])
        let fresh = try Network(architecture: blobNet(), seed: 3)
        let initial = fresh.parameters.first { $0.name == "fc.weight" }!.tensor.values
        #expect(net.parameters.first { $0.name == "fc.weight" }!.tensor.values != initial)
    }
}
