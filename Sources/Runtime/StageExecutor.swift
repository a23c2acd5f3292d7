// Runtime — executes a plan's stages with the engine and writes run directories.
// It knows stages by kind, inputs and dependencies, and specs as plain values;
// it never reads YAML and never decides what a stage is (the planner does).
//
// StageExecutor runs one stage in process, reading its dependencies' outputs
// from memory. Stages shared by several sweep points run once (the plan already
// merged them by hash).
import Engine
import Foundation
import FrontEnd
import ModelZoo
import Planner

/// What a finished stage hands to the stages after it.
enum StageOutput {
    case data(train: Dataset, validation: Dataset, test: Dataset)
    case normalized(train: Dataset, validation: Dataset, test: Dataset, normalization: Normalization)
    case model(Network)
    case features
    case trained(network: Network, history: [EpochRecord], seconds: Double, stoppedEarly: Bool)
    case evaluation(variant: String, result: EvaluationResult, network: Network)
    case report
}

/// A stage that failed, with what a person needs to act on it.
public struct StageFailure: Error, CustomStringConvertible {
    public var stage: String
    public var message: String
    public var description: String { "stage \(stage) failed: \(message)" }
}

final class StageExecutor {
    let plan: Plan
    let log: (String) -> Void
    private(set) var outputs: [String: StageOutput] = [:]

    init(plan: Plan, log: @escaping (String) -> Void) {
        self.plan = plan
        self.log = log
    }

    func output(_ id: String) -> StageOutput? { outputs[id] }

    /// Runs `stage`; its dependencies must have run.
    func run(_ stage: Stage) throws {
        guard let spec = plan.specs[stage.source] else {
            throw StageFailure(stage: stage.id, message: "no spec for source '\(stage.source)'")
        }
        do {
            outputs[stage.id] = try execute(stage, spec: spec)
        } catch let failure as StageFailure {
            throw failure
        } catch {
            throw StageFailure(stage: stage.id, message: "\(error)")
        }
    }

    private func dep(_ stage: Stage, _ i: Int) throws -> StageOutput {
        guard i < stage.deps.count, let out = outputs[stage.deps[i]] else {
            throw StageFailure(stage: stage.id, message: "dependency \(i) has no output")
        }
        return out
    }

    private func execute(_ stage: Stage, spec: Spec) throws -> StageOutput {
        switch stage.kind {
        case .dataLoad: return try loadData(spec)
        case .dataNormalize:
            guard case .data(let train, let validation, let test) = try dep(stage, 0) else { throw wrongInput(stage) }
            let kind: Normalization.Kind = switch spec.normalization.kind {
            case .standardize: .standardize
            case .minmax: .minMax
            case .none: .none
            }
            let n = try Normalization.fit(kind, on: train)
            return .normalized(train: try n.apply(to: train), validation: validation.isEmpty ? validation : try n.apply(to: validation),
                               test: try n.apply(to: test), normalization: n)
        case .modelInit:
            let network = try makeNetwork(spec)
            if case .run = spec.backbone.weights {
                guard case .trained(let source, _, _, _) = try dep(stage, 0) else { throw wrongInput(stage) }
                let copied = try copyBackbone(from: source, to: network, stage: stage)
                log("  loaded \(copied) backbone tensors from \(spec.backbone.weights.text)")
            } else if case .file(let path) = spec.backbone.weights {
                let full = SpecDecoder.resolvePath(path, relativeTo: plan.file)
                let loaded = try network.load(from: full, only: ["backbone"])
                log("  loaded \(loaded.loaded.count) backbone tensors from \(path)")
            }
            return .model(network)
        case .features:
            // The frozen backbone's outputs are not cached yet: training runs it in
            // every epoch (frozen layers still do no gradient work).
            return .features
        case .train:
            guard case .model(let initial) = try dep(stage, 0),
                  case .normalized(let train, let validation, _, _) = try dep(stage, 1) else { throw wrongInput(stage) }
            // model.init may be shared by several points: train a copy.
            let network = try clone(initial, spec: spec)
            let frozen = try freezeSet(spec, network: network)
            if !frozen.isEmpty { network.freeze(frozen) }
            var config = trainingConfig(spec)
            if config.earlyStopping != nil && validation.isEmpty { config.earlyStopping = nil }
            let started = Date()
            let result = try Trainer.fit(network, train: train, validation: validation.isEmpty ? nil : validation, config: config) { record in
                var line = "  epoch \(record.epoch)/\(spec.training.epochs)  loss \(fmt(record.trainLoss))  acc \(pct(record.trainAccuracy))"
                if let v = record.validationAccuracy { line += "  val acc \(pct(v))" }
                line += "  lr \(SpecValue.double(Double(String(format: "%.4g", record.learningRate))!).compactText)  \(fmt(record.seconds, 1))s"
                self.log(line)
                return record.trainLoss.isFinite
            }
            if let last = result.history.last, !last.trainLoss.isFinite {
                throw StageFailure(stage: stage.id, message: "the training loss became \(last.trainLoss) in epoch \(last.epoch); try a lower optimizer.lr (now \(SpecValue.double(spec.optimizer.lr).compactText))")
            }
            return .trained(network: network, history: result.history, seconds: Date().timeIntervalSince(started), stoppedEarly: result.stoppedEarly)
        case .evaluate:
            guard case .trained(let network, _, _, _) = try dep(stage, 0),
                  case .normalized(_, _, let test, _) = try dep(stage, 1) else { throw wrongInput(stage) }
            let variant = stage.inputs["variant"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "baseline"
            let result = try network.evaluate(test, batchSize: 256, topK: min(5, test.numClasses))
            log("  \(variant): test accuracy \(pct(result.accuracy)), loss \(fmt(result.loss))")
            return .evaluation(variant: variant, result: result, network: network)
        case .report:
            return .report
        case .prune, .quantize, .distill, .ensemble:
            throw StageFailure(stage: stage.id, message: "\(stage.kind.rawValue) stages are planned but not executed yet")
        }
    }

    private func wrongInput(_ stage: Stage) -> StageFailure {
        StageFailure(stage: stage.id, message: "unexpected inputs from \(stage.deps.joined(separator: ", "))")
    }

    // MARK: data

    private func loadData(_ spec: Spec) throws -> StageOutput {
        let root = SeededGenerator(seed: UInt64(spec.seed)).split(label: "data")
        var (train, test): (Dataset, Dataset)
        switch spec.data.dataset {
        case .fashionMNIST:
            do { (train, test) = try FashionMNIST.load() } catch {
                throw StageFailure(stage: "data.load", message: "\(error)\n  Fashion-MNIST comes from the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), or set TLC_DATA to a folder with its IDX files")
            }
        case .csv, .npy:
            throw StageFailure(stage: "data.load", message: "\(spec.data.dataset.text): csv and npy data are validated but not loaded yet")
        }
        if let classes = spec.data.classes {
            train = try train.selectingClasses(classes)
            test = try test.selectingClasses(classes)
        }
        if let n = spec.data.trainPerClass { train = try train.limitingPerClass(n, rng: root.split(label: "train-limit")) }
        if let n = spec.data.testPerClass { test = try test.limitingPerClass(n, rng: root.split(label: "test-limit")) }
        var validation = try train.subset([])
        if spec.data.validation > 0 {
            (train, validation) = try train.stratifiedSplit(validationFraction: spec.data.validation, rng: root.split(label: "validation"))
        }
        log("  \(train.count) training, \(validation.count) validation, \(test.count) test images; \(train.numClasses) classes")
        return .data(train: train, validation: validation, test: test)
    }

    // MARK: models

    func architecture(_ spec: Spec) throws -> Architecture {
        try Zoo.architecture(spec.backbone.arch, options: spec.backbone.options, input: spec.data.inputShape,
                             classes: spec.data.classCount ?? 10, head: spec.head.descriptions)
    }

    private func makeNetwork(_ spec: Spec) throws -> Network {
        try Network(architecture: try architecture(spec), seed: SeededGenerator(seed: UInt64(spec.seed)).split(label: "model").key)
    }

    private func clone(_ network: Network, spec: Spec) throws -> Network {
        let copy = try Network(architecture: network.architecture, seed: 0)
        for ((_, to), (_, from)) in zip(copy.stateTensors, network.stateTensors) { to.copyValues(from: from) }
        return copy
    }

    private func copyBackbone(from source: Network, to target: Network, stage: Stage) throws -> Int {
        var byName: [String: Tensor] = [:]
        for (n, t) in source.stateTensors { byName[n] = t }
        var copied = 0
        var problems: [String] = []
        for (name, tensor) in target.stateTensors where !name.hasPrefix("head.") {
            guard let s = byName[name] else { problems.append("missing '\(name)'"); continue }
            guard s.shape == tensor.shape else { problems.append("'\(name)' is \(s.shape) upstream but \(tensor.shape) here"); continue }
            tensor.copyValues(from: s)
            copied += 1
        }
        if !problems.isEmpty {
            throw StageFailure(stage: stage.id, message: "the pretrained backbone does not match: " + problems.prefix(6).joined(separator: "; "))
        }
        return copied
    }

    private func freezeSet(_ spec: Spec, network: Network) throws -> Set<String> {
        Set(network.summary.frozenLayers(spec.backbone.freeze))
    }

    private func trainingConfig(_ spec: Spec) -> TrainingConfig {
        let o = spec.optimizer
        let kind: OptimizerKind = switch o.kind {
        case .sgd: .sgd(momentum: Float(o.momentum), nesterov: o.nesterov)
        case .adam: .adam(beta1: Float(o.beta1), beta2: Float(o.beta2), epsilon: Float(o.eps))
        case .adamw: .adamW(beta1: Float(o.beta1), beta2: Float(o.beta2), epsilon: Float(o.eps))
        case .rmsprop: .rmsprop(alpha: 0.99, epsilon: Float(o.eps), momentum: Float(o.momentum))
        }
        let s = spec.training.schedule
        let schedule: Engine.ScheduleSpec = switch s.kind {
        case .constant: s.warmupEpochs > 0 ? .cosine(warmupEpochs: s.warmupEpochs, minFactor: 1) : .constant
        case .step: .step(everyEpochs: s.stepEpochs, gamma: Float(s.gamma))
        case .cosine: .cosine(warmupEpochs: s.warmupEpochs, minFactor: Float(s.minLRFraction))
        case .onecycle: .oneCycle(pctStart: Float(s.pctStart), divFactor: Float(s.maxLRFactor), finalDivFactor: 1e4)
        }
        let groups = o.groups.keys.sorted().map { name in
            GroupRule(match: [name], learningRate: o.groups[name]!.lr.map(Float.init), weightDecay: o.groups[name]!.weightDecay.map(Float.init))
        }
        let early: (metric: StopMetric, patience: Int)? = spec.training.earlyStopping.map {
            ($0.metric == "val.loss" ? .validationLoss : .validationAccuracy, $0.patience)
        }
        return TrainingConfig(epochs: spec.training.epochs, batchSize: spec.training.batchSize, optimizer: kind,
                              learningRate: Float(o.lr), weightDecay: Float(o.weightDecay), groups: groups, schedule: schedule,
                              clipNorm: o.clipNorm.map(Float.init), labelSmoothing: Float(spec.training.labelSmoothing),
                              augmentation: Augmentation(cropPadding: spec.data.augment.randomCrop, horizontalFlip: spec.data.augment.horizontalFlip),
                              earlyStopping: early, seed: SeededGenerator(seed: UInt64(spec.seed)).split(label: "train").key)
    }
}

func fmt(_ x: Double, _ digits: Int = 4) -> String { String(format: "%.\(digits)f", x) }
func pct(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }
