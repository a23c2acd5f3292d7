// Planner — lowers resolved specs to a plan: a DAG of stages, each carrying a
// typed work value (Jobs) with every decision made here, once: paths and their
// digests, classes, architectures, frozen layers, the feature cut, optimizer and
// schedule. It never runs anything and knows nothing about tensors.
//
// PlanBuilder drives the lowering: points, upstream experiments (`run:NAME`),
// sweep-level ensembles and reports. Each stage family is lowered in its own
// file (DataLowering, ModelLowering, TrainingLowering, CompressionLowering).
import Foundation
import FrontEnd
import Jobs
import ModelZoo

public enum PlanError: Error, CustomStringConvertible {
    case diagnostics(DiagnosticError)
    case message(String)
    public var description: String {
        switch self {
        case .diagnostics(let d): d.description
        case .message(let m): "error: " + m
        }
    }
}

public struct PlanBuilder {
    /// Loads referenced experiments (`run:NAME`); injectable for tests.
    public var loadExperiment: (_ path: String) throws -> LoadedExperiment = { try ExperimentLoader().load(path: $0) }
    /// The label of the best point of an experiment's newest finished sweep whose
    /// points are these (label → resolved spec as YAML), for `run:NAME/best` (the
    /// command line reads it from the run store); nil: unknown.
    public var bestPoint: ((_ experiment: String, _ points: [String: String]) throws -> String)? = nil
    /// Plan anyway when `best` is not known yet (no finished sweep): the sweep's first
    /// point stands in, with a warning (`tlc validate` and `tlc plan`; `tlc run` refuses).
    public var bestMayBeUnknown = false
    /// Render each point's resolved spec (its run directory's resolved.yaml) into the
    /// plan. `tlc validate` and the text plan never show them and skip the work: for a
    /// big sweep it is most of the plan's memory.
    public var resolvedSpecs = true

    public init() {}

    /// Everything lowered so far; stages are shared by id (a content hash).
    final class State {
        var stages = StageTable()
        /// Upstream stages by the spec slices they read, so sweep points that share
        /// them skip building, encoding and hashing them again.
        var dataChains: [DataKey: (load: String, norm: String)] = [:]
        /// Image folders' data.decode stages (shared by every data chain reading them).
        var decodeStages: [DecodeKey: (id: String, files: Int)] = [:]
        var architectures: [ArchitectureKey: (architecture: Architecture, summary: ArchitectureSummary)] = [:]
        var weights: [WeightsKey: (deps: [String], work: WeightsWork)] = [:]
        var models: [ModelKey: String] = [:]
        /// Budgeted train stages by their settings without the epochs: (epochs, stage id).
        var trainChains: [TrainChainKey: [(epochs: Int, stage: String)]] = [:]
        var byExperimentFinal: [String: Lowered] = [:]
        /// Upstream experiments (plain `run:NAME`) by file, in the order first met.
        var upstreamRuns: [String: UpstreamRun] = [:]
        var upstreamOrder: [String] = []
        var warnings: [String] = []
        var visiting: [String] = []
        /// Equal summaries share one string (every point's evaluation has the same).
        private var summaries: Set<String> = []
        func intern(_ s: String) -> String {
            if let known = summaries.firstIndex(of: s) { return summaries[known] }
            summaries.insert(s)
            return s
        }
    }

    /// What lowering one spec produced.
    struct Lowered {
        var model: String
        var normalized: String
        var evaluations: [String]
        var experiment: String = ""
        var frozen: [String] = []
    }

    public func plan(_ experiment: LoadedExperiment) throws(PlanError) -> Plan {
        let state = State()
        state.visiting = [experiment.name]
        // A point whose `model:` names another run's model is that run's spec with this
        // file's compression, ensemble and report (its stages then hash as that run's).
        // Points are read in place (a big sweep's specs are never copied).
        var replaced: [Int: (spec: Spec, file: String)] = [:]
        for (i, point) in experiment.points.enumerated() {
            if let ref = point.spec.model { replaced[i] = try referencedModel(ref, for: point.spec, from: experiment.file, state: state) }
        }
        let source = PointSource(experiment: experiment, replaced: replaced)
        let lowered = try lowerAll(source, into: state)
        // The points' sweep values in one table (a grid repeats each value in many points).
        var table = PointAssignments.Builder(rows: lowered.count)
        for point in experiment.points {
            table.append(point.assignments.lazy.map { PlanPoint.Assignment(path: $0.path, value: $0.value.jsonValue) })
        }
        let assignments = table.build()
        var points: [PlanPoint] = []
        points.reserveCapacity(lowered.count)
        for (i, low) in lowered.enumerated() {
            let point = experiment.points[i]
            points.append(PlanPoint(id: point.id, label: point.label, assignments: assignments, row: i,
                                    modelStage: low.model, evaluateStages: low.evaluations, reportStage: "",
                                    resolvedSpec: resolvedSpecs ? source.spec(i).specValue.resolvedYAML : ""))
        }
        // Ensembles over sweep points (the top k, or points named by label) are one
        // stage for the whole sweep, reported as the sweep's own row (not a variant of
        // any point); its members must share their test data.
        var ensemble: SweepEnsemble?
        if let ens = experiment.base.ensemble, Self.isSweepLevel(ens.members) {
            ensemble = try sweepEnsemble(ens, experiment: experiment, points: points,
                                         data: lowered.map(\.normalized), state: state)
        }
        var reports = reportStages(points, lowered: lowered, source: source, experiment: experiment.name, state: state)
        state.stages.reserveCapacity(forMore: points.count)
        var i = 0
        for part in reports.indices {
            for var stage in reports[part] {
                // "report for LABEL", or "report" for the one point without a sweep.
                if points[i].label.isEmpty { stage.summary = "report" } else { stage.useDefaultSummary() }
                points[i].reportStage = insert(stage, summary: nil, state: state)
                i += 1
            }
            reports[part] = []
        }
        let count = experiment.points.count
        if count > SweepExpansion.largeSweepWarning {
            state.warnings.append("the sweep has \(count) points; consider random search or fewer values")
        }
        var plan = Plan(experiment: experiment.name, file: experiment.file, sourceText: experiment.sourceText,
                        overrides: experiment.overrides, isSweep: experiment.hasSweep, seed: experiment.base.seed,
                        reportTarget: experiment.base.report.target, stages: state.stages.takeList(),
                        points: points, sweepEnsemble: ensemble, sweptPaths: experiment.sweptPaths, warnings: state.warnings)
        plan.upstreamRuns = state.upstreamOrder.map { state.upstreamRuns[$0]! }
        MemoryEstimate.annotate(&plan, sourceSamples: Self.sourceSamples)
        return plan
    }

    /// The points to lower: the experiment's own, or (for `model:` points) the
    /// referenced run's spec, read in place.
    struct PointSource: @unchecked Sendable {
        let experiment: LoadedExperiment
        let replaced: [Int: (spec: Spec, file: String)]
        var count: Int { experiment.points.count }
        func spec(_ i: Int) -> Spec { replaced[i]?.spec ?? experiment.points[i].spec }
        func file(_ i: Int) -> String { replaced[i]?.file ?? experiment.file }
    }

    /// Each point's report stage (not yet in the table), in parts that follow each
    /// other. Made on two threads for a big sweep: every point has its own, so hashing
    /// them is much of a big plan's work.
    private func reportStages(_ points: [PlanPoint], lowered: [Lowered], source: PointSource, experiment: String,
                              state: State) -> [[Stage]] {
        func make(_ range: Range<Int>) -> [Stage] {
            // Points on the same data share their class lists.
            var classLists: [String: (classes: [Int], names: [String])] = [:]
            var out: [Stage] = []
            out.reserveCapacity(range.count)
            for i in range {
                let spec = source.spec(i)
                if classLists[lowered[i].normalized] == nil {
                    classLists[lowered[i].normalized] = (Self.classList(spec.data), Self.classNames(spec.data))
                }
                let classes = classLists[lowered[i].normalized]!
                let work = ReportWork(experiment: spec.name, label: points[i].label, target: spec.report.target,
                                      classes: classes.classes, classNames: classes.names, frozen: lowered[i].frozen)
                out.append(makeStage(.report(work), experiment: experiment, deps: points[i].evaluateStages,
                                     points: [points[i].id], flops: 0, state: state))
            }
            return out
        }
        guard points.count >= 512, ProcessInfo.processInfo.activeProcessorCount > 1 else { return [make(points.indices)] }
        // The table is only read here.
        let ranges = [0..<(points.count / 2), (points.count / 2)..<points.count]
        nonisolated(unsafe) var halves: [[Stage]] = [[], []]
        nonisolated(unsafe) let makeHalf = make
        DispatchQueue.concurrentPerform(iterations: 2) { c in halves[c] = makeHalf(ranges[c]) }
        return halves
    }

    /// Lowers every point. A big sweep is lowered in two halves on two threads, each
    /// into its own state, then merged: stage ids are content hashes, so the halves
    /// agree on every stage they share, and the result equals a sequential lowering.
    private func lowerAll(_ source: PointSource, into state: State) throws(PlanError) -> [Lowered] {
        let ids = source.experiment.points
        guard source.count >= 512, ProcessInfo.processInfo.activeProcessorCount > 1 else {
            var out: [Lowered] = []
            for i in 0..<source.count { out.append(try lower(source.spec(i), file: source.file(i), pointID: ids[i].id, state: state)) }
            return out
        }
        let ranges = [0..<(source.count / 2), (source.count / 2)..<source.count]
        let states = [state, State()]
        states[1].visiting = state.visiting
        nonisolated(unsafe) var results: [Result<[Lowered], PlanError>] = [.success([]), .success([])]
        nonisolated(unsafe) let builder = self
        nonisolated(unsafe) let shared = states
        DispatchQueue.concurrentPerform(iterations: 2) { c in
            var out: [Lowered] = []
            out.reserveCapacity(ranges[c].count)
            do {
                for i in ranges[c] {
                    out.append(try builder.lower(source.spec(i), file: source.file(i), pointID: ids[i].id, state: shared[c]))
                }
                results[c] = .success(out)
            } catch {
                results[c] = .failure(error as? PlanError ?? .message("\(error)"))
            }
        }
        merge(states[1], into: state)
        return try results[0].get() + results[1].get()
    }

    /// Adds `other`'s stages (in order) and bookkeeping to `state`.
    private func merge(_ other: State, into state: State) {
        state.stages.reserveCapacity(forMore: other.stages.list.count)
        for stage in other.stages.list {
            if state.stages.contains(stage.id) {
                state.stages.addPoints(stage.points, to: stage.id)
            } else {
                state.stages.append(stage)
            }
        }
        for w in other.warnings where !state.warnings.contains(w) { state.warnings.append(w) }
        state.byExperimentFinal.merge(other.byExperimentFinal) { a, _ in a }
        for key in other.upstreamOrder where state.upstreamRuns[key] == nil {
            state.upstreamRuns[key] = other.upstreamRuns[key]
            state.upstreamOrder.append(key)
        }
        state.dataChains.merge(other.dataChains) { a, _ in a }
        state.architectures.merge(other.architectures) { a, _ in a }
        state.weights.merge(other.weights) { a, _ in a }
        state.models.merge(other.models) { a, _ in a }
    }

    /// Lowers one resolved spec: data, model, training, evaluations, compression, ensembles.
    func lower(_ spec: Spec, file: String, pointID: String, state: State) throws(PlanError) -> Lowered {
        let points = [pointID]
        let data = try lowerData(spec, file: file, points: points, state: state)
        let model = try lowerModel(spec, file: file, data: data, points: points, state: state)
        var lowered = try lowerTraining(spec, file: file, data: data, model: model, points: points, state: state)
        try lowerCompression(spec, file: file, data: data, model: model, into: &lowered, points: points, state: state)
        return lowered
    }

    /// Plans another experiment — its base point, or one point of its sweep
    /// (`NAME/LABEL`, `NAME/best`) — and returns its final model and data stages.
    /// A point is lowered from its own resolved spec, so its stages hash as in the
    /// sweep's run and come from the cache.
    func upstream(_ ref: String, from file: String, state: State) throws(PlanError) -> Lowered {
        let (name, point) = ExperimentLoader.splitPointReference(ref)
        guard let path = ExperimentLoader.resolveExperiment(name, from: file) else {
            throw .message("no experiment '\(name)' found next to \(file) or in Experiments/")
        }
        let key = path + (point.map { "/" + $0 } ?? "")
        if let done = state.byExperimentFinal[key] { return done }
        if state.visiting.contains(path) || state.visiting.count > 16 {
            throw .message("experiments depend on each other in a cycle: \((state.visiting + [path]).joined(separator: " → "))")
        }
        var (spec, pointID, shown) = try referencedPoint(ref, path: path, state: state)
        spec.ensemble = nil
        state.visiting.append(path)
        var lowered = try lower(spec, file: path, pointID: pointID, state: state)
        lowered.experiment = shown
        state.visiting.removeLast()
        state.byExperimentFinal[key] = lowered
        if point == nil, state.upstreamRuns[path] == nil {
            // Its own report stage, so a run that trains it on the way can give it a run directory.
            let work = ReportWork(experiment: spec.name, label: "", target: spec.report.target, classes: Self.classList(spec.data),
                                 classNames: Self.classNames(spec.data), frozen: lowered.frozen)
            let report = add(.report(work), experiment: spec.name, deps: lowered.evaluations, points: [pointID], flops: 0,
                             summary: "report of \(spec.name)", state: state)
            let sourceText = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            state.upstreamRuns[path] = UpstreamRun(
                experiment: spec.name, file: path, sourceText: sourceText, seed: spec.seed,
                point: PlanPoint(id: pointID, label: "", assignments: [], modelStage: lowered.model, evaluateStages: lowered.evaluations,
                                 reportStage: report, resolvedSpec: spec.specValue.resolvedYAML))
            state.upstreamOrder.append(path)
        }
        return lowered
    }

    /// The spec of `NAME` (its base point) or of one point of its sweep (`NAME/LABEL`,
    /// `NAME/best`), loaded from `path`, with the point's id and how to show it.
    func referencedPoint(_ ref: String, path: String, state: State) throws(PlanError) -> (spec: Spec, pointID: String, shown: String) {
        let (name, point) = ExperimentLoader.splitPointReference(ref)
        let loaded: LoadedExperiment
        do { loaded = try loadExperiment(path) }
        catch let e as DiagnosticError { throw .diagnostics(e) }
        catch { throw .message("\(path): \(error)") }
        guard var label = point else {
            if loaded.hasSweep {
                state.warnings.append("'\(ref)' has a sweep; its base point (without sweep values) is used (name one with '\(name)/LABEL' or '\(name)/best')")
            }
            return (loaded.base, loaded.name, loaded.name)
        }
        guard loaded.hasSweep else { throw .message("'\(ref)' names a point, but \(loaded.name) has no sweep") }
        if label == "best" {
            do {
                guard let bestPoint else { throw PlanError.message("the best point is known only from a finished run of \(loaded.name)") }
                // Only a run of the experiment as it is now: its best point is then a point planned here.
                label = try bestPoint(loaded.name, Dictionary(loaded.points.map { ($0.label, $0.spec.specValue.resolvedYAML) },
                                                               uniquingKeysWith: { a, _ in a }))
            } catch {
                let why = (error as? PlanError).map { if case .message(let m) = $0 { m } else { $0.description } } ?? "\(error)"
                guard bestMayBeUnknown, let first = loaded.points.first else { throw .message("'\(ref)': \(why)") }
                state.warnings.append("'\(ref)': \(why); planned with its first point '\(first.label)' in its place")
                label = first.label
            }
        }
        guard let found = loaded.points.first(where: { $0.label == label }) else {
            let labels = loaded.points.map(\.label)
            let hint = suggestion(for: label, among: labels).map { "; did you mean '\(name)/\($0)'?" } ?? ""
            throw .message("'\(ref)': \(loaded.name) has no sweep point '\(label)'\(hint) (labels look like '\(labels.first ?? "")'; quote a label with commas in a YAML list)")
        }
        return (found.spec, found.id, "\(loaded.name)/\(label)")
    }

    /// `model: run:REF`: the referenced point's spec with this spec's name, compression,
    /// ensemble and report, and the file its data paths resolve against.
    func referencedModel(_ ref: String, for spec: Spec, from file: String, state: State) throws(PlanError) -> (Spec, String) {
        let name = ExperimentLoader.splitPointReference(ref).experiment
        guard let path = ExperimentLoader.resolveExperiment(name, from: file) else {
            throw .message("model: no experiment '\(name)' found next to \(file) or in Experiments/")
        }
        var merged = try referencedPoint(ref, path: path, state: state).spec
        merged.name = spec.name
        merged.description = spec.description ?? merged.description
        merged.compression = spec.compression
        merged.ensemble = spec.ensemble
        merged.report = spec.report
        merged.model = nil
        return (merged, path)
    }

    /// Adds (or reuses) a stage and returns its id.
    @discardableResult
    func add(_ work: StageWork, experiment: String, deps: [String], points: [String],
             flops: Double, summary: @autoclosure @escaping () -> String, state: State) -> String {
        // Sweep points make the same stages again and again: found by fingerprint, not hashed again.
        let fingerprint = try? WorkFingerprint(work, dependencies: deps)
        if let fingerprint, let known = state.stages.id(for: fingerprint) {
            state.stages.addPoints(points, to: known)
            return known
        }
        let id = insert(makeStage(work, experiment: experiment, deps: deps, points: points, flops: flops, state: state),
                        summary: summary, state: state)
        if let fingerprint { state.stages.remember(fingerprint, of: id) }
        return id
    }

    /// A stage on dependencies already in the table (which is only read).
    func makeStage(_ work: StageWork, experiment: String, deps: [String], points: [String], flops: Double, state: State) -> Stage {
        do {
            return try Stage(work: work, experiment: experiment, deps: deps, depHashes: deps.map { state.stages.hash(of: $0) },
                             points: points, flops: flops, summary: "")
        } catch {
            // Encoding plain Codable values with finite numbers cannot fail.
            preconditionFailure("cannot encode a \(work.kind.rawValue) work value: \(error)")
        }
    }

    /// Adds `stage` to the table, or its points to the equal stage there; returns its id.
    /// `summary` names a new stage (nil: the stage's own).
    func insert(_ stage: Stage, summary: (() -> String)?, state: State) -> String {
        let points = stage.points
        let work = stage.work
        if let known = state.stages.sharedID(stage.id) {
            state.stages.addPoints(points, to: known)
            return known
        }
        var named = stage
        if let summary {
            // Evaluations repeat their summary in every point: one string for all of them.
            named.summary = work.kind == .evaluate ? state.intern(summary()) : summary()
        }
        state.stages.append(named)
        return stage.id
    }

    func addPoints(_ points: [String], to id: String, state: State) {
        state.stages.addPoints(points, to: id)
    }

    // MARK: helpers

    /// Samples a data.load's source holds: its training part, and its separate test
    /// part (nil: none, the test split is held out of the training part).
    static func sourceSamples(_ w: DataLoadWork) -> (train: Int, test: Int?) {
        func count(_ source: DataSource) -> Int {
            switch source {
            case .fashionMNIST: 60_000
            case .images(let files): files
            case .csv(let f): DataFileShape.csvSamples(f.path) ?? 0
            case .npy(let features, _): DataFileShape.npySamples(features.path) ?? 0
            }
        }
        return (count(w.source), w.source == .fashionMNIST ? 10_000 : w.testSource.map(count))
    }

    static func isSweepLevel(_ members: EnsembleMembers) -> Bool {
        switch members {
        case .topOfSweep: true
        case .references(let refs): refs.contains { $0.hasPrefix("point:") }
        case .seeds: false
        }
    }

    /// A member's seed, derived from the experiment seed (stable, no Swift hashing).
    public static func memberSeed(_ seed: Int, _ k: Int) -> Int {
        Int(UInt64(stableID("\(seed)/member/\(k)").prefix(12), radix: 16)! % 1_000_000_007)
    }

    /// 1234 → "1234", 235146 → "235.1k", 2_500_000 → "2.50M" (no Foundation formatting: it is slow).
    static func count(_ n: Int) -> String {
        if n >= 1_000_000 { let c = (n + 5_000) / 10_000; return "\(c / 100).\(c % 100 < 10 ? "0" : "")\(c % 100)M" }
        if n >= 10_000 { let d = (n + 50) / 100; return "\(d / 10).\(d % 10)k" }
        return "\(n)"
    }
}

extension SpecValue {
    /// The same value as a plan's JSON value.
    var jsonValue: JSONValue {
        switch self {
        case .null: .null
        case .bool(let b): .bool(b)
        case .int(let i): .int(i)
        case .double(let d): .double(d)
        case .string(let s): .string(s)
        case .list(let items): .list(items.map(\.jsonValue))
        case .map(let entries): .object(entries.map { .init(key: $0.key, value: $0.value.jsonValue) })
        }
    }
}
