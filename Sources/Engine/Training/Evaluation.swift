// Evaluation — loss, accuracy, top-k accuracy, confusion matrix, per-class
// precision/recall/F1 and inference latency of a network on a data set.

import Foundation

/// Metrics of a network on a labelled data set.
public struct EvaluationResult: Hashable, Sendable, Codable {
    public var count: Int
    public var loss: Double
    public var accuracy: Double
    /// Fraction of samples whose label is among the `topK` highest logits.
    public var topKAccuracy: Double
    public var topK: Int
    /// `confusion[true][predicted]`.
    public var confusion: [[Int]]
    public var precision: [Double]
    public var recall: [Double]
    public var f1: [Double]
    public var macroF1: Double
    /// Wall-clock seconds for the whole pass (inference mode).
    public var seconds: Double
    /// Seconds per image and per batch.
    public var secondsPerImage: Double
    public var secondsPerBatch: Double
}

extension Network {
    /// Evaluates in inference mode over batches of `batchSize`.
    public func evaluate(_ data: Dataset, batchSize: Int = 256, topK: Int = 5) throws -> EvaluationResult {
        guard outputFeatures == data.numClasses else {
            throw EngineError.shapeMismatch(layer: architecture.name, message: "network has \(outputFeatures) outputs but the data set has \(data.numClasses) classes")
        }
        return try evaluateClassifier(data, batchSize: batchSize, topK: topK) { try self.forward($0, training: false) }
    }

    /// Class probabilities for a batch (inference mode).
    public func predictProbabilities(_ x: Tensor) throws -> Tensor { softmax(try forward(x, training: false)) }
}

/// Evaluates any classifier given as a function from a batch to `[N, K]` logits
/// (or log-probabilities): the loss is softmax cross-entropy of those scores.
/// The time of `logits` (and of batching) is the latency.
public func evaluateClassifier(_ data: Dataset, batchSize: Int = 256, topK: Int = 5,
                               logits forward: (Tensor) throws -> Tensor) throws -> EvaluationResult {
        guard !data.isEmpty else { throw EngineError.invalidArgument("cannot evaluate on an empty data set") }
        guard batchSize > 0 else { throw EngineError.invalidArgument("batch size must be positive") }
        let k = data.numClasses
        let lossFn = SoftmaxCrossEntropy()
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        var totalLoss = 0.0, topHits = 0, batches = 0
        let kk = min(max(topK, 1), k)
        let start = Date()
        let idx = Array(0..<data.count)
        var s = 0
        while s < data.count {
            let e = min(s + batchSize, data.count)
            let (x, y) = data.batch(idx[s..<e])
            let logits = try forward(x)
            guard logits.shape == [y.count, k] else {
                throw EngineError.shapeMismatch(layer: "evaluate", message: "scores of shape \(logits.shape) for \(y.count) samples of \(k) classes")
            }
            let (l, _, _) = try lossFn(logits: logits, labels: y)
            totalLoss += Double(l) * Double(y.count)
            for i in 0..<y.count {
                let row = logits.pointer + i * k
                var best = 0
                var above = 0
                let target = row[y[i]]
                for j in 0..<k {
                    if row[j] > row[best] { best = j }
                    if row[j] > target || (row[j] == target && j < y[i]) { above += 1 }
                }
                confusion[y[i]][best] += 1
                if above < kk { topHits += 1 }
            }
            batches += 1
            s = e
        }
        let secs = Date().timeIntervalSince(start)
        var precision = [Double](), recall = [Double](), f1 = [Double]()
        var correct = 0
        for c in 0..<k {
            let tp = confusion[c][c]
            correct += tp
            let predicted = (0..<k).reduce(0) { $0 + confusion[$1][c] }
            let actual = confusion[c].reduce(0, +)
            let p = predicted > 0 ? Double(tp) / Double(predicted) : 0
            let r = actual > 0 ? Double(tp) / Double(actual) : 0
            precision.append(p); recall.append(r); f1.append(p + r > 0 ? 2 * p * r / (p + r) : 0)
        }
        let n = Double(data.count)
        return EvaluationResult(count: data.count, loss: totalLoss / n, accuracy: Double(correct) / n,
                                topKAccuracy: Double(topHits) / n, topK: kk, confusion: confusion,
                                precision: precision, recall: recall, f1: f1,
                                macroF1: f1.reduce(0, +) / Double(k), seconds: secs,
                                secondsPerImage: secs / n, secondsPerBatch: secs / Double(batches))
}
