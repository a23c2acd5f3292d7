// Optimizers — SGD (momentum, Nesterov), Adam, AdamW and RMSprop with PyTorch's update
// rules, weight decay, gradient clipping by global norm and parameter groups with their
// own learning rate and weight decay. Frozen parameters are skipped; as in PyTorch,
// Adam counts steps per parameter, so a parameter unfrozen late starts its bias
// correction afresh.

/// Which update rule to use, with its hyper-parameters.
public enum OptimizerKind: Hashable, Sendable {
    case sgd(momentum: Float = 0, nesterov: Bool = false)
    case adam(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8)
    /// Adam with decoupled weight decay (Loshchilov & Hutter), as `torch.optim.AdamW`.
    case adamW(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8)
    case rmsprop(alpha: Float = 0.99, epsilon: Float = 1e-8, momentum: Float = 0)
}

/// Parameters that share a learning rate and weight decay.
public struct ParameterGroup {
    public var parameters: [Parameter]
    /// Base learning rate (multiplied by the schedule's factor each step).
    public var learningRate: Float
    public var weightDecay: Float
    public init(parameters: [Parameter], learningRate: Float, weightDecay: Float = 0) {
        self.parameters = parameters; self.learningRate = learningRate; self.weightDecay = weightDecay
    }
}

/// A stateful optimizer over parameter groups.
public final class Optimizer {
    public let kind: OptimizerKind
    public private(set) var groups: [ParameterGroup]
    /// Clip gradients so that their global L2 norm is at most this (nil: no clipping).
    public var clipNorm: Float?
    /// Number of steps taken.
    public private(set) var stepCount = 0
    private var state1: [ObjectIdentifier: Tensor] = [:]
    private var state2: [ObjectIdentifier: Tensor] = [:]
    private var parameterSteps: [ObjectIdentifier: Int] = [:]

    public init(kind: OptimizerKind, groups: [ParameterGroup], clipNorm: Float? = nil) throws {
        for g in groups {
            guard g.learningRate >= 0, g.weightDecay >= 0 else {
                throw EngineError.invalidArgument("optimizer: learning rate and weight decay must be ≥ 0")
            }
        }
        var seen = Set<ObjectIdentifier>()
        for g in groups { for p in g.parameters where !seen.insert(ObjectIdentifier(p)).inserted {
            throw EngineError.invalidArgument("optimizer: parameter '\(p.name)' is in two groups")
        } }
        self.kind = kind; self.groups = groups; self.clipNorm = clipNorm
    }

    /// One group with every parameter.
    public convenience init(kind: OptimizerKind, parameters: [Parameter], learningRate: Float,
                            weightDecay: Float = 0, clipNorm: Float? = nil) throws {
        try self.init(kind: kind, groups: [ParameterGroup(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)],
                      clipNorm: clipNorm)
    }

    /// Global L2 norm of the trainable gradients.
    public func gradientNorm() -> Float {
        var s = 0.0
        for g in groups { for p in g.parameters where !p.frozen { s += p.grad.sumOfSquares() } }
        return Float(s.squareRoot())
    }

    /// Applies one update with every group's learning rate multiplied by `lrScale`.
    /// Returns the gradient norm before clipping when clipping is on, else nil.
    @discardableResult
    public func step(lrScale: Float = 1) -> Float? {
        stepCount += 1
        var clipFactor: Float = 1
        var norm: Float? = nil
        if let maxNorm = clipNorm {
            let n = gradientNorm()
            norm = n
            if n > maxNorm { clipFactor = maxNorm / (n + 1e-6) }
        }
        for g in groups {
            let lr = g.learningRate * lrScale, wd = g.weightDecay
            for p in g.parameters where !p.frozen {
                let id = ObjectIdentifier(p)
                let w = p.value.pointer, gr = p.grad.pointer, n = p.value.count
                switch kind {
                case let .sgd(momentum, nesterov):
                    if momentum == 0 {
                        for i in 0..<n { w[i] -= lr * (gr[i] * clipFactor + wd * w[i]) }
                    } else {
                        let fresh = state1[id] == nil
                        let buf = state1[id] ?? { let b = Tensor(zeros: p.value.shape); state1[id] = b; return b }()
                        let b = buf.pointer
                        for i in 0..<n {
                            let d = gr[i] * clipFactor + wd * w[i]
                            b[i] = fresh ? d : momentum * b[i] + d
                            w[i] -= lr * (nesterov ? d + momentum * b[i] : b[i])
                        }
                    }
                case let .adam(b1, b2, eps), let .adamW(b1, b2, eps):
                    let decoupled: Bool = { if case .adamW = kind { return true } else { return false } }()
                    let m = (state1[id] ?? { let b = Tensor(zeros: p.value.shape); state1[id] = b; return b }()).pointer
                    let v = (state2[id] ?? { let b = Tensor(zeros: p.value.shape); state2[id] = b; return b }()).pointer
                    let steps = (parameterSteps[id] ?? 0) + 1
                    parameterSteps[id] = steps
                    let t = Float(steps)
                    let bc1 = 1 - powf(b1, t), bc2 = 1 - powf(b2, t)
                    let stepSize = lr / bc1, invSqrtBc2 = 1 / bc2.squareRoot()
                    for i in 0..<n {
                        var d = gr[i] * clipFactor
                        if decoupled { w[i] *= 1 - lr * wd } else { d += wd * w[i] }
                        m[i] = b1 * m[i] + (1 - b1) * d
                        v[i] = b2 * v[i] + (1 - b2) * d * d
                        w[i] -= stepSize * m[i] / (v[i].squareRoot() * invSqrtBc2 + eps)
                    }
                case let .rmsprop(alpha, eps, momentum):
                    let sq = (state1[id] ?? { let b = Tensor(zeros: p.value.shape); state1[id] = b; return b }()).pointer
                    let buf: UnsafeMutablePointer<Float>? = momentum > 0
                        ? (state2[id] ?? { let b = Tensor(zeros: p.value.shape); state2[id] = b; return b }()).pointer : nil
                    for i in 0..<n {
                        let d = gr[i] * clipFactor + wd * w[i]
                        sq[i] = alpha * sq[i] + (1 - alpha) * d * d
                        let avg = sq[i].squareRoot() + eps
                        if let buf { buf[i] = momentum * buf[i] + d / avg; w[i] -= lr * buf[i] }
                        else { w[i] -= lr * d / avg }
                    }
                }
            }
        }
        return norm
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
