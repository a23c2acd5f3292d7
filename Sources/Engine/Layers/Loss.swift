// Loss — softmax cross-entropy (mean over the batch) with optional label smoothing,
// numerically stable, returning the loss and the gradient with respect to the logits.

/// Softmax cross-entropy over `[N, K]` logits and integer labels in 0..<K.
public struct SoftmaxCrossEntropy: Sendable {
    /// Label smoothing ε: targets are (1-ε)·onehot + ε/K.
    public var labelSmoothing: Float
    public init(labelSmoothing: Float = 0) { self.labelSmoothing = labelSmoothing }

    /// The mean loss, the gradient (`[N, K]`, already divided by N) and the number of correct argmax predictions.
    public func callAsFunction(logits: Tensor, labels: [Int]) throws -> (loss: Float, grad: Tensor, correct: Int) {
        guard logits.shape.count == 2 else {
            throw EngineError.shapeMismatch(layer: "loss", message: "expected [N, K] logits, got \(logits.shape)")
        }
        let n = logits.shape[0], k = logits.shape[1]
        guard labels.count == n, n > 0 else {
            throw EngineError.shapeMismatch(layer: "loss", message: "\(labels.count) labels for \(n) logits rows")
        }
        let grad = Tensor(zeros: logits.shape)
        var total = 0.0
        var correct = 0
        let eps = labelSmoothing, off = eps / Float(k), on = 1 - eps + off
        let invN = 1 / Float(n)
        for i in 0..<n {
            let y = labels[i]
            guard y >= 0 && y < k else {
                throw EngineError.invalidArgument("loss: label \(y) out of range 0..<\(k) at row \(i)")
            }
            let row = logits.pointer + i * k, g = grad.pointer + i * k
            var mx = row[0], am = 0
            for j in 1..<max(k, 1) where row[j] > mx { mx = row[j]; am = j }
            if am == y { correct += 1 }
            var sum: Float = 0
            for j in 0..<k { let e = expf(row[j] - mx); g[j] = e; sum += e }
            let logSum = logf(sum)
            var l: Float = 0
            for j in 0..<k {
                let t = j == y ? on : off
                let logp = row[j] - mx - logSum
                if t != 0 { l -= t * logp }
                g[j] = (g[j] / sum - t) * invN
            }
            total += Double(l)
        }
        return (Float(total / Double(n)), grad, correct)
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Row-wise softmax of `[N, K]` logits.
public func softmax(_ logits: Tensor) -> Tensor {
    let y = Tensor(zeros: logits.shape)
    let k = logits.shape.last ?? 1, n = logits.count / max(k, 1)
    for i in 0..<n {
        let r = logits.pointer + i * k, o = y.pointer + i * k
        var mx = -Float.infinity
        for j in 0..<k { mx = max(mx, r[j]) }
        var s: Float = 0
        for j in 0..<k { o[j] = expf(r[j] - mx); s += o[j] }
        for j in 0..<k { o[j] /= s }
    }
    return y
}
