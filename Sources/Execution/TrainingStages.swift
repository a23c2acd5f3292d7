// Training stages: `train` fits a network (optionally only the part after a
// frozen prefix, on cached features), with gradual unfreezing and L2-SP/EWC
// penalties; `fisher` estimates a source model's diagonal Fisher information;
// `evaluate` scores any model on a test split.
import Engine
import Foundation
import Jobs
import ModelZoo

enum TrainingStages {
    static func train(_ w: TrainWork, inputs: StageInputs, context: StageContext) throws -> StageOutput {
        guard case .normalized(var train, var validation, _, _) = try inputs(1) else { throw context.wrongInput() }
        // The model to train: model.init's, or (continuing a shorter run of the same
        // settings under one budget) that run's model with its training state and history.
        let initial: Network
        var resume: (state: TrainingState, history: [EpochRecord])?
        switch try inputs(0) {
        case .model(let n) where w.firstEpoch == nil:
            initial = n
        case .trained(let n, let history, _, _, let state) where w.firstEpoch != nil:
            guard let state, state.epoch == w.firstEpoch! - 1 else {
                throw context.failure("the run this one continues kept no training state at epoch \(w.firstEpoch! - 1)")
            }
            initial = n
            resume = (state, history)
            context.log("  continuing a run of the same settings after epoch \(state.epoch)")
        default:
            throw context.wrongInput()
        }
        // model.init may be shared by several points: train a copy.
        let network = try ModelStages.clone(initial)
        if !w.frozen.isEmpty { network.freeze(Set(w.frozen)) }
        var trainee = network
        var next = 2
        if let cut = w.featureCut {
            // Frozen prefix: train the layers after it (and the head) on the cached features.
            guard case .features(let ftrain, let fvalidation, _) = try inputs(next) else { throw context.wrongInput() }
            next += 1
            trainee = try ModelStages.rest(of: network, cut: cut, frozen: w.frozen)
            (train, validation) = (ftrain, fvalidation)
        }
        var config = configuration(w.training)
        if let a = w.training.architecture {
            config.architecture = ArchitectureStep(learningRate: Float(a.learningRate), weightDecay: Float(a.weightDecay))
        }
        if config.earlyStopping != nil && validation.isEmpty { config.earlyStopping = nil }
        config.scheduleEpochs = w.training.scheduleEpochs
        if let resume { config.firstEpoch = w.firstEpoch!; config.resume = resume.state }
        // Penalties find their parameters by name, in the whole network or in the part after the cut.
        config.penalties = try penalties(w, initial: initial, fisher: w.ewc > 0 ? try inputs(next) : nil, context: context)
        if trainee === network {
            config.unfreeze = w.unfreeze.map { ($0.epoch, Set($0.layers)) }
        }
        let started = Date()
        let epochs = w.training.epochs
        let progress = EpochProgress()
        let result = try Trainer.fit(trainee, train: train, validation: validation.isEmpty ? nil : validation, config: config) { record in
            var line = "  epoch \(record.epoch)/\(epochs)  loss \(fmt(record.trainLoss))  acc \(pct(record.trainAccuracy))"
            if let v = record.validationAccuracy { line += "  val acc \(pct(v))" }
            line += "  lr \(learningRates(record))  \(fmt(record.seconds, 1))s"
            context.log(line)
            context.events?(.epoch(stage: context.stage, epoch: record.epoch, epochs: epochs, loss: record.trainLoss,
                                   validationAccuracy: record.validationAccuracy, seconds: record.seconds))
            return record.trainLoss.isFinite && !context.isCancelled()
        } batchProgress: { epoch, batch, batches, loss in
            let images = min(batch * config.batchSize, train.count)
            if let line = progress.line(epoch: epoch, epochs: epochs, images: images, total: train.count) { context.log(line) }
            context.events?(.batch(stage: context.stage, epoch: epoch, epochs: epochs, batch: batch, batches: batches, loss: loss,
                                   images: images, totalImages: train.count))
            return !context.isCancelled()
        }
        if context.isCancelled() { throw context.failure("cancelled") }
        if trainee !== network { try ModelStages.copyState(from: trainee, to: network) }
        for alpha in network.architectureParameters {
            context.log("  \(alpha.name): softmax per edge " + DartsCell.softmaxRows(alpha.value).map { "[" + $0.map { String(format: "%.3f", $0) }.joined(separator: " ") + "]" }.joined(separator: " "))
        }
        if let last = result.history.last, !last.trainLoss.isFinite {
            throw context.failure("the training loss became \(last.trainLoss) in epoch \(last.epoch); try a lower optimizer.lr (now \(String(format: "%g", w.training.learningRate)))")
        }
        return .trained(network: network, history: (resume?.history ?? []) + result.history, seconds: Date().timeIntervalSince(started),
                        stoppedEarly: result.stoppedEarly, state: w.training.scheduleEpochs != nil ? result.state : nil)
    }

    /// "1e-3", or with parameter groups "1e-3 (backbone 1e-4, head 1e-3)".
    static func learningRates(_ r: EpochRecord) -> String {
        func g(_ x: Double) -> String { String(format: "%.4g", x) }
        guard let groups = r.groupLearningRates, !groups.isEmpty else { return g(r.learningRate) }
        return g(r.learningRate) + " (" + groups.keys.sorted().map { "\($0) \(g(groups[$0]!))" }.joined(separator: ", ") + ")"
    }

    /// L2-SP and EWC penalties toward the pretrained backbone (the model.init output).
    private static func penalties(_ w: TrainWork, initial: Network, fisher: StageOutput?, context: StageContext) throws -> [AnchorPenalty] {
        guard w.l2sp > 0 || w.ewc > 0 else { return [] }
        let anchors = AnchorPenalty.anchors(at: initial, covering: initial.backboneParameterNames)
        var out: [AnchorPenalty] = []
        if w.l2sp > 0 { out.append(AnchorPenalty(name: "l2sp", strength: Float(w.l2sp), anchors: anchors)) }
        if w.ewc > 0 {
            guard case .fisher(let fisher)? = fisher else {
                throw context.failure("EWC needs the source task's Fisher information (backbone.weights: run:NAME)")
            }
            var weighted: [String: ParameterAnchor] = [:]
            for (name, anchor) in anchors {
                guard let f = fisher[name], f.count == anchor.reference.count else { continue }
                weighted[name] = ParameterAnchor(reference: anchor.reference, importance: f)
            }
            out.append(AnchorPenalty(name: "ewc", strength: Float(w.ewc), anchors: weighted))
        }
        return out
    }

    static func fisher(_ w: FisherWork, inputs: StageInputs, context: StageContext) throws -> StageOutput {
        // The source model on its own (normalized) training data.
        guard case .trained(let source, _, _, _, _) = try inputs(0),
              case .normalized(let sourceTrain, _, _, _) = try inputs(1) else { throw context.wrongInput() }
        let network = try ModelStages.clone(source)
        let fisher = try Fisher.diagonal(of: network, on: sourceTrain, samples: w.samples,
                                         seed: SeededGenerator(seed: UInt64(w.seed)).split(label: "fisher").key)
        let values = fisher.values.flatMap { $0 }
        context.log("  Fisher information over \(min(w.samples, sourceTrain.count)) images: mean \(String(format: "%.3g", values.reduce(0, +) / Float(max(values.count, 1)))), max \(String(format: "%.3g", values.max() ?? 0))")
        return .fisher(fisher)
    }

    static func evaluate(_ w: EvaluateWork, inputs: StageInputs, context: StageContext) throws -> StageOutput {
        guard case .normalized(_, _, let test, _) = try inputs(1) else { throw context.wrongInput() }
        let topK = min(w.topK, test.numClasses)
        guard case .trained(let trained, _, _, _, _) = try inputs(0) else {
            // An int8 model or an ensemble.
            guard let model = try CompressionStages.inferenceModel(try inputs(0)) else { throw context.wrongInput() }
            let result = try model.evaluate(test)
            context.log("  \(w.variant): test accuracy \(pct(result.accuracy)), loss \(fmt(result.loss))")
            return .evaluation(variant: w.variant, result: result)
        }
        // A private copy: other stages may be evaluating the same model right now.
        let network = try ModelStages.clone(trained)
        if w.variant == "source.after" {
            // The fine-tuned backbone under the source model's own head, on the source's test split.
            guard case .trained(let source, _, _, _, _) = try inputs(2) else { throw context.wrongInput() }
            let composed = try ModelStages.clone(source)
            _ = try ModelStages.copyBackbone(from: network, to: composed, context: context)
            let result = try composed.evaluate(test, batchSize: 256, topK: topK)
            context.log("  source task after fine-tuning: test accuracy \(pct(result.accuracy))")
            return .evaluation(variant: w.variant, result: result)
        }
        var result: EvaluationResult
        if let cut = w.featureCut {
            // Frozen prefix: score the rest on the cached test features (the prefix would
            // compute exactly these), and time the whole network on one batch.
            guard case .features(_, _, let testFeatures) = try inputs(2) else { throw context.wrongInput() }
            result = try ModelStages.rest(of: network, cut: cut, frozen: []).evaluate(testFeatures, batchSize: 256, topK: topK)
            let timing = try network.evaluate(test.subset(Array(0..<min(256, test.count))), batchSize: 256, topK: 1)
            result.seconds = timing.seconds
            result.secondsPerImage = timing.secondsPerImage
            result.secondsPerBatch = timing.secondsPerBatch
        } else {
            result = try network.evaluate(test, batchSize: 256, topK: topK)
        }
        context.log("  \(w.variant): test accuracy \(pct(result.accuracy)), loss \(fmt(result.loss))")
        return .evaluation(variant: w.variant, result: result)
    }

    /// The engine's training configuration for planned settings.
    static func configuration(_ t: TrainingSettings) -> TrainingConfig {
        let optimizer: OptimizerKind = switch t.optimizer {
        case .sgd(let momentum, let nesterov): .sgd(momentum: Float(momentum), nesterov: nesterov)
        case .adam(let b1, let b2, let eps): .adam(beta1: Float(b1), beta2: Float(b2), epsilon: Float(eps))
        case .adamW(let b1, let b2, let eps): .adamW(beta1: Float(b1), beta2: Float(b2), epsilon: Float(eps))
        case .rmsprop(let alpha, let eps, let momentum): .rmsprop(alpha: Float(alpha), epsilon: Float(eps), momentum: Float(momentum))
        }
        let schedule: LearningRateSchedule = switch t.schedule {
        case .constant: .constant
        case .step(let every, let gamma): .step(everyEpochs: every, gamma: Float(gamma))
        case .cosine(let warmup, let minFactor): .cosine(warmupEpochs: warmup, minFactor: Float(minFactor))
        case .oneCycle(let pct, let div, let finalDiv): .oneCycle(pctStart: Float(pct), divFactor: Float(div), finalDivFactor: Float(finalDiv))
        }
        let early: (metric: StopMetric, patience: Int)? = t.earlyStopping.map {
            ($0.metric == "val.loss" ? .validationLoss : .validationAccuracy, $0.patience)
        }
        return TrainingConfig(epochs: t.epochs, batchSize: t.batchSize, optimizer: optimizer,
                              learningRate: Float(t.learningRate), weightDecay: Float(t.weightDecay),
                              groups: t.groups.map { GroupRule(match: [$0.match], learningRate: $0.learningRate.map(Float.init),
                                                                weightDecay: $0.weightDecay.map(Float.init)) },
                              schedule: schedule, clipNorm: t.clipNorm.map(Float.init), labelSmoothing: Float(t.labelSmoothing),
                              augmentation: Augmentation(cropPadding: t.randomCrop, horizontalFlip: t.horizontalFlip,
                                                          randomResizedCrop: t.randomResizedCrop == true ? RandomResizedCrop() : nil),
                              earlyStopping: early, seed: SeededGenerator(seed: UInt64(t.seed)).split(label: "train").key)
    }
}
