// Cross-field checks: rules that need more than one section — classes that
// exist, an architecture whose shapes fit with its head, frozen and grouped layer
// names that exist, references to other experiments and files that resolve.
import ModelZoo
import Foundation
import SafeTensorsFormat

extension SpecDecoder {
    /// Returns true when an error is a value wrong by itself (an architecture option
    /// that is unknown or out of its range), not values that do not fit together.
    @discardableResult
    func crossCheck(_ spec: inout Spec, top: [String: YAMLNode], _ r: NodeReader) -> Bool {
        var wrongValue = false
        func node(_ path: String...) -> YAMLNode? {
            var n: YAMLNode? = top[path[0]]
            for key in path.dropFirst() { n = n?[key] }
            return n
        }
        let anchor = top["backbone"] ?? top["name"] ?? YAMLNode(.scalar(YAMLScalar("")), at: SourceLocation(file: "", line: 1, column: 1))

        // Classes that exist in the data set.
        if let known = spec.data.dataset.knownClassCount, let classes = spec.data.classes,
           let items = node("data", "classes")?.sequence {
            for (c, item) in zip(classes, items) where c >= known {
                r.error("class \(c) does not exist: \(spec.data.dataset.text) has classes 0–\(known - 1)", at: item)
            }
        }
        /// Samples must have as many values as data.input_shape says, read from the file's head.
        func checkWidth(_ found: Result<Int, DataShapeProblem>, _ what: String, at: YAMLNode) {
            let shape = spec.data.inputShape
            switch found {
            case .failure(let problem) where problem.message == DataShapeProblem.unreadable: break   // existence is checked apart
            case .failure(let problem): r.error("\(what) \(problem.message)", at: at)
            case .success(let n) where n != shape.count:
                r.error("\(what) has \(n) values per sample, but data.input_shape [\(shape.channels), \(shape.height), \(shape.width)] needs \(shape.count)",
                        at: node("data", "input_shape") ?? at)
            case .success: break
            }
        }
        func checkSource(_ source: DatasetSource, at: YAMLNode) {
            switch source {
            case .csv(let path):
                let full = Self.resolvePath(path, relativeTo: at.location.file)
                if !fileExists(full) { r.error("data file '\(path)' does not exist (looked at \(full))", at: at) }
                else { checkWidth(DataFileShape.csvFeatures(full), "csv data '\(path)'", at: at) }
            case .npy(let path):
                // A folder holding x.npy (features) and y.npy (labels).
                let full = Self.resolvePath(path, relativeTo: at.location.file)
                var complete = true
                for file in ["x.npy", "y.npy"] where !fileExists((full as NSString).appendingPathComponent(file)) {
                    complete = false
                    r.error("npy data '\(path)' has no \(file) (looked at \((full as NSString).appendingPathComponent(file)))", at: at,
                            notes: ["npy:FOLDER names a folder with x.npy (features, N×F, N×H×W or N×C×H×W) and y.npy (labels, N)"])
                }
                if complete { checkWidth(DataFileShape.npyFeatures((full as NSString).appendingPathComponent("x.npy")), "npy data '\(path)/x.npy'", at: at) }
            case .fashionMNIST, .folder: break
            }
        }
        checkImageFolder(&spec, node: { node($0, $1) }, anchor: anchor, r)
        checkCheckpointNormalization(spec, node: { node($0, $1) }, r)
        switch spec.data.dataset {
        case .folder:
            break
        case .csv, .npy:
            let at = node("data", "dataset") ?? anchor
            checkSource(spec.data.dataset, at: at)
            if spec.data.classes == nil {
                r.error("data.classes is required for \(spec.data.dataset.text.hasPrefix("csv") ? "csv" : "npy") data: list the class labels to use, e.g. [0, 1, 2]",
                        at: node("data") ?? at)
            }
            if let test = spec.data.testDataset, let at = node("data", "test_dataset") { checkSource(test, at: at) }
            if spec.data.testDataset != nil, let n = node("data", "test_fraction") {
                r.error("data.test_fraction applies only without data.test_dataset (the test set is given)", at: n)
            }
        case .fashionMNIST:
            if spec.normalization.kind == .imagenet, let n = node("normalization", "kind") {
                r.error("normalization.kind imagenet is for RGB images (image folders); fashion-mnist is grayscale", at: n)
            }
            for key in ["test_dataset", "test_fraction"] {
                if let n = node("data", key) { r.error("data.\(key) applies to csv and npy data; fashion-mnist has its own test split", at: n) }
            }
        }
        if spec.data.dataset == .fashionMNIST, node("data", "input_shape") != nil,
           spec.data.inputShape != FeatureShape(channels: 1, height: 28, width: 28) {
            r.error("fashion-mnist images are 1×28×28; data.input_shape applies to csv and npy data only", at: node("data", "input_shape")!)
        }

        // The architecture with its head: options, shapes, freezing, groups.
        let classes = spec.data.classCount ?? 2
        let archNode = node("backbone", "arch") ?? anchor
        var summary: ArchitectureSummary?
        let archKnown = node("backbone", "arch").map { $0.scalar.map { Zoo.info($0.text) != nil } ?? false } ?? true
        if spec.head.keepsClassifier, let at = node("head", "classifier") {
            if archKnown && !Zoo.isTorchvision(spec.backbone.arch) {
                r.error("head.classifier: keep needs an architecture with a classifier of its own; \(spec.backbone.arch) has none", at: at,
                        notes: ["torchvision's architectures have one: \(Zoo.torchvisionNames.joined(separator: ", "))",
                                "or remove head.classifier (the default, new, adds head.output)"])
            }
            if let layers = spec.head.layers, !layers.isEmpty {
                r.error("head.layers go before a new output layer, but head.classifier: keep makes the checkpoint's classifier the output layer",
                        at: node("head", "layers") ?? at, notes: ["remove head.layers, or set head.classifier: new"])
            }
        }
        if archKnown { do {
            summary = try architectures.summary(arch: spec.backbone.arch, options: spec.backbone.options,
                                                input: spec.data.inputShape, classes: classes, head: spec.head)
        } catch let e as ZooError {
            switch e {
            case .unknownOption(_, let option, _), .badOption(_, let option, _):
                let at = node("backbone", "options")?.mapping?.first { $0.key.scalar?.text == option }?.key ?? archNode
                r.error(e.description, at: at)
                wrongValue = true
            case .unknownArchitecture: break // reported by the decoder
            case .classifier: break // reported with head.classifier below
            }
        } catch let e as ShapeError {
            let inHead = e.layer.hasPrefix("head.")
            r.error("the network does not fit: \(e.description)", at: inHead ? (node("head", "layers") ?? archNode) : archNode,
                    notes: inHead ? [] : ["input is \(spec.data.inputShape)"])
        } catch {} }

        if let summary {
            checkSelection(spec.backbone.freeze, node: node("backbone", "freeze"), summary: summary, r, what: "backbone.freeze")
            if let items = node("training", "unfreeze")?.sequence {
                for (step, item) in zip(spec.training.unfreeze, items) {
                    checkSelection(step.layers, node: item["layers"], summary: summary, r, what: "unfreeze layers")
                    if step.epoch > spec.training.epochs, let e = item["epoch"] {
                        r.error("unfreeze epoch \(step.epoch) comes after the last epoch (\(spec.training.epochs))", at: e)
                    }
                }
            }
            if let pairs = node("optimizer", "groups")?.mapping {
                for p in pairs {
                    let name = p.key.scalar?.text ?? ""
                    if name == "backbone" || name == "head" { continue }
                    if summary.unmatched([name]).isEmpty { continue }
                    let hint = suggestion(for: name, among: ["backbone", "head"] + summary.layerPaths).map { "; did you mean '\($0)'?" } ?? ""
                    r.error("optimizer group '\(name)' names no layer of \(spec.backbone.arch)\(hint)", at: p.key,
                            notes: hint.isEmpty ? ["groups are backbone, head, or layer names and globs"] : [])
                }
            }
        }
        if let es = spec.training.earlyStopping, es.patience >= spec.training.epochs, let n = node("training", "early_stopping", "patience") {
            r.diagnostics.emit(.warning("early-stopping patience \(es.patience) is not below training.epochs (\(spec.training.epochs)); it can never stop early", at: n.location))
        }
        if let budget = spec.training.budget, let n = node("training", "budget") {
            if budget < spec.training.epochs {
                r.error("training.budget \(budget) is below training.epochs (\(spec.training.epochs)); the budget is the most epochs any run of these settings trains",
                        at: n)
            }
            if spec.training.earlyStopping != nil {
                r.error("training.budget and early_stopping do not mix: a run that may stop early cannot be continued", at: n)
            }
        }
        if spec.training.regularization.isEnabled, spec.backbone.weights == .none, let n = node("training", "regularization") {
            r.error("training.regularization pulls toward pretrained weights, but backbone.weights is none", at: n)
        }

        // References to files and other experiments.
        if let n = node("backbone", "weights") {
            switch spec.backbone.weights {
            case .none: break
            case .file(let path):
                let full = Self.resolvePath(path, relativeTo: n.location.file)
                if !fileExists(full) {
                    r.error("backbone.weights file '\(path)' does not exist (looked at \(full))", at: n)
                } else if let summary {
                    Self.checkCheckpoint(full, shown: path, against: summary, arch: spec.backbone.arch,
                                         keepsClassifier: spec.head.keepsClassifier, classes: classes, node: n, r)
                }
                if spec.training.regularization.ewc > 0, let e = node("training", "regularization", "ewc") {
                    r.error("EWC estimates the Fisher information on the source task's data, which a weights file does not bring",
                            at: e, notes: ["use backbone.weights: run:NAME for EWC, or training.regularization.l2sp with a file"])
                }
            case .run(let ref):
                checkExperimentReference(ref, node: n, selfName: spec.name, r, what: "backbone.weights")
            }
        }
        if let ref = spec.model, let n = node("model") { checkExperimentReference(ref, node: n, selfName: spec.name, r, what: "model") }
        if let items = node("compression")?.sequence {
            for (step, item) in zip(spec.compression, items) {
                guard case .distill(let d) = step, let body = item["distill"] else { continue }
                switch d.teacher {
                case .run(let ref): checkExperimentReference(ref, node: body["teacher"] ?? body, selfName: spec.name, r, what: "distill.teacher")
                case .ensemble where spec.ensemble == nil:
                    r.error("distill.teacher is 'ensemble' but the experiment has no ensemble section", at: body["teacher"] ?? body)
                default: break
                }
                do {
                    _ = try Zoo.architecture(d.studentArch, options: d.studentOptions, input: spec.data.inputShape, classes: classes).analyze()
                } catch let e as ZooError {
                    if case .unknownArchitecture = e {} else { r.error(e.description, at: body["student"] ?? body) }
                } catch {
                    r.error("the student does not fit: \(error)", at: body["student"] ?? body)
                }
            }
        }
        if let items = node("compression")?.sequence { checkCompressionOrder(spec, items: items, classes: classes, r) }
        if let ens = spec.ensemble, ens.method == .weighted, spec.data.validation <= 0 {
            r.error("a weighted ensemble fits its weights on the validation split, but data.validation is 0",
                    at: node("ensemble", "method") ?? node("ensemble")!, notes: ["set data.validation (e.g. 0.1) or use method: mean_probs"])
        }
        if case .references(let refs) = spec.ensemble?.members, let items = node("ensemble", "members")?.sequence {
            for (ref, item) in zip(refs, items) where !ref.hasPrefix("point:") {
                let name = ref.hasPrefix("run:") ? String(ref.dropFirst(4)) : ref
                checkExperimentReference(name, node: item, selfName: nil, r, what: "ensemble member")
            }
        }
        return wrongValue
    }

    /// Compression steps in an order that can run: nothing is pruned after it was
    /// quantized (the int8 model has no float weights, and fine-tuning would lose the
    /// masks), one quantization, integer and structured steps only on plain sequential
    /// networks, a distillation teacher that exists.
    private func checkCompressionOrder(_ spec: Spec, items: [YAMLNode], classes: Int, _ r: NodeReader) {
        func branches(_ layers: [LayerDescription]) -> String? {
            for l in layers {
                switch l {
                case .residual(let name, _, _), .concat(let name, _), .sum(let name, _, _, _), .branches(let name, _), .scale(let name, _),
                     .cell(let name, _, _):
                    return name
                case .block(_, let inner): if let b = branches(inner) { return b }
                default: continue
                }
            }
            return nil
        }
        var arch = (name: spec.backbone.arch, options: spec.backbone.options)
        var quantized: Int? = nil
        for (i, (step, item)) in zip(spec.compression, items).enumerated() {
            let body = item.mapping?.first?.value ?? item
            let layers = (try? Zoo.architecture(arch.name, options: arch.options, input: spec.data.inputShape, classes: classes))?.layers ?? []
            switch step {
            case .prune(let p):
                if let q = quantized {
                    r.error("prune comes after quantize (step \(q + 1)): the int8 model has no float weights to prune, and the pruned masks would be lost",
                            at: item, notes: ["put prune steps before quantize; quantizing a pruned model keeps its zeros"])
                }
                if p.method == .l1_filter, Zoo.isTorchvision(arch.name) {
                    r.error("l1_filter pruning follows channels through plain conv, pool and dense layers; \(arch.name) has adaptive pooling\(arch.name.hasPrefix("vgg") || arch.name == "alexnet" ? "" : " and branches")",
                            at: body["method"] ?? body, notes: ["use method: magnitude"])
                } else if p.method == .l1_filter, let b = branches(layers) {
                    r.error("l1_filter pruning removes channels of plain sequential networks; \(arch.name) has a branching block '\(b)'",
                            at: body["method"] ?? body, notes: ["use method: magnitude"])
                }
            case .quantize:
                if let q = quantized {
                    r.error("the model is already quantized by step \(q + 1); quantize once", at: item)
                }
                if Zoo.isTorchvision(arch.name) {
                    r.error("int8 inference runs tlc's own sequential networks (mlp, lenet5, cnn, vgg, alexnet-mini); \(arch.name) uses layers it does not have (adaptive pooling\(arch.name.hasPrefix("vgg") || arch.name == "alexnet" ? "" : ", branches"))",
                            at: item)
                } else if let b = branches(layers) {
                    r.error("int8 inference runs plain sequential networks (mlp, lenet5, cnn, vgg, alexnet-mini); \(arch.name) has a branching block '\(b)'",
                            at: item)
                }
                quantized = i
            case .distill(let d):
                if case .ensemble = d.teacher, let members = spec.ensemble?.members {
                    var sweepLevel = false
                    if case .topOfSweep = members { sweepLevel = true }
                    if case .references(let refs) = members, refs.contains(where: { $0.hasPrefix("point:") }) { sweepLevel = true }
                    if sweepLevel {
                        r.error("distill.teacher 'ensemble' needs an ensemble of seeds or experiments; an ensemble of sweep points is built once for the whole sweep",
                                at: body["teacher"] ?? body)
                    }
                }
                arch = (d.studentArch, d.studentOptions)
                quantized = nil
            case .share, .encode:
                if case .encode = step, i != spec.compression.count - 1 {
                    r.error("encode stores the final model; it must be the last compression step", at: item)
                }
                if let q = quantized {
                    r.error("\(step.kindName) comes after quantize (step \(q + 1)): it needs the float model, and the int8 model has none",
                            at: item, notes: ["put \(step.kindName) before quantize, or leave quantize out (share and encode are Deep Compression's quantization)"])
                }
            }
        }
    }

    private func checkSelection(_ selection: FreezeSelection, node: YAMLNode?, summary: ArchitectureSummary,
                                _ r: NodeReader, what: String) {
        guard let node else { return }
        switch selection {
        case .names(let names):
            let items = node.sequence ?? [node]
            for (name, item) in zip(names, items) where !summary.unmatched([name]).isEmpty {
                let hint = suggestion(for: name, among: summary.layerPaths).map { "; did you mean '\($0)'?" } ?? ""
                let top = summary.layers.filter { !$0.path.contains(".") }.map(\.path)
                r.error("\(what): no layer or block '\(name)' in this architecture\(hint)", at: item,
                        notes: hint.isEmpty ? ["top-level layers: \(top.joined(separator: ", "))"] : [])
            }
        case .upTo(let name):
            if summary.layer(name) == nil {
                // The layers, in order: up_to needs a position, and a near spelling may be the wrong one.
                let backbone = summary.layers.filter { $0.inBackbone && !$0.path.contains(".") }.map(\.path)
                r.error("\(what): up_to names no layer or block '\(name)'", at: node["up_to"] ?? node,
                        notes: ["the backbone's layers, in order: \(backbone.joined(separator: ", "))"])
            }
        case .all, .none: break
        }
    }

    private func checkExperimentReference(_ ref: String, node: YAMLNode, selfName: String?, _ r: NodeReader, what: String) {
        if let selfName, ExperimentLoader.splitPointReference(ref).experiment == selfName {
            r.error("\(what) refers to this experiment itself ('\(ref)')", at: node); return
        }
        if resolveExperiment(ref, node.location.file) == nil {
            let name = ExperimentLoader.splitPointReference(ref).experiment
            let hint = suggestion(for: name, among: ExperimentLoader.experimentNames(near: node.location.file)).map { "; did you mean 'run:\($0)'?" } ?? ""
            var notes = ["looked for \(name.hasSuffix(".yaml") ? name : name + ".yaml") next to \(node.location.file) and in Experiments/"]
            if name.contains("=") {
                notes.append("a sweep label with commas splits into several items in a YAML flow list: quote it, e.g. [\"point:case=a,seed=1\"]")
            }
            r.error("\(what): no experiment '\(name)' found\(hint)", at: node, notes: notes)
        }
    }

    /// The floating-point dtypes the engine converts to Float32 when loading weights.
    static let weightDTypes: Set<SafeTensorsDType> = [.f32, .f16, .bf16, .f64]

    /// A `file:` backbone must hold every backbone tensor of the architecture (and, with
    /// `head.classifier: keep`, the classifier's) with its shape, as floating-point data;
    /// everything that does not match is listed. The header alone is read
    /// (SafeTensorsFormat), no weights.
    static func checkCheckpoint(_ full: String, shown: String, against summary: ArchitectureSummary, arch: String,
                                keepsClassifier: Bool = false, classes: Int = 0, node: YAMLNode, _ r: NodeReader) {
        let header: SafeTensorsHeader
        do { header = try SafeTensorsHeader.read(path: full) } catch {
            r.error("backbone.weights: \(full): \(error.message)", at: node); return
        }
        var problems: [String] = []
        let expected = summary.stateTensors(backboneOnly: !keepsClassifier)
        for t in expected {
            guard let found = header[t.name] else { problems.append("missing '\(t.name)' \(t.shape)"); continue }
            if found.shape != t.shape {
                problems.append("'\(t.name)' is \(found.shape) in the file but \(arch) needs \(t.shape)")
            } else if !weightDTypes.contains(found.dtype) {
                problems.append("'\(t.name)' is \(found.dtype.rawValue); weights must be F32, F16, BF16 or F64")
            }
        }
        guard !problems.isEmpty else { return }
        let known = Set(expected.map(\.name))
        let unused = header.entries.map(\.name).filter { !known.contains($0) && !$0.hasSuffix("num_batches_tracked") }.sorted()
        var notes = Array(problems.prefix(12))
        if problems.count > 12 { notes.append("… and \(problems.count - 12) more") }
        if !unused.isEmpty {
            notes.append("the file has \(unused.count) tensor(s) \(arch)'s backbone does not use, e.g. " + unused.prefix(4).map { "'\($0)'" }.joined(separator: ", "))
        }
        if keepsClassifier {
            notes.append("with head.classifier: keep the classifier has one output per class of the data (\(classes)) and is loaded from the file")
        }
        notes.append("tensor names and layouts for each architecture: tlc zoo \(arch), docs/pytorch.md")
        r.error("backbone.weights file '\(shown)' does not match the \(arch) \(keepsClassifier ? "backbone and classifier" : "backbone") (\(problems.count) problem\(problems.count == 1 ? "" : "s"))",
                at: node, notes: notes)
    }

    /// A path as written in `file`, made absolute against that file's folder.
    public static func resolvePath(_ path: String, relativeTo file: String) -> String {
        if path.hasPrefix("/") { return path }
        let dir = (file as NSString).deletingLastPathComponent
        return ((dir.isEmpty ? FileManager.default.currentDirectoryPath : dir) as NSString).appendingPathComponent(path)
    }
}

/// Analysed architectures by their inputs: sweep points mostly share one, and a
/// 10,000-point sweep should not analyse it 10,000 times.
final class ArchitectureCache: @unchecked Sendable {
    private struct Key: Hashable { var arch: String; var options: [String: OptionValue]; var input: FeatureShape; var classes: Int; var head: HeadSpec }
    private var summaries: [Key: Result<ArchitectureSummary, Error>] = [:]

    func summary(arch: String, options: [String: OptionValue], input: FeatureShape, classes: Int, head: HeadSpec) throws -> ArchitectureSummary {
        let key = Key(arch: arch, options: options, input: input, classes: classes, head: head)
        if let known = summaries[key] { return try known.get() }
        let result = Result { () throws -> ArchitectureSummary in
            try Zoo.architecture(arch, options: options, input: input, classes: classes, head: head.descriptions,
                                 keepClassifier: head.keepsClassifier).analyze()
        }
        summaries[key] = result
        return try result.get()
    }
}
