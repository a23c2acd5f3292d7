// Compression stages: `prune` (magnitude or L1-filter, in steps with masked
// fine-tuning, Han et al.), `quantize` (int8 with calibration, optionally after
// quantization-aware fine-tuning), `distill` (a student on the teacher's soft
// targets, Hinton et al.), `share` (k-means weight sharing with fine-tuned shared
// values) and `encode` (Deep Compression storage, read back to prove it). Each
// reads the previous model stage's output.
import Engine
import Foundation
import Jobs
import ModelZoo

enum CompressionStages {
    /// The model an output holds, if it holds one — as a private copy (a float
    /// network's forward pass uses its own scratch buffers; int8 models allocate per call).
    static func inferenceModel(_ out: StageOutput) throws -> InferenceModel? {
        switch out {
        case .trained(let n, _, _, _, _), .model(let n), .encoded(let n, _, _): return .float(try ModelStages.clone(n))
        case .quantized(let q): return .int8(q)
        case .ensemble(let e, _): return .ensemble(try copy(e))
        default: return nil
        }
    }

    private static func copy(_ e: EnsembleModel) throws -> EnsembleModel {
        let members = try e.members.map { m -> InferenceModel in
            switch m {
            case .float(let n): return .float(try ModelStages.clone(n))
            case .int8: return m
            case .ensemble(let inner): return .ensemble(try copy(inner))
            }
        }
        return EnsembleModel(members: members, method: e.method, weights: e.weights)
    }

    typealias Splits = (train: Dataset, validation: Dataset, test: Dataset)

    static func splits(_ inputs: StageInputs, _ i: Int, context: StageContext) throws -> Splits {
        guard case .normalized(let train, let validation, let test, _) = try inputs(i) else { throw context.wrongInput() }
        return (train, validation, test)
    }

    /// Fine-tuning settings: the point's optimizer at a tenth of its learning rate with
    /// a cosine decay over `epochs`, no early stopping.
    private static func finetuneConfig(_ t: TrainingSettings, seed: Int, epochs: Int, label: String) -> TrainingConfig {
        var config = TrainingStages.configuration(t)
        config.epochs = epochs
        config.learningRate *= 0.1
        config.groups = config.groups.map { var g = $0; g.learningRate = g.learningRate.map { $0 * 0.1 }; return g }
        config.schedule = .cosine(warmupEpochs: 0, minFactor: 0)
        config.earlyStopping = nil
        config.seed = SeededGenerator(seed: UInt64(seed)).split(label: label).key
        return config
    }

    /// Trains with a per-step hook (masks, fake quantization) and logs epochs.
    private static func fit(_ network: Network, _ data: Splits, config: TrainingConfig, context: StageContext, what: String,
                            epochOffset: Int, afterStep: (() -> Void)? = nil, loss: BatchLoss? = nil) throws -> [EpochRecord] {
        guard config.epochs > 0 else { return [] }
        let result = try Trainer.fit(network, train: data.train, validation: data.validation.isEmpty ? nil : data.validation, config: config,
                                     progress: { r in
            var line = "  \(what) epoch \(r.epoch)/\(config.epochs)  loss \(fmt(r.trainLoss))  acc \(pct(r.trainAccuracy))"
            if let v = r.validationAccuracy { line += "  val acc \(pct(v))" }
            context.log(line + "  \(fmt(r.seconds, 1))s")
            return r.trainLoss.isFinite && !context.isCancelled()
        }, batchProgress: { epoch, batch, batches, l in
            afterStep?()
            context.events?(.batch(stage: context.stage, epoch: epoch, epochs: config.epochs, batch: batch, batches: batches, loss: l,
                                   images: min(batch * config.batchSize, data.train.count), totalImages: data.train.count))
            return !context.isCancelled()
        }, loss: loss)
        if context.isCancelled() { throw context.failure("cancelled") }
        return result.history.map { var r = $0; r.epoch += epochOffset; return r }
    }

    // MARK: prune

    static func prune(_ w: PruneWork, inputs: StageInputs, context: StageContext) throws -> StageOutput {
        guard case .trained(let source, _, _, _, _) = try inputs(0) else {
            throw context.failure("pruning needs a float model; put prune steps before quantize")
        }
        let data = try splits(inputs, 1, context: context)
        let started = Date()
        var network = try ModelStages.clone(source)
        var history: [EpochRecord] = []
        var removed = 0.0   // fraction of the original filters removed so far (structured)
        for k in 1...w.steps {
            let target = w.sparsity * Double(k) / Double(w.steps)
            var masks: PruningMasks? = nil
            switch w.method {
            case .magnitude:
                let m = try PruningMasks.magnitude(network, sparsity: target, global: w.global)
                m.apply(to: network)
                masks = m
                context.log("  step \(k)/\(w.steps): \(pct(PruningMasks.sparsity(network))) of weights pruned")
            case .l1Filter:
                // Remove the fraction of the *remaining* filters that reaches `target` of the original.
                let fraction = 1 - (1 - target) / (1 - removed)
                let selection = try StructuredPruning.select(network, fraction: max(0, fraction), global: w.global)
                network = try StructuredPruning.apply(selection, to: network)
                removed = target
                context.log("  step \(k)/\(w.steps): \(network.parameterCount) parameters (from \(source.parameterCount)), filters "
                    + selection.keys.sorted().map { "\($0) \(selection[$0]!.count)" }.joined(separator: ", "))
            }
            let config = finetuneConfig(w.training, seed: w.seed, epochs: w.finetuneEpochs, label: "prune\(w.index).step\(k)")
            let net = network
            history += try fit(net, data, config: config, context: context, what: "fine-tune \(k)/\(w.steps)", epochOffset: history.count,
                               afterStep: masks.map { m in { m.apply(to: net) } })
        }
        for (name, s, count) in PruningMasks.sparsityByLayer(network) { context.log("  \(name): \(pct(s)) of \(count) weights are zero") }
        return .trained(network: network, history: history, seconds: Date().timeIntervalSince(started), stoppedEarly: false)
    }

    // MARK: quantize

    static func quantize(_ w: QuantizeWork, inputs: StageInputs, context: StageContext) throws -> StageOutput {
        guard case .trained(let source, _, _, _, _) = try inputs(0) else {
            throw context.failure("quantization needs a float model (the model before this step is already quantized)")
        }
        let data = try splits(inputs, 1, context: context)
        // A private copy: other stages may be running the source network right now.
        let network = try ModelStages.clone(source)
        let batchSize = w.training.batchSize
        let config = QuantizationConfig(bits: w.bits, perChannel: w.perChannel, calibrationBatches: w.calibrationBatches, batchSize: batchSize)
        // Calibration batches: a seeded sample of the training split (never the test split).
        var rng = SeededGenerator(seed: UInt64(w.seed)).split(label: "quantize\(w.index).calibration")
        let count = min(data.train.count, w.calibrationBatches * batchSize)
        let calibration = data.train.subset(Array(rng.permutation(data.train.count).prefix(count)))
        var ranges: ActivationRanges? = nil
        if w.qatEpochs > 0 {
            // Quantization-aware fine-tuning: the forward pass sees fake-quantized weights
            // and activations (straight-through estimator); the updates go to float masters.
            let qat = try QuantizationAwareTraining(network, calibration: calibration, config: config)
            let fine = finetuneConfig(w.training, seed: w.seed, epochs: w.qatEpochs, label: "quantize\(w.index).qat")
            do {
                _ = try fit(network, data, config: fine, context: context, what: "QAT", epochOffset: 0, afterStep: { qat.afterStep() })
            } catch { qat.finish(); throw error }
            ranges = qat.ranges
            qat.finish()
        }
        let quantized = try QuantizedNetwork.quantize(network, calibration: calibration, config: config, ranges: ranges)
        context.log("  int\(w.bits): \(quantized.ops.count) integer ops, activation ranges "
            + (ranges == nil ? "calibrated on \(count) training images" : "from quantization-aware training (calibrated on \(count) training images, then followed)")
            + " (\(QuantizedNetwork.kernel) kernel)")
        return .quantized(quantized)
    }

    // MARK: share and encode

    static func share(_ w: ShareWork, inputs: StageInputs, context: StageContext) throws -> StageOutput {
        guard case .trained(let source, _, _, _, _) = try inputs(0) else {
            throw context.failure("weight sharing needs a float model; put share before quantize")
        }
        let data = try splits(inputs, 1, context: context)
        let started = Date()
        let network = try ModelStages.clone(source)
        var books = try Codebooks.cluster(network, bits: w.bits)
        context.log("  \(books.layers.count) layers share at most \(1 << w.bits) values each (k-means, linear initialization)")
        let config = finetuneConfig(w.training, seed: w.seed, epochs: w.finetuneEpochs, label: "share\(w.index)")
        // After every optimizer step the shared values move to their members' mean; zeros stay.
        let history = try fit(network, data, config: config, context: context, what: "fine-tune shared values", epochOffset: 0,
                              afterStep: { books.update(from: network) })
        for name in books.layers.keys.sorted() { context.log("  \(name): \(books.layers[name]!.centroids.count) shared values") }
        return .trained(network: network, history: history, seconds: Date().timeIntervalSince(started), stoppedEarly: false)
    }

    static func encode(inputs: StageInputs, context: StageContext) throws -> StageOutput {
        guard case .trained(let source, _, _, _, _) = try inputs(0) else {
            throw context.failure("encoding needs a float model; put encode last, after prune and share")
        }
        // Written, then read back into a fresh network: what is evaluated is what the file holds.
        let tmp = (NSTemporaryDirectory() as NSString).appendingPathComponent("tlc-encode-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).safetensors")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let sizes = try DeepCompressionFormat.write(source, codebooks: Codebooks.fromValues(source), to: tmp)
        let file = try Data(contentsOf: URL(fileURLWithPath: tmp))
        let decoded = try Network(architecture: source.architecture, seed: 0)
        try DeepCompressionFormat.read(tmp, into: decoded)
        func mb(_ b: Int) -> String { String(format: "%.3f MB", Double(b) / 1e6) }
        context.log("  float32 \(mb(sizes.dense)) → sparse \(mb(sizes.sparse)) → shared codes \(mb(sizes.quantized)) → deflated \(mb(sizes.coded))"
            + String(format: " (%.1f× smaller)", Double(sizes.dense) / Double(max(sizes.coded, 1))))
        return .encoded(network: decoded, file: file, sizes: sizes)
    }

    // MARK: distill

    static func distill(_ w: DistillWork, inputs: StageInputs, context: StageContext) throws -> StageOutput {
        let data = try splits(inputs, 1, context: context)
        guard let teacher = try inferenceModel(try inputs(inputs.count > 2 ? 2 : 0)) else { throw context.failure("the teacher stage holds no model") }
        let started = Date()
        let student = try Network(architecture: w.student, seed: SeededGenerator(seed: UInt64(w.seed)).split(label: "distill\(w.index).student").key)
        // The teacher's soft targets at temperature T for every training sample, once.
        let k = data.train.numClasses, n = data.train.count, t = Float(w.temperature)
        guard teacher.outputs == k else {
            throw context.failure("the teacher has \(teacher.outputs) outputs but the data has \(k) classes")
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
        context.log("  teacher soft targets at T=\(String(format: "%g", w.temperature)) for \(n) training images")
        let lossFn = DistillationLoss(temperature: t, alpha: Float(w.alpha))
        var config = TrainingStages.configuration(w.training)
        config.seed = SeededGenerator(seed: UInt64(w.training.seed)).split(label: "distill\(w.index).train").key
        if config.earlyStopping != nil && data.validation.isEmpty { config.earlyStopping = nil }
        let history = try fit(student, data, config: config, context: context, what: "student", epochOffset: 0, loss: { logits, labels, indices in
            let batchTargets = Tensor(zeros: [indices.count, k])
            for (row, i) in indices.enumerated() { (batchTargets.pointer + row * k).update(from: targets.pointer + i * k, count: k) }
            return try lossFn(logits: logits, teacher: batchTargets, labels: labels)
        })
        return .trained(network: student, history: history, seconds: Date().timeIntervalSince(started), stoppedEarly: false)
    }
}
