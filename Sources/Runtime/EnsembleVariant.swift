// EnsembleVariant — a finished run's ensemble as a model, for `tlc export`. Unlike the
// other variants, an ensemble is not a file of the run directory: its members are
// stage-cache entries (each member's own train stage), so it is loaded from the cache
// through the run's plan.json, every file checked against its digest. Also: whether
// a run's inputs were pixels scaled to [0, 1] (the exported model takes 0–255).
import Engine
import Execution
import Foundation
import Jobs

extension Prediction {
    /// The run's plan.json (a sweep point's is its sweep folder's).
    static func plan(_ run: RunRecord) -> Plan? {
        let dir = run.points.first?.path ?? run.path
        let candidates = [(dir as NSString).appendingPathComponent("plan.json"),
                          ((dir as NSString).deletingLastPathComponent as NSString).appendingPathComponent("plan.json")]
        guard let data = candidates.lazy.compactMap({ FileManager.default.contents(atPath: $0) }).first else { return nil }
        return try? Plan.decode(data)
    }

    /// Whether the run's model read pixels scaled to [0, 1] (Fashion-MNIST's bytes ÷ 255,
    /// image folders) rather than csv or npy values as they are.
    public static func inputIsPixels(_ run: RunRecord) -> Bool {
        guard let plan = plan(run) else { return false }
        for stage in plan.stages {
            if case .dataLoad(let w) = stage.work {
                switch w.source {
                case .fashionMNIST, .images: return true
                case .csv, .npy: return false
                }
            }
        }
        return false
    }

    /// The run's ensemble variant: its members loaded from the stage cache under `outputRoot`.
    public static func ensemble(_ run: RunRecord, outputRoot: String) throws -> EnsembleModel {
        guard let plan = plan(run) else { throw PredictionError("\(run.id) has no plan.json; run the experiment again") }
        let label = run.points.first?.label ?? ""
        guard let point = plan.points.first(where: { $0.label == label }) ?? (plan.points.count == 1 ? plan.points.first : nil) else {
            throw PredictionError("\(run.id): its plan.json has no point '\(label)'")
        }
        let stages = Dictionary(plan.stages.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        guard let ensembleID = point.evaluateStages.compactMap({ stages[$0]?.deps.first }).first(where: { stages[$0]?.kind == .ensemble }) else {
            throw PredictionError("\(run.id) has no variant 'ensemble' (its spec has no ensemble section)")
        }
        let cache = StageCache(root: (outputRoot as NSString).appendingPathComponent(".cache"))
        let runner = StageRunner(plan: plan, policy: CachePolicy(cache: cache), log: { _ in })
        // Every stage with a complete entry is available; nothing is recomputed.
        for stage in plan.stages where cache.isComplete(stage.hash) { try runner.run(stage) }
        let missing = PredictionError("\(run.id): the ensemble's members are no longer in the stage cache (removed by `tlc gc`?); run the experiment again")
        guard cache.isComplete(stages[ensembleID]!.hash) else { throw missing }
        do {
            guard case .ensemble(let model)? = try runner.inferenceModel(ensembleID) else { throw missing }
            return model
        } catch is StageFailure { throw missing }
    }
}
