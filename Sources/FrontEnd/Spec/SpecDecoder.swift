// SpecDecoder — turns one resolved YAML tree (extends merged, overrides applied,
// one sweep point substituted) into a `Spec`, filling in defaults, and checks
// every range (each read from SpecSchema by the field's path) and cross-field
// rule. All problems are reported in one pass.
import ModelZoo

public struct SpecDecoder {
    /// Resolves an experiment reference (`run:NAME` or a path) seen in `fromFile`
    /// to the path of its experiment file, or nil when there is none.
    public var resolveExperiment: (_ reference: String, _ fromFile: String) -> String?
    /// Whether a file path (already made absolute) exists.
    public var fileExists: (_ path: String) -> Bool
    let architectures = ArchitectureCache()

    public init(resolveExperiment: @escaping (String, String) -> String? = { _, _ in nil },
                fileExists: @escaping (String) -> Bool = { _ in false }) {
        self.resolveExperiment = resolveExperiment
        self.fileExists = fileExists
    }

    /// Decodes `root`; returns nil when any error was emitted into `diagnostics`.
    /// `hasSweep` tells whether the experiment declares a sweep (for `ensemble: {members: {top: k}}`).
    /// With `base` and `changed` (the top-level sections a sweep point sets), sections
    /// outside `changed` are taken from `base` instead of being decoded again; the
    /// cross-field checks always run on the whole point.
    public func decode(_ root: YAMLNode, diagnostics: DiagnosticEngine, hasSweep: Bool = false,
                       base: Spec? = nil, changed: Set<String>? = nil) -> Spec? {
        var crossCheckOnly = false
        return decode(root, diagnostics: diagnostics, hasSweep: hasSweep, base: base, changed: changed, crossCheckOnly: &crossCheckOnly)
    }

    /// `decode`, also telling whether every error came from the cross-field checks
    /// (each value is valid alone, but they do not fit together: a configuration a
    /// search rejects) rather than from a field written wrong.
    public func decode(_ root: YAMLNode, diagnostics: DiagnosticEngine, hasSweep: Bool = false,
                       base: Spec? = nil, changed: Set<String>? = nil, crossCheckOnly: inout Bool) -> Spec? {
        let before = diagnostics.diagnostics.filter { $0.severity == .error }.count
        let r = NodeReader(diagnostics: diagnostics)
        if root.isNull || (root.scalar?.text.isEmpty ?? false) {
            r.error("the experiment is empty; expected a mapping with at least 'tlc: 1' and 'name'", at: root)
            return nil
        }
        guard let top = r.mapping(root, "the experiment", known: SpecSchema.keys(at: "")) else { return nil }

        var spec = Spec(name: "")
        if let n = top["tlc"] {
            if let v = r.int(n, "tlc (the spec language version)") {
                if v != 1 { r.error("this tlc understands spec language version 1; the file says tlc: \(v)", at: n) }
            }
        } else {
            r.error("missing 'tlc: 1' (the spec language version) at the top of the experiment", at: root)
        }
        if let n = top["name"] {
            if let name = r.string(n, "name") {
                // A sweep point's name is mostly its base's, already checked.
                if name == base?.name { spec.name = name }
                else if let problem = Self.nameProblem(name) { r.error(problem, at: n) } else { spec.name = name }
            }
        } else {
            r.error("missing 'name': every experiment needs a name (it becomes its folder under Outputs)", at: root)
        }
        if let n = top["description"] { spec.description = r.string(n, "description") }
        if let n = top["seed"], let v = r.int(n, schema: "seed") { spec.seed = v }
        if let n = top["seeds"], !n.isNull, let m = r.mapping(n, "seeds", known: SpecSchema.keys(at: "seeds")) {
            if let v = m["data"] { spec.seeds.data = r.int(v, schema: "seeds.data") }
            if let v = m["init"] { spec.seeds.initialization = r.int(v, schema: "seeds.init") }
            if let v = m["shuffle"] { spec.seeds.shuffle = r.int(v, schema: "seeds.shuffle") }
        }

        // Sections a sweep point takes from its base (worked out once: this runs for every point).
        let fromBase: Set<String> = if base != nil, let changed { Self.sections.subtracting(changed) } else { [] }
        func fresh(_ section: String) -> Bool { !fromBase.contains(section) }
        if let base {
            // The base's copies, shared (see SharedSection).
            if !fresh("data") { spec.$data = base.$data }
            if !fresh("normalization") { spec.normalization = base.normalization }
            if !fresh("backbone") { spec.$backbone = base.$backbone }
            if !fresh("head") { spec.$head = base.$head }
            if !fresh("optimizer") { spec.$optimizer = base.$optimizer }
            if !fresh("training") { spec.$training = base.$training }
            if !fresh("compression") { spec.compression = base.compression }
            if !fresh("ensemble") { spec.$ensemble = base.$ensemble }
            if !fresh("report") { spec.$report = base.$report }
        }
        if fresh("data"), let n = top["data"] { decodeData(n, into: &spec.data, r) }
        if fresh("normalization"), let n = top["normalization"] { decodeNormalization(n, into: &spec.normalization, r) }
        if fresh("backbone"), let n = top["backbone"] { decodeBackbone(n, into: &spec.backbone, r) }
        if fresh("head"), let n = top["head"] { decodeHead(n, into: &spec.head, r) }
        if fresh("optimizer"), let n = top["optimizer"] { decodeOptimizer(n, into: &spec.optimizer, r) }
        if fresh("training"), let n = top["training"] { decodeTraining(n, into: &spec.training, r) }
        if fresh("compression"), let n = top["compression"] { spec.compression = decodeCompression(n, r) }
        if fresh("ensemble"), let n = top["ensemble"], !n.isNull { spec.ensemble = decodeEnsemble(n, r, hasSweep: hasSweep) }
        if fresh("report"), let n = top["report"] { decodeReport(n, into: &spec.report, r) }
        if let n = top["model"], !n.isNull, let text = r.string(n, "model") {
            if text.hasPrefix("run:"), text.count > 4 {
                spec.model = String(text.dropFirst(4))
                // What the model brings with it cannot also be set here.
                for key in ["data", "normalization", "backbone", "head", "optimizer", "training", "seeds"] where top[key] != nil {
                    r.error("'\(key)' comes from the model \(text); remove it here (or drop `model:` and train this experiment)", at: top[key]!)
                }
            } else {
                r.error("model must be run:NAME or run:NAME/POINT (a trained model of another experiment), not '\(text)'", at: n)
            }
        }

        // Without a validation split there is no validation metric to rank by.
        let targetNode = top["report"]?["target"]
        if targetNode == nil, spec.data.validation == 0, spec.report.target.hasPrefix("val.") { spec.report.target = "test.accuracy" }
        if let targetNode, spec.report.target.hasPrefix("val."), spec.data.validation == 0 {
            r.error("report.target \(spec.report.target) needs a validation split, but data.validation is 0", at: targetNode,
                    notes: ["set data.validation (e.g. 0.1), or rank by a test metric knowing that it selects on the test set"])
        }
        let beforeCrossCheck = diagnostics.diagnostics.filter { $0.severity == .error }.count
        let wrongValue = crossCheck(&spec, top: top, r)
        if let base, let changed { spec.shareEqualSections(with: base, fresh: changed) }
        let after = diagnostics.diagnostics.filter { $0.severity == .error }.count
        crossCheckOnly = beforeCrossCheck == before && after > before && !wrongValue
        return after == before ? spec : nil
    }

    /// The top-level sections a sweep point may take from its base.
    static let sections: Set<String> = ["data", "normalization", "backbone", "head", "optimizer", "training", "compression",
                                        "ensemble", "report"]

    /// Why a name cannot be an experiment name, or nil when it can.
    public static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "name must not be empty" }
        if name.hasPrefix(".") { return "name '\(name)' must not start with '.' (it becomes a folder under Outputs)" }
        if name.count > 100 { return "name is longer than 100 characters" }
        let ok = name.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "-_.".unicodeScalars.contains($0) }
        if !ok { return "name '\(name)' may hold only letters, digits, '-', '_' and '.' (it becomes a folder under Outputs)" }
        return nil
    }

    // MARK: sections

    func decodeData(_ node: YAMLNode, into data: inout DataSpec, _ r: NodeReader) {
        guard let m = r.mapping(node, "data", known: SpecSchema.keys(at: "data")) else { return }
        if let n = m["dataset"], let text = r.string(n, "data.dataset") {
            if text == "fashion-mnist" { data.dataset = .fashionMNIST }
            else if text.hasPrefix("csv:"), text.count > 4 { data.dataset = .csv(path: String(text.dropFirst(4))) }
            else if text.hasPrefix("npy:"), text.count > 4 { data.dataset = .npy(path: String(text.dropFirst(4))) }
            else if text.hasPrefix("folder:"), text.count > 7 { data.dataset = .folder(path: String(text.dropFirst(7))) }
            else {
                let hint = suggestion(for: text, among: ["fashion-mnist"]).map { "; did you mean '\($0)'?" } ?? ""
                r.error("unknown data.dataset '\(text)'\(hint)", at: n, notes: hint.isEmpty ? ["expected fashion-mnist, csv:PATH, npy:FOLDER or folder:PATH (an image folder)"] : [])
            }
        }
        if let n = m["test_dataset"], let text = r.string(n, "data.test_dataset") {
            if text.hasPrefix("csv:"), text.count > 4 { data.testDataset = .csv(path: String(text.dropFirst(4))) }
            else if text.hasPrefix("npy:"), text.count > 4 { data.testDataset = .npy(path: String(text.dropFirst(4))) }
            else { r.error("data.test_dataset must be csv:PATH or npy:FOLDER, got '\(text)'", at: n) }
        }
        if let n = m["test_fraction"], let v = r.double(n, schema: "data.test_fraction") { data.testFraction = v }
        if let n = m["classes"] {
            if n.scalar?.text == "all" { data.classes = nil }
            else if let items = r.sequence(n, "data.classes") {
                var classes: [Int] = []
                var seen: [Int: YAMLNode] = [:]
                data.classNames = nil
                for (position, item) in items.enumerated() {
                    // An image folder's classes may be named (subfolder names), resolved by validation.
                    if data.dataset.isFolder, let text = item.scalar?.text, item.scalar?.int == nil, !item.isNull {
                        if data.classNames == nil { data.classNames = Array(repeating: nil, count: items.count) }
                        data.classNames![position] = text
                        classes.append(-1)
                        continue
                    }
                    guard let c = r.int(item, "a class index", schema: "data.classes.*") else { continue }
                    if let first = seen[c] {
                        r.error("class \(c) is listed twice in data.classes", at: item, notes: ["first listed at \(first.location)"])
                        continue
                    }
                    seen[c] = item
                    classes.append(c)
                }
                if items.count < 2 { r.error("data.classes needs at least 2 classes", at: n) }
                data.classes = classes
            }
        }
        if let n = m["train_per_class"] {
            data.trainPerClass = n.scalar?.text == "all" ? nil : r.int(n, schema: "data.train_per_class")
        }
        if let n = m["test_per_class"] {
            data.testPerClass = n.scalar?.text == "all" ? nil : r.int(n, schema: "data.test_per_class")
        }
        if let n = m["validation"], let v = r.double(n, schema: "data.validation") { data.validation = v }
        if let n = m["augment"], let a = r.mapping(n, "data.augment", known: SpecSchema.keys(at: "data.augment")) {
            if let c = a["random_crop"], let v = r.int(c, schema: "data.augment.random_crop") { data.augment.randomCrop = v }
            if let f = a["horizontal_flip"], let v = r.bool(f, "data.augment.horizontal_flip") { data.augment.horizontalFlip = v }
            if let f = a["random_resized_crop"], let v = r.bool(f, "data.augment.random_resized_crop") { data.augment.randomResizedCrop = v }
        }
        if let n = m["image_size"], let v = r.int(n, schema: "data.image_size") { data.imageSize = v }
        if let n = m["resize"], let v = r.int(n, schema: "data.resize") { data.resize = v }
        if let n = m["strict"], let v = r.bool(n, "data.strict") { data.strict = v }
        if let n = m["input_shape"], let items = r.sequence(n, "data.input_shape") {
            let dims = items.compactMap { r.int($0, "an input dimension", schema: "data.input_shape.*") }
            if items.count != 3 { r.error("data.input_shape is [channels, height, width]", at: n) }
            else if dims.count == 3 { data.inputShape = FeatureShape(channels: dims[0], height: dims[1], width: dims[2]) }
        }
        if data.dataset.isFolder {
            // Images are decoded to RGB and cropped square.
            data.inputShape = FeatureShape(channels: 3, height: data.effectiveImageSize, width: data.effectiveImageSize)
        }
    }

    func decodeNormalization(_ node: YAMLNode, into norm: inout NormalizationSpec, _ r: NodeReader) {
        guard let m = r.mapping(node, "normalization", known: SpecSchema.keys(at: "normalization")) else { return }
        if let n = m["kind"], let k = r.enumeration(n, "normalization.kind", NormalizationSpec.Kind.self) { norm.kind = k }
        if let n = m["per"], let p = r.enumeration(n, "normalization.per", NormalizationSpec.Per.self) { norm.per = p }
    }

    func decodeBackbone(_ node: YAMLNode, into b: inout BackboneSpec, _ r: NodeReader) {
        guard let m = r.mapping(node, "backbone", known: SpecSchema.keys(at: "backbone")) else { return }
        if let n = m["arch"], let a = decodeArch(n, r, what: "backbone.arch") { b.arch = a }
        if let n = m["options"] { b.options = decodeOptions(n, r, what: "backbone.options") }
        if let n = m["weights"], let text = r.string(n, "backbone.weights") {
            if text == "none" { b.weights = .none }
            else if text.hasPrefix("run:"), text.count > 4 { b.weights = .run(String(text.dropFirst(4))) }
            else if text.hasPrefix("file:"), text.count > 5 { b.weights = .file(String(text.dropFirst(5))) }
            else if text.hasSuffix(".yaml") || text.hasSuffix(".yml") { b.weights = .run(text) }
            else {
                r.error("backbone.weights must be none, run:EXPERIMENT, file:PATH.safetensors or an experiment file path; got '\(text)'", at: n)
            }
        }
        if let n = m["freeze"], let f = decodeFreeze(n, r, what: "backbone.freeze") { b.freeze = f }
    }

    func decodeArch(_ node: YAMLNode, _ r: NodeReader, what: String) -> String? {
        guard let text = r.string(node, what) else { return nil }
        if Zoo.info(text) != nil { return text }
        if let s = suggestion(for: text, among: Zoo.names) {
            r.error("unknown architecture '\(text)'; did you mean '\(s)'?", at: node)
        } else {
            r.error("unknown architecture '\(text)'", at: node, notes: ["known: \(Zoo.names.joined(separator: ", "))"])
        }
        return nil
    }

    func decodeOptions(_ node: YAMLNode, _ r: NodeReader, what: String) -> [String: OptionValue] {
        guard let pairs = node.mapping else {
            if !node.isNull { r.error("\(what) must be a mapping, not \(r.article(node.kindName))", at: node) }
            return [:]
        }
        var out: [String: OptionValue] = [:]
        for p in pairs {
            let key = p.key.scalar?.text ?? ""
            switch r.optionValue(p.value) {
            case .value(let v): out[key] = v
            case .invalid: r.error("\(what).\(key) must be a number, boolean, string or list of them", at: p.value)
            }
        }
        return out
    }

    func decodeFreeze(_ node: YAMLNode, _ r: NodeReader, what: String) -> FreezeSelection? {
        if let s = node.scalar, !node.isNull {
            switch s.text {
            case "all": return .all
            case "none": return FreezeSelection.none
            default: return .names([s.text])
            }
        }
        if node.isNull { return FreezeSelection.none }
        if let items = node.sequence {
            let names = items.compactMap { r.string($0, "a layer name in \(what)") }
            return names.count == items.count ? .names(names) : nil
        }
        if let m = r.mapping(node, what, known: ["up_to"]) {
            guard let n = m["up_to"] else { r.error("\(what) as a mapping needs 'up_to: LAYER'", at: node); return nil }
            return r.string(n, "\(what).up_to").map { .upTo($0) }
        }
        return nil
    }

    func decodeHead(_ node: YAMLNode, into h: inout HeadSpec, _ r: NodeReader) {
        guard let m = r.mapping(node, "head", known: SpecSchema.keys(at: "head")) else { return }
        if let n = m["classifier"], let c = r.enumeration(n, "head.classifier", HeadSpec.Classifier.self) { h.classifier = c }
        // `layers: null` keeps the architecture's own head.
        guard let n = m["layers"], !n.isNull, let items = r.sequence(n, "head.layers") else { return }
        var layers: [HeadLayer] = []
        let kinds = ["dense", "relu", "dropout", "batchnorm"]
        for item in items {
            if let s = item.scalar, !item.isNull {
                switch s.text {
                case "relu": layers.append(.relu)
                case "batchnorm": layers.append(.batchnorm)
                case "dense", "dropout": r.error("'\(s.text)' needs a value: write {\(s.text): \(s.text == "dense" ? "128" : "0.3")}", at: item)
                default:
                    let hint = suggestion(for: s.text, among: kinds).map { "; did you mean '\($0)'?" } ?? ""
                    r.error("unknown head layer '\(s.text)'\(hint)", at: item, notes: hint.isEmpty ? ["head layers: dense, relu, dropout, batchnorm"] : [])
                }
            } else if let pairs = item.mapping, pairs.count == 1 {
                let key = pairs[0].key.scalar?.text ?? "", value = pairs[0].value
                switch key {
                case "dense": if let u = r.int(value, "dense units", schema: "head.layers.*.dense") { layers.append(.dense(u)) }
                case "dropout": if let d = r.double(value, "dropout rate", schema: "head.layers.*.dropout") { layers.append(.dropout(d)) }
                case "relu", "batchnorm": r.error("'\(key)' takes no value; write it as a plain list item", at: pairs[0].key)
                default:
                    let hint = suggestion(for: key, among: kinds).map { "; did you mean '\($0)'?" } ?? ""
                    r.error("unknown head layer '\(key)'\(hint)", at: pairs[0].key, notes: hint.isEmpty ? ["head layers: dense, relu, dropout, batchnorm"] : [])
                }
            } else {
                r.error("a head layer is 'relu', 'batchnorm', {dense: N} or {dropout: RATE}", at: item)
            }
        }
        h.layers = layers
    }

    func decodeOptimizer(_ node: YAMLNode, into o: inout OptimizerSpec, _ r: NodeReader) {
        guard let m = r.mapping(node, "optimizer", known: SpecSchema.keys(at: "optimizer")) else { return }
        if let n = m["kind"], let k = r.enumeration(n, "optimizer.kind", OptimizerSpec.Kind.self) { o.kind = k }
        if let n = m["lr"], let v = r.double(n, schema: "optimizer.lr") { o.lr = v }
        if let n = m["weight_decay"], let v = r.double(n, schema: "optimizer.weight_decay") { o.weightDecay = v }
        if let n = m["momentum"], let v = r.double(n, schema: "optimizer.momentum") { o.momentum = v }
        if let n = m["nesterov"], let v = r.bool(n, "optimizer.nesterov") { o.nesterov = v }
        if let n = m["betas"], let items = r.sequence(n, "optimizer.betas") {
            let vs = items.compactMap { r.double($0, "an Adam beta", schema: "optimizer.betas.*") }
            if items.count != 2 { r.error("optimizer.betas is [beta1, beta2]", at: n) }
            else if vs.count == 2 { o.beta1 = vs[0]; o.beta2 = vs[1] }
        }
        if let n = m["eps"], let v = r.double(n, schema: "optimizer.eps") { o.eps = v }
        if let n = m["clip_norm"], !n.isNull { o.clipNorm = r.double(n, schema: "optimizer.clip_norm") }
        if let n = m["groups"], let pairs = n.mapping {
            for p in pairs {
                let name = p.key.scalar?.text ?? ""
                guard let g = r.mapping(p.value, "optimizer.groups.\(name)", known: SpecSchema.groupFields.map(\.name)) else { continue }
                var group = ParameterGroupSpec()
                if let v = g["lr"] { group.lr = r.double(v, "optimizer.groups.\(name).lr", schema: "optimizer.groups.*.lr") }
                if let v = g["weight_decay"] { group.weightDecay = r.double(v, "optimizer.groups.\(name).weight_decay", schema: "optimizer.groups.*.weight_decay") }
                o.groups[name] = group
            }
        } else if let n = m["groups"], !n.isNull {
            r.error("optimizer.groups must be a mapping of group name to {lr, weight_decay}", at: n)
        }
        if o.kind != .sgd, let n = m["nesterov"], n.scalar?.bool == true {
            r.error("optimizer.nesterov applies to sgd only (kind is \(o.kind.rawValue))", at: n)
        }
    }

    func decodeTraining(_ node: YAMLNode, into t: inout TrainingSpec, _ r: NodeReader) {
        guard let m = r.mapping(node, "training", known: SpecSchema.keys(at: "training")) else { return }
        if let n = m["epochs"], let v = r.int(n, schema: "training.epochs") { t.epochs = v }
        if let n = m["batch_size"], let v = r.int(n, schema: "training.batch_size") { t.batchSize = v }
        if let n = m["label_smoothing"], let v = r.double(n, schema: "training.label_smoothing") { t.labelSmoothing = v }
        if let n = m["budget"], !n.isNull, let v = r.int(n, schema: "training.budget") { t.budget = v }
        if let n = m["schedule"], let s = r.mapping(n, "training.schedule", known: SpecSchema.keys(at: "training.schedule")) {
            if let k = s["kind"], let v = r.enumeration(k, "schedule kind", ScheduleSpec.Kind.self) { t.schedule.kind = v }
            if let k = s["warmup_epochs"], let v = r.double(k, schema: "training.schedule.warmup_epochs") { t.schedule.warmupEpochs = v }
            if let k = s["step_epochs"], let v = r.int(k, schema: "training.schedule.step_epochs") { t.schedule.stepEpochs = v }
            if let k = s["gamma"], let v = r.double(k, schema: "training.schedule.gamma") { t.schedule.gamma = v }
            if let k = s["min_lr_fraction"], let v = r.double(k, schema: "training.schedule.min_lr_fraction") { t.schedule.minLRFraction = v }
            if let k = s["max_lr_factor"], let v = r.double(k, schema: "training.schedule.max_lr_factor") { t.schedule.maxLRFactor = v }
            if let k = s["pct_start"], let v = r.double(k, schema: "training.schedule.pct_start") { t.schedule.pctStart = v }
        }
        if let n = m["early_stopping"], !n.isNull,
           let e = r.mapping(n, "training.early_stopping", known: SpecSchema.keys(at: "training.early_stopping")) {
            var es = EarlyStoppingSpec()
            if let k = e["metric"], let v = r.string(k, "training.early_stopping.metric") {
                let metrics = SpecSchema.stringValues(at: "training.early_stopping.metric")
                if metrics.contains(v) { es.metric = v; es.mode = v == "val.loss" ? .min : .max }
                else {
                    let hint = suggestion(for: v, among: metrics).map { "; did you mean '\($0)'?" } ?? " (use \(metrics.joined(separator: " or ")))"
                    r.error("early stopping watches a validation metric; '\(v)' is not one\(hint)", at: k)
                }
            }
            if let k = e["patience"], let v = r.int(k, schema: "training.early_stopping.patience") { es.patience = v }
            if let k = e["mode"], let v = r.enumeration(k, "early stopping mode", EarlyStoppingSpec.Mode.self) { es.mode = v }
            t.earlyStopping = es
        }
        if let n = m["unfreeze"], let items = r.sequence(n, "training.unfreeze") {
            for item in items {
                guard let u = r.mapping(item, "an unfreeze step", known: ["epoch", "layers"]) else { continue }
                guard let e = u["epoch"], let l = u["layers"] else {
                    r.error("an unfreeze step needs 'epoch' and 'layers', e.g. {epoch: 3, layers: [block3]}", at: item); continue
                }
                if let epoch = r.int(e, "unfreeze epoch", schema: "training.unfreeze.*.epoch"), let layers = decodeFreeze(l, r, what: "unfreeze layers") {
                    t.unfreeze.append(UnfreezeStep(epoch: epoch, layers: layers))
                }
            }
        }
        if let n = m["regularization"], let g = r.mapping(n, "training.regularization", known: SpecSchema.keys(at: "training.regularization")) {
            if let k = g["l2sp"], let v = r.double(k, schema: "training.regularization.l2sp") { t.regularization.l2sp = v }
            if let k = g["ewc"], let v = r.double(k, schema: "training.regularization.ewc") { t.regularization.ewc = v }
            if let k = g["fisher_samples"], let v = r.int(k, schema: "training.regularization.fisher_samples") { t.regularization.fisherSamples = v }
        }
    }

    func decodeCompression(_ node: YAMLNode, _ r: NodeReader) -> [CompressionStep] {
        if node.isNull { return [] }
        guard let items = r.sequence(node, "compression") else { return [] }
        var steps: [CompressionStep] = []
        for item in items {
            guard let pairs = item.mapping, pairs.count == 1 else {
                r.error("a compression step is one of {prune: …}, {quantize: …}, {distill: …}, {share: …}, {encode: …}", at: item); continue
            }
            let key = pairs[0].key.scalar?.text ?? "", value = pairs[0].value
            let body = value.isNull ? YAMLNode(.mapping([]), at: value.location) : value
            switch key {
            case "prune":
                guard let m = r.mapping(body, "prune", known: ["method", "scope", "sparsity", "steps", "finetune_epochs"]) else { continue }
                var p = PruneSpec()
                if let n = m["method"], let v = r.enumeration(n, "pruning method", PruneSpec.Method.self) { p.method = v }
                if let n = m["scope"], let v = r.enumeration(n, "pruning scope", PruneSpec.Scope.self) { p.scope = v }
                if let n = m["sparsity"], let v = r.double(n, "prune.sparsity", schema: "compression.*.prune.sparsity") { p.sparsity = v }
                if let n = m["steps"], let v = r.int(n, "prune.steps", schema: "compression.*.prune.steps") { p.steps = v }
                if let n = m["finetune_epochs"], let v = r.int(n, "prune.finetune_epochs", schema: "compression.*.prune.finetune_epochs") { p.finetuneEpochs = v }
                steps.append(.prune(p))
            case "quantize":
                guard let m = r.mapping(body, "quantize", known: ["bits", "weights", "activations", "calibration_batches", "qat_epochs"]) else { continue }
                var q = QuantizeSpec()
                if let n = m["bits"], let v = r.int(n, "quantize.bits", schema: "compression.*.quantize.bits") { q.bits = v }
                if let n = m["weights"], let v = r.enumeration(n, "weight quantization granularity", QuantizeSpec.Granularity.self) { q.weights = v }
                let activations = SpecSchema.stringValues(at: "compression.*.quantize.activations")
                if let n = m["activations"], let v = r.string(n, "quantize.activations"), !activations.contains(v) {
                    r.error("quantize.activations supports \(activations.joined(separator: ", ")) only, got '\(v)'", at: n)
                }
                if let n = m["calibration_batches"], let v = r.int(n, "quantize.calibration_batches", schema: "compression.*.quantize.calibration_batches") { q.calibrationBatches = v }
                if let n = m["qat_epochs"], let v = r.int(n, "quantize.qat_epochs", schema: "compression.*.quantize.qat_epochs") { q.qatEpochs = v }
                steps.append(.quantize(q))
            case "distill":
                guard let m = r.mapping(body, "distill", known: ["teacher", "student", "temperature", "alpha", "epochs"]) else { continue }
                var d = DistillSpec()
                if let n = m["teacher"], let v = r.string(n, "distill.teacher") {
                    if v == "self" { d.teacher = .this }
                    else if v == "ensemble" { d.teacher = .ensemble }
                    else if v.hasPrefix("run:"), v.count > 4 { d.teacher = .run(String(v.dropFirst(4))) }
                    else { r.error("distill.teacher must be self, ensemble or run:EXPERIMENT; got '\(v)'", at: n) }
                }
                if let n = m["student"] {
                    if let s = n.scalar, !n.isNull {
                        if let a = decodeArch(n, r, what: "distill.student") { d.studentArch = a }
                        _ = s
                    } else if let s = r.mapping(n, "distill.student", known: ["arch", "options"]) {
                        if let a = s["arch"], let v = decodeArch(a, r, what: "distill.student.arch") { d.studentArch = v }
                        else if s["arch"] == nil { r.error("distill.student needs 'arch'", at: n) }
                        if let o = s["options"] { d.studentOptions = decodeOptions(o, r, what: "distill.student.options") }
                    }
                }
                if let n = m["temperature"], let v = r.double(n, "distill.temperature", schema: "compression.*.distill.temperature") { d.temperature = v }
                if let n = m["alpha"], let v = r.double(n, "distill.alpha", schema: "compression.*.distill.alpha") { d.alpha = v }
                if let n = m["epochs"], !n.isNull, let v = r.int(n, "distill.epochs", schema: "compression.*.distill.epochs") { d.epochs = v }
                steps.append(.distill(d))
            case "share":
                guard let m = r.mapping(body, "share", known: ["bits", "finetune_epochs"]) else { continue }
                var sh = ShareSpec()
                if let n = m["bits"], let v = r.int(n, "share.bits", schema: "compression.*.share.bits") { sh.bits = v }
                if let n = m["finetune_epochs"], let v = r.int(n, "share.finetune_epochs", schema: "compression.*.share.finetune_epochs") { sh.finetuneEpochs = v }
                steps.append(.share(sh))
            case "encode":
                guard r.mapping(body, "encode", known: []) != nil else { continue }
                steps.append(.encode)
            default:
                let hint = suggestion(for: key, among: ["prune", "quantize", "distill", "share", "encode"]).map { "; did you mean '\($0)'?" } ?? ""
                r.error("unknown compression step '\(key)'\(hint)", at: pairs[0].key, notes: hint.isEmpty ? ["steps: prune, quantize, distill, share, encode"] : [])
            }
        }
        return steps
    }

    func decodeEnsemble(_ node: YAMLNode, _ r: NodeReader, hasSweep: Bool) -> EnsembleSpec? {
        guard let m = r.mapping(node, "ensemble", known: SpecSchema.keys(at: "ensemble")) else { return nil }
        var e = EnsembleSpec()
        if let n = m["members"] {
            if let s = n.scalar, s.style == .plain, s.int != nil {
                if let v = r.int(n, schema: "ensemble.members") { e.members = .seeds(v) }
            } else if let items = n.sequence {
                let refs = items.compactMap { r.string($0, "an ensemble member") }
                if items.count < 2 { r.error("an ensemble needs at least 2 members", at: n) }
                e.members = .references(refs)
            } else if let t = r.mapping(n, "ensemble.members", known: ["top"]) {
                guard let k = t["top"] else { r.error("ensemble.members as a mapping is {top: K}", at: n); return e }
                if let v = r.int(k, schema: "ensemble.members.top") { e.members = .topOfSweep(v) }
                if !hasSweep {
                    r.error("ensemble.members {top: K} picks the best points of this experiment's sweep, but it has no sweep", at: n,
                            notes: ["inherited through `extends`? drop it here with `ensemble: null`"])
                }
            }
        }
        if let n = m["method"], let v = r.enumeration(n, "ensemble method", EnsembleSpec.Method.self) { e.method = v }
        return e
    }

    func decodeReport(_ node: YAMLNode, into rep: inout ReportSpec, _ r: NodeReader) {
        guard let m = r.mapping(node, "report", known: SpecSchema.keys(at: "report")) else { return }
        if let n = m["target"], let v = r.string(n, "report.target") {
            if ReportSpec.knownMetrics.contains(v) || v.hasPrefix("variants.") { rep.target = v }
            else {
                let hint = suggestion(for: v, among: ReportSpec.knownMetrics).map { "; did you mean '\($0)'?" } ?? ""
                r.error("unknown metric '\(v)' for report.target\(hint)", at: n, notes: hint.isEmpty ? ["metrics: \(ReportSpec.knownMetrics.joined(separator: ", "))"] : [])
            }
        }
        if let n = m["template"], !n.isNull { rep.template = r.string(n, "report.template") }
    }
}
