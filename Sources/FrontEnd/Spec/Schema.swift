// The spec language's schema as data: the one list of sections, keys, types,
// ranges and documentation. The decoder checks keys against it (with "did you
// mean") and takes every numeric range and listed value from it (SchemaLookup),
// sweep paths are resolved through it, and `tlc schema` prints it as JSON Schema
// for editors (yaml-language-server).
import ModelZoo

public indirect enum SchemaType: Sendable {
    case object([SchemaField], additional: SchemaType? = nil)
    case string(enumValues: [String]? = nil, pattern: String? = nil)
    /// `values`, when given, lists the only integers allowed.
    case integer(min: Int? = nil, max: Int? = nil, values: [Int]? = nil)
    case number(min: Double? = nil, max: Double? = nil, exclusiveMin: Bool = false, exclusiveMax: Bool = false)
    case boolean
    /// An empty value, where it means the default (`freeze:` is `none`).
    case null
    case array(SchemaType, minItems: Int? = nil, maxItems: Int? = nil)
    case oneOf([SchemaType])
    case any
}

public struct SchemaField: Sendable {
    public var name: String
    public var type: SchemaType
    public var doc: String
    public var required: Bool
    public init(_ name: String, _ type: SchemaType, _ doc: String, required: Bool = false) {
        self.name = name; self.type = type; self.doc = doc; self.required = required
    }
}

public enum SpecSchema {
    static let metricNames = ReportSpec.knownMetrics
    /// `all`, `none`, one layer name or glob, a list of them, `{up_to: LAYER}`, or
    /// empty (none); the decoder checks the names against the architecture.
    static let freeze: SchemaType = .oneOf([
        .string(enumValues: ["all", "none"]),
        .string(),
        .array(.string()),
        .object([SchemaField("up_to", .string(), "freeze every backbone layer up to and including this one", required: true)]),
        .null,
    ])
    static let groupFields: [SchemaField] = [
        SchemaField("lr", .number(min: 0, max: 10, exclusiveMin: true), "learning rate of this group"),
        SchemaField("weight_decay", .number(min: 0, max: 1), "weight decay of this group"),
    ]
    static let archOptions: SchemaType = .object([], additional: .any)

    public static let sections: [SchemaField] = [
        SchemaField("tlc", .integer(min: 1, max: 1), "spec language version; always 1", required: true),
        SchemaField("name", .string(pattern: "^[A-Za-z0-9_-][A-Za-z0-9_.-]*$"), "experiment name: letters, digits, '-', '_', '.'; becomes a folder under Outputs", required: true),
        SchemaField("description", .string(), "free text shown in reports"),
        SchemaField("extends", .string(), "a base experiment file (path relative to this one), deep-merged under this file"),
        SchemaField("seed", .integer(min: 0), "the one seed every random stream derives from (each of `seeds` defaults to it)"),
        SchemaField("seeds", .object([
            SchemaField("data", .integer(min: 0), "which samples are chosen and how they split into training, validation and test"),
            SchemaField("init", .integer(min: 0), "the model's initial weights (and a student's, a random frozen backbone's)"),
            SchemaField("shuffle", .integer(min: 0), "batch order, augmentation, dropout, calibration and Fisher samples"),
        ]), "separate seeds, each defaulting to `seed`: sweep `seeds.init` to vary initialization on fixed data"),
        SchemaField("data", .object([
            SchemaField("dataset", .string(pattern: "^(fashion-mnist|csv:.+|npy:.+|folder:.+)$"), "fashion-mnist, csv:PATH, npy:PATH or folder:PATH (JPEG/PNG images, one subfolder per class)"),
            SchemaField("classes", .oneOf([.string(enumValues: ["all"]), .array(.oneOf([.integer(min: 0), .string()]), minItems: 2)]), "source classes to keep (remapped to 0..n-1), or all; an image folder's also by subfolder name"),
            SchemaField("train_per_class", .oneOf([.string(enumValues: ["all"]), .integer(min: 1)]), "training samples per class (before the validation split)"),
            SchemaField("test_per_class", .oneOf([.string(enumValues: ["all"]), .integer(min: 1)]), "test samples per class"),
            SchemaField("validation", .number(min: 0, max: 1, exclusiveMax: true), "fraction of the training split held out for validation"),
            SchemaField("augment", .object([
                SchemaField("random_crop", .integer(min: 0, max: 8), "pad by this many pixels, then crop randomly (0 = off)"),
                SchemaField("horizontal_flip", .boolean, "flip images left-right at random"),
                SchemaField("random_resized_crop", .boolean, "torchvision's RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) back to the input size"),
            ]), "seeded augmentations of training images"),
            SchemaField("input_shape", .array(.integer(min: 1, max: 4096), minItems: 3, maxItems: 3), "channels, height, width of csv/npy inputs"),
            SchemaField("test_dataset", .string(pattern: "^(csv:.+|npy:.+)$"), "csv/npy data: a separate test set (csv:PATH or npy:FOLDER)"),
            SchemaField("test_fraction", .number(min: 0, max: 1, exclusiveMin: true, exclusiveMax: true), "csv/npy data without test_dataset, image folders without val/ or test/: fraction held out (stratified) for testing"),
            SchemaField("image_size", .integer(min: 8, max: 1024), "image folders: side of the square input (center crop; 224 by default)"),
            SchemaField("resize", .integer(min: 8, max: 2048), "image folders: the shorter side is resized to this before the crop (image_size · 8/7 by default)"),
            SchemaField("strict", .boolean, "image folders: a broken or non-image file is an error instead of a skipped file with a warning"),
        ]), "which data to train and test on"),
        SchemaField("normalization", .object([
            SchemaField("kind", .string(enumValues: NormalizationSpec.Kind.allCases.map(\.rawValue)), "how inputs are scaled"),
            SchemaField("per", .string(enumValues: NormalizationSpec.Per.allCases.map(\.rawValue)), "statistics per channel or over everything"),
        ]), "input normalization, fit on the training split only"),
        SchemaField("backbone", .object([
            SchemaField("arch", .string(enumValues: Zoo.names), "a zoo architecture"),
            SchemaField("options", archOptions, "architecture options (e.g. mlp widths, vgg blocks, resnet depth)"),
            SchemaField("weights", .string(pattern: "^(none|run:.+|file:.+|.+\\.ya?ml)$"), "none, run:EXPERIMENT, file:PATH.safetensors or a path to an experiment file"),
            SchemaField("freeze", freeze, "layers whose parameters are not trained"),
        ]), "the network and where its pretrained weights come from"),
        SchemaField("head", .object([
            SchemaField("layers", .array(.oneOf([
                .string(enumValues: ["relu", "batchnorm"]),
                .object([SchemaField("dense", .integer(min: 1, max: 1 << 20), "units")]),
                .object([SchemaField("dropout", .number(min: 0, max: 1, exclusiveMax: true), "rate")]),
            ])), "hidden layers of the new head; the output layer is added"),
            SchemaField("classifier", .string(enumValues: HeadSpec.Classifier.allCases.map(\.rawValue)),
                        "new (default): a new output layer; keep: a torchvision architecture's own classifier, loaded from the checkpoint"),
        ]), "the new classifier head"),
        SchemaField("optimizer", .object([
            SchemaField("kind", .string(enumValues: OptimizerSpec.Kind.allCases.map(\.rawValue)), "sgd, adam, adamw or rmsprop"),
            SchemaField("lr", .number(min: 0, max: 10, exclusiveMin: true), "learning rate"),
            SchemaField("weight_decay", .number(min: 0, max: 1), "L2 weight decay (decoupled for adamw)"),
            SchemaField("momentum", .number(min: 0, max: 1, exclusiveMax: true), "sgd/rmsprop momentum"),
            SchemaField("nesterov", .boolean, "Nesterov momentum (sgd)"),
            SchemaField("betas", .array(.number(min: 0, max: 1, exclusiveMax: true), minItems: 2, maxItems: 2), "Adam betas"),
            SchemaField("eps", .number(min: 0, max: 1, exclusiveMin: true), "numerical epsilon"),
            SchemaField("clip_norm", .number(min: 0, exclusiveMin: true), "clip gradients to this global norm"),
            SchemaField("groups", .object([], additional: .object(groupFields)), "per-group lr/weight_decay: backbone, head, or layer names"),
        ]), "the optimizer"),
        SchemaField("training", .object([
            SchemaField("epochs", .integer(min: 1, max: 10_000), "passes over the training split"),
            SchemaField("batch_size", .integer(min: 1, max: 65_536), "minibatch size"),
            SchemaField("label_smoothing", .number(min: 0, max: 1, exclusiveMax: true), "label smoothing of the cross-entropy"),
            SchemaField("budget", .integer(min: 1, max: 10_000), "epochs the schedule spans (≥ epochs); a longer run under the same budget continues this one"),
            SchemaField("schedule", .object([
                SchemaField("kind", .string(enumValues: ScheduleSpec.Kind.allCases.map(\.rawValue)), "learning-rate schedule"),
                SchemaField("warmup_epochs", .number(min: 0), "linear warm-up (constant, step, cosine)"),
                SchemaField("step_epochs", .integer(min: 1), "step: epochs between decays"),
                SchemaField("gamma", .number(min: 0, max: 1, exclusiveMin: true), "step: decay factor"),
                SchemaField("min_lr_fraction", .number(min: 0, max: 1), "cosine: final lr as a fraction of lr"),
                SchemaField("max_lr_factor", .number(min: 1), "onecycle: peak lr as a multiple of lr"),
                SchemaField("pct_start", .number(min: 0, max: 1, exclusiveMin: true, exclusiveMax: true), "onecycle: fraction of steps rising"),
            ]), "learning-rate schedule"),
            SchemaField("early_stopping", .object([
                SchemaField("metric", .string(enumValues: ["val.accuracy", "val.loss"]), "metric watched"),
                SchemaField("patience", .integer(min: 1), "epochs without improvement before stopping"),
                SchemaField("mode", .string(enumValues: EarlyStoppingSpec.Mode.allCases.map(\.rawValue)), "whether larger is better (default from the metric)"),
            ]), "stop when the validation metric stops improving"),
            SchemaField("unfreeze", .array(.object([
                SchemaField("epoch", .integer(min: 1), "epoch (1-based) at whose start the layers unfreeze", required: true),
                SchemaField("layers", freeze, "layers to unfreeze", required: true),
            ])), "gradual unfreezing"),
            SchemaField("regularization", .object([
                SchemaField("l2sp", .number(min: 0), "L2-SP strength toward the pretrained weights"),
                SchemaField("ewc", .number(min: 0), "EWC strength (Fisher information of the source task)"),
                SchemaField("fisher_samples", .integer(min: 1, max: 1_000_000), "source samples for the Fisher estimate"),
            ]), "limits on forgetting the source task"),
        ]), "the training loop"),
        SchemaField("compression", .array(.oneOf([
            .object([SchemaField("prune", .object([
                SchemaField("method", .string(enumValues: PruneSpec.Method.allCases.map(\.rawValue)), "magnitude (unstructured) or l1_filter (structured)"),
                SchemaField("scope", .string(enumValues: PruneSpec.Scope.allCases.map(\.rawValue)), "one global threshold or one per layer"),
                SchemaField("sparsity", .number(min: 0, max: 1, exclusiveMax: true), "fraction of weights (or filters) removed"),
                SchemaField("steps", .integer(min: 1, max: 100), "iterative pruning steps"),
                SchemaField("finetune_epochs", .integer(min: 0, max: 1000), "masked fine-tuning epochs after each step"),
            ]), "magnitude pruning (Han et al., 2015)")]),
            .object([SchemaField("quantize", .object([
                SchemaField("bits", .integer(values: [4, 8]), "integer width"),
                SchemaField("weights", .string(enumValues: QuantizeSpec.Granularity.allCases.map(\.rawValue)), "weight scales per channel or per tensor"),
                SchemaField("activations", .string(enumValues: ["per_tensor"]), "activation scales"),
                SchemaField("calibration_batches", .integer(min: 1, max: 10_000), "batches used to calibrate activation ranges"),
                SchemaField("qat_epochs", .integer(min: 0, max: 1000), "quantization-aware fine-tuning epochs"),
            ]), "post-training integer quantization")]),
            .object([SchemaField("distill", .object([
                SchemaField("teacher", .string(pattern: "^(self|ensemble|run:.+)$"), "self, ensemble or run:EXPERIMENT"),
                SchemaField("student", .object([
                    SchemaField("arch", .string(enumValues: Zoo.names), "student architecture", required: true),
                    SchemaField("options", archOptions, "student architecture options"),
                ]), "the student network"),
                SchemaField("temperature", .number(min: 0, max: 100, exclusiveMin: true), "softmax temperature of the soft targets"),
                SchemaField("alpha", .number(min: 0, max: 1), "weight of the soft-target loss"),
                SchemaField("epochs", .integer(min: 1, max: 10_000), "student epochs (default training.epochs)"),
            ]), "knowledge distillation (Hinton et al., 2015)")]),
            .object([SchemaField("share", .object([
                SchemaField("bits", .integer(min: 1, max: 8), "shared values per layer: 2^bits"),
                SchemaField("finetune_epochs", .integer(min: 0, max: 1000), "fine-tuning epochs of the shared values"),
            ]), "weight sharing by k-means (Han et al., 2016)")]),
            .object([SchemaField("encode", .object([]), "Deep Compression storage: sparse, coded and deflated (Han et al., 2016)")]),
        ])), "an ordered list of prune, quantize, distill, share and encode steps"),
        SchemaField("ensemble", .object([
            SchemaField("members", .oneOf([.integer(min: 2, max: 64), .array(.string(), minItems: 2),
                                           .object([SchemaField("top", .integer(min: 2, max: 64), "best k sweep points", required: true)])]),
                        "N seeds, a list of experiments or sweep points, or {top: k}"),
            SchemaField("method", .string(enumValues: EnsembleSpec.Method.allCases.map(\.rawValue)), "how member predictions combine"),
        ]), "an ensemble of models"),
        SchemaField("sweep", .object([
            SchemaField("cases", .object([], additional: .object([], additional: .any)), "case name → {dotted path: value}; one point per case"),
            SchemaField("grid", .object([], additional: .array(.any, minItems: 1)), "dotted path → values; the cartesian product"),
            SchemaField("zip", .object([], additional: .array(.any, minItems: 1)), "dotted path → values; lists of equal length walked together"),
            SchemaField("random", .object([
                SchemaField("trials", .integer(min: 1, max: SweepExpansion.maxPoints), "number of points drawn", required: true),
                SchemaField("seed", .integer(min: 0), "seed of the draw"),
                SchemaField("params", .object([], additional: .object([
                    SchemaField("choice", .array(.any, minItems: 1), "one of these values"),
                    SchemaField("uniform", .array(.number(), minItems: 2, maxItems: 2), "[low, high]"),
                    SchemaField("loguniform", .array(.number(min: 0, exclusiveMin: true), minItems: 2, maxItems: 2), "[low, high], uniform in log space"),
                    SchemaField("int", .array(.integer(), minItems: 2, maxItems: 2), "[low, high], inclusive integers"),
                ])), "dotted path → distribution", required: true),
            ]), "random search"),
        ]), "hyperparameter sweeps over any field"),
        SchemaField("search", .object([
            SchemaField("method", .string(enumValues: SearchSpec.Method.allCases.map(\.rawValue)), "how the sweep's configurations are searched", required: true),
            SchemaField("eta", .integer(min: 2, max: 100), "each rung keeps the best 1/eta (default 3)"),
            SchemaField("min_epochs", .integer(min: 1, max: 10_000), "epochs of the first rung (default 1)"),
            SchemaField("max_epochs", .integer(min: 1, max: 10_000), "epochs of the last rung; the schedule spans them", required: true),
            SchemaField("metric", .string(enumValues: SearchSpec.metrics), "the validation metric configurations are ranked by (default val.accuracy)"),
            SchemaField("models", .integer(min: 2, max: 100_000), "evolution, reinforce: configurations trained, each for max_epochs"),
            SchemaField("population", .integer(min: 2, max: 100_000), "evolution: the population's size (default 10)"),
            SchemaField("sample", .integer(min: 1, max: 100_000), "evolution: members a tournament samples (default 3)"),
            SchemaField("learning_rate", .number(min: 0, max: 10, exclusiveMin: true), "reinforce: the controller's step size (default 0.5)"),
            SchemaField("baseline_decay", .number(min: 0, max: 1, exclusiveMax: true), "reinforce: the reward baseline's moving-average decay (default 0.8)"),
            SchemaField("seed", .integer(min: 0), "evolution, reinforce: seeds their draws (default the experiment's seed)"),
            SchemaField("operations", .array(.string(enumValues: CellOperation.allCases.map(\.rawValue)), minItems: 2), "darts: candidate operations of every edge (default all)"),
            SchemaField("nodes", .integer(min: 1, max: 8), "darts: intermediate nodes per cell (default 3)"),
            SchemaField("cells", .integer(min: 1, max: 20), "darts: cells (default 3)"),
            SchemaField("channels", .integer(min: 1, max: 1024), "darts: channels of the stem and every cell (default 16)"),
            SchemaField("reductions", .array(.integer()), "darts: 2×2 max pooling after these cells, 0 after the stem (default [0, 1])"),
            SchemaField("alpha_lr", .number(min: 0, max: 1, exclusiveMin: true), "darts: Adam's learning rate for the architecture weights (default 3e-4)"),
            SchemaField("alpha_weight_decay", .number(min: 0, max: 1, exclusiveMax: true), "darts: weight decay of the architecture weights (default 1e-3)"),
        ]), "search the sweep's configurations (successive halving, Hyperband, evolution, a REINFORCE controller), or a cell space (darts), instead of training each to the end"),
        SchemaField("model", .string(pattern: "^run:.+$"), "run:NAME or run:NAME/POINT (a sweep label, or best): that run's trained model is this experiment's; only compression, ensemble and report are set here"),
        SchemaField("report", .object([
            SchemaField("target", .string(), "the metric sweeps are ranked by, e.g. test.accuracy"),
            SchemaField("template", .string(), "a folder of the user's own report templates"),
        ]), "reports"),
    ]

    public static var root: SchemaType { .object(sections) }

    /// The fields of an object at a dotted path of section names ("training.schedule").
    public static func fields(at path: [String]) -> [SchemaField] {
        var type = root
        for key in path {
            guard case .object(let fields, _) = type, let f = fields.first(where: { $0.name == key }) else { return [] }
            type = f.type
        }
        if case .object(let fields, _) = type { return fields }
        return []
    }

    public static func keys(at path: String) -> [String] {
        if let known = keyTable[path] { return known }
        return fields(at: path.isEmpty ? [] : path.split(separator: ".").map(String.init)).map(\.name)
    }

    /// Keys of every object section, computed once (the decoder asks for them per point).
    private static let keyTable: [String: [String]] = {
        var table: [String: [String]] = [:]
        func walk(_ type: SchemaType, _ path: String) {
            guard case .object(let fields, _) = type else { return }
            table[path] = fields.map(\.name)
            for f in fields { walk(f.type, path.isEmpty ? f.name : path + "." + f.name) }
        }
        walk(.object(sections), "")
        return table
    }()

    /// Names people write for a field that the spec spells otherwise.
    static let aliases: [String: String] = [
        "learning_rate": "lr", "learningrate": "lr", "learning-rate": "lr", "batchsize": "batch_size", "batch-size": "batch_size",
        "num_epochs": "epochs", "n_epochs": "epochs", "max_epochs": "epochs", "wd": "weight_decay", "decay": "weight_decay",
        "architecture": "arch", "model": "arch", "optimiser": "optimizer", "num_classes": "classes", "val_split": "validation",
        "dropout_rate": "dropout", "lr_schedule": "schedule", "scheduler": "schedule", "patience": "early_stopping",
    ]

    /// Where a key that does not belong at `path` does belong: the dotted path of a
    /// field of that name (or of the name it is an alias of) elsewhere in the spec.
    public static func elsewhere(_ key: String, notAt path: String) -> String? {
        let name = aliases[key.lowercased()] ?? key
        let matches = keyTable.keys.sorted().filter { $0 != path && keyTable[$0]!.contains(name) }.map { $0.isEmpty ? name : $0 + "." + name }
        // Only an unambiguous answer helps.
        return matches.count == 1 ? matches[0] : nil
    }

    /// Resolves a sweep path ("optimizer.lr", "optimizer.groups.backbone.lr",
    /// "compression.0.prune.sparsity") through the schema. Returns nil when it names
    /// a real field, or a message with a suggestion when it does not.
    public static func checkPath(_ path: String) -> String? {
        let segments = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !segments.isEmpty, !segments.contains(where: \.isEmpty) else { return "'\(path)' is not a dotted field path" }
        var type = root
        var walked: [String] = []
        for segment in segments {
            switch type {
            case .object(let fields, let additional):
                if let f = fields.first(where: { $0.name == segment }) {
                    type = f.type
                } else if let additional {
                    type = additional
                } else {
                    let where_ = walked.isEmpty ? "the spec" : "'\(walked.joined(separator: "."))'"
                    var msg = "\(where_) has no field '\(segment)'"
                    if let s = suggestion(for: segment, among: fields.map(\.name)) { msg += "; did you mean '\(s)'?" }
                    else if let s = elsewhere(segment, notAt: walked.joined(separator: ".")) { msg += "; did you mean '\(s)'?" }
                    return msg
                }
            case .array(let element, _, _):
                guard Int(segment) != nil else { return "'\(walked.joined(separator: "."))' is a list; index it with a number, e.g. '\(walked.joined(separator: ".")).0'" }
                type = element
            case .oneOf(let options):
                // Follow the first alternative that knows this segment.
                var next: SchemaType?
                for o in options {
                    if case .object(let fields, let additional) = o {
                        if let f = fields.first(where: { $0.name == segment }) { next = f.type; break }
                        if let additional { next = additional; break }
                    }
                    if case .array(let element, _, _) = o, Int(segment) != nil { next = element; break }
                }
                guard let next else { return "'\(walked.joined(separator: "."))' has no field '\(segment)'" }
                type = next
            case .any:
                return nil
            default:
                return "'\(walked.joined(separator: "."))' is a single value; it has no field '\(segment)'"
            }
            walked.append(segment)
        }
        if walked.first == "sweep" { return "a sweep cannot sweep over 'sweep' itself" }
        if walked == ["name"] || walked == ["tlc"] || walked == ["extends"] { return "'\(walked[0])' cannot be swept" }
        return nil
    }
}
