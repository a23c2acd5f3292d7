// Trainer — the minibatch training loop: seeded shuffling and augmentation, any
// optimizer and schedule, parameter groups, per-epoch history, progress callback and
// early stopping, gradual unfreezing and anchor penalties (L2-SP, EWC). Same seed and
// inputs → bitwise equal weights.

import Foundation

/// A learning-rate schedule expressed in epochs; resolved to steps by the trainer.
public enum LearningRateSchedule: Hashable, Sendable {
    case constant
    case step(everyEpochs: Int, gamma: Float)
    case cosine(warmupEpochs: Double = 0, minFactor: Float = 0)
    case oneCycle(pctStart: Float = 0.3, divFactor: Float = 25, finalDivFactor: Float = 1e4)

    /// The step-based schedule for `epochs` epochs of `stepsPerEpoch` steps.
    public func resolve(epochs: Int, stepsPerEpoch: Int) -> LRSchedule {
        let total = max(epochs * stepsPerEpoch, 1)
        switch self {
        case .constant: return .constant
        case let .step(e, g): return .step(stepSize: max(e, 1) * stepsPerEpoch, gamma: g)
        case let .cosine(w, m): return .cosine(warmupSteps: Int((w * Double(stepsPerEpoch)).rounded()), totalSteps: total, minFactor: m)
        case let .oneCycle(p, d, f): return .oneCycle(totalSteps: total, pctStart: p, divFactor: d, finalDivFactor: f)
        }
    }
}

/// Learning rate and weight decay for the parameters a rule matches.
public struct GroupRule: Hashable, Sendable {
    /// Names matched as in ``Network/freeze(_:)`` (parameter names or layer/block paths);
    /// the words `backbone` and `head` match those parts of the network.
    public var match: Set<String>
    public var learningRate: Float?
    public var weightDecay: Float?
    public init(match: Set<String>, learningRate: Float? = nil, weightDecay: Float? = nil) {
        self.match = match; self.learningRate = learningRate; self.weightDecay = weightDecay
    }
}

/// Which metric early stopping watches.
public enum StopMetric: String, Hashable, Sendable, Codable {
    case validationLoss = "val.loss", validationAccuracy = "val.accuracy", trainLoss = "train.loss"
}

/// First-order DARTS (Liu et al. 2018): before each step of the network's weights on a
/// training batch, one Adam step of the architecture weights (`Network.architectureParameters`)
/// on a validation batch (the validation split in a seeded order per epoch, cycled).
/// The weights' optimizer never sees the architecture weights.
public struct ArchitectureStep: Hashable, Sendable {
    public var learningRate: Float
    public var weightDecay: Float
    public var beta1: Float
    public var beta2: Float
    public init(learningRate: Float = 3e-4, weightDecay: Float = 1e-3, beta1: Float = 0.5, beta2: Float = 0.999) {
        self.learningRate = learningRate; self.weightDecay = weightDecay; self.beta1 = beta1; self.beta2 = beta2
    }
}

/// Everything a training run needs besides the network and the data.
public struct TrainingConfig: Hashable, Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: OptimizerKind
    public var learningRate: Float
    public var weightDecay: Float
    /// Rules for parameter groups (first match wins); unmatched parameters use the defaults.
    public var groups: [GroupRule]
    public var schedule: LearningRateSchedule
    public var clipNorm: Float?
    public var labelSmoothing: Float
    public var augmentation: Augmentation
    /// Stop after `patience` epochs without improvement of `metric`, restoring the best weights.
    public var earlyStopping: (metric: StopMetric, patience: Int)? {
        get { stopMetric.map { ($0, patience) } }
        set { stopMetric = newValue?.metric; patience = newValue?.patience ?? 0 }
    }
    var stopMetric: StopMetric?
    var patience = 0
    /// Seed for shuffling, augmentation and dropout masks drawn by the loop.
    public var seed: UInt64
    /// Gradual unfreezing: at the start of `epoch` (1-based) the parameters `names`
    /// covers (parameter names or layer paths) become trainable.
    public var unfreeze: [(epoch: Int, names: Set<String>)] = []
    /// Penalties added to the loss (their gradients to the parameters' gradients).
    public var penalties: [AnchorPenalty] = []
    /// The first epoch to run (1: from the start). With a later one, `resume` holds
    /// the state training had after epoch `firstEpoch − 1` (and the network its weights).
    public var firstEpoch = 1
    public var resume: TrainingState?
    /// The epochs the learning-rate schedule spans (nil: `epochs`). Training that will
    /// be continued sets it to the full budget, so stopping early changes nothing.
    public var scheduleEpochs: Int?
    /// Architecture search: alpha steps on validation batches between the weights' steps.
    public var architecture: ArchitectureStep?

    public init(epochs: Int, batchSize: Int = 128, optimizer: OptimizerKind = .adam(), learningRate: Float = 1e-3,
                weightDecay: Float = 0, groups: [GroupRule] = [], schedule: LearningRateSchedule = .constant,
                clipNorm: Float? = nil, labelSmoothing: Float = 0, augmentation: Augmentation = Augmentation(),
                earlyStopping: (metric: StopMetric, patience: Int)? = nil, seed: UInt64 = 0) {
        self.epochs = epochs; self.batchSize = batchSize; self.optimizer = optimizer
        self.learningRate = learningRate; self.weightDecay = weightDecay; self.groups = groups
        self.schedule = schedule; self.clipNorm = clipNorm; self.labelSmoothing = labelSmoothing
        self.augmentation = augmentation; self.seed = seed
        self.earlyStopping = earlyStopping
    }

    public static func == (a: TrainingConfig, b: TrainingConfig) -> Bool {
        a.epochs == b.epochs && a.batchSize == b.batchSize && a.optimizer == b.optimizer && a.learningRate == b.learningRate
            && a.weightDecay == b.weightDecay && a.groups == b.groups && a.schedule == b.schedule && a.clipNorm == b.clipNorm
            && a.labelSmoothing == b.labelSmoothing && a.augmentation == b.augmentation && a.stopMetric == b.stopMetric
            && a.patience == b.patience && a.seed == b.seed && a.penalties == b.penalties
            && a.unfreeze.map(\.epoch) == b.unfreeze.map(\.epoch) && a.unfreeze.map(\.names) == b.unfreeze.map(\.names)
            && a.architecture == b.architecture
    }
    public func hash(into h: inout Hasher) { h.combine(epochs); h.combine(batchSize); h.combine(seed); h.combine(learningRate) }
}

/// One epoch of history.
public struct EpochRecord: Hashable, Sendable, Codable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    /// Learning rate of the parameters no group rule matches (the optimizer's own)
    /// at the end of the epoch.
    public var learningRate: Double
    /// Each parameter group's learning rate at the end of the epoch, by the name its
    /// rule matches (`backbone`, `head`, a layer path); nil without groups.
    public var groupLearningRates: [String: Double]? = nil
    public var seconds: Double
    /// Mean anchor penalty (L2-SP, EWC) per step, when there is one; not in `trainLoss`.
    public var penalty: Double? = nil
    /// Trainable parameter values during the epoch (changes with gradual unfreezing).
    public var trainableParameters: Int? = nil
}

/// The outcome of a training run.
public struct TrainingResult: Sendable {
    public var history: [EpochRecord]
    /// Epoch (1-based) whose weights the network holds at the end.
    public var bestEpoch: Int
    public var stoppedEarly: Bool
    public var seconds: Double
    /// Where training stopped, to resume it (see ``TrainingState``).
    public var state: TrainingState?
}

/// A replacement for the cross-entropy loss (e.g. distillation): logits, labels and
/// the batch's sample indices in the training set → mean loss, gradient with respect
/// to the logits (divided by N) and the number of correct predictions.
public typealias BatchLoss = (_ logits: Tensor, _ labels: [Int], _ indices: ArraySlice<Int>) throws -> (loss: Float, grad: Tensor, correct: Int)

public enum Trainer {
    /// Builds the optimizer's parameter groups from `config.groups`.
    /// Parameters in `excluding` (architecture weights) are left out.
    public static func makeOptimizer(for network: Network, config: TrainingConfig, excluding: Set<ObjectIdentifier> = []) throws -> Optimizer {
        var groups = config.groups.map { ParameterGroup(parameters: [], learningRate: $0.learningRate ?? config.learningRate,
                                                         weightDecay: $0.weightDecay ?? config.weightDecay) }
        var rest: [Parameter] = []
        for p in network.parameterObjects where !excluding.contains(ObjectIdentifier(p)) {
            let inBackbone = network.backboneParameterNames.contains(p.name)
            if let i = config.groups.firstIndex(where: { rule in
                (rule.match.contains("backbone") && inBackbone) || (rule.match.contains("head") && !inBackbone)
                    || Network.covers(rule.match, p.name) }) {
                groups[i].parameters.append(p)
            } else { rest.append(p) }
        }
        groups.append(ParameterGroup(parameters: rest, learningRate: config.learningRate, weightDecay: config.weightDecay))
        return try Optimizer(kind: config.optimizer, groups: groups.filter { !$0.parameters.isEmpty }, clipNorm: config.clipNorm)
    }

    /// Trains `network` on `train`, validating on `validation` after each epoch when given.
    /// `progress` is called after every epoch; return false from it to stop.
    @discardableResult
    /// `batchProgress(epoch, batch, batches, mean loss so far)` is called after every
    /// batch; return false from it to stop at once (the unfinished epoch is dropped).
    public static func fit(_ network: Network, train: Dataset, validation: Dataset? = nil, config: TrainingConfig,
                           progress: ((EpochRecord) -> Bool)? = nil,
                           batchProgress: ((Int, Int, Int, Double) -> Bool)? = nil,
                           loss customLoss: BatchLoss? = nil) throws -> TrainingResult {
        // The batch's large activations are kept mapped between steps; not past training.
        defer { ProcessMemory.releaseKeptTensors() }
        guard config.epochs >= 0 else { throw EngineError.invalidArgument("epochs must be ≥ 0") }
        guard config.batchSize > 0 else { throw EngineError.invalidArgument("batch size must be positive") }
        guard !train.isEmpty else { throw EngineError.invalidArgument("the training set is empty") }
        guard network.outputFeatures == train.numClasses else {
            throw EngineError.shapeMismatch(layer: network.architecture.name,
                                            message: "network has \(network.outputFeatures) outputs but the data set has \(train.numClasses) classes")
        }
        if config.stopMetric != nil && config.stopMetric != .trainLoss && (validation?.isEmpty ?? true) {
            throw EngineError.invalidArgument("early stopping on \(config.stopMetric!.rawValue) needs a validation set")
        }
        let alphas = config.architecture == nil ? [] : network.architectureParameters.filter { !$0.frozen }
        let optimizer = try makeOptimizer(for: network, config: config, excluding: Set(alphas.map(ObjectIdentifier.init)))
        var architectureOptimizer: Optimizer? = nil
        if let a = config.architecture {
            guard !alphas.isEmpty else { throw EngineError.invalidArgument("architecture search needs a network with architecture weights (darts_supernet)") }
            guard let v = validation, !v.isEmpty else { throw EngineError.invalidArgument("architecture search trains alpha on the validation split, which is empty") }
            guard config.firstEpoch == 1 else { throw EngineError.invalidArgument("architecture search cannot continue another training") }
            architectureOptimizer = try Optimizer(kind: .adam(beta1: a.beta1, beta2: a.beta2, epsilon: 1e-8),
                                                  groups: [ParameterGroup(parameters: alphas, learningRate: a.learningRate, weightDecay: a.weightDecay)])
        }
        var steps = (train.count + config.batchSize - 1) / config.batchSize
        if train.count % config.batchSize == 1 && train.count > 1 { steps -= 1 }   // drop a final batch of one
        let schedule = config.schedule.resolve(epochs: max(config.scheduleEpochs ?? config.epochs, config.epochs), stepsPerEpoch: steps)
        let lossFn = SoftmaxCrossEntropy(labelSmoothing: config.labelSmoothing)
        let root = SeededGenerator(seed: config.seed)
        // Each group's base rate by the name its rule matches (the schedule scales all alike).
        let groupRates = config.groups.isEmpty ? nil : Dictionary(config.groups.map {
            ($0.match.sorted().joined(separator: "+"), $0.learningRate ?? config.learningRate)
        }, uniquingKeysWith: { a, _ in a })
        var history: [EpochRecord] = []
        var best: (value: Double, epoch: Int, weights: [Tensor])? = nil
        var stale = 0, stoppedEarly = false, interrupted = false
        let start = Date()
        var step = 0
        guard config.firstEpoch >= 1, config.firstEpoch == 1 || config.resume?.epoch == config.firstEpoch - 1 else {
            throw EngineError.invalidArgument("resuming at epoch \(config.firstEpoch) needs the training state after epoch \(config.firstEpoch - 1)")
        }
        if config.firstEpoch > 1, let saved = config.resume {
            // Where the stopped training was: unfreezing done, optimizer and random streams as they were.
            let names = config.unfreeze.filter { $0.epoch < config.firstEpoch }.reduce(into: Set<String>()) { $0.formUnion($1.names) }
            if !names.isEmpty {
                for p in network.parameterObjects where Network.covers(names, p.name) { p.frozen = false }
                network.configureGradients()
            }
            try optimizer.restore(saved.optimizer)
            try network.restoreRandomStreams(saved.randomStreams)
            step = (config.firstEpoch - 1) * steps
        }
        for epoch in config.firstEpoch...max(config.epochs, config.firstEpoch) where config.epochs >= config.firstEpoch {
            let t0 = Date()
            var shuffleRNG = root.split(label: "shuffle.epoch\(epoch)")
            var augRNG = root.split(label: "augment.epoch\(epoch)")
            let order = shuffleRNG.permutation(train.count)
            var validationRNG = root.split(label: "architecture.epoch\(epoch)")
            let validationOrder = architectureOptimizer == nil ? [] : validationRNG.permutation(validation!.count)
            let unfreezing = config.unfreeze.filter { $0.epoch == epoch }
            if !unfreezing.isEmpty {
                let names = unfreezing.reduce(into: Set<String>()) { $0.formUnion($1.names) }
                for p in network.parameterObjects where Network.covers(names, p.name) { p.frozen = false }
                network.configureGradients()
            }
            var lossSum = 0.0, correct = 0, seen = 0, penaltySum = 0.0
            for b in 0..<steps {
                let s = b * config.batchSize, e = min(s + config.batchSize, train.count)
                if let architectureOptimizer, let v = validation {
                    // First-order DARTS: alpha descends the validation loss at the current weights.
                    let indices = (0..<min(config.batchSize, v.count)).map { validationOrder[(b * config.batchSize + $0) % v.count] }
                    let (vx, vy) = v.batch(indices[...])
                    let (_, vg, _) = try lossFn(logits: try network.forward(vx, training: true), labels: vy)
                    try network.backward(vg)
                    architectureOptimizer.step(lrScale: 1)
                }
                let (x, y) = train.batch(order[s..<e])
                try config.augmentation.apply(to: x, rng: &augRNG)
                let logits = try network.forward(x, training: true)
                let (l, g, c) = try customLoss?(logits, y, order[s..<e]) ?? lossFn(logits: logits, labels: y)
                guard l.isFinite else {
                    throw EngineError.invalidArgument("training diverged: loss is \(l) at epoch \(epoch), batch \(b + 1); lower the learning rate")
                }
                try network.backward(g)
                for penalty in config.penalties { penaltySum += penalty.addGradient(to: network.parameterObjects) }
                optimizer.step(lrScale: schedule.factor(step: step))
                step += 1
                lossSum += Double(l) * Double(y.count); correct += c; seen += y.count
                if let batchProgress, !batchProgress(epoch, b + 1, steps, lossSum / Double(seen)) { interrupted = true; break }
            }
            if interrupted { stoppedEarly = true; break }
            var rec = EpochRecord(epoch: epoch, trainLoss: lossSum / Double(max(seen, 1)),
                                  trainAccuracy: Double(correct) / Double(max(seen, 1)),
                                  validationLoss: nil, validationAccuracy: nil,
                                  learningRate: Double(config.learningRate * schedule.factor(step: max(step - 1, 0))), seconds: 0,
                                  penalty: config.penalties.isEmpty ? nil : penaltySum / Double(max(steps, 1)),
                                  trainableParameters: network.trainableParameterCount)
            let factor = schedule.factor(step: max(step - 1, 0))
            rec.groupLearningRates = groupRates?.mapValues { Double($0 * factor) }
            if let v = validation, !v.isEmpty {
                let r = try network.evaluate(v, batchSize: max(config.batchSize, 256))
                rec.validationLoss = r.loss; rec.validationAccuracy = r.accuracy
            }
            rec.seconds = Date().timeIntervalSince(t0)
            history.append(rec)
            let keepGoing = progress?(rec) ?? true
            if let metric = config.stopMetric {
                let value: Double = switch metric {
                case .validationLoss: rec.validationLoss!
                case .validationAccuracy: -rec.validationAccuracy!
                case .trainLoss: rec.trainLoss
                }
                if best == nil || value < best!.value {
                    best = (value, epoch, network.stateTensors.map { $0.tensor.copy() })
                    stale = 0
                } else {
                    stale += 1
                    if stale >= max(config.patience, 1) { stoppedEarly = true }
                }
            }
            if stoppedEarly || !keepGoing { stoppedEarly = stoppedEarly || !keepGoing; break }
        }
        var bestEpoch = history.count
        if let best, best.epoch != history.count {
            for (t, saved) in zip(network.stateTensors, best.weights) { t.tensor.copyValues(from: saved) }
            bestEpoch = best.epoch
        }
        var result = TrainingResult(history: history, bestEpoch: bestEpoch, stoppedEarly: stoppedEarly,
                                    seconds: Date().timeIntervalSince(start))
        result.state = TrainingState(epoch: (history.last?.epoch ?? config.firstEpoch - 1), optimizer: optimizer.state,
                                     randomStreams: network.randomStreams)
        return result
    }
}
