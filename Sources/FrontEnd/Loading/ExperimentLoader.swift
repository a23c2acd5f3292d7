// ExperimentLoader — the front end's entry point: read a file, follow `extends`,
// apply `--set` overrides, expand the sweep, decode and check every point.
// Result: a `LoadedExperiment` (plain values) or a `DiagnosticError` holding every
// located error found.
import Foundation

/// One point of an experiment: a fully resolved spec.
public struct ExperimentPoint: Hashable, Sendable {
    /// Stable id: a hash of the point's resolved spec (equal points share it).
    public var id: String
    /// Readable label (`lr=3e-4,train_per_class=100`); empty without a sweep.
    public var label: String
    /// The swept fields and their values, in sweep order.
    public var assignments: [SweepAssignmentValue]
    public var spec: Spec
}

/// A drawn configuration that is not a valid experiment (a shape that does not fit,
/// options that conflict): a search or a random sweep leaves it out, with the reason,
/// and goes on with the valid ones.
public struct RejectedConfiguration: Hashable, Sendable {
    public var label: String
    public var assignments: [SweepAssignmentValue]
    /// The errors that make it invalid, as messages.
    public var reasons: [String]
    /// "rejected: <label>: <reason>".
    public var description: String { "rejected: \(label): \(reasons.joined(separator: "; "))" }
}

public struct SweepAssignmentValue: Hashable, Sendable {
    public var path: String
    public var value: SpecValue
}

public struct LoadedExperiment: Sendable {
    /// The spec file as given on the command line.
    public var file: String
    /// Its text, exactly as written.
    public var sourceText: String
    /// Files read through `extends`, in order from the spec to its last base.
    public var extendsChain: [String]
    /// The resolved point without sweep values (the experiment's base).
    public var base: Spec
    /// One point per sweep point; exactly one (the base, label "") without a sweep.
    public var points: [ExperimentPoint]
    public var hasSweep: Bool
    /// Swept paths, in label order.
    public var sweptPaths: [String]
    public var warnings: [Diagnostic]
    /// The `--set PATH=VALUE` overrides applied, as given.
    public var overrides: [String] = []
    /// How the sweep's configurations are searched (nil: each is trained to the full budget).
    public var search: SearchSpec? = nil
    /// Configurations left out because they are invalid (searches and random sweeps only).
    public var rejected: [RejectedConfiguration] = []
    public var name: String { base.name }
}

public struct ExperimentLoader {
    public var limits: YAMLParser.Limits = .default
    /// The most points a sweep may expand to (the fuzz target lowers it: huge sweeps
    /// are the front-end benchmark's business, not the fuzzer's).
    public var maxSweepPoints = SweepExpansion.maxPoints
    public init() {}

    /// Loads, resolves and checks an experiment. `overrides` are `path=value` strings.
    public func load(path: String, overrides: [String] = []) throws(DiagnosticError) -> LoadedExperiment {
        let diagnostics = DiagnosticEngine()
        var chain: [String] = []
        let sourceText = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        guard var tree = loadWithExtends(path: path, via: nil, chain: &chain, diagnostics: diagnostics) else {
            throw DiagnosticError(Self.unique(diagnostics.diagnostics))
        }
        // Overrides.
        for (i, text) in overrides.enumerated() {
            if let t = applyOverride(text, index: i, to: tree, diagnostics: diagnostics) { tree = t }
        }
        if diagnostics.hasErrors { throw DiagnosticError(Self.unique(diagnostics.diagnostics)) }

        // Sweep.
        let sweepNode = tree["sweep"].flatMap { $0.isNull ? nil : $0 }
        let searchNode = tree["search"].flatMap { $0.isNull ? nil : $0 }
        let search = searchNode.flatMap { SearchSpec.parse($0, defaultSeed: tree["seed"]?.scalar?.int ?? 0, diagnostics: diagnostics) }
        let baseTree = Self.withDartsBackbone(search, searchNode,
                                              TreeEditing.removing("search", from: TreeEditing.removing("sweep", from: TreeEditing.removing("extends", from: tree))),
                                              diagnostics: diagnostics)
        let decoder = SpecDecoder(resolveExperiment: Self.resolveExperiment, fileExists: { FileManager.default.fileExists(atPath: $0) })
        let seed = baseTree["seed"]?.scalar?.int ?? 0
        var definition: SweepDefinition?
        if let sweepNode { definition = SweepExpansion.parse(sweepNode, defaultSeed: seed, maxPoints: maxSweepPoints, diagnostics: diagnostics) }
        // Decode the base even when the sweep is wrong, so every error shows at once.
        guard let base = decoder.decode(baseTree, diagnostics: diagnostics, hasSweep: sweepNode != nil),
              sweepNode == nil || definition != nil else {
            throw DiagnosticError(Self.unique(diagnostics.diagnostics))
        }
        var points: [ExperimentPoint] = []
        var rejected: [RejectedConfiguration] = []
        if let definition {
            let all = SweepExpansion.expand(definition)
            if all.count > SweepExpansion.largeSweepWarning {
                diagnostics.emit(.warning("the sweep expands to \(all.count) points", at: sweepNode!.location))
            }
            // Decode each point; identical errors from many points are reported once.
            let baseCanonical = base.specValue.canonicalJSON
            let setPaths = definition.paths.filter { $0 != "case" } + definition.cases.flatMap { $0.settings.map(\.path) }
            let sweptSections = Set(setPaths.map { String($0.split(separator: ".")[0]) })
            // Points are independent: a big sweep is decoded in two halves on two threads,
            // each with its own decoder and diagnostics, joined in order afterwards.
            let chunks = all.count >= 512 && ProcessInfo.processInfo.activeProcessorCount > 1
                ? [Array(all[..<(all.count / 2)]), Array(all[(all.count / 2)...])] : [all]
            // A search or a random sweep draws configurations: one whose values are each
            // valid but do not fit together is rejected alone; a grid's points were each asked for.
            let reject = search != nil || definition.random != nil
            nonisolated(unsafe) var decoded = [[ExperimentPoint]](repeating: [], count: chunks.count)
            nonisolated(unsafe) var rejectedChunks = [[RejectedConfiguration]](repeating: [], count: chunks.count)
            nonisolated(unsafe) let engines = chunks.map { _ in DiagnosticEngine() }
            let decoders = chunks.indices.map { i in i == 0 ? decoder
                : SpecDecoder(resolveExperiment: Self.resolveExperiment, fileExists: { FileManager.default.fileExists(atPath: $0) }) }
            nonisolated(unsafe) let sharedDecoders = decoders
            DispatchQueue.concurrentPerform(iterations: chunks.count) { c in
                // The first chunk's array has room for all points: the others join it without a copy of it.
                (decoded[c], rejectedChunks[c]) = Self.decodePoints(chunks[c], capacity: c == 0 ? all.count : chunks[c].count, baseTree: baseTree, base: base,
                                                                    changed: sweptSections, baseCanonical: baseCanonical, decoder: sharedDecoders[c],
                                                                    diagnostics: engines[c], reject: reject)
            }
            rejected = rejectedChunks.flatMap { $0 }
            if !rejected.isEmpty {
                let total = all.count, shown = rejected.prefix(3).map(\.description)
                if decoded.allSatisfy(\.isEmpty) && !engines.contains(where: \.hasErrors) {
                    diagnostics.emit(.error("every one of the \(total) configurations of the sweep is invalid; the first: \(rejected[0].label): \(rejected[0].reasons.joined(separator: "; "))",
                                            at: sweepNode!.location,
                                            notes: ["change the swept values so that some configurations fit (e.g. fewer poolings for a small input, options that do not conflict)"]))
                } else {
                    diagnostics.emit(.warning("\(rejected.count) of \(total) configurations of the sweep are invalid and rejected (never trained)", at: sweepNode!.location,
                                              notes: shown + (rejected.count > 3 ? ["… \(rejected.count - 3) more (`tlc plan` lists them all)"] : [])))
                }
            }
            for c in decoded.indices {
                if c == 0 { points = decoded[0] } else { points += decoded[c] }
                decoded[c] = []
                for d in engines[c].diagnostics { diagnostics.emit(d) }
            }
        } else {
            points = [ExperimentPoint(id: String(stableID(base.specValue.canonicalJSON).prefix(12)), label: "", assignments: [], spec: base)]
        }
        // Ensemble members named as sweep points must name real points.
        if case .references(let refs) = base.ensemble?.members, let items = baseTree["ensemble"]?["members"]?.sequence {
            let labels = Set(points.map(\.label))
            for (ref, item) in zip(refs, items) where ref.hasPrefix("point:") {
                let label = String(ref.dropFirst(6))
                if definition == nil {
                    diagnostics.emit(.error("ensemble member '\(ref)' names a sweep point, but the experiment has no sweep", at: item.location))
                } else if !labels.contains(label) {
                    let hint = suggestion(for: label, among: Array(labels)).map { "; did you mean 'point:\($0)'?" } ?? ""
                    diagnostics.emit(.error("ensemble member '\(ref)' names no sweep point\(hint)", at: item.location,
                                            notes: hint.isEmpty ? ["labels look like '\(points.first?.label ?? "")'"] : []))
                }
            }
        }
        // Ranking a sweep, or choosing ensemble members, by a test metric selects models on the test set.
        let selectsByTop: Bool = if case .topOfSweep? = base.ensemble?.members { true } else { false }
        if (definition != nil || selectsByTop), ReportSpec.isTestMetric(base.report.target) {
            let at = baseTree["report"]?["target"]?.location ?? sweepNode?.location ?? tree.location
            diagnostics.emit(.warning("report.target \(base.report.target) ranks the sweep's points"
                                      + (selectsByTop ? " and chooses the ensemble's members" : "") + " on the test set",
                                      at: at, notes: ["the best point's test score is then an optimistic estimate; rank by val.accuracy (the default) and read the test score of what it picks"]))
        }
        if definition != nil, let ens = base.ensemble, let node = baseTree["ensemble"]?["members"] {
            checkEnsembleData(ens.members, points: points, at: node, sweptPaths: definition?.paths ?? [], diagnostics: diagnostics)
        }
        if let search, let searchNode, search.method == .darts {
            prepareDarts(search, points: &points, sweep: sweepNode, at: searchNode, diagnostics: diagnostics)
        } else if let search, let searchNode {
            checkSearch(search, points: points, hasSweep: definition != nil, base: base, at: searchNode, diagnostics: diagnostics,
                        rejected: rejected.count)
        }
        if diagnostics.hasErrors { throw DiagnosticError(Self.unique(diagnostics.diagnostics)) }
        return LoadedExperiment(file: path, sourceText: sourceText, extendsChain: chain, base: base, points: points,
                                hasSweep: definition != nil, sweptPaths: definition?.paths ?? [],
                                warnings: Self.unique(diagnostics.diagnostics.filter { $0.severity != .error }),
                                overrides: overrides, search: search, rejected: rejected)
    }

    /// An ensemble over sweep points needs one test set: its members must agree on
    /// the data, its seed and the normalization.
    /// A search needs a sweep of enough configurations, each plain training (no early
    /// stopping, no budget of its own: the search sets the budget).
    func checkSearch(_ search: SearchSpec, points: [ExperimentPoint], hasSweep: Bool, base: Spec, at node: YAMLNode,
                     diagnostics: DiagnosticEngine, rejected: Int = 0) {
        guard hasSweep else {
            diagnostics.emit(.error("search needs a sweep: the configurations it searches over", at: node.location,
                                    notes: ["add e.g. sweep: {random: {trials: 27, params: {optimizer.lr: {loguniform: [1e-4, 1e-2]}}}}"]))
            return
        }
        if search.method.usesRungs, case .failure(let e) = SearchSchedule.make(search, configurations: points.count) {
            diagnostics.emit(.error("search: " + e.message + (rejected > 0 ? " valid ones (\(rejected) more were rejected as invalid)" : ""),
                                    at: node.location, notes: [e.fix]))
        }
        if !search.method.usesRungs {
            switch SearchSpace.make(points) {
            case .failure(let e): diagnostics.emit(.error("search: \(search.method.rawValue) " + e.message, at: node.location, notes: [e.fix]))
            case .success(let space):
                if search.method == .evolution, let fixed = space.paths.first(where: { space.values[$0]?.count ?? 0 < 2 }) {
                    diagnostics.emit(.error("search: evolution mutates one swept value at a time, but '\(fixed)' has only one value", at: node.location,
                                            notes: ["sweep at least two values of \(fixed), or leave it out of the sweep"]))
                }
            }
        }
        if let point = points.first(where: { $0.spec.training.earlyStopping != nil || $0.spec.training.budget != nil || $0.spec.model != nil }) {
            diagnostics.emit(.error("search: the configurations must train plainly; '\(point.label)' has "
                                    + (point.spec.model != nil ? "a model: run: reference" : point.spec.training.earlyStopping != nil ? "early stopping" : "a training.budget"),
                                    at: node.location, notes: ["the search decides how long each configuration trains and sets the budget to max_epochs"]))
        }
        if points.contains(where: { $0.spec.data.validation <= 0 }) {
            diagnostics.emit(.error("search ranks by \(search.metric), which needs a validation split; data.validation is 0", at: node.location,
                                    notes: ["set data.validation, e.g. 0.1"]))
        }
    }

    func checkEnsembleData(_ members: EnsembleMembers, points: [ExperimentPoint], at node: YAMLNode, sweptPaths: [String],
                           diagnostics: DiagnosticEngine) {
        let chosen: [ExperimentPoint]
        switch members {
        case .topOfSweep: chosen = points
        case .references(let refs):
            let labels = Set(refs.filter { $0.hasPrefix("point:") }.map { String($0.dropFirst(6)) })
            chosen = points.filter { labels.contains($0.label) }
        case .seeds: return
        }
        struct DataKey: Hashable { var data: DataSpec; var seed: Int; var normalization: NormalizationSpec }
        func key(_ s: Spec) -> DataKey {
            var d = s.data
            d.augment = AugmentSpec()   // augmentation changes training batches, never the test set
            return DataKey(data: d, seed: s.dataSeed, normalization: s.normalization)
        }
        guard Set(chosen.map { key($0.spec) }).count > 1 else { return }
        let culprits = sweptPaths.filter { $0 == "seed" || $0 == "seeds.data" || $0.hasPrefix("data.") || $0.hasPrefix("normalization.") || $0 == "case" }
        var notes = ["an ensemble's members are scored on the test set they share; these points were trained on different data"]
        if culprits.contains("seed") {
            notes.append("`seed` also chooses the data: sweep `seeds.init` (initialization) or `seeds.shuffle` (batch order) instead to keep the data fixed")
        }
        diagnostics.emit(.error("the ensemble's members would be trained on different data: the sweep changes "
                                + (culprits.isEmpty ? "the data" : culprits.map { "`\($0)`" }.joined(separator: ", ")),
                                at: node.location, notes: notes))
    }

    /// Decodes sweep points: each point's values set into the base tree, then checked.
    static func decodePoints(_ all: [[SweepAssignment]], capacity: Int, baseTree: YAMLNode, base: Spec, changed: Set<String>,
                             baseCanonical: String, decoder: SpecDecoder, diagnostics: DiagnosticEngine,
                             reject: Bool = false) -> ([ExperimentPoint], [RejectedConfiguration]) {
        var points: [ExperimentPoint] = []
        var rejected: [RejectedConfiguration] = []
        points.reserveCapacity(capacity)
        let labeler = SweepExpansion.Labeler()
        let baseID = StableIDHasher().appending(baseCanonical + "\n")
        var pools = Spec.SectionPools()
        for assignments in all {
            var t = baseTree
            var failed = false
            for a in assignments where !(a.path == "case" && !a.hidden) {
                do { t = try TreeEditing.set(a.value, at: a.path.split(separator: ".").map(String.init)[...], in: t) }
                catch { diagnostics.emit(.error("sweep path '\(a.path)' cannot be set: \(error.description)", at: a.value.location)); failed = true }
            }
            if failed { continue }
            let values = assignments.map { specValue($0.value) }
            let decoded: Spec?
            if reject {
                // Its own diagnostics: a configuration that only fails the cross-field checks is rejected, not an error.
                let own = DiagnosticEngine()
                var crossCheckOnly = false
                decoded = decoder.decode(t, diagnostics: own, hasSweep: true, base: base, changed: changed, crossCheckOnly: &crossCheckOnly)
                if decoded == nil && crossCheckOnly {
                    let shown = zip(assignments, values).filter { !$0.0.hidden }
                    rejected.append(RejectedConfiguration(label: labeler.label(shown.map(\.0.path), shown.map(\.1)),
                                                          assignments: shown.map { SweepAssignmentValue(path: $0.0.path, value: $0.1) },
                                                          reasons: own.diagnostics.filter { $0.severity == .error }.map(\.message)))
                    continue
                }
                for d in own.diagnostics { diagnostics.emit(d) }
            } else {
                decoded = decoder.decode(t, diagnostics: diagnostics, hasSweep: true, base: base, changed: changed)
            }
            guard var spec = decoded else { continue }
            spec.shareSections(from: &pools)
            // The id hashes the base spec and the swept values, canonicalised: points
            // whose values are equal (1e-3 and 0.001) share it.
            let swept = SpecValue.map(zip(assignments, values).map { SpecEntry(($0.hidden ? "case:" : "") + $0.path, $1) }).canonicalJSON
            let shown = zip(assignments, values).filter { !$0.0.hidden }
            points.append(ExperimentPoint(
                id: String(baseID.appending(swept).id.prefix(12)),
                label: labeler.label(shown.map(\.0.path), shown.map(\.1)),
                assignments: shown.map { SweepAssignmentValue(path: $0.0.path, value: $0.1) },
                spec: spec))
        }
        return (points, rejected)
    }

    /// Parses `path` and merges it over its `extends` chain.
    private func loadWithExtends(path: String, via: YAMLNode?, chain: inout [String], diagnostics: DiagnosticEngine) -> YAMLNode? {
        let canonical = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        if let i = chain.firstIndex(of: canonical) {
            let cycle = (chain[i...] + [canonical]).map { ($0 as NSString).lastPathComponent }.joined(separator: " → ")
            diagnostics.emit(.error("'extends' makes a cycle: \(cycle)", at: via?.location))
            return nil
        }
        if chain.count >= 32 {
            diagnostics.emit(.error("'extends' chain is deeper than 32 files", at: via?.location)); return nil
        }
        chain.append(canonical)
        let node: YAMLNode
        do { node = try YAMLParser.parse(fileAt: path, limits: limits) } catch {
            if let via {
                diagnostics.emit(.error("cannot extend '\(path)'", at: via.location))
            }
            for d in (error as? DiagnosticError)?.diagnostics ?? [] { diagnostics.emit(d) }
            return nil
        }
        guard let ext = node["extends"], !ext.isNull else { return node }
        guard let s = ext.scalar, !s.text.isEmpty else {
            diagnostics.emit(.error("extends must be a file path", at: ext.location)); return nil
        }
        let basePath = SpecDecoder.resolvePath(s.text, relativeTo: path)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: basePath, isDirectory: &isDir), !isDir.boolValue else {
            diagnostics.emit(.error("extends: no file '\(s.text)' (looked at \(basePath))", at: ext.location)); return nil
        }
        // Only a regular file (through links) can be a spec: not a FIFO, a device or a socket.
        let type = (try? FileManager.default.attributesOfItem(atPath: URL(fileURLWithPath: basePath).resolvingSymlinksInPath().path)[.type]) as? FileAttributeType
        guard type == .typeRegular else {
            diagnostics.emit(.error("extends: '\(s.text)' is not a regular file", at: ext.location)); return nil
        }
        guard let base = loadWithExtends(path: basePath, via: ext, chain: &chain, diagnostics: diagnostics) else { return nil }
        guard base.mapping != nil, base["tlc"] != nil else {
            // Say what it is, never what it holds (it may be any file).
            diagnostics.emit(.error("extends: '\(s.text)' is not a tlc experiment (\(base.mapping == nil ? (base.isNull ? "it is empty" : "its top level is not a mapping") : "no 'tlc: 1' at its top"))",
                                    at: ext.location))
            return nil
        }
        return TreeEditing.merge(base: TreeEditing.removing("extends", from: base), child: node)
    }

    /// Applies one `path=value` override; errors point at the override text.
    private func applyOverride(_ text: String, index: Int, to tree: YAMLNode, diagnostics: DiagnosticEngine) -> YAMLNode? {
        let file = "--set"
        guard let eq = text.firstIndex(of: "=") else {
            diagnostics.emit(.error("override '\(text)' must be PATH=VALUE, e.g. optimizer.lr=3e-4", at: SourceLocation(file: file, line: index + 1, column: 1)))
            return nil
        }
        let path = String(text[..<eq]).trimmingCharacters(in: .whitespaces)
        let valueText = String(text[text.index(after: eq)...])
        let keyLoc = SourceLocation(file: file, line: index + 1, column: 1)
        if path != "sweep", path != "name", path != "description", let problem = SpecSchema.checkPath(path) {
            diagnostics.emit(.error("override '\(path)': \(problem)", at: keyLoc)); return nil
        }
        var value: YAMLNode
        do {
            value = try YAMLParser.parse(valueText.isEmpty ? "''" : valueText, file: file, limits: limits)
        } catch {
            for d in (error as? DiagnosticError)?.diagnostics ?? [] {
                var d = d
                if let l = d.location { d.location = SourceLocation(file: file, line: index + 1, column: l.column + path.count + 1) }
                diagnostics.emit(d)
            }
            return nil
        }
        value = TreeEditing.relocated(value, file: file, line: index + 1, columns: path.count + 1)
        do { return try TreeEditing.set(value, at: path.split(separator: ".").map(String.init)[...], in: tree) }
        catch { diagnostics.emit(.error("override '\(path)' cannot be set: \(error.description)", at: keyLoc)); return nil }
    }

    /// Finds the experiment file a reference names: a path (`x.yaml`) relative to the
    /// referring file, or a name looked up as NAME.yaml next to it and in an
    /// `Experiments/` folder of it or any parent folder.
    /// Splits `NAME/LABEL` (a point of NAME's sweep, or `best`) into its experiment and
    /// point; a plain reference has no point. A path reference splits after `.yaml/`.
    public static func splitPointReference(_ reference: String) -> (experiment: String, point: String?) {
        for ext in [".yaml/", ".yml/"] {
            if let r = reference.range(of: ext) {
                return (String(reference[..<r.lowerBound]) + ext.dropLast(), String(reference[r.upperBound...]))
            }
        }
        guard !reference.hasSuffix(".yaml"), !reference.hasSuffix(".yml"), let slash = reference.firstIndex(of: "/") else {
            return (reference, nil)
        }
        return (String(reference[..<slash]), String(reference[reference.index(after: slash)...]))
    }

    /// The experiment names `run:NAME` could mean from `file`: the YAML files next to
    /// it and in the Experiments/ folders `resolveExperiment` looks in.
    public static func experimentNames(near file: String) -> [String] {
        let fm = FileManager.default
        var dirs = [(SpecDecoder.resolvePath(file, relativeTo: "") as NSString).deletingLastPathComponent]
        var d = dirs[0]
        for _ in 0..<8 {
            dirs.append((d as NSString).appendingPathComponent("Experiments"))
            let parent = (d as NSString).deletingLastPathComponent
            if parent == d || parent.isEmpty { break }
            d = parent
        }
        let names = dirs.flatMap { dir in
            ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }
        }
        return Array(Set(names)).sorted()
    }

    public static func resolveExperiment(_ reference: String, from file: String) -> String? {
        let reference = splitPointReference(reference).experiment
        let fm = FileManager.default
        let dir = (SpecDecoder.resolvePath(file, relativeTo: "") as NSString).deletingLastPathComponent
        if reference.hasSuffix(".yaml") || reference.hasSuffix(".yml") {
            let p = SpecDecoder.resolvePath(reference, relativeTo: file)
            return fm.fileExists(atPath: p) ? p : nil
        }
        guard SpecDecoder.nameProblem(reference) == nil else { return nil }
        var candidates = [(dir as NSString).appendingPathComponent(reference + ".yaml")]
        var d = dir
        for _ in 0..<8 {
            candidates.append(((d as NSString).appendingPathComponent("Experiments") as NSString).appendingPathComponent(reference + ".yaml"))
            let parent = (d as NSString).deletingLastPathComponent
            if parent == d || parent.isEmpty { break }
            d = parent
        }
        return candidates.first { fm.fileExists(atPath: $0) }
    }

    /// A YAML node as a plain value (core-schema resolution of plain scalars).
    public static func specValue(_ node: YAMLNode) -> SpecValue {
        switch node.kind {
        case .scalar(let s):
            guard s.style == .plain else { return .string(s.text) }
            if s.isNull { return .null }
            if let b = s.bool { return .bool(b) }
            if let i = s.int { return .int(i) }
            if let d = s.double { return .double(d) }
            return .string(s.text)
        case .sequence(let items): return .list(items.map(specValue))
        case .mapping(let pairs): return .map(pairs.map { SpecEntry($0.key.scalar?.text ?? "", specValue($0.value)) })
        }
    }

    /// Drops repeated diagnostics and orders them by position, file by file.
    static func unique(_ ds: [Diagnostic]) -> [Diagnostic] {
        var seen = Set<Diagnostic>()
        let kept = ds.filter { seen.insert($0).inserted }
        var fileOrder: [String: Int] = [:]
        for d in kept { if let f = d.location?.file, fileOrder[f] == nil { fileOrder[f] = fileOrder.count } }
        return kept.enumerated().sorted { a, b in
            let la = a.element.location, lb = b.element.location
            let ka = (la.flatMap { fileOrder[$0.file] } ?? Int.max, la?.line ?? 0, la?.column ?? 0, a.offset)
            let kb = (lb.flatMap { fileOrder[$0.file] } ?? Int.max, lb?.line ?? 0, lb?.column ?? 0, b.offset)
            return ka < kb
        }.map(\.element)
    }
}
