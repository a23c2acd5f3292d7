// Jobs — the plan as plain data: `Plan`, its `Stage`s and each stage's typed
// `StageWork`, with the content hash that names a stage. A plan is `Codable`:
// plan.json is its encoding and decodes back to an equal plan, so any process
// (a Slurm job, `tlc verify`) can run any stage from it.
//
// The planner (Planner) resolves every decision into the work values; the
// executor (Execution) carries them out and reads nothing else. This module
// knows neither YAML specs (FrontEnd) nor tensors (Engine): only ModelZoo's pure
// architecture descriptions, which a work value carries as resolved.
import Foundation

/// One sweep point (or the single point of an experiment without a sweep).
public struct PlanPoint: Codable, Hashable, Sendable {
    public var id: String
    public var label: String
    /// The sweep's values for this point, in the order the sweep spells them
    /// (plan.json: a list of `{path, value}`). Held in a table shared by the plan's
    /// points (see PointAssignments).
    public var assignments: [Assignment] {
        get { assignmentTable.row(assignmentRow) }
        set { assignmentTable = PointAssignments(single: newValue); assignmentRow = 0 }
    }
    private var assignmentTable: PointAssignments
    private var assignmentRow: Int
    /// The stage that produces this point's final model (before ensembles).
    public var modelStage: String
    /// This point's evaluation stages, in variant order (baseline, compression steps, ensemble).
    public var evaluateStages: [String]
    /// This point's report stage.
    public var reportStage: String
    /// The fully resolved spec of this point as YAML (resolved.yaml of its run directory).
    public var resolvedSpec: String

    public struct Assignment: Codable, Hashable, Sendable {
        public var path: String
        public var value: JSONValue
        public init(path: String, value: JSONValue) { self.path = path; self.value = value }
    }

    public init(id: String, label: String, assignments: [Assignment], modelStage: String, evaluateStages: [String],
                reportStage: String, resolvedSpec: String) {
        self.init(id: id, label: label, assignments: PointAssignments(single: assignments), row: 0, modelStage: modelStage,
                  evaluateStages: evaluateStages, reportStage: reportStage, resolvedSpec: resolvedSpec)
    }

    /// A point whose assignments are row `row` of a table shared with other points.
    public init(id: String, label: String, assignments table: PointAssignments, row: Int, modelStage: String,
                evaluateStages: [String], reportStage: String, resolvedSpec: String) {
        self.id = id; self.label = label; self.assignmentTable = table; self.assignmentRow = row; self.modelStage = modelStage
        self.evaluateStages = evaluateStages; self.reportStage = reportStage; self.resolvedSpec = resolvedSpec
    }

    enum CodingKeys: String, CodingKey {
        case id, label, assignments, modelStage = "model_stage", evaluateStages = "evaluate_stages",
             reportStage = "report_stage", resolvedSpec = "resolved_spec"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(id: try c.decode(String.self, forKey: .id), label: try c.decode(String.self, forKey: .label),
                  assignments: try c.decode([Assignment].self, forKey: .assignments),
                  modelStage: try c.decode(String.self, forKey: .modelStage),
                  evaluateStages: try c.decode([String].self, forKey: .evaluateStages),
                  reportStage: try c.decode(String.self, forKey: .reportStage),
                  resolvedSpec: try c.decode(String.self, forKey: .resolvedSpec))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(label, forKey: .label)
        try c.encode(assignments, forKey: .assignments)
        try c.encode(modelStage, forKey: .modelStage)
        try c.encode(evaluateStages, forKey: .evaluateStages)
        try c.encode(reportStage, forKey: .reportStage)
        try c.encode(resolvedSpec, forKey: .resolvedSpec)
    }

    public static func == (a: PlanPoint, b: PlanPoint) -> Bool {
        a.id == b.id && a.label == b.label && a.modelStage == b.modelStage && a.evaluateStages == b.evaluateStages
            && a.reportStage == b.reportStage && a.resolvedSpec == b.resolvedSpec && a.assignments == b.assignments
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id); hasher.combine(label); hasher.combine(modelStage); hasher.combine(reportStage)
    }
}

/// An ensemble over a sweep's points: it belongs to the sweep (its own leaderboard
/// row, compared with its members on their shared test set), never to one point.
public struct SweepEnsemble: Codable, Hashable, Sendable {
    /// The ensemble stage and its evaluation.
    public var stage: String
    public var evaluation: String
    /// How it was asked for (`point:LABEL`s, `run:NAME`s, or `top 2 by val.accuracy`).
    public var description: String
    public init(stage: String, evaluation: String, description: String) {
        self.stage = stage; self.evaluation = evaluation; self.description = description
    }
}

/// Another experiment this plan trains on the way (`run:NAME`): when its model is
/// computed by a run of this plan, it gets a run directory of its own.
public struct UpstreamRun: Codable, Hashable, Sendable {
    public var experiment: String
    public var file: String
    public var sourceText: String
    public var seed: Int
    /// Its one point (model, evaluations, report stage, resolved spec).
    public var point: PlanPoint
    public init(experiment: String, file: String, sourceText: String, seed: Int, point: PlanPoint) {
        self.experiment = experiment; self.file = file; self.sourceText = sourceText; self.seed = seed; self.point = point
    }
    enum CodingKeys: String, CodingKey { case experiment, file, sourceText = "source_text", seed, point }
}

/// A lowered experiment: every stage its points need, in dependency order.
public struct Plan: Codable, Hashable, Sendable {
    /// Bumped when plan.json's shape changes.
    public static let fileFormat = 2

    public var format: Int = Plan.fileFormat
    public var experiment: String
    /// The experiment file as given on the command line.
    public var file: String
    /// Its text as written (spec.yaml of the run directory).
    public var sourceText: String
    /// The overrides (`--set PATH=VALUE`) the plan was made with.
    public var overrides: [String]
    /// Whether the experiment has a sweep (its run directory has a folder per point).
    public var isSweep: Bool
    /// The experiment's seed and report target (for env.json and the leaderboard).
    public var seed: Int
    public var reportTarget: String
    /// Stages in dependency order (every stage after its dependencies).
    public var stages: [Stage]
    public var points: [PlanPoint]
    /// An ensemble over the sweep's points, if the spec asks for one.
    public var sweepEnsemble: SweepEnsemble?
    /// Experiments this plan trains on the way (`run:NAME` references).
    public var upstreamRuns: [UpstreamRun] = []
    public var sweptPaths: [String]
    public var warnings: [String]

    public init(experiment: String, file: String, sourceText: String, overrides: [String], isSweep: Bool, seed: Int,
                reportTarget: String, stages: [Stage], points: [PlanPoint], sweepEnsemble: SweepEnsemble? = nil,
                sweptPaths: [String], warnings: [String]) {
        self.experiment = experiment; self.file = file; self.sourceText = sourceText; self.overrides = overrides
        self.isSweep = isSweep; self.seed = seed; self.reportTarget = reportTarget; self.stages = stages
        self.points = points; self.sweepEnsemble = sweepEnsemble; self.sweptPaths = sweptPaths; self.warnings = warnings
    }

    enum CodingKeys: String, CodingKey {
        case format, experiment, file, sourceText = "source_text", overrides, isSweep = "is_sweep", seed,
             reportTarget = "report_target", stages, points, sweepEnsemble = "sweep_ensemble", upstreamRuns = "upstream_runs",
             sweptPaths = "swept_paths", warnings
    }

    public func stage(_ id: String) -> Stage? { stages.first { $0.id == id } }
    /// Stages used by more than one point.
    public var sharedStages: [Stage] { stages.filter { $0.points.count > 1 } }
    public var totalFLOPs: Double { stages.reduce(0) { $0 + $1.flops } }

    /// plan.json: the plan's encoding (keys sorted, so equal plans are equal files).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(0x0a)
        return data
    }

    /// Reads plan.json. Every stage's hash is recomputed from its work and its
    /// dependencies: a file whose work was edited by hand is refused, not run.
    public static func decode(_ data: Data) throws -> Plan {
        let plan: Plan
        do { plan = try JSONDecoder().decode(Plan.self, from: data) } catch let error as DecodingError {
            throw PlanFileError(message: "not a tlc plan: \(PlanFileError.describe(error))")
        }
        guard plan.format == fileFormat else {
            throw PlanFileError(message: "plan format \(plan.format), this tlc reads format \(fileFormat); re-plan the experiment")
        }
        var hashes: [String: String] = [:]
        for stage in plan.stages {
            var depHashes: [String] = []
            for d in stage.deps {
                guard let h = hashes[d] else { throw PlanFileError(message: "stage \(stage.id) depends on \(d), which does not come before it") }
                depHashes.append(h)
            }
            let expected = try StageHashing.hash(stage.work, dependencies: depHashes)
            guard expected == stage.hash else {
                throw PlanFileError(message: "stage \(stage.id): its hash does not match its work (was plan.json edited?)")
            }
            hashes[stage.id] = stage.hash
        }
        for p in plan.points {
            for id in [p.modelStage, p.reportStage] + p.evaluateStages where hashes[id] == nil {
                throw PlanFileError(message: "point '\(p.label)' names stage \(id), which the plan does not have")
            }
        }
        for u in plan.upstreamRuns {
            for id in [u.point.modelStage, u.point.reportStage] + u.point.evaluateStages where hashes[id] == nil {
                throw PlanFileError(message: "the upstream run of \(u.experiment) names stage \(id), which the plan does not have")
            }
        }
        if let e = plan.sweepEnsemble, hashes[e.stage] == nil || hashes[e.evaluation] == nil {
            throw PlanFileError(message: "the sweep ensemble names a stage the plan does not have")
        }
        return plan
    }

    public static func read(_ path: String) throws -> Plan {
        guard let data = FileManager.default.contents(atPath: path) else { throw PlanFileError(message: "cannot read \(path)") }
        do { return try decode(data) } catch let e as PlanFileError { throw PlanFileError(message: "\(path): \(e.message)") }
    }
}

/// A plan.json that cannot be used, said for people.
public struct PlanFileError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }

    static func describe(_ error: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String {
            let p = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "" : " at \(p.hasPrefix(".") ? String(p.dropFirst()) : p)"
        }
        switch error {
        case .keyNotFound(let key, let c): return "missing '\(key.stringValue)'\(path(c))"
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): return c.debugDescription + path(c)
        @unknown default: return "\(error)"
        }
    }
}

extension Plan {
    /// The plan of only the points with these labels: their stages and everything
    /// those read. Hashes are unchanged (they never depend on which points use a stage).
    public func restricted(toLabels labels: Set<String>) -> Plan {
        var copy = self
        copy.points = points.filter { labels.contains($0.label) }
        copy.sweepEnsemble = nil
        let ids = Set(copy.points.map(\.id))
        let byID = Dictionary(stages.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var needed = Set<String>()
        var stack = copy.points.flatMap { [$0.modelStage, $0.reportStage] + $0.evaluateStages }
            + upstreamRuns.flatMap { [$0.point.reportStage] + $0.point.evaluateStages }
        while let id = stack.popLast() {
            if needed.insert(id).inserted { stack += byID[id]?.deps ?? [] }
        }
        copy.upstreamRuns = upstreamRuns.filter { needed.contains($0.point.modelStage) && needed.contains($0.point.reportStage) }
        copy.stages = stages.filter { needed.contains($0.id) }.map { s in
            var s = s
            s.points = s.points.filter { ids.contains($0) }
            return s
        }
        return copy
    }
}

extension Plan {
    /// The plan of one upstream experiment alone: its point and every stage it reads.
    public func plan(of upstream: UpstreamRun) -> Plan {
        var copy = Plan(experiment: upstream.experiment, file: upstream.file, sourceText: upstream.sourceText, overrides: [],
                        isSweep: false, seed: upstream.seed, reportTarget: "", stages: stages, points: [upstream.point],
                        sweptPaths: [], warnings: [])
        if case .report(let w)? = stage(upstream.point.reportStage)?.work { copy.reportTarget = w.target }
        copy = copy.restricted(toLabels: [upstream.point.label])
        copy.upstreamRuns = []
        return copy
    }
}
