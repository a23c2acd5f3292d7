// Distillation and ensembles — the knowledge-distillation loss (Hinton et al.,
// 2015: soft targets at a temperature mixed with the hard labels) and the ways an
// ensemble combines its members' class probabilities (mean, majority vote, and a
// weighted mean whose weights are fit on a validation split).
//
// Owns: DistillationLoss, EnsembleMethod, EnsembleCombiner. Knows nothing about
// stages; members are given as probability tables.

import Foundation

/// `alpha · T² · KL(p_teacher(T) ‖ softmax(z/T)) + (1 − alpha) · CE(softmax(z), y)`, mean over the batch.
public struct DistillationLoss: Sendable {
    public var temperature: Float
    public var alpha: Float
    public init(temperature: Float, alpha: Float) { self.temperature = temperature; self.alpha = alpha }

    /// Loss, gradient with respect to the student's logits (already divided by N), and correct predictions.
    /// `teacher` holds the teacher's soft targets (probabilities at temperature T), `[N, K]`.
    public func callAsFunction(logits: Tensor, teacher: Tensor, labels: [Int]) throws -> (loss: Float, grad: Tensor, correct: Int) {
        guard logits.shape.count == 2, teacher.shape == logits.shape else {
            throw EngineError.shapeMismatch(layer: "distillation loss", message: "logits \(logits.shape) and teacher targets \(teacher.shape) differ")
        }
        let (hard, hardGrad, correct) = try SoftmaxCrossEntropy()(logits: logits, labels: labels)
        let n = logits.shape[0], k = logits.shape[1], t = temperature
        let grad = Tensor(zeros: logits.shape)
        var kl = 0.0
        let softWeight = alpha * t  // d/dz of T²·KL(p‖softmax(z/T)) = T·(q − p)
        for i in 0..<n {
            let z = logits.pointer + i * k, p = teacher.pointer + i * k, g = grad.pointer + i * k, hg = hardGrad.pointer + i * k
            var mx = -Float.infinity
            for j in 0..<k { mx = max(mx, z[j] / t) }
            var sum: Float = 0
            for j in 0..<k { sum += expf(z[j] / t - mx) }
            let logSum = logf(sum)
            for j in 0..<k {
                let logq = z[j] / t - mx - logSum
                if p[j] > 0 { kl += Double(p[j]) * (Double(logf(p[j])) - Double(logq)) }
                g[j] = softWeight * (expf(logq) - p[j]) / Float(n) + (1 - alpha) * hg[j]
            }
        }
        let loss = alpha * t * t * Float(kl / Double(n)) + (1 - alpha) * hard
        return (loss, grad, correct)
    }
}

/// Row-wise softmax of `logits / temperature`.
public func softmax(_ logits: Tensor, temperature: Float) -> Tensor {
    guard temperature != 1 else { return softmax(logits) }
    let scaled = logits.copy()
    for i in 0..<scaled.count { scaled[i] /= temperature }
    return softmax(scaled)
}

/// How an ensemble combines its members.
public enum EnsembleMethod: String, Sendable, Codable {
    case meanProbs = "mean_probs", vote, weighted
}

/// Combines members' class probabilities (`[N, K]` each, same samples).
public enum EnsembleCombiner {
    /// Combined class probabilities. `mean_probs` and `weighted`: the (weighted) mean.
    /// `vote`: each member votes for its argmax; the result is 0.99 · vote share +
    /// 0.01 · mean probability, so the majority wins and ties go to the class the
    /// members are most confident in (the loss is taken on this distribution).
    public static func combine(_ members: [Tensor], method: EnsembleMethod, weights: [Double]? = nil) throws -> Tensor {
        guard let first = members.first else { throw EngineError.invalidArgument("an ensemble needs members") }
        guard members.allSatisfy({ $0.shape == first.shape }), first.shape.count == 2 else {
            throw EngineError.shapeMismatch(layer: "ensemble", message: "members' predictions have different shapes: \(members.map(\.shape))")
        }
        let n = first.shape[0], k = first.shape[1], m = members.count
        let w: [Double] = method == .weighted ? (weights ?? []) : [Double](repeating: 1 / Double(m), count: m)
        guard w.count == m else { throw EngineError.invalidArgument("weighted ensemble: \(w.count) weights for \(m) members") }
        let out = Tensor(zeros: first.shape)
        let o = out.pointer
        for (j, t) in members.enumerated() {
            let p = t.pointer, wj = Float(w[j])
            for i in 0..<(n * k) { o[i] += wj * p[i] }
        }
        if method == .vote {
            let votes = [Float](repeating: 0, count: n * k)
            var v = votes
            for t in members {
                for i in 0..<n {
                    let row = t.pointer + i * k
                    var best = 0
                    for c in 1..<k where row[c] > row[best] { best = c }
                    v[i * k + best] += 1
                }
            }
            for i in 0..<(n * k) { o[i] = 0.99 * v[i] / Float(m) + 0.01 * o[i] }
        }
        return out
    }

    /// Weights on the simplex that minimise the negative log-likelihood of the
    /// weighted mean on a validation split (exponentiated gradient, fixed steps from
    /// uniform weights: deterministic).
    public static func fitWeights(_ members: [Tensor], labels: [Int], iterations: Int = 300, rate: Double = 0.5) throws -> [Double] {
        let m = members.count
        guard m > 0, let n = members.first?.shape.first, n == labels.count, n > 0 else {
            throw EngineError.invalidArgument("fitting ensemble weights needs members and a non-empty validation split")
        }
        let k = members[0].shape[1]
        // p[j][i]: member j's probability of sample i's true class.
        let p = members.map { t in (0..<n).map { Double(t[$0 * k + labels[$0]]) } }
        var w = [Double](repeating: 1 / Double(m), count: m)
        for _ in 0..<iterations {
            var g = [Double](repeating: 0, count: m)
            for i in 0..<n {
                var mix = 0.0
                for j in 0..<m { mix += w[j] * p[j][i] }
                mix = max(mix, 1e-12)
                for j in 0..<m { g[j] -= p[j][i] / mix / Double(n) }
            }
            for j in 0..<m { w[j] *= exp(-rate * g[j]) }
            let s = w.reduce(0, +)
            for j in 0..<m { w[j] /= s }
        }
        return w
    }

    /// Log of combined probabilities (scores whose softmax is the distribution itself).
    public static func logProbabilities(_ p: Tensor) -> Tensor {
        let out = Tensor(zeros: p.shape)
        for i in 0..<p.count { out[i] = logf(max(p[i], 1e-30)) }
        return out
    }
}
