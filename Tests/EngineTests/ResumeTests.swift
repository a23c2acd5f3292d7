// Training that stops after epoch k and resumes at k+1 — from a fresh network
// holding the saved weights, with the saved optimizer state and random streams, and
// the schedule defined over the whole budget — is bitwise the training that never
// stopped (what promoting a configuration in a search rests on).
import Testing
import Foundation
import ModelZoo
@testable import Engine

@Suite struct ResumeTests {
    static func weights(_ n: Network) -> [[UInt32]] { n.stateTensors.map { t in (0..<t.tensor.count).map { t.tensor[$0].bitPattern } } }

    func straightAndResumed(_ base: TrainingConfig, stopAfter k: Int, frozen: Set<String> = []) throws -> (straight: [[UInt32]], resumed: [[UInt32]]) {
        let train = try blobs(200, seed: 11), validation = try blobs(60, seed: 12)
        func freeze(_ n: Network) {
            for p in n.parameterObjects where Network.covers(frozen, p.name) { p.frozen = true }
            n.configureGradients()
        }
        let straight = try Network(architecture: blobNet(), seed: 21)
        freeze(straight)
        try Trainer.fit(straight, train: train, validation: validation, config: base)

        var first = base
        first.epochs = k
        first.scheduleEpochs = base.epochs
        let partial = try Network(architecture: blobNet(), seed: 21)
        freeze(partial)
        let stopped = try Trainer.fit(partial, train: train, validation: validation, config: first)
        let saved = try #require(stopped.state)
        #expect(saved.epoch == k)
        #expect(!saved.randomStreams.isEmpty, "the dropout layer's stream is part of the state")

        // A new process would build the network afresh and load the weights.
        let resumed = try Network(architecture: blobNet(), seed: 999)
        for (to, from) in zip(resumed.stateTensors, partial.stateTensors) { to.tensor.copyValues(from: from.tensor) }
        freeze(resumed)   // as the spec says; the unfreezing before epoch k + 1 is applied on resuming
        var rest = base
        rest.firstEpoch = k + 1
        rest.resume = saved
        rest.scheduleEpochs = base.epochs
        let result = try Trainer.fit(resumed, train: train, validation: validation, config: rest)
        #expect(result.history.map(\.epoch) == Array((k + 1)...base.epochs))
        return (Self.weights(straight), Self.weights(resumed))
    }

    @Test func adamWithACosineScheduleAndDropout() throws {
        let config = TrainingConfig(epochs: 4, batchSize: 32, optimizer: .adam(), learningRate: 0.01, weightDecay: 1e-4,
                                    schedule: .cosine(warmupEpochs: 0.5, minFactor: 0.05), clipNorm: 5, seed: 3)
        let (a, b) = try straightAndResumed(config, stopAfter: 2)
        let bitwiseEqual = a == b
        #expect(bitwiseEqual, "resumed training is not the straight one")
    }

    @Test func sgdWithMomentumAStepScheduleAndUnfreezing() throws {
        var config = TrainingConfig(epochs: 5, batchSize: 16, optimizer: .sgd(momentum: 0.9, nesterov: true), learningRate: 0.05,
                                    schedule: .step(everyEpochs: 2, gamma: 0.5), augmentation: Augmentation(cropPadding: 1, horizontalFlip: true), seed: 8)
        config.unfreeze = [(epoch: 2, names: ["conv"])]
        // Starts with the conv frozen; it thaws at epoch 2, before the stop at 3.
        let (a, b) = try straightAndResumed(config, stopAfter: 3, frozen: ["conv"])
        let bitwiseEqual = a == b
        #expect(bitwiseEqual, "resumed training is not the straight one")
    }

    @Test func resumingWithoutTheStateIsRefused() throws {
        let net = try Network(architecture: blobNet(), seed: 1)
        var config = TrainingConfig(epochs: 3, batchSize: 32, seed: 1)
        config.firstEpoch = 2
        #expect(throws: EngineError.self) { try Trainer.fit(net, train: try blobs(40, seed: 1), config: config) }
    }
}
