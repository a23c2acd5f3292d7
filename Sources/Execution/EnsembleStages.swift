// Ensemble stage: combine member models' predictions (mean of probabilities,
// majority vote, or weights fit on the validation split). Members are their own
// stages' outputs and are never retrained here; `{top: K}` ranks candidates by
// their baseline evaluations.
import Engine
import Foundation
import Jobs

/// What an ensemble stage stores (its members are its dependencies' outputs).
public struct EnsembleInfo: Codable, Sendable {
    public var method: String
    public var weights: [Double]?
    /// Dependency positions of the members, in the order used.
    public var members: [Int]
    /// Their names (experiment, or sweep point label).
    public var memberNames: [String]
    /// Each member's test accuracy (for the report's comparison).
    public var memberTestAccuracy: [Double]
}

enum EnsembleStages {
    static func ensemble(_ w: EnsembleWork, inputs: StageInputs, context: StageContext) throws -> StageOutput {
        let data = try CompressionStages.splits(inputs, inputs.count - 1, context: context)
        let method = method(w.method)
        let chosen = try members(w, inputs: inputs, context: context)
        var members: [InferenceModel] = []
        for i in chosen {
            guard let m = try CompressionStages.inferenceModel(try inputs(i)) else { throw context.failure("member \(name(w, i)) holds no model") }
            guard m.outputs == data.test.numClasses else {
                throw context.failure("member \(name(w, i)) has \(m.outputs) outputs but the data has \(data.test.numClasses) classes")
            }
            members.append(m)
        }
        var weights: [Double]? = nil
        if method == .weighted {
            guard !data.validation.isEmpty else {
                throw context.failure("a weighted ensemble fits its weights on the validation split; set data.validation > 0")
            }
            let probs = try members.map { try allProbabilities($0, data.validation) }
            weights = try EnsembleCombiner.fitWeights(probs, labels: data.validation.labels)
            context.log("  weights fit on \(data.validation.count) validation images: " + weights!.map { fmt($0, 3) }.joined(separator: ", "))
        }
        let accuracies = try members.map { try $0.evaluate(data.test).accuracy }
        context.log("  members' test accuracy: " + accuracies.map(pct).joined(separator: ", "))
        let info = EnsembleInfo(method: method.rawValue, weights: weights, members: chosen, memberNames: chosen.map { name(w, $0) },
                                memberTestAccuracy: accuracies)
        return .ensemble(EnsembleModel(members: members, method: method, weights: weights), info)
    }

    static func method(_ m: EnsembleWork.Method) -> EnsembleMethod {
        switch m {
        case .meanProbs: .meanProbs
        case .vote: .vote
        case .weighted: .weighted
        }
    }

    private static func name(_ w: EnsembleWork, _ i: Int) -> String { i < w.memberNames.count ? w.memberNames[i] : "#\(i + 1)" }

    /// Dependency positions of the members, in order (for `top`, ranked by the metric).
    static func members(_ w: EnsembleWork, inputs: StageInputs, context: StageContext) throws -> [Int] {
        let models = inputs.count - 1
        guard case .top(let k, let metric) = w.members else { return Array(0..<models) }
        // {top: K}: the first half are the candidates' models, the second half what ranks
        // them (test evaluations, or their training's validation scores).
        let half = models / 2
        var ranked: [(value: Double, index: Int)] = []
        for i in 0..<half {
            let v: Double
            switch try inputs(half + i) {
            case .evaluation(_, let r):
                v = switch metric {
                case "test.loss": -r.loss
                case "test.top5": r.topKAccuracy
                case "test.macro_f1": r.macroF1
                default: r.accuracy
                }
            case .trained(_, let history, _, _, _):
                // The last epoch's validation score (what the leaderboard ranks by).
                guard let last = history.last, let score = metric == "val.loss" ? last.validationLoss.map({ -$0 }) : last.validationAccuracy else {
                    throw context.failure("candidate \(name(w, i)) has no \(metric) (is data.validation 0?)")
                }
                v = score
            default:
                throw context.wrongInput()
            }
            ranked.append((v, i))
        }
        ranked.sort { ($0.value, -$0.index) > ($1.value, -$1.index) }
        return ranked.prefix(k).map(\.index)
    }

    private static func allProbabilities(_ model: InferenceModel, _ data: Dataset) throws -> Tensor {
        let k = data.numClasses
        let out = Tensor(zeros: [data.count, k])
        var s = 0
        while s < data.count {
            let e = min(s + 256, data.count)
            let (x, _) = data.batch(Array(s..<e)[...])
            let p = try model.probabilities(x)
            (out.pointer + s * k).update(from: p.pointer, count: (e - s) * k)
            s = e
        }
        return out
    }
}
