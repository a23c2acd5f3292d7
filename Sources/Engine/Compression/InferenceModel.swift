// InferenceModel — any model a stage produced (a float network, an int8 network,
// an ensemble of either) behind one interface for prediction, evaluation, size
// and saving.
import Foundation
import ModelZoo

/// A model some stage produced, whatever its form.
public enum InferenceModel {
    case float(Network)
    case int8(QuantizedNetwork)
    case ensemble(EnsembleModel)

    /// `[N, K]` class probabilities at `temperature`.
    public func probabilities(_ x: Tensor, temperature: Float = 1) throws -> Tensor {
        switch self {
        case .float(let n): return softmax(try n.forward(x, training: false), temperature: temperature)
        case .int8(let q): return softmax(try q.forward(x), temperature: temperature)
        case .ensemble(let e): return try e.probabilities(x, temperature: temperature)
        }
    }

    /// Scores whose softmax is the model's prediction (logits, or log-probabilities for ensembles).
    public func scores(_ x: Tensor) throws -> Tensor {
        switch self {
        case .float(let n): return try n.forward(x, training: false)
        case .int8(let q): return try q.forward(x)
        case .ensemble(let e): return EnsembleCombiner.logProbabilities(try e.probabilities(x))
        }
    }

    /// What one sample is (an ensemble's: its first member's).
    public var input: FeatureShape? {
        switch self {
        case .float(let n): n.architecture.input
        case .int8(let q): q.input
        case .ensemble(let e): e.members.first?.input
        }
    }

    public var outputs: Int {
        switch self {
        case .float(let n): n.outputFeatures
        case .int8(let q): q.outputs
        case .ensemble(let e): e.members.first?.outputs ?? 0
        }
    }

    public var parameterCount: Int {
        switch self {
        case .float(let n): n.parameterCount
        case .int8(let q): q.parameterCount
        case .ensemble(let e): e.members.reduce(0) { $0 + $1.parameterCount }
        }
    }

    /// Fraction of zero weights in the conv and dense layers.
    public var sparsity: Double {
        switch self {
        case .float(let n): PruningMasks.sparsity(n)
        case .int8(let q): q.sparsity
        case .ensemble: 0
        }
    }

    public func evaluate(_ data: Dataset) throws -> EvaluationResult {
        guard outputs == data.numClasses else {
            throw EngineError.shapeMismatch(layer: "evaluate", message: "the model has \(outputs) outputs but the data set has \(data.numClasses) classes")
        }
        return try evaluateClassifier(data, batchSize: 256, topK: min(5, data.numClasses)) { try self.scores($0) }
    }

    /// Writes the model's checkpoint(s); returns the total bytes written.
    public func save(to path: String, metadata: [String: String]) throws -> Int {
        func size(_ p: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0 }
        switch self {
        case .float(let n): try n.save(to: path, metadata: metadata); return size(path)
        case .int8(let q): try q.save(to: path, metadata: metadata); return size(path)
        case .ensemble(let e):
            var total = 0
            for (i, m) in e.members.enumerated() {
                let p = path.replacingOccurrences(of: ".safetensors", with: "") + ".member\(i + 1).safetensors"
                total += try m.save(to: p, metadata: metadata)
            }
            return total
        }
    }
}

/// Members and how their predictions combine.
public final class EnsembleModel {
    public let members: [InferenceModel]
    public let method: EnsembleMethod
    /// Per-member weights (`weighted` only; fit on the validation split).
    public let weights: [Double]?
    public init(members: [InferenceModel], method: EnsembleMethod, weights: [Double]?) {
        self.members = members; self.method = method; self.weights = weights
    }
    public func probabilities(_ x: Tensor, temperature: Float = 1) throws -> Tensor {
        try EnsembleCombiner.combine(try members.map { try $0.probabilities(x, temperature: temperature) }, method: method, weights: weights)
    }
}

