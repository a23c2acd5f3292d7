// Learning-rate schedules — a factor applied to every group's base learning rate,
// as a pure function of the step number (0-based).

/// A learning-rate schedule; `factor(step:)` multiplies each group's base rate.
public enum LRSchedule: Hashable, Sendable {
    case constant
    /// Multiply by `gamma` every `stepSize` steps.
    case step(stepSize: Int, gamma: Float)
    /// Linear warm-up from 0 over `warmupSteps`, then cosine decay to `minFactor` at `totalSteps`.
    case cosine(warmupSteps: Int, totalSteps: Int, minFactor: Float = 0)
    /// One-cycle (PyTorch `OneCycleLR`, cosine annealing): from 1/`divFactor` up to 1 over
    /// `pctStart` of the steps, then down to 1/(`divFactor`·`finalDivFactor`).
    case oneCycle(totalSteps: Int, pctStart: Float = 0.3, divFactor: Float = 25, finalDivFactor: Float = 1e4)

    /// The factor at 0-based step `step`.
    public func factor(step: Int) -> Float {
        switch self {
        case .constant: return 1
        case let .step(size, gamma): return powf(gamma, Float(step / max(size, 1)))
        case let .cosine(warm, total, minF):
            if step < warm { return Float(step + 1) / Float(warm) }
            let span = max(total - warm, 1)
            let p = min(Float(step - warm) / Float(span), 1)
            return minF + (1 - minF) * 0.5 * (1 + cosf(Float.pi * p))
        case let .oneCycle(total, pct, div, finalDiv):
            let initial = 1 / div, final = initial / finalDiv
            let up = max(Float(pct * Float(total)) - 1, 1)
            let down = max(Float(total) - 1 - up, 1)
            func anneal(_ a: Float, _ b: Float, _ p: Float) -> Float { b + (a - b) / 2 * (1 + cosf(Float.pi * min(max(p, 0), 1))) }
            let s = Float(step)
            return s <= up ? anneal(initial, 1, s / up) : anneal(1, final, (s - up) / down)
        }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
