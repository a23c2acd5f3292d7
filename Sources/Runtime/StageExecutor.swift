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
    case data(train: Dataset, validation: Dataset, test: Dataset, selection: DataSelection)
    case normalized(train: Dataset, validation: Dataset, test: Dataset, normalization: Normalization)
    case model(Network)
    /// The frozen backbone's outputs for every split (flat feature vectors).
    case features(train: Dataset, validation: Dataset, test: Dataset)
    /// The diagonal Fisher information of a source model, by parameter name.
    case fisher([String: [Float]])
    case trained(network: Network, history: [EpochRecord], seconds: Double, stoppedEarly: Bool)
    /// An evaluated model (`network` is nil for int8 models and ensembles).
    case evaluation(variant: String, result: EvaluationResult, network: Network?)
    /// An int8 model (a quantize stage); prune and distill stages hand on `.trained`.
    case quantized(QuantizedNetwork)
    /// An ensemble of other stages' models.
    case ensemble(EnsembleModel, EnsembleInfo)
    case report
}

/// A stage that failed, with what a person needs to act on it.
public struct StageFailure: Error, CustomStringConvertible {
    public var stage: String
    public var message: String
    public var description: String { "stage \(stage) failed: \(message)" }
}

/// How the executor uses the stage cache.
public struct CachePolicy: Sendable {
    /// nil: no cache at all (`--no-cache`).
    public var cache: StageCache?
    /// Rerun (and replace) the stages of this experiment even when cached (`--force`).
    public var forceExperiment: String?
    public init(cache: StageCache?, forceExperiment: String? = nil) { self.cache = cache; self.forceExperiment = forceExperiment }
}

/// Runs stages and holds their outputs. Stages may run on several threads at once:
/// the shared tables sit behind one lock; the work itself runs outside it.
final class StageExecutor: @unchecked Sendable {
    let plan: Plan
    let policy: CachePolicy
    let cancellation: Cancellation
    let log: @Sendable (String) -> Void
    var events: (@Sendable (RunEvent) -> Void)?
    private let lock = NSLock()
    private var outputTable: [String: StageOutput] = [:]
    /// Stages whose output is a complete cache entry not loaded into memory yet.
    private var cachedTable: Set<String> = []
    /// Loaded data sources (train and test splits before any selection), by source.
    private var rawTable: [String: (train: Dataset, test: Dataset)] = [:]
    private var ran = 0, reused = 0
    /// Seconds each stage computed for (this run, or the run that filled its cache entry).
    private var secondsTable: [String: Double] = [:]

    init(plan: Plan, policy: CachePolicy, cancellation: Cancellation = Cancellation(), log: @escaping @Sendable (String) -> Void) {
        self.plan = plan
        self.policy = policy
        self.cancellation = cancellation
        self.log = log
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T { lock.lock(); defer { lock.unlock() }; return try body() }
    private func setOutput(_ id: String, _ out: StageOutput) { locked { outputTable[id] = out } }
    private func markCached(_ id: String) { locked { cachedTable.insert(id); reused += 1 } }
    private func countRan() { locked { ran += 1 } }
    var ranCount: Int { locked { ran } }

    /// How long a stage took to compute, here or in the run that filled its cache entry.
    func computeSeconds(_ id: String) -> Double? {
        if let s = locked({ secondsTable[id] }) { return s }
        guard let dir = entry(id), let data = FileManager.default.contents(atPath: (dir as NSString).appendingPathComponent("timing.json")),
              let info = try? JSONDecoder().decode(StageTiming.self, from: data) else { return nil }
        locked { secondsTable[id] = info.seconds }
        return info.seconds
    }

    /// Runs a stage's work and records how long it took.
    private func timedExecute(_ stage: Stage, spec: Spec) throws -> StageOutput {
        let started = Date()
        let out = try execute(stage, spec: spec)
        let seconds = Date().timeIntervalSince(started)
        locked { secondsTable[stage.id] = seconds }
        return out
    }

    /// Writes a stage's output and its timing into a cache entry folder.
    private func saveEntry(_ out: StageOutput, of stage: Stage, to dir: String) throws {
        try save(out, of: stage, to: dir)
        if let seconds = locked({ secondsTable[stage.id] }) {
            try JSONEncoder().encode(StageTiming(seconds: seconds)).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("timing.json")))
        }
    }
    var reusedCount: Int { locked { reused } }

    /// The output of a finished stage, loading it from the cache when needed.
    func output(_ id: String) throws -> StageOutput {
        if let out = locked({ outputTable[id] }) { return out }
        guard locked({ cachedTable.contains(id) }), let stage = plan.stage(id), let cache = policy.cache else {
            throw StageFailure(stage: id, message: "has not run")
        }
        let out: StageOutput
        do {
            out = try load(stage, from: cache.entry(stage.hash))
        } catch let error as CacheError {
            // A damaged entry is recomputed and replaced, never trusted.
            log("warning: \(error); recomputing \(stage.id)")
            guard let spec = plan.specs[stage.source] else { throw error }
            let fresh = try timedExecute(stage, spec: spec)
            try cache.withLock(stage.hash) {
                try cache.store(stage.hash, kind: stage.kind.rawValue, replace: true) { dir in try saveEntry(fresh, of: stage, to: dir) }
            }
            countRan()
            out = fresh
        }
        setOutput(id, out)
        return out
    }

    /// A data.normalize stage's fitted statistics, without loading the data it normalizes.
    func normalization(_ id: String) throws -> Normalization? {
        if case .normalized(_, _, _, let n)? = locked({ outputTable[id] }) { return n }
        guard let dir = entry(id), let data = FileManager.default.contents(atPath: (dir as NSString).appendingPathComponent("normalization.json")) else {
            return nil
        }
        return try JSONDecoder().decode(Normalization.self, from: data)
    }

    /// The cache entry folder of a finished stage, if it has one.
    func entry(_ id: String) -> String? {
        guard let cache = policy.cache, let stage = plan.stage(id), cache.isComplete(stage.hash) else { return nil }
        return cache.entry(stage.hash)
    }

    private func reusable(_ stage: Stage) -> Bool {
        guard let cache = policy.cache, cache.isComplete(stage.hash) else { return false }
        return policy.forceExperiment != stage.experiment
    }

    /// Runs `stage` (or reuses its cache entry); its dependencies must be done.
    func run(_ stage: Stage) throws {
        guard let spec = plan.specs[stage.source] else {
            throw StageFailure(stage: stage.id, message: "no spec for source '\(stage.source)'")
        }
        if reusable(stage) {
            markCached(stage.id)
            log("  cached (\(stage.hash.prefix(10)))")
            return
        }
        do {
            guard let cache = policy.cache, stage.kind != .report else {
                setOutput(stage.id, try timedExecute(stage, spec: spec))
                countRan()
                return
            }
            // One process computes a stage; a second one waits, then reuses its entry.
            try cache.withLock(stage.hash) {
                if reusable(stage) {
                    markCached(stage.id)
                    log("  cached by another run (\(stage.hash.prefix(10)))")
                    return
                }
                let out = try timedExecute(stage, spec: spec)
                setOutput(stage.id, out)
                countRan()
                try cache.store(stage.hash, kind: stage.kind.rawValue, replace: true) { dir in
                    try saveEntry(out, of: stage, to: dir)
                }
            }
        } catch let failure as StageFailure {
            throw failure
        } catch {
            throw StageFailure(stage: stage.id, message: "\(error)")
        }
    }

    private func dep(_ stage: Stage, _ i: Int) throws -> StageOutput {
        guard i < stage.deps.count else { throw StageFailure(stage: stage.id, message: "dependency \(i) is missing") }
        return try output(stage.deps[i])
    }

    private func execute(_ stage: Stage, spec: Spec) throws -> StageOutput {
        var spec = spec
        // Ensemble members are model.init/train stages with their own seed.
        if [.modelInit, .train].contains(stage.kind), case .int(let seed)? = stage.inputs["seed"] { spec.seed = seed }
        switch stage.kind {
        case .dataLoad: return try loadData(spec, experiment: stage.experiment)
        case .dataNormalize:
            guard case .data(let train, let validation, let test, _) = try dep(stage, 0) else { throw wrongInput(stage) }
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
            // The frozen backbone (or its frozen prefix) in inference mode, once over every split.
            guard case .normalized(let train, let validation, let test, _) = try dep(stage, stage.deps.count - 1) else { throw wrongInput(stage) }
            let backbone = try prefixNetwork(spec)
            if stage.deps.count > 1 {
                guard case .trained(let source, _, _, _) = try dep(stage, 0) else { throw wrongInput(stage) }
                _ = try copyBackbone(from: source, to: backbone, stage: stage)
            } else if case .file(let path) = spec.backbone.weights {
                try backbone.load(from: SpecDecoder.resolvePath(path, relativeTo: plan.file), only: ["backbone"])
            }
            let out = StageOutput.features(train: try features(of: train, through: backbone), validation: try features(of: validation, through: backbone),
                                           test: try features(of: test, through: backbone))
            log("  \(train.count + validation.count + test.count) images → \(backbone.summary.output.count) features each")
            return out
        case .train:
            guard case .model(let initial) = try dep(stage, 0),
                  case .normalized(var train, var validation, _, _) = try dep(stage, 1) else { throw wrongInput(stage) }
            // model.init may be shared by several points: train a copy.
            let network = try clone(initial)
            let frozen = Set(network.summary.frozenLayers(spec.backbone.freeze))
            if !frozen.isEmpty { network.freeze(frozen) }
            var trainee = network
            if let featuresID = dependency(of: stage, kind: .features), case .features(let ftrain, let fvalidation, _) = try output(featuresID) {
                // Frozen prefix: train the layers after it (and the head) on the cached features.
                trainee = try restNetwork(of: network, spec: spec)
                (train, validation) = (ftrain, fvalidation)
            }
            var config = trainingConfig(spec)
            if config.earlyStopping != nil && validation.isEmpty { config.earlyStopping = nil }
            // Penalties find their parameters by name, in the whole network or in the part after the cut.
            config.penalties = try penalties(spec, initial: initial, stage: stage)
            if trainee === network {
                config.unfreeze = spec.training.unfreeze.map { ($0.epoch, Set(network.summary.frozenLayers($0.layers))) }
            }
            let started = Date()
            let result = try Trainer.fit(trainee, train: train, validation: validation.isEmpty ? nil : validation, config: config) { record in
                var line = "  epoch \(record.epoch)/\(spec.training.epochs)  loss \(fmt(record.trainLoss))  acc \(pct(record.trainAccuracy))"
                if let v = record.validationAccuracy { line += "  val acc \(pct(v))" }
                line += "  lr \(SpecValue.double(Double(String(format: "%.4g", record.learningRate))!).compactText)  \(fmt(record.seconds, 1))s"
                self.log(line)
                self.events?(.epoch(stage: stage.id, epoch: record.epoch, epochs: spec.training.epochs, loss: record.trainLoss,
                                    validationAccuracy: record.validationAccuracy, seconds: record.seconds))
                return record.trainLoss.isFinite && !self.cancellation.isCancelled
            } batchProgress: { epoch, batch, batches, loss in
                self.events?(.batch(stage: stage.id, epoch: epoch, epochs: spec.training.epochs, batch: batch, batches: batches, loss: loss))
                return !self.cancellation.isCancelled
            }
            if cancellation.isCancelled { throw StageFailure(stage: stage.id, message: "cancelled") }
            if trainee !== network { try copyState(from: trainee, to: network) }
            if let last = result.history.last, !last.trainLoss.isFinite {
                throw StageFailure(stage: stage.id, message: "the training loss became \(last.trainLoss) in epoch \(last.epoch); try a lower optimizer.lr (now \(SpecValue.double(spec.optimizer.lr).compactText))")
            }
            return .trained(network: network, history: result.history, seconds: Date().timeIntervalSince(started), stoppedEarly: result.stoppedEarly)
        case .evaluate:
            let variant = stage.inputs["variant"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "baseline"
            if case .trained = try dep(stage, 0) {} else { return try evaluateVariant(stage, variant: variant) }
            guard case .trained(let network, _, _, _) = try dep(stage, 0),
                  case .normalized(_, _, let test, _) = try dep(stage, 1) else { throw wrongInput(stage) }
            var result: EvaluationResult
            if variant == "source.after" {
                // The fine-tuned backbone under the source model's own head, on the source's test split.
                guard case .trained(let source, _, _, _) = try dep(stage, 2) else { throw wrongInput(stage) }
                let composed = try clone(source)
                _ = try copyBackbone(from: network, to: composed, stage: stage)
                let result = try composed.evaluate(test, batchSize: 256, topK: min(5, test.numClasses))
                log("  source task after fine-tuning: test accuracy \(pct(result.accuracy))")
                return .evaluation(variant: variant, result: result, network: composed)
            }
            if let trainStage = plan.stage(stage.deps[0]), trainStage.kind == .train, let featuresID = dependency(of: trainStage, kind: .features),
               case .features(_, _, let testFeatures) = try output(featuresID) {
                // Frozen backbone: score the head on the cached test features (the backbone
                // would compute exactly these), and time the whole network on one batch.
                result = try restNetwork(of: network, spec: spec).evaluate(testFeatures, batchSize: 256, topK: min(5, test.numClasses))
                let timing = try network.evaluate(test.subset(Array(0..<min(256, test.count))), batchSize: 256, topK: 1)
                result.seconds = timing.seconds
                result.secondsPerImage = timing.secondsPerImage
                result.secondsPerBatch = timing.secondsPerBatch
            } else {
                result = try network.evaluate(test, batchSize: 256, topK: min(5, test.numClasses))
            }
            log("  \(variant): test accuracy \(pct(result.accuracy)), loss \(fmt(result.loss))")
            return .evaluation(variant: variant, result: result, network: network)
        case .fisher:
            // The source model on its own (normalized) training data.
            guard case .trained(let source, _, _, _) = try dep(stage, 0),
                  case .normalized(let sourceTrain, _, _, _) = try dep(stage, 1) else { throw wrongInput(stage) }
            let samples = stage.inputs["samples"].flatMap { if case .int(let n) = $0 { n } else { nil } } ?? 1000
            let network = try clone(source)
            let fisher = try Fisher.diagonal(of: network, on: sourceTrain, samples: samples,
                                             seed: SeededGenerator(seed: UInt64(spec.seed)).split(label: "fisher").key)
            let values = fisher.values.flatMap { $0 }
            log("  Fisher information over \(min(samples, sourceTrain.count)) images: mean \(String(format: "%.3g", values.reduce(0, +) / Float(max(values.count, 1)))), max \(String(format: "%.3g", values.max() ?? 0))")
            return .fisher(fisher)
        case .report:
            return .report
        case .prune, .quantize, .distill, .ensemble:
            return try executeCompression(stage, spec: spec)
        }
    }

    /// The first dependency of `stage` of the given kind.
    func dependency(of stage: Stage, kind: Stage.Kind) -> String? {
        stage.deps.first { plan.stage($0)?.kind == kind }
    }

    /// L2-SP and EWC penalties toward the pretrained backbone (the model.init output).
    private func penalties(_ spec: Spec, initial: Network, stage: Stage) throws -> [AnchorPenalty] {
        let r = spec.training.regularization
        guard r.isEnabled else { return [] }
        let anchors = AnchorPenalty.anchors(at: initial, covering: initial.backboneParameterNames)
        var out: [AnchorPenalty] = []
        if r.l2sp > 0 { out.append(AnchorPenalty(name: "l2sp", strength: Float(r.l2sp), anchors: anchors)) }
        if r.ewc > 0 {
            guard let fisherID = dependency(of: stage, kind: .fisher), case .fisher(let fisher) = try output(fisherID) else {
                throw StageFailure(stage: stage.id, message: "EWC needs the source task's Fisher information (backbone.weights: run:NAME)")
            }
            var weighted: [String: ParameterAnchor] = [:]
            for (name, anchor) in anchors {
                guard let f = fisher[name], f.count == anchor.reference.count else { continue }
                weighted[name] = ParameterAnchor(reference: anchor.reference, importance: f)
            }
            out.append(AnchorPenalty(name: "ewc", strength: Float(r.ewc), anchors: weighted))
        }
        return out
    }

    func wrongInput(_ stage: Stage) -> StageFailure {
        StageFailure(stage: stage.id, message: "unexpected inputs from \(stage.deps.joined(separator: ", "))")
    }

    // MARK: data

    /// The data source's training and test splits: Fashion-MNIST's own, or a user's
    /// csv/npy data with its separate test set or a seeded stratified hold-out.
    private func raw(_ spec: Spec, experiment: String) throws -> (train: Dataset, test: Dataset) {
        let d = spec.data
        let key = d.dataset == .fashionMNIST ? "fashion-mnist"
            : "\(experiment)|\(d.dataset.text)|\(d.testDataset?.text ?? "")|\(d.testFraction)|\(spec.seed)|\(d.inputShape)"
        if let known = locked({ rawTable[key] }) { return known }
        let loaded: (train: Dataset, test: Dataset)
        if d.dataset == .fashionMNIST {
            do { loaded = try FashionMNIST.load() } catch {
                throw StageFailure(stage: "data.load", message: "\(error)\n  Fashion-MNIST comes from the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), or set TLC_DATA to a folder with its IDX files")
            }
        } else {
            let file = plan.experimentFiles[experiment] ?? plan.file
            let pool = try userData(d.dataset, shape: d.inputShape, file: file)
            if let testSource = d.testDataset {
                var test = try userData(testSource, shape: d.inputShape, file: file)
                if test.classNames != pool.classNames {
                    // Labels given by name: number the test set's classes as the training data's.
                    let index = Dictionary(uniqueKeysWithValues: pool.classNames.enumerated().map { ($1, $0) })
                    var labels: [Int] = []
                    for l in test.labels {
                        guard let i = index[test.classNames[l]] else {
                            throw StageFailure(stage: "data.load", message: "the test set's class '\(test.classNames[l])' is not in the training data (classes: \(pool.classNames.prefix(8).joined(separator: ", ")))")
                        }
                        labels.append(i)
                    }
                    test = try Dataset(sampleShape: test.sampleShape, features: test.features, labels: labels, classNames: pool.classNames)
                }
                loaded = (pool, test)
            } else {
                let rng = SeededGenerator(seed: UInt64(spec.seed)).split(label: "data").split(label: "test-split")
                let (train, test) = try pool.indicesStratifiedSplit(validationFraction: d.testFraction, rng: rng)
                loaded = (pool.subset(train), pool.subset(test))
            }
        }
        locked { rawTable[key] = loaded }
        return loaded
    }

    /// Reads a csv file or an npy folder (x.npy, y.npy), shaped as `shape`.
    private func userData(_ source: DatasetSource, shape: FeatureShape, file: String) throws -> Dataset {
        let paths = PlanBuilder.dataFiles(source, relativeTo: file)
        var data: Dataset
        if case .csv = source {
            data = try Dataset.fromCSV(paths[0], sampleShape: nil)
        } else {
            data = try Dataset.fromNPY(features: paths[0], labels: paths[1])
        }
        guard data.sampleShape.count == shape.count else {
            throw StageFailure(stage: "data.load", message: "\(source.text): samples have \(data.sampleShape.count) values (\(data.sampleShape)), but data.input_shape \(shape) needs \(shape.count)")
        }
        if data.sampleShape != shape {
            data = try Dataset(sampleShape: shape, features: data.features, labels: data.labels, classNames: data.classNames)
        }
        return data
    }

    private func loadData(_ spec: Spec, experiment: String) throws -> StageOutput {
        let root = SeededGenerator(seed: UInt64(spec.seed)).split(label: "data")
        let (train, test) = try selected(spec, experiment: experiment)
        // Indices into the class-selected splits: what the cache stores.
        var trainIndices = Array(0..<train.count), testIndices = Array(0..<test.count)
        if let n = spec.data.trainPerClass { trainIndices = try train.indicesLimitingPerClass(n, rng: root.split(label: "train-limit")) }
        if let n = spec.data.testPerClass { testIndices = try test.indicesLimitingPerClass(n, rng: root.split(label: "test-limit")) }
        var validationIndices: [Int] = []
        if spec.data.validation > 0 {
            let limited = train.subset(trainIndices)
            let (t, v) = try limited.indicesStratifiedSplit(validationFraction: spec.data.validation, rng: root.split(label: "validation"))
            (trainIndices, validationIndices) = (t.map { trainIndices[$0] }, v.map { trainIndices[$0] })
        }
        let selection = DataSelection(classes: spec.data.classes, train: trainIndices, validation: validationIndices, test: testIndices)
        let out = try materialize(selection, train: train, test: test)
        if case .data(let tr, let va, let te, _) = out {
            log("  \(tr.count) training, \(va.count) validation, \(te.count) test images; \(tr.numClasses) classes")
        }
        return out
    }

    /// The data a cached selection describes.
    func materializeSelection(_ s: DataSelection, spec: Spec, experiment: String) throws -> StageOutput {
        let (train, test) = try selected(spec, experiment: experiment)
        return try materialize(s, train: train, test: test)
    }

    /// The source's training and test splits, reduced to `classes` (remapped) when given.
    private func selected(_ spec: Spec, experiment: String) throws -> (train: Dataset, test: Dataset) {
        let (train, test) = try raw(spec, experiment: experiment)
        guard let classes = spec.data.classes else { return (train, test) }
        return (try train.selectingClasses(classes), try test.selectingClasses(classes))
    }

    private func materialize(_ s: DataSelection, train: Dataset, test: Dataset) throws -> StageOutput {
        guard (s.train + s.validation).allSatisfy({ $0 < train.count }), s.test.allSatisfy({ $0 < test.count }) else {
            throw CacheError.corrupt("data selection indexes past the data set")
        }
        return .data(train: train.subset(s.train), validation: train.subset(s.validation), test: test.subset(s.test), selection: s)
    }

    // MARK: models

    func architecture(_ spec: Spec) throws -> Architecture {
        try Zoo.architecture(spec.backbone.arch, options: spec.backbone.options, input: spec.data.inputShape,
                             classes: spec.data.classCount ?? 10, head: spec.head.descriptions)
    }

    private func makeNetwork(_ spec: Spec) throws -> Network {
        try Network(architecture: try architecture(spec), seed: SeededGenerator(seed: UInt64(spec.seed)).split(label: "model").key)
    }

    func clone(_ network: Network) throws -> Network {
        let copy = try Network(architecture: network.architecture, seed: 0)
        try copyState(from: network, to: copy)
        return copy
    }

    /// Copies every state tensor `to` has by name from `from` (shapes must agree).
    private func copyState(from: Network, to: Network) throws {
        var byName: [String: Tensor] = [:]
        for (n, t) in from.stateTensors { byName[n] = t }
        for (n, t) in to.stateTensors {
            guard let s = byName[n] else { continue }
            guard s.shape == t.shape else { throw StageFailure(stage: "copy", message: "tensor '\(n)' is \(s.shape), expected \(t.shape)") }
            t.copyValues(from: s)
        }
    }

    /// The backbone alone (no head), for computing features.
    /// Where the frozen prefix ends (top-level backbone layers), as the planner decided.
    private func cut(_ spec: Spec, _ summary: ArchitectureSummary) throws -> Int {
        guard let cut = PlanBuilder.featureCut(spec, summary: summary) else {
            throw StageFailure(stage: "features", message: "no frozen prefix to compute features with")
        }
        return cut
    }

    /// The frozen prefix of the backbone alone (the whole backbone when all of it is frozen).
    private func prefixNetwork(_ spec: Spec) throws -> Network {
        let full = try architecture(spec)
        let k = try cut(spec, try full.analyze())
        return try Network(architecture: Architecture(name: full.name + "-prefix", input: full.input, backbone: Array(full.backbone.prefix(k)), head: []),
                           seed: SeededGenerator(seed: UInt64(spec.seed)).split(label: "model").key)
    }

    /// The layers after the frozen prefix and the head, reading the prefix's outputs,
    /// with the full network's weights and freezing.
    private func restNetwork(of network: Network, spec: Spec) throws -> Network {
        let arch = network.architecture
        let k = try cut(spec, network.summary)
        let top = network.summary.layers.filter { $0.inBackbone && !$0.path.contains(".") }
        let rest = try Network(architecture: Architecture(name: arch.name + "-rest", input: top[k - 1].output,
                                                          backbone: Array(arch.backbone.dropFirst(k)), head: arch.head), seed: 0)
        try copyState(from: network, to: rest)
        let frozen = Set(network.summary.frozenLayers(spec.backbone.freeze))
        if !frozen.isEmpty { rest.freeze(frozen) }
        return rest
    }

    private func features(of data: Dataset, through backbone: Network) throws -> Dataset {
        let n = data.count, f = backbone.summary.output.count
        var out = [Float](repeating: 0, count: n * f)
        var start = 0
        while start < n {
            let end = min(start + 256, n)
            let (x, _) = data.batch(Array(start..<end)[...])
            let y = try backbone.forward(x, training: false)
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<((end - start) * f) { dst[start * f + i] = y[i] }
            }
            start = end
        }
        return try Dataset(sampleShape: backbone.summary.output, features: out, labels: data.labels, classNames: data.classNames)
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

    func trainingConfig(_ spec: Spec) -> TrainingConfig {
        let o = spec.optimizer
        let kind: OptimizerKind = switch o.kind {
        case .sgd: .sgd(momentum: Float(o.momentum), nesterov: o.nesterov)
        case .adam: .adam(beta1: Float(o.beta1), beta2: Float(o.beta2), epsilon: Float(o.eps))
        case .adamw: .adamW(beta1: Float(o.beta1), beta2: Float(o.beta2), epsilon: Float(o.eps))
        case .rmsprop: .rmsprop(alpha: 0.99, epsilon: Float(o.eps), momentum: Float(o.momentum))
        }
        let s = spec.training.schedule
        let schedule: LearningRateSchedule = switch s.kind {
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
