// StageWork — what one stage does, by kind, with every decision resolved: file
// paths with their content digests, classes, architectures, frozen layer paths,
// the feature cut, the optimizer and schedule as the engine takes them, seeds.
// The executor gets a `StageWork` and its dependencies' outputs and nothing else;
// the stage's hash covers exactly this value (StageHashing).
import ModelZoo

/// Indirect: a work value lives once on the heap, so stages and plans copy a pointer.
public indirect enum StageWork: Hashable, Sendable {
    case dataDecode(ImageDecodeWork)
    case dataLoad(DataLoadWork)
    case dataNormalize(NormalizeWork)
    case modelInit(ModelInitWork)
    case features(FeaturesWork)
    case fisher(FisherWork)
    case train(TrainWork)
    case evaluate(EvaluateWork)
    case prune(PruneWork)
    case quantize(QuantizeWork)
    case distill(DistillWork)
    case share(ShareWork)
    case encode(EncodeWork)
    case ensemble(EnsembleWork)
    case report(ReportWork)

    public var kind: Stage.Kind {
        switch self {
        case .dataDecode: .dataDecode
        case .dataLoad: .dataLoad
        case .dataNormalize: .dataNormalize
        case .modelInit: .modelInit
        case .features: .features
        case .fisher: .fisher
        case .train: .train
        case .evaluate: .evaluate
        case .prune: .prune
        case .quantize: .quantize
        case .distill: .distill
        case .share: .share
        case .encode: .encode
        case .ensemble: .ensemble
        case .report: .report
        }
    }

    /// The payload alone (the kind is written next to it).
    struct Payload: Encodable {
        var work: StageWork
        func encode(to encoder: any Encoder) throws { try work.encodePayload(to: encoder) }
    }

    func encodePayload(to encoder: any Encoder) throws {
        switch self {
        case .dataDecode(let w): try w.encode(to: encoder)
        case .dataLoad(let w): try w.encode(to: encoder)
        case .dataNormalize(let w): try w.encode(to: encoder)
        case .modelInit(let w): try w.encode(to: encoder)
        case .features(let w): try w.encode(to: encoder)
        case .fisher(let w): try w.encode(to: encoder)
        case .train(let w): try w.encode(to: encoder)
        case .evaluate(let w): try w.encode(to: encoder)
        case .prune(let w): try w.encode(to: encoder)
        case .quantize(let w): try w.encode(to: encoder)
        case .distill(let w): try w.encode(to: encoder)
        case .share(let w): try w.encode(to: encoder)
        case .encode(let w): try w.encode(to: encoder)
        case .ensemble(let w): try w.encode(to: encoder)
        case .report(let w): try w.encode(to: encoder)
        }
    }

    static func decode(_ kind: Stage.Kind, from decoder: any Decoder) throws -> StageWork {
        switch kind {
        case .dataDecode: .dataDecode(try ImageDecodeWork(from: decoder))
        case .dataLoad: .dataLoad(try DataLoadWork(from: decoder))
        case .dataNormalize: .dataNormalize(try NormalizeWork(from: decoder))
        case .modelInit: .modelInit(try ModelInitWork(from: decoder))
        case .features: .features(try FeaturesWork(from: decoder))
        case .fisher: .fisher(try FisherWork(from: decoder))
        case .train: .train(try TrainWork(from: decoder))
        case .evaluate: .evaluate(try EvaluateWork(from: decoder))
        case .prune: .prune(try PruneWork(from: decoder))
        case .quantize: .quantize(try QuantizeWork(from: decoder))
        case .distill: .distill(try DistillWork(from: decoder))
        case .share: .share(try ShareWork(from: decoder))
        case .encode: .encode(try EncodeWork(from: decoder))
        case .ensemble: .ensemble(try EnsembleWork(from: decoder))
        case .report: .report(try ReportWork(from: decoder))
        }
    }
}

// MARK: data

/// A file a stage reads, with the SHA-256 of its contents when planned.
public struct FileReference: Codable, Hashable, Sendable {
    /// Absolute path.
    public var path: String
    public var sha256: String
    public init(path: String, sha256: String) { self.path = path; self.sha256 = sha256 }
}

/// Where samples come from.
public enum DataSource: Codable, Hashable, Sendable {
    /// Fashion-MNIST's IDX files (the Debian package, or `TLC_DATA`).
    case fashionMNIST
    /// A csv file: one sample a row, the label last.
    case csv(FileReference)
    /// x.npy (features) and y.npy (labels).
    case npy(features: FileReference, labels: FileReference)
    /// An image folder's preprocessed images: the output of the data.load stage's
    /// first dependency, a data.decode stage (`files` images before broken ones are skipped).
    case images(files: Int)

    public var files: [FileReference] {
        switch self {
        case .fashionMNIST, .images: []
        case .csv(let f): [f]
        case .npy(let x, let y): [x, y]
        }
    }
}

/// `data.decode`: decode every image of an image folder once, resize its shorter side
/// to `resize` (PIL's antialiased bilinear) and center-crop it to `size`×`size`; broken
/// files are skipped with a warning (or fail the stage when `strict`).
/// Deps: none. Output: the preprocessed 8-bit images with their labels (cached).
public struct ImageDecodeWork: Codable, Hashable, Sendable {
    public struct Image: Codable, Hashable, Sendable {
        /// Absolute path and the SHA-256 of its contents when planned.
        public var file: FileReference
        /// Index into `classes`.
        public var label: Int
        /// In the folder's `val/` or `test/` part (false: `train/`, or no such parts).
        public var test: Bool
        public init(file: FileReference, label: Int, test: Bool) { self.file = file; self.label = label; self.test = test }
    }
    /// Class names (sorted subfolder names, as torchvision's ImageFolder numbers them).
    public var classes: [String]
    /// Every file, in the order the folder lists them (class, then name).
    public var images: [Image]
    /// The folder has separate training and test parts.
    public var separateTest: Bool
    /// The shorter side is resized to this, then the center `size`×`size` kept.
    public var resize: Int
    public var size: Int
    /// A broken file fails the stage instead of being skipped.
    public var strict: Bool

    public init(classes: [String], images: [Image], separateTest: Bool, resize: Int, size: Int, strict: Bool) {
        self.classes = classes; self.images = images; self.separateTest = separateTest
        self.resize = resize; self.size = size; self.strict = strict
    }
}

/// `data.load`: choose the training, validation and test samples.
/// Deps: none. Output: the three splits (stored as indices).
public struct DataLoadWork: Codable, Hashable, Sendable {
    public var source: DataSource
    /// A separate test set (csv/npy); nil: Fashion-MNIST's own, or a stratified
    /// hold-out of `testFraction` of the source.
    public var testSource: DataSource?
    public var testFraction: Double
    /// csv/npy samples are reshaped to this.
    public var inputShape: FeatureShape
    /// Source classes kept, in label order (remapped to 0..<n); nil: all of them.
    public var classes: [Int]?
    public var trainPerClass: Int?
    public var testPerClass: Int?
    /// Fraction of the training split held out (stratified) for validation.
    public var validation: Double
    /// Seeds the test hold-out, the per-class limits and the validation split.
    public var seed: Int

    public init(source: DataSource, testSource: DataSource?, testFraction: Double, inputShape: FeatureShape, classes: [Int]?,
                trainPerClass: Int?, testPerClass: Int?, validation: Double, seed: Int) {
        self.source = source; self.testSource = testSource; self.testFraction = testFraction; self.inputShape = inputShape
        self.classes = classes; self.trainPerClass = trainPerClass; self.testPerClass = testPerClass
        self.validation = validation; self.seed = seed
    }
}

/// `data.normalize`: fit statistics on the training split, apply to every split.
/// Deps: [data.load], and for `checkpoint` statistics of an upstream experiment its data.normalize.
public struct NormalizeWork: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, Hashable, Sendable {
        case standardize, minMax = "min_max", none
        /// torchvision's ImageNet mean and std, fitted on nothing.
        case imagenet
        /// The pretrained backbone's own statistics: the upstream experiment's
        /// data.normalize (the stage's second dependency), or `checkpoint`'s metadata.
        case checkpoint
    }
    /// Statistics per channel, or one for all channels.
    public enum Scope: String, Codable, Hashable, Sendable { case channel, global }
    public var kind: Kind
    public var per: Scope
    /// `checkpoint` statistics from a weights file's `tlc.normalization` metadata
    /// (nil otherwise, and then not encoded: other kinds hash as before).
    public var checkpoint: FileReference?
    public init(kind: Kind, per: Scope, checkpoint: FileReference? = nil) { self.kind = kind; self.per = per; self.checkpoint = checkpoint }
}

// MARK: models

/// Where a model's backbone weights come from.
public enum WeightsWork: Codable, Hashable, Sendable {
    /// Seeded random initialisation.
    case none
    /// A safetensors file's `backbone.*` tensors.
    case file(FileReference)
    /// The final model of another experiment (the stage's first dependency).
    case upstream(experiment: String)

    public var text: String {
        switch self {
        case .none: "none"
        case .file(let f): "file:\(f.path)"
        case .upstream(let e): "run:\(e)"
        }
    }
}

/// `model.init`: build the network and load its backbone weights.
/// Deps: [the upstream model] for `.upstream` weights, else none.
public struct ModelInitWork: Codable, Hashable, Sendable {
    /// The whole network, head included, for this data's classes and input shape.
    public var architecture: Architecture
    public var seed: Int
    public var weights: WeightsWork
    public init(architecture: Architecture, seed: Int, weights: WeightsWork) {
        self.architecture = architecture; self.seed = seed; self.weights = weights
    }
}

/// `features`: run the wholly frozen leading backbone layers once over every split.
/// Deps: [the upstream model, when weights are `.upstream`] + [data.normalize].
public struct FeaturesWork: Codable, Hashable, Sendable {
    /// The frozen prefix alone (no head).
    public var prefix: Architecture
    /// Seeds random weights (only when `weights` is `.none`).
    public var seed: Int?
    public var weights: WeightsWork
    public init(prefix: Architecture, seed: Int?, weights: WeightsWork) { self.prefix = prefix; self.seed = seed; self.weights = weights }
}

/// `fisher`: the diagonal Fisher information of a source model on its training data (EWC).
/// Deps: [source model, source data.normalize].
public struct FisherWork: Codable, Hashable, Sendable {
    public var samples: Int
    public var seed: Int
    public init(samples: Int, seed: Int) { self.samples = samples; self.seed = seed }
}

// MARK: training

/// An optimizer and its constants.
public enum OptimizerSettings: Codable, Hashable, Sendable {
    case sgd(momentum: Double, nesterov: Bool)
    case adam(beta1: Double, beta2: Double, epsilon: Double)
    case adamW(beta1: Double, beta2: Double, epsilon: Double)
    case rmsprop(alpha: Double, epsilon: Double, momentum: Double)
}

/// A learning-rate schedule in epochs (the trainer resolves it to steps).
public enum ScheduleSettings: Codable, Hashable, Sendable {
    case constant
    case step(everyEpochs: Int, gamma: Double)
    case cosine(warmupEpochs: Double, minFactor: Double)
    case oneCycle(pctStart: Double, divFactor: Double, finalDivFactor: Double)
}

/// Learning rate and weight decay of the parameters a name matches (a parameter
/// group; `backbone` and `head` name those parts).
public struct GroupSettings: Codable, Hashable, Sendable {
    public var match: String
    public var learningRate: Double?
    public var weightDecay: Double?
    public init(match: String, learningRate: Double?, weightDecay: Double?) {
        self.match = match; self.learningRate = learningRate; self.weightDecay = weightDecay
    }
}

/// Everything the training loop takes besides the network and the data.
public struct TrainingSettings: Codable, Hashable, Sendable {
    public struct EarlyStopping: Codable, Hashable, Sendable {
        /// `val.loss` or `val.accuracy`.
        public var metric: String
        public var patience: Int
        public init(metric: String, patience: Int) { self.metric = metric; self.patience = patience }
    }
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: OptimizerSettings
    public var learningRate: Double
    public var weightDecay: Double
    /// In match order (first match wins).
    public var groups: [GroupSettings]
    public var schedule: ScheduleSettings
    public var clipNorm: Double?
    public var labelSmoothing: Double
    /// Pad-and-crop pixels (0: off) and random horizontal flips of training images.
    public var randomCrop: Int
    public var horizontalFlip: Bool
    /// torchvision's RandomResizedCrop(scale 0.08–1, ratio 3/4–4/3) of training images;
    /// nil when off (and then not encoded, so hashes without it are unchanged).
    public var randomResizedCrop: Bool?
    public var earlyStopping: EarlyStopping?
    /// Seeds shuffling, augmentation and dropout.
    public var seed: Int
    /// The epochs the schedule spans (`training.budget`; nil: `epochs`). When set, the
    /// stage also keeps its training state so a longer run can continue it.
    public var scheduleEpochs: Int?
    /// DARTS: the architecture weights' Adam step on a validation batch before each
    /// weight step (`search: {method: darts}`); nil otherwise (and then not encoded).
    public var architecture: ArchitectureSettings?

    public init(epochs: Int, batchSize: Int, optimizer: OptimizerSettings, learningRate: Double, weightDecay: Double,
                groups: [GroupSettings], schedule: ScheduleSettings, clipNorm: Double?, labelSmoothing: Double,
                randomCrop: Int, horizontalFlip: Bool, earlyStopping: EarlyStopping?, seed: Int, scheduleEpochs: Int? = nil) {
        self.epochs = epochs; self.batchSize = batchSize; self.optimizer = optimizer; self.learningRate = learningRate
        self.weightDecay = weightDecay; self.groups = groups; self.schedule = schedule; self.clipNorm = clipNorm
        self.labelSmoothing = labelSmoothing; self.randomCrop = randomCrop; self.horizontalFlip = horizontalFlip
        self.earlyStopping = earlyStopping; self.seed = seed; self.scheduleEpochs = scheduleEpochs
    }
}

/// First-order DARTS's optimizer of the architecture weights: Adam (β1 0.5, β2 0.999).
public struct ArchitectureSettings: Codable, Hashable, Sendable {
    public var learningRate: Double
    public var weightDecay: Double
    public init(learningRate: Double, weightDecay: Double) { self.learningRate = learningRate; self.weightDecay = weightDecay }
}

/// At the start of `epoch` (1-based) these layers become trainable.
public struct UnfreezeStepWork: Codable, Hashable, Sendable {
    public var epoch: Int
    public var layers: [String]
    public init(epoch: Int, layers: [String]) { self.epoch = epoch; self.layers = layers }
}

/// `train`: fit the network.
/// Deps: [model.init — or the train stage it continues —, data.normalize] + [features,
/// when `featureCut` is set] + [fisher, when `ewc` > 0].
public struct TrainWork: Codable, Hashable, Sendable {
    public var training: TrainingSettings
    /// Layer paths whose parameters stay fixed.
    public var frozen: [String]
    public var unfreeze: [UnfreezeStepWork]
    /// How many leading top-level backbone layers the `features` dependency already
    /// computed: training runs the rest on its outputs.
    public var featureCut: Int?
    /// Penalty strengths toward the pretrained backbone.
    public var l2sp: Double
    public var ewc: Double
    /// Set when this stage continues another train stage of the same settings (its
    /// first dependency, instead of model.init) from the end of epoch `firstEpoch − 1`.
    public var firstEpoch: Int?

    public init(training: TrainingSettings, frozen: [String], unfreeze: [UnfreezeStepWork], featureCut: Int?, l2sp: Double, ewc: Double,
                firstEpoch: Int? = nil) {
        self.training = training; self.frozen = frozen; self.unfreeze = unfreeze; self.featureCut = featureCut
        self.l2sp = l2sp; self.ewc = ewc; self.firstEpoch = firstEpoch
    }
}

/// `evaluate`: score a model on a test split.
/// Deps: [model, data.normalize] + [features, when `featureCut` is set];
/// `source.after`: [fine-tuned model, source data.normalize, source model].
public struct EvaluateWork: Codable, Hashable, Sendable {
    /// `baseline`, `prune`, `quantize`, `distill`, `ensemble`, `source.before`, `source.after`.
    public var variant: String
    public var topK: Int
    /// The baseline of a model trained on frozen-prefix features: the head part is
    /// scored on the cached test features.
    public var featureCut: Int?
    public init(variant: String, topK: Int, featureCut: Int?) { self.variant = variant; self.topK = topK; self.featureCut = featureCut }

    /// Source-task evaluations (transfer) score another task, not a variant of this model.
    public var isSourceTask: Bool { variant.hasPrefix("source.") }
}

// MARK: compression

/// `prune`: magnitude or L1-filter pruning in steps, each followed by masked
/// fine-tuning with the point's training settings at a tenth of the learning rate.
/// Deps: [model, data.normalize].
public struct PruneWork: Codable, Hashable, Sendable {
    public enum Method: String, Codable, Hashable, Sendable { case magnitude, l1Filter = "l1_filter" }
    public var method: Method
    /// One threshold for all layers (true) or one per layer.
    public var global: Bool
    public var sparsity: Double
    public var steps: Int
    public var finetuneEpochs: Int
    /// The step's position in the compression list (names its random streams).
    public var index: Int
    public var seed: Int
    public var training: TrainingSettings
    public init(method: Method, global: Bool, sparsity: Double, steps: Int, finetuneEpochs: Int, index: Int, seed: Int, training: TrainingSettings) {
        self.method = method; self.global = global; self.sparsity = sparsity; self.steps = steps
        self.finetuneEpochs = finetuneEpochs; self.index = index; self.seed = seed; self.training = training
    }
}

/// `quantize`: int8 (or fewer bits) weights and activations, calibrated on
/// training batches, optionally after quantization-aware fine-tuning.
/// Deps: [model, data.normalize].
public struct QuantizeWork: Codable, Hashable, Sendable {
    public var bits: Int
    public var perChannel: Bool
    public var calibrationBatches: Int
    public var qatEpochs: Int
    public var index: Int
    public var seed: Int
    public var training: TrainingSettings
    public init(bits: Int, perChannel: Bool, calibrationBatches: Int, qatEpochs: Int, index: Int, seed: Int, training: TrainingSettings) {
        self.bits = bits; self.perChannel = perChannel; self.calibrationBatches = calibrationBatches
        self.qatEpochs = qatEpochs; self.index = index; self.seed = seed; self.training = training
    }
}

/// `distill`: train a student on the teacher's soft targets (Hinton et al.).
/// Deps: [model, data.normalize] + [teacher, when it is not the model].
public struct DistillWork: Codable, Hashable, Sendable {
    public var student: Architecture
    public var temperature: Double
    public var alpha: Double
    public var index: Int
    /// Seeds the student's initial weights (its training shuffles with `training.seed`).
    public var seed: Int
    /// The student's training (epochs resolved).
    public var training: TrainingSettings
    public init(student: Architecture, temperature: Double, alpha: Double, index: Int, seed: Int, training: TrainingSettings) {
        self.student = student; self.temperature = temperature; self.alpha = alpha; self.index = index; self.seed = seed
        self.training = training
    }
}

/// `ensemble`: combine member models' predictions.
/// Deps: every member model, then (for `top`) what ranks each candidate — its baseline's
/// test evaluation (test.* metrics) or its train stage (val.*) — then data.normalize.
/// `share`: weight sharing (Han et al., 2016) — k-means codebooks of 2^bits values
/// per conv and dense layer, then fine-tuning of the shared values.
/// Deps: [float model, data.normalize].
public struct ShareWork: Codable, Hashable, Sendable {
    public var bits: Int
    public var finetuneEpochs: Int
    public var index: Int
    public var seed: Int
    public var training: TrainingSettings
    public init(bits: Int, finetuneEpochs: Int, index: Int, seed: Int, training: TrainingSettings) {
        self.bits = bits; self.finetuneEpochs = finetuneEpochs; self.index = index; self.seed = seed; self.training = training
    }
}

/// `encode`: Deep Compression storage of the previous float model — sparse, its
/// shared values as codes, deflated. Lossless: the model it holds is its input's.
/// Deps: [float model].
public struct EncodeWork: Codable, Hashable, Sendable {
    public var index: Int
    public init(index: Int) { self.index = index }
}

public struct EnsembleWork: Codable, Hashable, Sendable {
    public enum Method: String, Codable, Hashable, Sendable { case meanProbs = "mean_probs", vote, weighted }
    public enum Members: Codable, Hashable, Sendable {
        /// Every model dependency is a member.
        case all
        /// The `count` best candidates by `metric` (`test.accuracy`, `test.loss`, …).
        case top(count: Int, metric: String)
    }
    public var method: Method
    public var members: Members
    /// Names of the model dependencies, in order (for people).
    public var memberNames: [String]
    public init(method: Method, members: Members, memberNames: [String]) {
        self.method = method; self.members = members; self.memberNames = memberNames
    }
}

// MARK: report

/// `report`: what a point's run directory says about it (not cached).
/// Deps: the point's evaluate stages.
public struct ReportWork: Codable, Hashable, Sendable {
    public var experiment: String
    public var label: String
    public var target: String
    /// Source class ids, in label order.
    public var classes: [Int]
    public var classNames: [String]
    /// Layer paths frozen in training (trainable-parameter counts).
    public var frozen: [String]
    public init(experiment: String, label: String, target: String, classes: [Int], classNames: [String], frozen: [String]) {
        self.experiment = experiment; self.label = label; self.target = target; self.classes = classes
        self.classNames = classNames; self.frozen = frozen
    }
}
