// Compression and ensemble stages — what `prune`, `quantize`, `distill` and
// `ensemble` stages compute, how their outputs are evaluated, and how they are
// stored in and read back from the cache. Each reads the previous model stage's
// output (the trained model, or the previous compression step's), so changing a
// later step reuses everything before it from the cache; ensemble members are the
// outputs of their own (cached) stages and are never retrained here.
//
// Entries: prune/distill → model.safetensors (+ history.jsonl, training.json, like
// `train`; a pruned weight is stored as exactly 0, which is how masks persist);
// quantize → model.int8.safetensors (int8 weights); ensemble → ensemble.json.
import Engine
import Foundation
import FrontEnd
import ModelZoo
import Planner

/// A model some stage produced, whatever its form.
enum InferenceModel {
    case float(Network)
    case int8(QuantizedNetwork)
    case ensemble(EnsembleModel)

    /// `[N, K]` class probabilities at `temperature`.
    func probabilities(_ x: Tensor, temperature: Float = 1) throws -> Tensor {
        switch self {
        case .float(let n): return softmax(try n.forward(x, training: false), temperature: temperature)
        case .int8(let q): return softmax(try q.forward(x), temperature: temperature)
        case .ensemble(let e): return try e.probabilities(x, temperature: temperature)
        }
    }

    /// Scores whose softmax is the model's prediction (logits, or log-probabilities for ensembles).
    func scores(_ x: Tensor) throws -> Tensor {
        switch self {
        case .float(let n): return try n.forward(x, training: false)
        case .int8(let q): return try q.forward(x)
        case .ensemble(let e): return EnsembleCombiner.logProbabilities(try e.probabilities(x))
        }
    }

    var outputs: Int {
        switch self {
        case .float(let n): n.outputFeatures
        case .int8(let q): q.outputs
        case .ensemble(let e): e.members.first?.outputs ?? 0
        }
    }

    var parameterCount: Int {
        switch self {
        case .float(let n): n.parameterCount
        case .int8(let q): q.parameterCount
        case .ensemble(let e): e.members.reduce(0) { $0 + $1.parameterCount }
        }
    }

    /// Fraction of zero weights in the conv and dense layers.
    var sparsity: Double {
        switch self {
        case .float(let n): PruningMasks.sparsity(n)
        case .int8(let q): q.sparsity
        case .ensemble: 0
        }
    }

    func evaluate(_ data: Dataset) throws -> EvaluationResult {
        guard outputs == data.numClasses else {
            throw EngineError.shapeMismatch(layer: "evaluate", message: "the model has \(outputs) outputs but the data set has \(data.numClasses) classes")
        }
        return try evaluateClassifier(data, batchSize: 256, topK: min(5, data.numClasses)) { try self.scores($0) }
    }

    /// Writes the model's checkpoint(s); returns the total bytes written.
    func save(to path: String, metadata: [String: String]) throws -> Int {
        func size(_ p: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0 }
        switch self {
        case .float(let n): try n.save(to: path, metadata: metadata); return size(path)
        case .int8(let q): try q.save(to: path, metadata: metadata); return size(path)
        case .ensemble(let e):
            var total = 0
            for (i, m) in e.members.enumerated() {
                let p = path.replacingOccurrences(of: ".safetensors", with: "") + ".member\(i + 1).safetensors"
                total += try m.save(to: p, metadata: metadata)
            }
            return total
        }
    }
}

/// Members and how their predictions combine.
final class EnsembleModel {
    let members: [InferenceModel]
    let method: EnsembleMethod
    /// Per-member weights (`weighted` only; fit on the validation split).
    let weights: [Double]?
    init(members: [InferenceModel], method: EnsembleMethod, weights: [Double]?) {
        self.members = members; self.method = method; self.weights = weights
    }
    func probabilities(_ x: Tensor, temperature: Float = 1) throws -> Tensor {
        try EnsembleCombiner.combine(try members.map { try $0.probabilities(x, temperature: temperature) }, method: method, weights: weights)
    }
}

/// What an ensemble stage stores (its members are its dependencies' outputs).
struct EnsembleInfo: Codable {
    var method: String
    var weights: [Double]?
    /// Stage ids of the members, in the order used.
    var members: [String]
    /// Each member's test accuracy (for the report's comparison).
    var memberTestAccuracy: [Double]
}

extension StageExecutor {
    /// The model a stage's output holds, if it holds one — as a private copy: a float
    /// network's forward pass uses the network's scratch buffers, and other stages may
    /// run the same output at the same time (int8 models allocate per call).
    func inferenceModel(_ out: StageOutput) throws -> InferenceModel? {
        switch out {
        case .trained(let n, _, _, _), .model(let n): return .float(try clone(n))
        case .quantized(let q): return .int8(q)
        case .ensemble(let e, _): return .ensemble(try copy(e))
        default: return nil
        }
    }

    private func copy(_ e: EnsembleModel) throws -> EnsembleModel {
        let members = try e.members.map { m -> InferenceModel in
            switch m {
            case .float(let n): return .float(try clone(n))
            case .int8: return m
            case .ensemble(let inner): return .ensemble(try copy(inner))
            }
        }
        return EnsembleModel(members: members, method: e.method, weights: e.weights)
    }

    private func compressionStep(_ stage: Stage, _ spec: Spec) throws -> (index: Int, step: CompressionStep) {
        guard case .int(let i)? = stage.inputs["index"], spec.compression.indices.contains(i) else {
            throw StageFailure(stage: stage.id, message: "no compression step for this stage in the spec")
        }
        return (i, spec.compression[i])
    }

    private func splits(_ stage: Stage, _ id: String) throws -> (train: Dataset, validation: Dataset, test: Dataset) {
        guard case .normalized(let train, let validation, let test, _) = try output(id) else {
            throw StageFailure(stage: stage.id, message: "expected normalized data from \(id)")
        }
        return (train, validation, test)
    }

    /// Runs a prune, quantize, distill or ensemble stage.
    func executeCompression(_ stage: Stage, spec: Spec) throws -> StageOutput {
        switch stage.kind {
        case .ensemble: return try runEnsemble(stage, spec: spec)
        case .prune, .quantize, .distill:
            let (index, step) = try compressionStep(stage, spec)
            guard stage.deps.count >= 2 else { throw StageFailure(stage: stage.id, message: "missing dependencies") }
            let source = try output(stage.deps[0])
            let data = try splits(stage, stage.deps[1])
            switch step {
            case .prune(let p):
                guard case .trained(let network, _, _, _) = source else {
                    throw StageFailure(stage: stage.id, message: "pruning needs a float model; put prune steps before quantize")
                }
                return try runPrune(stage, spec: spec, p, index: index, network: network, data: data)
            case .quantize(let q):
                guard case .trained(let network, _, _, _) = source else {
                    throw StageFailure(stage: stage.id, message: "quantization needs a float model (the model before this step is already quantized)")
                }
                return try runQuantize(stage, spec: spec, q, index: index, network: network, data: data)
            case .distill(let d):
                let teacherOut = stage.deps.count > 2 ? try output(stage.deps[2]) : source
                guard let teacher = try inferenceModel(teacherOut) else { throw StageFailure(stage: stage.id, message: "the teacher stage holds no model") }
                return try runDistill(stage, spec: spec, d, index: index, teacher: teacher, data: data)
            }
        default:
            throw StageFailure(stage: stage.id, message: "not a compression stage")
        }
    }

    /// Fine-tuning settings: the spec's optimizer at a tenth of its learning rate with
    /// a cosine decay over `epochs`, no early stopping.
    private func finetuneConfig(_ spec: Spec, epochs: Int, label: String) -> TrainingConfig {
        var config = trainingConfig(spec)
        config.epochs = epochs
        config.learningRate *= 0.1
        config.groups = config.groups.map { var g = $0; g.learningRate = g.learningRate.map { $0 * 0.1 }; return g }
        config.schedule = .cosine(warmupEpochs: 0, minFactor: 0)
        config.earlyStopping = nil
        config.seed = SeededGenerator(seed: UInt64(spec.seed)).split(label: label).key
        return config
    }

    /// Trains with a per-step hook (masks, fake quantization) and logs epochs.
    private func fit(_ network: Network, _ data: (train: Dataset, validation: Dataset, test: Dataset), config: TrainingConfig, stage: Stage,
                     what: String, epochOffset: Int, afterStep: (() -> Void)? = nil, loss: BatchLoss? = nil) throws -> [EpochRecord] {
        guard config.epochs > 0 else { return [] }
        let result = try Trainer.fit(network, train: data.train, validation: data.validation.isEmpty ? nil : data.validation, config: config,
                                     progress: { r in
            var line = "  \(what) epoch \(r.epoch)/\(config.epochs)  loss \(fmt(r.trainLoss))  acc \(pct(r.trainAccuracy))"
            if let v = r.validationAccuracy { line += "  val acc \(pct(v))" }
            self.log(line + "  \(fmt(r.seconds, 1))s")
            return r.trainLoss.isFinite && !self.cancellation.isCancelled
        }, batchProgress: { epoch, batch, batches, l in
            afterStep?()
            self.events?(.batch(stage: stage.id, epoch: epoch, epochs: config.epochs, batch: batch, batches: batches, loss: l))
            return !self.cancellation.isCancelled
        }, loss: loss)
        if cancellation.isCancelled { throw StageFailure(stage: stage.id, message: "cancelled") }
        return result.history.map { var r = $0; r.epoch += epochOffset; return r }
    }

    // MARK: prune

    private func runPrune(_ stage: Stage, spec: Spec, _ p: PruneSpec, index: Int, network source: Network,
                          data: (train: Dataset, validation: Dataset, test: Dataset)) throws -> StageOutput {
        let started = Date()
        var network = try clone(source)
        var history: [EpochRecord] = []
        var removed = 0.0   // fraction of the original filters removed so far (structured)
        for k in 1...p.steps {
            let target = p.sparsity * Double(k) / Double(p.steps)
            var masks: PruningMasks? = nil
            switch p.method {
            case .magnitude:
                let m = try PruningMasks.magnitude(network, sparsity: target, global: p.scope == .global)
                m.apply(to: network)
                masks = m
                log("  step \(k)/\(p.steps): \(pct(PruningMasks.sparsity(network))) of weights pruned")
            case .l1_filter:
                // Remove the fraction of the *remaining* filters that reaches `target` of the original.
                let fraction = 1 - (1 - target) / (1 - removed)
                let selection = try StructuredPruning.select(network, fraction: max(0, fraction), global: p.scope == .global)
                network = try StructuredPruning.apply(selection, to: network)
                removed = target
                log("  step \(k)/\(p.steps): \(network.parameterCount) parameters (from \(source.parameterCount)), filters "
                    + selection.keys.sorted().map { "\($0) \(selection[$0]!.count)" }.joined(separator: ", "))
            }
            let config = finetuneConfig(spec, epochs: p.finetuneEpochs, label: "prune\(index).step\(k)")
            let net = network
            history += try fit(net, data, config: config, stage: stage, what: "fine-tune \(k)/\(p.steps)", epochOffset: history.count,
                               afterStep: masks.map { m in { m.apply(to: net) } })
        }
        for (name, s, count) in PruningMasks.sparsityByLayer(network) { log("  \(name): \(pct(s)) of \(count) weights are zero") }
        return .trained(network: network, history: history, seconds: Date().timeIntervalSince(started), stoppedEarly: false)
    }

    // MARK: quantize

    private func runQuantize(_ stage: Stage, spec: Spec, _ q: QuantizeSpec, index: Int, network source: Network,
                             data: (train: Dataset, validation: Dataset, test: Dataset)) throws -> StageOutput {
        // A private copy: other stages may be running the source network right now.
        let network = try clone(source)
        let config = QuantizationConfig(bits: q.bits, perChannel: q.weights == .per_channel, calibrationBatches: q.calibrationBatches,
                                        batchSize: spec.training.batchSize)
        // Calibration batches: a seeded sample of the training split (never the test split).
        var rng = SeededGenerator(seed: UInt64(spec.seed)).split(label: "quantize\(index).calibration")
        let count = min(data.train.count, q.calibrationBatches * spec.training.batchSize)
        let calibration = data.train.subset(Array(rng.permutation(data.train.count).prefix(count)))
        var ranges: ActivationRanges? = nil
        if q.qatEpochs > 0 {
            // Quantization-aware fine-tuning: the forward pass sees fake-quantized weights
            // and activations (straight-through estimator); the updates go to float masters.
            let qat = try QuantizationAwareTraining(network, calibration: calibration, config: config)
            let fine = finetuneConfig(spec, epochs: q.qatEpochs, label: "quantize\(index).qat")
            do {
                _ = try fit(network, data, config: fine, stage: stage, what: "QAT", epochOffset: 0, afterStep: { qat.afterStep() })
            } catch { qat.finish(); throw error }
            ranges = qat.ranges
            qat.finish()
        }
        let quantized = try QuantizedNetwork.quantize(network, calibration: calibration, config: config, ranges: ranges)
        log("  int\(q.bits): \(quantized.ops.count) integer ops, activation ranges "
            + (ranges == nil ? "calibrated on \(count) training images" : "from quantization-aware training (calibrated on \(count) training images, then followed)")
            + (QuantizedNetwork.usesAVX2 ? " (AVX2 kernel)" : " (portable kernel)"))
        return .quantized(quantized)
    }

    // MARK: distill

    private func runDistill(_ stage: Stage, spec: Spec, _ d: DistillSpec, index: Int, teacher: InferenceModel,
                            data: (train: Dataset, validation: Dataset, test: Dataset)) throws -> StageOutput {
        let started = Date()
        let student = try Network(architecture: try studentArchitecture(spec, d),
                                  seed: SeededGenerator(seed: UInt64(spec.seed)).split(label: "distill\(index).student").key)
        // The teacher's soft targets at temperature T for every training sample, once.
        let k = data.train.numClasses, n = data.train.count, t = Float(d.temperature)
        guard teacher.outputs == k else {
            throw StageFailure(stage: stage.id, message: "the teacher has \(teacher.outputs) outputs but the data has \(k) classes")
        }
        let targets = Tensor(zeros: [n, k])
        var s = 0
        while s < n {
            let e = min(s + 256, n)
            let (x, _) = data.train.batch(Array(s..<e)[...])
            let p = try teacher.probabilities(x, temperature: t)
            (targets.pointer + s * k).update(from: p.pointer, count: (e - s) * k)
            s = e
        }
        log("  teacher soft targets at T=\(SpecValue.double(d.temperature).compactText) for \(n) training images")
        let lossFn = DistillationLoss(temperature: t, alpha: Float(d.alpha))
        var config = trainingConfig(spec)
        config.epochs = d.epochs ?? spec.training.epochs
        config.seed = SeededGenerator(seed: UInt64(spec.seed)).split(label: "distill\(index).train").key
        if config.earlyStopping != nil && data.validation.isEmpty { config.earlyStopping = nil }
        let history = try fit(student, data, config: config, stage: stage, what: "student", epochOffset: 0, loss: { logits, labels, indices in
            let batchTargets = Tensor(zeros: [indices.count, k])
            for (row, i) in indices.enumerated() { (batchTargets.pointer + row * k).update(from: targets.pointer + i * k, count: k) }
            return try lossFn(logits: logits, teacher: batchTargets, labels: labels)
        })
        return .trained(network: student, history: history, seconds: Date().timeIntervalSince(started), stoppedEarly: false)
    }

    func studentArchitecture(_ spec: Spec, _ d: DistillSpec) throws -> Architecture {
        try Zoo.architecture(d.studentArch, options: d.studentOptions, input: spec.data.inputShape, classes: spec.data.classCount ?? 10)
    }

    // MARK: ensemble

    /// The member stages of an ensemble stage, in order (for `{top: K}`, ranked by the target).
    private func ensembleMembers(_ stage: Stage, spec: Spec) throws -> [String] {
        let deps = Array(stage.deps.dropLast())
        guard case .int(let k)? = stage.inputs["members"]?["top"] else { return deps }
        // {top: K}: deps are every point's model stage, then every point's first evaluation.
        let half = deps.count / 2
        let target = stage.inputs["target"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "test.accuracy"
        var ranked: [(value: Double, index: Int)] = []
        for i in 0..<half {
            guard case .evaluation(_, let r, _) = try output(deps[half + i]) else { throw wrongInput(stage) }
            let v: Double = switch target {
            case "test.loss": -r.loss
            case "test.top5": r.topKAccuracy
            case "test.macro_f1": r.macroF1
            default: r.accuracy
            }
            ranked.append((v, i))
        }
        ranked.sort { ($0.value, -$0.index) > ($1.value, -$1.index) }
        return ranked.prefix(k).map { deps[$0.index] }
    }

    private func runEnsemble(_ stage: Stage, spec: Spec) throws -> StageOutput {
        guard let dataID = stage.deps.last else { throw wrongInput(stage) }
        let data = try splits(stage, dataID)
        let method = EnsembleMethod(rawValue: stage.inputs["method"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "mean_probs") ?? .meanProbs
        let memberIDs = try ensembleMembers(stage, spec: spec)
        var members: [InferenceModel] = []
        for id in memberIDs {
            guard let m = try inferenceModel(try output(id)) else { throw StageFailure(stage: stage.id, message: "member stage \(id) holds no model") }
            guard m.outputs == data.test.numClasses else {
                throw StageFailure(stage: stage.id, message: "member \(plan.stage(id)?.experiment ?? id) has \(m.outputs) outputs but the data has \(data.test.numClasses) classes")
            }
            members.append(m)
        }
        var weights: [Double]? = nil
        if method == .weighted {
            guard !data.validation.isEmpty else {
                throw StageFailure(stage: stage.id, message: "a weighted ensemble fits its weights on the validation split; set data.validation > 0")
            }
            let probs = try members.map { try allProbabilities($0, data.validation) }
            weights = try EnsembleCombiner.fitWeights(probs, labels: data.validation.labels)
            log("  weights fit on \(data.validation.count) validation images: " + weights!.map { fmt($0, 3) }.joined(separator: ", "))
        }
        let accuracies = try members.map { try $0.evaluate(data.test).accuracy }
        log("  members' test accuracy: " + accuracies.map(pct).joined(separator: ", "))
        let info = EnsembleInfo(method: method.rawValue, weights: weights, members: memberIDs, memberTestAccuracy: accuracies)
        return .ensemble(EnsembleModel(members: members, method: method, weights: weights), info)
    }

    private func allProbabilities(_ model: InferenceModel, _ data: Dataset) throws -> Tensor {
        let k = data.numClasses
        let out = Tensor(zeros: [data.count, k])
        var s = 0
        while s < data.count {
            let e = min(s + 256, data.count)
            let (x, _) = data.batch(Array(s..<e)[...])
            let p = try model.probabilities(x)
            (out.pointer + s * k).update(from: p.pointer, count: (e - s) * k)
            s = e
        }
        return out
    }

    // MARK: evaluation, storage

    /// Evaluates a model that is not a plain `.trained` network (int8, ensemble).
    func evaluateVariant(_ stage: Stage, variant: String) throws -> StageOutput {
        guard stage.deps.count >= 2, let model = try inferenceModel(try output(stage.deps[0])) else { throw wrongInput(stage) }
        let data = try splits(stage, stage.deps[1])
        let result = try model.evaluate(data.test)
        log("  \(variant): test accuracy \(pct(result.accuracy)), loss \(fmt(result.loss))")
        return .evaluation(variant: variant, result: result, network: nil)
    }

    func saveCompression(_ output: StageOutput, to dir: String) throws {
        func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
        switch output {
        case .quantized(let q):
            try q.save(to: path("model.int8.safetensors"))
        case .ensemble(_, let info):
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(info).write(to: URL(fileURLWithPath: path("ensemble.json")))
        default:
            break
        }
    }

    func loadCompression(_ stage: Stage, spec: Spec, from dir: String) throws -> StageOutput {
        func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
        switch stage.kind {
        case .quantize:
            return .quantized(try QuantizedNetwork.load(from: path("model.int8.safetensors")))
        case .ensemble:
            guard let data = FileManager.default.contents(atPath: path("ensemble.json")) else { throw CacheError.corrupt(path("ensemble.json")) }
            let info = try JSONDecoder().decode(EnsembleInfo.self, from: data)
            guard let method = EnsembleMethod(rawValue: info.method), Set(info.members).isSubset(of: Set(stage.deps)) else {
                throw CacheError.corrupt(path("ensemble.json"))
            }
            let members = try info.members.map { id in
                guard let m = try inferenceModel(try output(id)) else { throw CacheError.corrupt("member \(id) holds no model") }
                return m
            }
            return .ensemble(EnsembleModel(members: members, method: method, weights: info.weights), info)
        case .prune, .distill:
            // The architecture: the student's (distill), or the source model's with the
            // filter counts the checkpoint holds (structured pruning shrinks layers).
            var arch: Architecture
            if stage.kind == .distill {
                let (_, step) = try compressionStep(stage, spec)
                guard case .distill(let d) = step else { throw CacheError.corrupt(dir) }
                arch = try studentArchitecture(spec, d)
            } else {
                guard case .trained(let source, _, _, _) = try output(stage.deps[0]) else { throw CacheError.corrupt(dir) }
                arch = source.architecture
                let file = try SafeTensors.read(path("model.safetensors"))
                var counts: StructuredPruning.Selection = [:]
                for (name, t) in file.tensors where name.hasSuffix(".weight") && t.shape.count >= 2 {
                    counts[String(name.dropLast(".weight".count))] = Array(0..<t.shape[0])
                }
                arch = StructuredPruning.architecture(arch, keeping: counts)
            }
            let network = try Network(architecture: arch, seed: 0)
            try network.load(from: path("model.safetensors"))
            let history = try String(decoding: FileManager.default.contents(atPath: path("history.jsonl")) ?? Data(), as: UTF8.self)
                .split(separator: "\n").map { try JSONDecoder().decode(EpochRecord.self, from: Data($0.utf8)) }
            let info = try JSONDecoder().decode(TrainingInfo.self, from: FileManager.default.contents(atPath: path("training.json")) ?? Data())
            return .trained(network: network, history: history, seconds: info.seconds, stoppedEarly: info.stoppedEarly)
        default:
            throw CacheError.corrupt(dir)
        }
    }
}
