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

    /// Everything the optimizer carries between steps, by parameter name: its step
    /// count, each parameter's buffers (momentum, Adam's moments, RMSprop's average)
    /// and Adam's per-parameter step counts — so training can stop and resume exactly.
    public struct State: Sendable {
        public var stepCount: Int
        public var first: [String: [Float]]
        public var second: [String: [Float]]
        public var parameterSteps: [String: Int]
        public init(stepCount: Int, first: [String: [Float]], second: [String: [Float]], parameterSteps: [String: Int]) {
            self.stepCount = stepCount; self.first = first; self.second = second; self.parameterSteps = parameterSteps
        }
    }

    public var state: State {
        var first: [String: [Float]] = [:], second: [String: [Float]] = [:], steps: [String: Int] = [:]
        for g in groups {
            for p in g.parameters {
                let id = ObjectIdentifier(p)
                if let t = state1[id] { first[p.name] = t.values }
                if let t = state2[id] { second[p.name] = t.values }
                if let n = parameterSteps[id] { steps[p.name] = n }
            }
        }
        return State(stepCount: stepCount, first: first, second: second, parameterSteps: steps)
    }

    /// Takes up a state another optimizer of the same kind over the same parameters recorded.
    public func restore(_ saved: State) throws {
        var byName: [String: Parameter] = [:]
        for g in groups { for p in g.parameters { byName[p.name] = p } }
        for name in Set(saved.first.keys).union(saved.second.keys).union(saved.parameterSteps.keys) where byName[name] == nil {
            throw EngineError.invalidArgument("optimizer state names parameter '\(name)', which this optimizer does not update")
        }
        func tensor(_ values: [Float], for p: Parameter) throws -> Tensor {
            guard values.count == p.value.count else {
                throw EngineError.invalidArgument("optimizer state for '\(p.name)' has \(values.count) values, the parameter \(p.value.count)")
            }
            return try Tensor(shape: p.value.shape, values: values)
        }
        state1 = [:]; state2 = [:]; parameterSteps = [:]
        for (name, values) in saved.first { state1[ObjectIdentifier(byName[name]!)] = try tensor(values, for: byName[name]!) }
        for (name, values) in saved.second { state2[ObjectIdentifier(byName[name]!)] = try tensor(values, for: byName[name]!) }
        for (name, n) in saved.parameterSteps { parameterSteps[ObjectIdentifier(byName[name]!)] = n }
        stepCount = saved.stepCount
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
                    let rule = AdamRule(b1: b1, b2: b2, eps: eps, clipFactor: clipFactor, weightDecay: wd, decay: decoupled ? 1 - lr * wd : 1,
                                        decoupled: decoupled, stepSize: stepSize, invSqrtBc2: invSqrtBc2)
                    // Element-wise, so cutting the tensor into parts cannot change any result.
                    Parallel.forEachPart(n, parts: n >= 1 << 15 ? Parallel.parts : 1) { _, r in
                        rule.apply(w: w, m: m, v: v, g: gr, range: r)
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

/// One Adam / AdamW update of a range of elements, 8 lanes at a time; the same
/// operations in the same order as the scalar rule, so the results are bitwise equal.
struct AdamRule {
    var b1: Float, b2: Float, eps: Float, clipFactor: Float, weightDecay: Float, decay: Float
    var decoupled: Bool, stepSize: Float, invSqrtBc2: Float

    @inline(__always) func scalar(_ w: inout Float, _ m: inout Float, _ v: inout Float, _ g: Float) {
        var d = g * clipFactor
        if decoupled { w *= decay } else { d += weightDecay * w }
        m = b1 * m + (1 - b1) * d
        v = b2 * v + (1 - b2) * d * d
        w -= stepSize * m / (v.squareRoot() * invSqrtBc2 + eps)
    }

    func apply(w: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
               g: UnsafePointer<Float>, range: Range<Int>) {
        typealias V = SIMD8<Float>
        var i = range.lowerBound
        let vb1 = V(repeating: b1), vb2 = V(repeating: b2), c1 = V(repeating: 1 - b1), c2 = V(repeating: 1 - b2)
        let clip = V(repeating: clipFactor), wd = V(repeating: weightDecay), dec = V(repeating: decay)
        let step = V(repeating: stepSize), inv = V(repeating: invSqrtBc2), e = V(repeating: eps)
        while i + 8 <= range.upperBound {
            var wv = UnsafeRawPointer(w + i).loadUnaligned(as: V.self)
            var mv = UnsafeRawPointer(m + i).loadUnaligned(as: V.self)
            var vv = UnsafeRawPointer(v + i).loadUnaligned(as: V.self)
            var d = UnsafeRawPointer(g + i).loadUnaligned(as: V.self) * clip
            if decoupled { wv = wv * dec } else { d = d + wd * wv }
            mv = vb1 * mv + c1 * d
            vv = vb2 * vv + c2 * d * d
            wv = wv - step * mv / (vv.squareRoot() * inv + e)
            UnsafeMutableRawPointer(w + i).storeBytes(of: wv, as: V.self)
            UnsafeMutableRawPointer(m + i).storeBytes(of: mv, as: V.self)
            UnsafeMutableRawPointer(v + i).storeBytes(of: vv, as: V.self)
            i += 8
        }
        while i < range.upperBound { scalar(&w[i], &m[i], &v[i], g[i]); i += 1 }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
