// Planner — lowers resolved specs to a plan: a DAG of pure stages, each with a
// content hash over canonical bytes. Plans print as text, JSON and Graphviz dot.
// It never runs anything and knows nothing about tensors.
import FrontEnd

/// One unit of work: a pure function of its inputs and its dependencies' outputs.
/// Same hash, same result — that is what caching and sharing rest on.
public struct Stage: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        case dataLoad = "data.load"
        case dataNormalize = "data.normalize"
        case modelInit = "model.init"
        case features
        /// The diagonal Fisher information of a source model on its own data (EWC).
        case fisher
        case train
        case prune
        case quantize
        case distill
        case ensemble
        case evaluate
        case report
    }

    /// Unique within a plan: `kind:hash-prefix`.
    public var id: String
    /// What the stage does.
    public var kind: Kind
    /// Experiment whose spec this stage comes from (differs for `run:` dependencies).
    public var experiment: String
    /// SHA-256 (hex) of the format version, the kind, the canonical inputs and the
    /// dependencies' hashes.
    public var hash: String
    /// Ids of the stages whose outputs this one reads, in a fixed order.
    public var deps: [String]
    /// The slice of the resolved spec this stage reads (canonicalised for hashing).
    public var inputs: SpecValue
    /// Ids of the experiment's points that use this stage.
    public var points: [String]
    /// Estimated floating-point operations.
    public var flops: Double
    /// A short phrase for people ("train mlp, 5 epochs, adam lr=1e-3").
    public var summary: String
    /// Key into `Plan.specs` of a resolved spec this stage was lowered from (any of
    /// the points sharing it: equal hashes mean equal inputs).
    public var source: String

    public var description: String { "\(kind.rawValue) \(hash.prefix(10)) — \(summary)" }
}

/// One sweep point (or the single point of an experiment without a sweep).
public struct PlanPoint: Hashable, Sendable {
    public var id: String
    public var label: String
    public var assignments: [SweepAssignmentValue]
    /// The stage that produces this point's final model (before ensembles).
    public var modelStage: String
    /// This point's evaluation stages, in variant order (baseline, compression steps, ensemble).
    public var evaluateStages: [String]
    /// This point's report stage.
    public var reportStage: String
}

public struct Plan: Sendable {
    public var experiment: String
    public var file: String
    /// Stages in dependency order (every stage after its dependencies).
    public var stages: [Stage]
    public var points: [PlanPoint]
    public var sweptPaths: [String]
    public var warnings: [String]
    /// Resolved specs stages were lowered from: point ids, and upstream experiment names.
    public var specs: [String: Spec]
    /// The file each experiment of the plan was read from (relative data paths resolve against it).
    public var experimentFiles: [String: String] = [:]

    public func stage(_ id: String) -> Stage? { stages.first { $0.id == id } }
    /// Stages used by more than one point.
    public var sharedStages: [Stage] { stages.filter { $0.points.count > 1 } }
    public var totalFLOPs: Double { stages.reduce(0) { $0 + $1.flops } }
}
