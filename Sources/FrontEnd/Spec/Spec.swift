// The spec language's value types (v1). A `Spec` is one fully resolved experiment
// point: extends merged, overrides applied, defaults filled in, sweep expanded.
// Every type encodes to a `SpecValue` (see SpecValue.swift) with its keys in the
// order docs/spec.md documents them.
import ModelZoo

public struct Spec: Hashable, Sendable {
    public var tlc: Int = 1
    public var name: String
    public var description: String?
    public var seed: Int = 0
    /// Separate seeds for data, initialization and shuffling; each defaults to `seed`.
    // Sections are shared between copies until changed (see SharedSection).
    @SharedSection public var seeds: SeedsSpec = SeedsSpec()
    @SharedSection public var data: DataSpec = DataSpec()
    public var normalization: NormalizationSpec = NormalizationSpec()
    @SharedSection public var backbone: BackboneSpec = BackboneSpec()
    @SharedSection public var head: HeadSpec = HeadSpec()
    @SharedSection public var optimizer: OptimizerSpec = OptimizerSpec()
    @SharedSection public var training: TrainingSpec = TrainingSpec()
    public var compression: [CompressionStep] = []
    @SharedSection public var ensemble: EnsembleSpec? = nil
    /// `model: run:NAME[/POINT]`: another experiment's trained model (and with it its
    /// data, backbone, head, optimizer and training) is this experiment's model; only
    /// compression, ensembles and the report are this file's.
    public var model: String?
    @SharedSection public var report: ReportSpec = ReportSpec()

    public init(name: String) { self.name = name }

    public var specValue: SpecValue {
        .object([
            ("tlc", .int(tlc)), ("name", .string(name)), ("description", description.map(SpecValue.string)),
            ("seed", .int(seed)), ("seeds", seeds.isEmpty ? nil : seeds.specValue), ("data", data.specValue), ("normalization", normalization.specValue),
            ("backbone", backbone.specValue), ("head", head.specValue), ("optimizer", optimizer.specValue),
            ("training", training.specValue), ("compression", .list(compression.map(\.specValue))),
            ("ensemble", ensemble?.specValue), ("model", model.map { .string("run:" + $0) }), ("report", report.specValue),
        ])
    }
}

extension Spec {
    /// Takes `base`'s copy of each section that is equal to this spec's and that this
    /// spec did not decode from values of its own (`fresh`: top-level section names),
    /// so a sweep point keeps only the sections it changes (see SharedSection). Only
    /// those: an equal section is not always the same (-0.0 == 0.0).
    public mutating func shareEqualSections(with base: Spec, fresh: Set<String>) {
        func share<T>(_ name: String, _ mine: inout SharedSection<T>, _ theirs: SharedSection<T>) {
            if !fresh.contains(name), !mine.isShared(with: theirs), mine == theirs { mine = theirs }
        }
        share("seeds", &$seeds, base.$seeds)
        share("data", &$data, base.$data)
        share("backbone", &$backbone, base.$backbone)
        share("head", &$head, base.$head)
        share("optimizer", &$optimizer, base.$optimizer)
        share("training", &$training, base.$training)
        share("ensemble", &$ensemble, base.$ensemble)
        share("report", &$report, base.$report)
    }

    /// Section copies of the specs seen so far (see `shareSections(from:)`).
    public struct SectionPools {
        var seeds = SharedSection<SeedsSpec>.Pool(), data = SharedSection<DataSpec>.Pool()
        var backbone = SharedSection<BackboneSpec>.Pool(), head = SharedSection<HeadSpec>.Pool()
        var optimizer = SharedSection<OptimizerSpec>.Pool(), training = SharedSection<TrainingSpec>.Pool()
        var ensemble = SharedSection<EnsembleSpec?>.Pool(), report = SharedSection<ReportSpec>.Pool()
        public init() {}
    }

    /// Takes the pools' copy of each section another spec already holds bit for bit:
    /// a grid's points repeat each optimizer and training setting many times.
    public mutating func shareSections(from pools: inout SectionPools) {
        $seeds.share(from: &pools.seeds)
        $data.share(from: &pools.data)
        $backbone.share(from: &pools.backbone)
        $head.share(from: &pools.head)
        $optimizer.share(from: &pools.optimizer)
        $training.share(from: &pools.training)
        $ensemble.share(from: &pools.ensemble)
        $report.share(from: &pools.report)
    }
}

extension Spec {
    /// Chooses the samples and their training/validation/test split.
    public var dataSeed: Int { seeds.data ?? seed }
    /// Draws initial weights.
    public var initSeed: Int { seeds.initialization ?? seed }
    /// Orders batches and draws augmentation, dropout, calibration and Fisher samples.
    public var shuffleSeed: Int { seeds.shuffle ?? seed }
}

/// `seeds:` — the three random streams, each set on its own or left to `seed`.
public struct SeedsSpec: Hashable, Sendable {
    public var data: Int?
    public var initialization: Int?
    public var shuffle: Int?
    public var isEmpty: Bool { data == nil && initialization == nil && shuffle == nil }
    public var specValue: SpecValue {
        .object([("data", data.map(SpecValue.int)), ("init", initialization.map(SpecValue.int)), ("shuffle", shuffle.map(SpecValue.int))])
    }
}

// MARK: data

public enum DatasetSource: Hashable, Sendable {
    case fashionMNIST
    case csv(path: String)
    case npy(path: String)
    /// A folder of JPEG/PNG images, one subfolder per class (torchvision's ImageFolder).
    case folder(path: String)

    public var text: String {
        switch self {
        case .fashionMNIST: "fashion-mnist"
        case .csv(let p): "csv:\(p)"
        case .npy(let p): "npy:\(p)"
        case .folder(let p): "folder:\(p)"
        }
    }
    public var isFolder: Bool { if case .folder = self { true } else { false } }
    /// Number of classes the source has, when known before loading.
    public var knownClassCount: Int? { self == .fashionMNIST ? 10 : nil }
    public static let fashionMNISTClassNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
}

public struct AugmentSpec: Hashable, Sendable {
    /// Random crop after zero padding by this many pixels (0 = off).
    public var randomCrop: Int = 0
    public var horizontalFlip: Bool = false
    /// torchvision's RandomResizedCrop (scale 0.08–1, ratio 3/4–4/3) back to the input size.
    public var randomResizedCrop: Bool = false
    public var isEnabled: Bool { randomCrop > 0 || horizontalFlip || randomResizedCrop }
    public var specValue: SpecValue {
        .object([("random_crop", .int(randomCrop)), ("horizontal_flip", .bool(horizontalFlip)),
                 ("random_resized_crop", randomResizedCrop ? .bool(true) : nil)])
    }
}

public struct DataSpec: Hashable, Sendable {
    public var dataset: DatasetSource = .fashionMNIST
    /// Source class indices to keep, in order; they are remapped to 0..<n. nil = all.
    public var classes: [Int]?
    public var trainPerClass: Int?
    public var testPerClass: Int?
    /// Fraction of the training split held out, stratified, for validation.
    public var validation: Double = 0.1
    public var augment: AugmentSpec = AugmentSpec()
    /// Input shape (channels, height, width); Fashion-MNIST is 1×28×28.
    public var inputShape: FeatureShape = FeatureShape(channels: 1, height: 28, width: 28)
    /// csv/npy data: a separate test set; without one, `testFraction` of the data is held out.
    public var testDataset: DatasetSource?
    public var testFraction: Double = 0.2
    /// Image folders: the side of the square input (center crop, or random resized crop).
    public var imageSize: Int?
    /// Image folders: the shorter side is resized to this before cropping (default image_size · 8/7).
    public var resize: Int?
    /// Image folders: a broken file is an error instead of a skipped file with a warning.
    public var strict: Bool = false
    /// Image folders: the class names found in the folder (filled in by validation).
    public var folderClasses: [String]?
    /// Image folders: `classes` items given by name (nil where an index was given),
    /// resolved to indices into `folderClasses` by validation.
    public var classNames: [String?]?

    public static let defaultImageSize = 224
    public var effectiveImageSize: Int { imageSize ?? Self.defaultImageSize }
    /// torchvision's 256-for-224 ratio, rounded.
    public var effectiveResize: Int { resize ?? Int((Double(effectiveImageSize) * 256 / 224).rounded()) }

    public var classCount: Int? { classes?.count ?? dataset.knownClassCount ?? folderClasses?.count }

    public var specValue: SpecValue {
        .object([
            ("dataset", .string(dataset.text)),
            ("classes", classes.map { .list($0.map(SpecValue.int)) } ?? .string("all")),
            ("train_per_class", trainPerClass.map(SpecValue.int) ?? .string("all")),
            ("test_per_class", testPerClass.map(SpecValue.int) ?? .string("all")),
            ("validation", .double(validation)),
            ("augment", augment.specValue),
            ("input_shape", .list([.int(inputShape.channels), .int(inputShape.height), .int(inputShape.width)])),
            ("test_dataset", testDataset.map { .string($0.text) }),
            ("test_fraction", dataset == .fashionMNIST || testDataset != nil ? nil : .double(testFraction)),
            ("image_size", dataset.isFolder ? .int(effectiveImageSize) : nil),
            ("resize", dataset.isFolder ? .int(effectiveResize) : nil),
            ("strict", dataset.isFolder ? .bool(strict) : nil),
        ])
    }
}

// MARK: normalization

public struct NormalizationSpec: Hashable, Sendable {
    /// `imagenet`: torchvision's ImageNet mean and std per RGB channel, fitted on nothing;
    /// `checkpoint`: the statistics the pretrained backbone was trained with (its
    /// experiment's, or a tlc checkpoint's `tlc.normalization` metadata).
    public enum Kind: String, CaseIterable, Sendable { case standardize, minmax, none, imagenet, checkpoint }
    public enum Per: String, CaseIterable, Sendable { case channel, global }
    public var kind: Kind = .standardize
    public var per: Per = .channel
    public var specValue: SpecValue { .object([("kind", .string(kind.rawValue)), ("per", .string(per.rawValue))]) }
}

// MARK: backbone and head

/// Where a backbone's weights come from.
public enum WeightsSource: Hashable, Sendable {
    case none
    /// Another experiment's trained model, by experiment name (found next to this spec
    /// or in Experiments/) or by path to its file.
    case run(String)
    case file(String)

    public var text: String {
        switch self {
        case .none: "none"
        case .run(let r): "run:\(r)"
        case .file(let f): "file:\(f)"
        }
    }
}

public struct BackboneSpec: Hashable, Sendable {
    public var arch: String = "mlp"
    public var options: [String: OptionValue] = [:]
    public var weights: WeightsSource = .none
    public var freeze: FreezeSelection = .none

    public var specValue: SpecValue {
        .object([
            ("arch", .string(arch)),
            ("options", .map(options.keys.sorted().map { SpecEntry($0, options[$0]!.specValue) })),
            ("weights", .string(weights.text)),
            ("freeze", freeze.specValue),
        ])
    }
}

extension OptionValue {
    public var specValue: SpecValue {
        switch self {
        case .int(let v): .int(v)
        case .double(let v): .double(v)
        case .bool(let v): .bool(v)
        case .string(let v): .string(v)
        case .list(let v): .list(v.map(\.specValue))
        }
    }
}

extension FreezeSelection {
    public var specValue: SpecValue {
        switch self {
        case .all: .string("all")
        case .none: .string("none")
        case .names(let n): .list(n.map(SpecValue.string))
        case .upTo(let n): .object([("up_to", .string(n))])
        }
    }
}

public enum HeadLayer: Hashable, Sendable {
    case dense(Int)
    case relu
    case dropout(Double)
    case batchnorm

    public var specValue: SpecValue {
        switch self {
        case .dense(let u): .object([("dense", .int(u))])
        case .relu: .string("relu")
        case .dropout(let r): .object([("dropout", .double(r))])
        case .batchnorm: .string("batchnorm")
        }
    }
}

public struct HeadSpec: Hashable, Sendable {
    /// Where the output layer comes from: tlc's new `head.output` (after `layers`), or
    /// a torchvision architecture's own final Linear (`fc`, `classifier.6`), loaded
    /// from the checkpoint with the backbone.
    public enum Classifier: String, CaseIterable, Hashable, Sendable { case new, keep }

    /// Hidden layers; tlc appends the output layer (`head.output`, one unit per class).
    /// nil keeps the architecture's own head.
    public var layers: [HeadLayer]?
    /// `head.classifier`; `keep` makes the checkpoint's classifier the output layer.
    public var classifier: Classifier = .new

    /// Whether the output layer is the architecture's own classifier.
    public var keepsClassifier: Bool { classifier == .keep }

    public var specValue: SpecValue {
        .object([("layers", layers.map { .list($0.map(\.specValue)) } ?? .null),
                 ("classifier", keepsClassifier ? .string(classifier.rawValue) : nil)])
    }

    /// The head as zoo layer descriptions, named `dense1`, `relu1`, ….
    public var descriptions: [LayerDescription]? {
        guard let layers else { return nil }
        var counts: [String: Int] = [:]
        func next(_ k: String) -> String { counts[k, default: 0] += 1; return "\(k)\(counts[k]!)" }
        return layers.map { layer in
            switch layer {
            case .dense(let u): .dense(name: next("dense"), units: u)
            case .relu: .relu(name: next("relu"))
            case .dropout(let r): .dropout(name: next("dropout"), rate: r)
            case .batchnorm: .batchNorm(name: next("batchnorm"))
            }
        }
    }
}

// MARK: optimizer

public struct ParameterGroupSpec: Hashable, Sendable {
    public var lr: Double?
    public var weightDecay: Double?
    public var specValue: SpecValue { .object([("lr", lr.map(SpecValue.double)), ("weight_decay", weightDecay.map(SpecValue.double))]) }
}

public struct OptimizerSpec: Hashable, Sendable {
    public enum Kind: String, CaseIterable, Sendable { case sgd, adam, adamw, rmsprop }
    public var kind: Kind = .adam
    public var lr: Double = 1e-3
    public var weightDecay: Double = 0
    public var momentum: Double = 0.9
    public var nesterov: Bool = false
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var eps: Double = 1e-8
    /// Clip gradients to this global norm (nil = no clipping).
    public var clipNorm: Double?
    /// Per-group settings: `backbone`, `head`, or layer names/globs of the architecture.
    public var groups: [String: ParameterGroupSpec] = [:]

    public var specValue: SpecValue {
        .object([
            ("kind", .string(kind.rawValue)), ("lr", .double(lr)), ("weight_decay", .double(weightDecay)),
            ("momentum", kind == .sgd || kind == .rmsprop ? .double(momentum) : nil),
            ("nesterov", kind == .sgd ? .bool(nesterov) : nil),
            ("betas", kind == .adam || kind == .adamw ? .list([.double(beta1), .double(beta2)]) : nil),
            ("eps", .double(eps)),
            ("clip_norm", clipNorm.map(SpecValue.double)),
            ("groups", .map(groups.keys.sorted().map { SpecEntry($0, groups[$0]!.specValue) })),
        ])
    }
}

// MARK: training

public struct ScheduleSpec: Hashable, Sendable {
    public enum Kind: String, CaseIterable, Sendable { case constant, step, cosine, onecycle }
    public var kind: Kind = .constant
    public var warmupEpochs: Double = 0
    /// step: multiply by `gamma` every `stepEpochs`.
    public var stepEpochs: Int = 1
    public var gamma: Double = 0.1
    /// cosine: final lr as a fraction of the initial one.
    public var minLRFraction: Double = 0
    /// onecycle: peak lr as a multiple of `optimizer.lr`, and the warm-up fraction.
    public var maxLRFactor: Double = 10
    public var pctStart: Double = 0.3

    public var specValue: SpecValue {
        switch kind {
        case .constant: .object([("kind", .string("constant")), ("warmup_epochs", .double(warmupEpochs))])
        case .step: .object([("kind", .string("step")), ("warmup_epochs", .double(warmupEpochs)), ("step_epochs", .int(stepEpochs)), ("gamma", .double(gamma))])
        case .cosine: .object([("kind", .string("cosine")), ("warmup_epochs", .double(warmupEpochs)), ("min_lr_fraction", .double(minLRFraction))])
        case .onecycle: .object([("kind", .string("onecycle")), ("max_lr_factor", .double(maxLRFactor)), ("pct_start", .double(pctStart))])
        }
    }
}

public struct EarlyStoppingSpec: Hashable, Sendable {
    public enum Mode: String, CaseIterable, Sendable { case max, min }
    public var metric: String = "val.accuracy"
    public var patience: Int = 3
    public var mode: Mode = .max
    public var specValue: SpecValue { .object([("metric", .string(metric)), ("patience", .int(patience)), ("mode", .string(mode.rawValue))]) }
}

public struct UnfreezeStep: Hashable, Sendable {
    public var epoch: Int
    public var layers: FreezeSelection
    public var specValue: SpecValue { .object([("epoch", .int(epoch)), ("layers", layers.specValue)]) }
}

/// Regularization that limits forgetting of the source task.
public struct RegularizationSpec: Hashable, Sendable {
    /// L2-SP: strength of the pull toward the pretrained weights (0 = off).
    public var l2sp: Double = 0
    /// EWC: strength of the Fisher-weighted pull (0 = off).
    public var ewc: Double = 0
    /// Source samples used to estimate the Fisher information.
    public var fisherSamples: Int = 1000
    public var isEnabled: Bool { l2sp > 0 || ewc > 0 }
    public var specValue: SpecValue { .object([("l2sp", .double(l2sp)), ("ewc", .double(ewc)), ("fisher_samples", .int(fisherSamples))]) }
}

public struct TrainingSpec: Hashable, Sendable {
    public var epochs: Int = 5
    public var batchSize: Int = 128
    public var labelSmoothing: Double = 0
    public var schedule: ScheduleSpec = ScheduleSpec()
    public var earlyStopping: EarlyStoppingSpec?
    public var unfreeze: [UnfreezeStep] = []
    public var regularization: RegularizationSpec = RegularizationSpec()
    /// The epochs the learning-rate schedule spans (nil: `epochs`). Points that differ
    /// only in `epochs` under one budget continue each other's training.
    public var budget: Int?
    /// Set by `search: {method: darts}` (not a key of this section): alpha's optimizer.
    public var architectureSearch: ArchitectureSearchSpec?

    public var specValue: SpecValue {
        var entries: [(String, SpecValue?)] = [
            ("epochs", .int(epochs)), ("batch_size", .int(batchSize)), ("label_smoothing", .double(labelSmoothing)),
            ("schedule", schedule.specValue), ("early_stopping", earlyStopping?.specValue ?? .null),
            ("unfreeze", .list(unfreeze.map(\.specValue))), ("regularization", regularization.specValue),
        ]
        // Only when set: specs without a budget resolve (and hash) as before.
        if let budget { entries.append(("budget", .int(budget))) }
        return .object(entries)
    }
}

// MARK: compression

public struct PruneSpec: Hashable, Sendable {
    public enum Method: String, CaseIterable, Sendable { case magnitude, l1_filter }
    public enum Scope: String, CaseIterable, Sendable { case global, layer }
    public var method: Method = .magnitude
    public var scope: Scope = .global
    public var sparsity: Double = 0.5
    public var steps: Int = 1
    public var finetuneEpochs: Int = 1
    public var specValue: SpecValue {
        .object([("method", .string(method.rawValue)), ("scope", .string(scope.rawValue)), ("sparsity", .double(sparsity)),
                 ("steps", .int(steps)), ("finetune_epochs", .int(finetuneEpochs))])
    }
}

public struct QuantizeSpec: Hashable, Sendable {
    public enum Granularity: String, CaseIterable, Sendable { case per_channel, per_tensor }
    public var bits: Int = 8
    public var weights: Granularity = .per_channel
    public var calibrationBatches: Int = 10
    public var qatEpochs: Int = 0
    public var specValue: SpecValue {
        .object([("bits", .int(bits)), ("weights", .string(weights.rawValue)), ("activations", .string("per_tensor")),
                 ("calibration_batches", .int(calibrationBatches)), ("qat_epochs", .int(qatEpochs))])
    }
}

/// Weight sharing (Han et al., 2016): every conv and dense layer's nonzero weights
/// take at most 2^bits shared values, found by k-means and fine-tuned.
public struct ShareSpec: Hashable, Sendable {
    public var bits: Int = 5
    public var finetuneEpochs: Int = 1
    public var specValue: SpecValue { .object([("bits", .int(bits)), ("finetune_epochs", .int(finetuneEpochs))]) }
}

public enum TeacherSource: Hashable, Sendable {
    /// This experiment's model as it stands before the distill step.
    case this
    /// This experiment's ensemble.
    case ensemble
    case run(String)
    public var text: String {
        switch self {
        case .this: "self"
        case .ensemble: "ensemble"
        case .run(let r): "run:\(r)"
        }
    }
}

public struct DistillSpec: Hashable, Sendable {
    public var teacher: TeacherSource = .this
    public var studentArch: String = "lenet5"
    public var studentOptions: [String: OptionValue] = [:]
    public var temperature: Double = 4
    public var alpha: Double = 0.7
    public var epochs: Int?
    public var specValue: SpecValue {
        .object([("teacher", .string(teacher.text)),
                 ("student", .object([("arch", .string(studentArch)),
                                      ("options", .map(studentOptions.keys.sorted().map { SpecEntry($0, studentOptions[$0]!.specValue) }))])),
                 ("temperature", .double(temperature)), ("alpha", .double(alpha)),
                 ("epochs", epochs.map(SpecValue.int) ?? .null)])
    }
}

public enum CompressionStep: Hashable, Sendable {
    case prune(PruneSpec)
    case quantize(QuantizeSpec)
    case distill(DistillSpec)
    case share(ShareSpec)
    /// Deep Compression storage: the model sparse, coded and deflated (no settings).
    case encode

    public var kindName: String {
        switch self {
        case .prune: "prune"
        case .quantize: "quantize"
        case .distill: "distill"
        case .share: "share"
        case .encode: "encode"
        }
    }
    public var specValue: SpecValue {
        switch self {
        case .prune(let p): .object([("prune", p.specValue)])
        case .quantize(let q): .object([("quantize", q.specValue)])
        case .distill(let d): .object([("distill", d.specValue)])
        case .share(let sh): .object([("share", sh.specValue)])
        case .encode: .object([("encode", .object([]))])
        }
    }
}

// MARK: ensemble and report

public enum EnsembleMembers: Hashable, Sendable {
    /// N copies of this experiment with seeds split from `seed`.
    case seeds(Int)
    /// Other experiments (by name or path), or this sweep's points by label.
    case references([String])
    /// The best k points of this experiment's sweep by `report.target`.
    case topOfSweep(Int)
    public var specValue: SpecValue {
        switch self {
        case .seeds(let n): .int(n)
        case .references(let r): .list(r.map(SpecValue.string))
        case .topOfSweep(let k): .object([("top", .int(k))])
        }
    }
}

public struct EnsembleSpec: Hashable, Sendable {
    public enum Method: String, CaseIterable, Sendable { case mean_probs, vote, weighted }
    public var members: EnsembleMembers = .seeds(5)
    public var method: Method = .mean_probs
    public var specValue: SpecValue { .object([("members", members.specValue), ("method", .string(method.rawValue))]) }
}

public struct ReportSpec: Hashable, Sendable {
    /// The metric sweeps are ranked by and `{top: K}` ensembles chosen by: a
    /// validation metric by default (`test.accuracy` only without a validation split),
    /// so that nothing is selected on the test set.
    public var target: String = "val.accuracy"
    /// Folder of the user's own report templates (nil = the built-in ones).
    public var template: String?
    public var specValue: SpecValue { .object([("target", .string(target)), ("template", template.map(SpecValue.string))]) }

    /// Metrics a target or an early-stopping metric may name.
    public static let knownMetrics = ["test.accuracy", "test.loss", "test.top5", "test.macro_f1", "val.accuracy", "val.loss",
                                      "train.loss", "train.accuracy", "model.params", "model.bytes", "time.train_seconds",
                                      "latency.per_image_ms", "latency.per_batch_ms"]
    /// Whether choosing by `metric` chooses on the test set.
    public static func isTestMetric(_ metric: String) -> Bool {
        metric.hasPrefix("test.") || (metric.hasPrefix("variants.") && metric.contains(".test."))
    }

    /// Whether larger is better for a metric (accuracy up; loss, bytes, time down).
    public static func higherIsBetter(_ metric: String) -> Bool {
        let m = metric.lowercased()
        return m.contains("accuracy") || m.contains("top") || m.contains("f1") || m.contains("precision") || m.contains("recall")
    }
}
