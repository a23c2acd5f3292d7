// SpecSchema against the decoder: every bounded number and integer field is set
// just inside and just outside each bound, every listed string value is tried,
// and the exported JSON Schema is read back. A bound written in one place only
// would fail here.
import Foundation
import Testing
@testable import FrontEnd

@Suite struct SchemaTests {
    /// A valid experiment with a place for every field the tests set: one of each
    /// compression step, a head with dense and dropout layers, a parameter group,
    /// an unfreeze step, a random search with each distribution.
    static func experiment(data: String) -> String {
        """
        tlc: 1
        name: bounds
        data: \(data)
        backbone: {arch: mlp, weights: "run:source"}
        head: {layers: [{dense: 8}, relu, {dropout: 0.1}]}
        optimizer: {kind: adam, betas: [0.9, 0.999], groups: {head: {lr: 0.01, weight_decay: 0}}}
        training: {epochs: 3, unfreeze: [{epoch: 1, layers: all}], early_stopping: {patience: 1}}
        compression: [{prune: {}}, {share: {}}, {quantize: {}}, {distill: {student: mlp}}, {encode: {}}]
        ensemble: {members: 3}
        sweep: {random: {trials: 2, params: {seed: {int: [0, 9]}, training.label_smoothing: {uniform: [0, 0.2]}, optimizer.lr: {loguniform: [1e-4, 1e-2]}}}}
        search: {method: successive_halving, eta: 2, min_epochs: 1, max_epochs: 4}

        """
    }
    /// csv data (files are taken to exist), so input_shape and test_fraction apply.
    static let csvExperiment = experiment(data: #"{dataset: "csv:train.csv", classes: [0, 1], input_shape: [1, 8, 8], validation: 0.1, test_fraction: 0.2}"#)
    static let fashionExperiment = experiment(data: "{validation: 0.1}")
    /// Where a listed value is tried: torchvision's architectures need inputs larger
    /// than fashion-mnist's 28×28 (vgg 32, alexnet 63), and a kept classifier needs one of them.
    static func experiment(forListed path: String) -> String {
        switch path {
        case "backbone.arch": experiment(data: #"{dataset: "csv:train.csv", classes: [0, 1], input_shape: [3, 64, 64], validation: 0.1}"#)
        case "head.classifier": fashionExperiment.replacingOccurrences(of: "arch: mlp,", with: "arch: resnet18,")
        // One operation, so any listed one is not a duplicate (too few is an error at the list, not the value).
        case "search.operations.*": fashionExperiment.replacingOccurrences(of: "search: {method: successive_halving, eta: 2, min_epochs: 1, max_epochs: 4}",
                                                                           with: "search: {method: darts, max_epochs: 4, operations: [conv_3x3]}")
        default: fashionExperiment
        }
    }

    /// The errors of decoding `experiment` (and its sweep) with `value`, YAML text,
    /// set at `path`. The value's nodes are located in the file "value".
    static func errors(_ experiment: String, setting path: [String], to value: String) throws -> [Diagnostic] {
        let valueNode = try YAMLParser.parse(value, file: "value")
        let tree = try TreeEditing.set(valueNode, at: path[...], in: try YAMLParser.parse(experiment, file: "experiment.yaml"))
        let diagnostics = DiagnosticEngine()
        let decoder = SpecDecoder(resolveExperiment: { ref, _ in ref + ".yaml" }, fileExists: { _ in true })
        _ = decoder.decode(TreeEditing.removing("search", from: TreeEditing.removing("sweep", from: tree)), diagnostics: diagnostics, hasSweep: true)
        if let sweep = tree["sweep"] { _ = SweepExpansion.parse(sweep, defaultSeed: 0, diagnostics: diagnostics) }
        if let search = tree["search"] { _ = SearchSpec.parse(search, defaultSeed: 0, diagnostics: diagnostics) }
        return diagnostics.diagnostics.filter { $0.severity == .error }
    }

    /// Whether the decoder rejects `value` at `path`: an error located in the value.
    static func decoderRejects(_ experiment: String, _ path: [String], _ value: String) throws -> Bool {
        try errors(experiment, setting: path, to: value).contains { $0.location?.file == "value" }
    }

    /// A schema path with each `*` replaced by a list index or key already in
    /// `tree`, matching as much of the path as the tree holds.
    static func concretePath(_ schemaPath: String, in tree: YAMLNode) -> [String]? {
        let pattern = schemaPath.split(separator: ".").map(String.init)
        guard let lastStar = pattern.lastIndex(of: "*") else { return pattern }
        var paths: [[String]] = []
        func collect(_ node: YAMLNode, _ path: [String]) {
            paths.append(path)
            if let items = node.sequence { for (i, item) in items.enumerated() { collect(item, path + [String(i)]) } }
            if let pairs = node.mapping { for p in pairs { collect(p.value, path + [p.key.scalar?.text ?? ""]) } }
        }
        collect(tree, [])
        for n in stride(from: pattern.count, through: lastStar + 1, by: -1) {
            let match = paths.first { $0.count == n && zip($0, pattern).allSatisfy { $1 == "*" || $0 == $1 } }
            if let match { return match + pattern[n...] }
        }
        return nil
    }

    /// Values just inside and just outside each bound of a number or integer field.
    static func probes(_ type: SchemaType) -> (inside: [String], outside: [String]) {
        var inside: [String] = [], outside: [String] = []
        switch type {
        case .integer(let min, let max, let values):
            if let values {
                inside += values.map(String.init)
                outside += values.flatMap { [$0 - 1, $0 + 1] }.filter { !values.contains($0) }.map(String.init)
            }
            if let min { inside.append(String(min)); outside.append(String(min - 1)) }
            if let max { inside.append(String(max)); outside.append(String(max + 1)) }
        case .number(let min, let max, let exclusiveMin, let exclusiveMax):
            if let min {
                inside.append("\(exclusiveMin ? min.nextUp : min)")
                outside.append("\(exclusiveMin ? min : min.nextDown)")
            }
            if let max {
                inside.append("\(exclusiveMax ? max.nextDown : max)")
                outside.append("\(exclusiveMax ? max : max.nextUp)")
            }
        default: break
        }
        return (inside, outside)
    }

    /// Paths of the fields with a bound, each once, in schema order.
    static var boundedPaths: [String] {
        var seen = Set<String>()
        return SpecSchema.leaves.filter { !probes($0.type).outside.isEmpty }.map(\.path).filter { seen.insert($0).inserted }
    }

    @Test func theTestExperimentsAreValid() throws {
        for experiment in [Self.csvExperiment, Self.fashionExperiment] {
            let found = try Self.errors(experiment, setting: ["description"], to: "valid")
            #expect(found.isEmpty, "\(found.map(\.description))")
        }
    }

    @Test(arguments: boundedPaths)
    func decoderTakesEachBoundFromTheSchema(_ path: String) throws {
        let tree = try YAMLParser.parse(Self.csvExperiment, file: "experiment.yaml")
        let concrete = try #require(Self.concretePath(path, in: tree), "the test experiment has no place for \(path); add one")
        for leaf in SpecSchema.leaves where leaf.path == path {
            let (inside, outside) = Self.probes(leaf.type)
            for value in inside {
                // Image-folder keys are errors on csv data whatever their value (ImageFolderSpecTests checks their ranges);
                // a budget is checked against the epochs and early stopping too (BudgetTests).
                if !Self.folderOnly.contains(path) && !Self.crossChecked.contains(path) {
                    #expect(try !Self.decoderRejects(Self.csvExperiment, concrete, value), "\(path): \(value) is inside the schema's range")
                }
                #expect(try schemaAdmits(leaf.type, YAMLParser.parse(value, file: "value")))
            }
            for value in outside {
                #expect(try Self.decoderRejects(Self.csvExperiment, concrete, value), "\(path): \(value) is outside the schema's range")
                #expect(try !schemaAdmits(leaf.type, YAMLParser.parse(value, file: "value")))
            }
        }
    }

    static let folderOnly: Set<String> = ["data.image_size", "data.resize"]
    /// Checked against other fields too: a budget against the epochs and early stopping
    /// (BudgetTests); a search's epochs against each other and eta, and the settings of
    /// evolution, reinforce and darts against the method, here successive halving (SearchSpecTests, DartsSpecTests).
    static let crossChecked: Set<String> = ["training.budget", "search.min_epochs", "search.max_epochs", "search.models", "search.population",
                                            "search.sample", "search.learning_rate", "search.baseline_decay", "search.seed",
                                            "search.nodes", "search.cells", "search.channels", "search.alpha_lr",
                                            "search.alpha_weight_decay"]

    @Test func everyBoundedFieldIsWalked() {
        let paths = Set(Self.boundedPaths)
        for path in ["optimizer.lr", "optimizer.groups.*.lr", "compression.*.quantize.bits", "data.input_shape.*",
                     "head.layers.*.dense", "sweep.random.trials", "sweep.random.params.*.loguniform.*"] {
            #expect(paths.contains(path), "\(path)")
        }
    }

    /// Each value a string field lists is accepted; one it does not list is rejected
    /// unless the field also takes free text (a layer name, a pattern).
    @Test(arguments: Set(SpecSchema.leaves.filter { if case .string(_?, _) = $0.type { true } else { false } }.map(\.path)).sorted())
    func decoderAcceptsEachListedValue(_ path: String) throws {
        let experiment = Self.experiment(forListed: path)
        let tree = try YAMLParser.parse(experiment, file: "experiment.yaml")
        let concrete = try #require(Self.concretePath(path, in: tree), "the test experiment has no place for \(path); add one")
        let forms = SpecSchema.leaves.filter { $0.path == path }.map(\.type)
        for case .string(let values?, _) in forms {
            // ImageNet statistics are for RGB data and checkpoint statistics need pretrained weights: errors on this
            // experiment (ImageFolderSpecTests and ImageFolderRunTests accept them where they apply).
            for value in values where !(path == "normalization.kind" && ["imagenet", "checkpoint"].contains(value)) {
                #expect(try !Self.decoderRejects(experiment, concrete, value), "\(path): '\(value)'")
            }
        }
        let takesFreeText = forms.contains { if case .string(nil, _) = $0 { true } else { false } }
        if !takesFreeText {
            #expect(try Self.decoderRejects(experiment, concrete, "not-a-listed-value"), "\(path)")
        }
    }

    @Test func exportedJSONSchemaCarriesTheRanges() throws {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(SpecSchema.jsonSchema().utf8)) as? [String: Any])
        func field(_ path: String...) -> [String: Any]? {
            var node: [String: Any]? = object
            for key in path { node = (node?["properties"] as? [String: Any])?[key] as? [String: Any] }
            return node
        }
        let lr = try #require(field("optimizer", "lr"))
        #expect(lr["maximum"] as? Double == 10)
        #expect(lr["exclusiveMinimum"] as? Double == 0)
        let epochs = try #require(field("training", "epochs"))
        #expect(epochs["minimum"] as? Int == 1 && epochs["maximum"] as? Int == 10_000)
        let betas = try #require(field("optimizer", "betas"))
        #expect(betas["minItems"] as? Int == 2 && betas["maxItems"] as? Int == 2)
    }

    /// `freeze` (and an unfreeze step's `layers`) as the decoder takes it: all,
    /// none, one layer name or glob, a list of them, {up_to: NAME}, empty. The schema
    /// accepts the same forms and rejects the same malformed ones.
    @Test(arguments: [
        ("vgg-mini", "all", true), ("vgg-mini", "none", true), ("vgg-mini", "block1", true), ("vgg-mini", "'block*'", true),
        ("vgg-mini", "block1.conv*", true), ("vgg-mini", "'**'", true), ("vgg-mini", "[block1, 'block2.*']", true),
        ("vgg-mini", "{up_to: block2}", true), ("vgg-mini", "~", true), ("lenet5", "conv*", true), ("lenet5", "[conv1, fc*]", true),
        ("vgg-mini", "{}", false), ("vgg-mini", "{up_to: block2, extra: 1}", false), ("vgg-mini", "{from: block2}", false),
    ])
    func schemaAcceptsTheFreezeFormsTheDecoderAccepts(_ arch: String, _ freeze: String, _ valid: Bool) throws {
        let experiment = "tlc: 1\nname: freeze\nbackbone: {arch: \(arch)}\ntraining: {unfreeze: [{epoch: 1, layers: all}]}\n"
        #expect(try Self.decoderRejects(experiment, ["backbone", "freeze"], freeze) == !valid, "backbone.freeze: \(freeze)")
        #expect(try Self.decoderRejects(experiment, ["training", "unfreeze", "0", "layers"], freeze) == !valid, "unfreeze layers: \(freeze)")
        #expect(try schemaAdmits(SpecSchema.freeze, YAMLParser.parse(freeze, file: "value")) == valid, "schema: \(freeze)")
    }
}

/// Whether `node` conforms to `type` as a JSON Schema validator judges the YAML
/// (plain scalars typed by the YAML core schema, quoted ones strings).
func schemaAdmits(_ type: SchemaType, _ node: YAMLNode) -> Bool {
    let plain = node.scalar.flatMap { $0.style == .plain ? $0 : nil }
    switch type {
    case .any:
        return true
    case .oneOf(let options):
        return options.contains { schemaAdmits($0, node) }
    case .boolean:
        return plain?.bool != nil
    case .null:
        return node.isNull
    case .integer(let min, let max, let values):
        guard let v = plain?.int else { return false }
        return (values?.contains(v) ?? true) && v >= (min ?? .min) && v <= (max ?? .max)
    case .number(let min, let max, let exclusiveMin, let exclusiveMax):
        guard let v = plain?.double, v.isFinite else { return false }
        if let min, exclusiveMin ? !(v > min) : !(v >= min) { return false }
        if let max, exclusiveMax ? !(v < max) : !(v <= max) { return false }
        return true
    case .string(let values, let pattern):
        guard let s = node.scalar, !node.isNull else { return false }
        if let plain, plain.bool != nil || plain.double != nil { return false }
        if let values, !values.contains(s.text) { return false }
        if let pattern, s.text.range(of: pattern, options: .regularExpression) == nil { return false }
        return true
    case .array(let element, let minItems, let maxItems):
        guard let items = node.sequence else { return false }
        return items.count >= (minItems ?? 0) && items.count <= (maxItems ?? .max) && items.allSatisfy { schemaAdmits(element, $0) }
    case .object(let fields, let additional):
        guard let pairs = node.mapping else { return false }
        let keys = pairs.compactMap { $0.key.scalar?.text }
        if fields.contains(where: { $0.required && !keys.contains($0.name) }) { return false }
        return pairs.allSatisfy { pair in
            let key = pair.key.scalar?.text ?? ""
            if let field = fields.first(where: { $0.name == key }) { return schemaAdmits(field.type, pair.value) }
            return additional.map { schemaAdmits($0, pair.value) } ?? false
        }
    }
}
