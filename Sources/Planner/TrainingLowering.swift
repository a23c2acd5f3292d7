// Training lowering: the spec's optimizer, schedule and training options as the
// engine takes them (`TrainingSettings`), the `train` stage with its frozen
// layers, unfreezing steps and penalties, EWC's `fisher` stage, and the
// evaluations of the trained model (its test split, and the source task's).
import Foundation
import FrontEnd
import Jobs
import ModelZoo

extension PlanBuilder {
    func lowerTraining(_ spec: Spec, file: String, data: (load: String, norm: String), model: LoweredModel,
                       points: [String], state: State) throws(PlanError) -> Lowered {
        let summary = model.summary
        let trainSamples = Double(Self.trainSamples(spec.data)), testSamples = Double(Self.testSamples(spec.data))
        var trainDeps = [model.initStage, data.norm]
        var trainFLOPs: Double
        if let features = model.featuresStage {
            trainDeps.append(features)
            trainFLOPs = 3 * (Double(summary.forwardFLOPs) - model.prefixFLOPs) * trainSamples * Double(spec.training.epochs)
        } else {
            let frozen = Set(model.frozen)
            let trainable = Double(summary.layers.filter { !$0.isGroup && !frozen.contains($0.path) }.reduce(0) { $0 + $1.flops })
            // Forward everything, backward (≈2×) through what is trained.
            trainFLOPs = (Double(summary.forwardFLOPs) + 2 * trainable) * trainSamples * Double(spec.training.epochs)
        }
        // The source task, when the backbone comes from another experiment: EWC's Fisher
        // information is estimated on its data, and the report scores it again after fine-tuning.
        var source: Lowered?
        if case .run(let ref) = spec.backbone.weights { source = try upstream(ref, from: file, state: state) }
        let r = spec.training.regularization
        if r.ewc > 0, let source {
            trainDeps.append(add(.fisher(FisherWork(samples: r.fisherSamples, seed: spec.shuffleSeed)), experiment: spec.name,
                                 deps: [source.model, source.normalized], points: points,
                                 flops: 3 * Double(summary.forwardFLOPs) * Double(r.fisherSamples),
                                 summary: "Fisher information of \(source.experiment) on \(r.fisherSamples) of its training images",
                                 state: state))
        }
        // DARTS: before every weight step a forward and backward pass of a validation batch for alpha.
        if spec.training.architectureSearch != nil { trainFLOPs *= 2 }
        var work = TrainWork(training: Self.trainingSettings(spec), frozen: model.frozen,
                             unfreeze: spec.training.unfreeze.map { UnfreezeStepWork(epoch: $0.epoch, layers: summary.frozenLayers($0.layers)) },
                             featureCut: model.featureCut, l2sp: r.l2sp, ewc: r.ewc)
        // Under one budget, a run continues the longest shorter run of the same settings
        // planned before it (the schedule spans the budget, so the result is the same bit
        // for bit, and only the extra epochs are trained). Not across a frozen-prefix cut
        // or with penalties anchored at the initial model.
        var chainKey: TrainChainKey?
        if spec.training.budget != nil, model.featureCut == nil, r.l2sp == 0, r.ewc == 0 {
            var identity = work
            identity.training.epochs = 0
            let key = TrainChainKey(work: identity, deps: trainDeps)
            chainKey = key
            if let shorter = state.trainChains[key, default: []].filter({ $0.epochs < spec.training.epochs }).max(by: { $0.epochs < $1.epochs }) {
                trainDeps[0] = shorter.stage
                work.firstEpoch = shorter.epochs + 1
                trainFLOPs *= Double(spec.training.epochs - shorter.epochs) / Double(spec.training.epochs)
            }
        }
        let frozenCount = summary.layers.filter { Set(model.frozen).contains($0.path) }.reduce(0) { $0 + $1.parameters }
        let train = add(.train(work), experiment: spec.name, deps: trainDeps, points: points, flops: trainFLOPs,
                        summary: "\(spec.training.epochs) epochs, \(spec.optimizer.kind.rawValue) lr=\(SpecValue.double(spec.optimizer.lr).compactText), " +
                            "batch \(spec.training.batchSize); \(Self.count(summary.parameters - frozenCount)) trainable, \(Self.count(frozenCount)) frozen" +
                            (spec.training.unfreeze.isEmpty ? "" : " at first, unfreezing at epoch " + spec.training.unfreeze.map { String($0.epoch) }.joined(separator: ", ")) +
                            (r.l2sp > 0 ? ", L2-SP" : "") + (r.ewc > 0 ? ", EWC" : "") +
                            (spec.training.architectureSearch.map { ", alpha (DARTS) on validation batches, adam lr=\(SpecValue.double($0.learningRate).compactText)" } ?? ""),
                        state: state)
        if let chainKey { state.trainChains[chainKey, default: []].append((spec.training.epochs, train)) }
        let baseline = EvaluateWork(variant: "baseline", topK: 5, featureCut: model.featureCut)
        var evaluations = [add(.evaluate(baseline), experiment: spec.name,
                               deps: [train, data.norm] + (model.featuresStage.map { [$0] } ?? []), points: points,
                               flops: Double(summary.forwardFLOPs) * testSamples, summary: "evaluate baseline on the test split", state: state)]
        if let source {
            // Source-task accuracy before (the source model itself) and after fine-tuning
            // (the fine-tuned backbone under the source's own head).
            evaluations.append(add(.evaluate(EvaluateWork(variant: "source.before", topK: 5, featureCut: nil)), experiment: spec.name,
                                   deps: [source.model, source.normalized], points: points, flops: 0,
                                   summary: "evaluate the source model \(source.experiment) on its own test split", state: state))
            // A wholly frozen backbone is unchanged bit for bit: nothing to re-score.
            if !model.wholeBackbone {
                evaluations.append(add(.evaluate(EvaluateWork(variant: "source.after", topK: 5, featureCut: nil)), experiment: spec.name,
                                       deps: [train, source.normalized, source.model], points: points,
                                       flops: Double(summary.forwardFLOPs) * testSamples,
                                       summary: "evaluate the fine-tuned backbone with the source head on \(source.experiment)'s test split", state: state))
            }
        }
        return Lowered(model: train, normalized: data.norm, evaluations: evaluations, frozen: model.frozen)
    }

    /// The spec's optimizer, schedule and training options as the engine takes them.
    static func trainingSettings(_ spec: Spec) -> TrainingSettings {
        let o = spec.optimizer
        let optimizer: OptimizerSettings = switch o.kind {
        case .sgd: .sgd(momentum: o.momentum, nesterov: o.nesterov)
        case .adam: .adam(beta1: o.beta1, beta2: o.beta2, epsilon: o.eps)
        case .adamw: .adamW(beta1: o.beta1, beta2: o.beta2, epsilon: o.eps)
        case .rmsprop: .rmsprop(alpha: 0.99, epsilon: o.eps, momentum: o.momentum)
        }
        let s = spec.training.schedule
        let schedule: ScheduleSettings = switch s.kind {
        // A constant rate with warm-up is a cosine that never decays.
        case .constant: s.warmupEpochs > 0 ? .cosine(warmupEpochs: s.warmupEpochs, minFactor: 1) : .constant
        case .step: .step(everyEpochs: s.stepEpochs, gamma: s.gamma)
        case .cosine: .cosine(warmupEpochs: s.warmupEpochs, minFactor: s.minLRFraction)
        case .onecycle: .oneCycle(pctStart: s.pctStart, divFactor: s.maxLRFactor, finalDivFactor: 1e4)
        }
        var settings = TrainingSettings(
            epochs: spec.training.epochs, batchSize: spec.training.batchSize, optimizer: optimizer, learningRate: o.lr,
            weightDecay: o.weightDecay,
            groups: o.groups.keys.sorted().map { GroupSettings(match: $0, learningRate: o.groups[$0]!.lr, weightDecay: o.groups[$0]!.weightDecay) },
            schedule: schedule, clipNorm: o.clipNorm, labelSmoothing: spec.training.labelSmoothing,
            randomCrop: spec.data.augment.randomCrop, horizontalFlip: spec.data.augment.horizontalFlip,
            earlyStopping: spec.training.earlyStopping.map { .init(metric: $0.metric == "val.loss" ? "val.loss" : "val.accuracy", patience: $0.patience) },
            seed: spec.shuffleSeed, scheduleEpochs: spec.training.budget)
        if spec.data.augment.randomResizedCrop { settings.randomResizedCrop = true }
        if let a = spec.training.architectureSearch {
            settings.architecture = ArchitectureSettings(learningRate: a.learningRate, weightDecay: a.weightDecay)
        }
        return settings
    }

    /// Train stages that differ only in their epochs (and so can continue each other).
    struct TrainChainKey: Hashable { var work: TrainWork; var deps: [String] }
}
