// SearchSchedule — the brackets and rungs a search runs, fixed before anything
// trains (`tlc plan` prints them): which configurations enter each bracket, and each
// rung's epochs and how many configurations it trains.
//
// Successive halving: one bracket of every configuration; rung i trains the best
// ⌊n / etaⁱ⌋ for min_epochs · etaⁱ epochs, the last rung for max_epochs.
// ASHA: successive halving's rungs, but a rung's count is what it reaches at least
// (promotions depend on the order trials finish; see AshaSearch).
// Hyperband (Li et al. 2017): s_max + 1 brackets, s_max = ⌊log_eta(max / min)⌋; bracket
// s starts ⌈(s_max + 1) / (s + 1) · etaˢ⌉ new configurations at max · eta⁻ˢ epochs and
// halves them the same way up to max_epochs. Brackets take the sweep's configurations
// in order, each its own.
import Foundation

public struct SearchSchedule: Hashable, Sendable {
    public struct Rung: Hashable, Sendable {
        /// Epochs every configuration of the rung has trained when the rung ends.
        public var epochs: Int
        /// Configurations the rung trains (the best of the previous rung).
        public var configurations: Int
    }
    public struct Bracket: Hashable, Sendable {
        /// Indices of the sweep's configurations this bracket starts with.
        public var configurations: [Int]
        public var rungs: [Rung]
    }
    public var brackets: [Bracket]

    /// Epochs trained if every rung runs as scheduled: promoted configurations
    /// continue, so a rung costs only the epochs beyond the previous one.
    public var scheduledEpochs: Int {
        brackets.reduce(0) { total, b in
            var previous = 0
            return total + b.rungs.reduce(0) { sum, r in defer { previous = r.epochs }; return sum + r.configurations * (r.epochs - previous) }
        }
    }
    /// Configurations the schedule needs from the sweep.
    public var configurationsNeeded: Int { brackets.reduce(0) { $0 + $1.configurations.count } }

    /// The largest s with min · etaˢ ≤ max.
    static func promotions(_ spec: SearchSpec) -> Int {
        var s = 0, e = spec.minEpochs
        while e * spec.eta <= spec.maxEpochs { e *= spec.eta; s += 1 }
        return s
    }

    static func power(_ base: Int, _ exponent: Int) -> Int { (0..<exponent).reduce(1) { acc, _ in acc * base } }

    /// Rungs from `epochs0` up to max_epochs, starting with `n` configurations, `s` promotions.
    static func rungs(_ spec: SearchSpec, n: Int, s: Int) -> [Rung] {
        (0...s).map { i in
            let epochs = i == s ? spec.maxEpochs
                : max(spec.minEpochs, Int((Double(spec.maxEpochs) / pow(Double(spec.eta), Double(s - i))).rounded()))
            return Rung(epochs: epochs, configurations: max(1, n / power(spec.eta, i)))
        }
    }

    /// The schedule for `count` configurations, or why there is none (the fix included).
    public static func make(_ spec: SearchSpec, configurations count: Int) -> Result<SearchSchedule, SearchScheduleError> {
        let sMax = promotions(spec)
        switch spec.method {
        case .successiveHalving, .asha:
            let needed = power(spec.eta, sMax)
            guard count >= needed else {
                return .failure(SearchScheduleError(message: "\(spec.method == .asha ? "asha" : "successive halving") with eta \(spec.eta) over \(sMax + 1) rungs needs at least \(needed) configurations (each rung keeps 1/\(spec.eta)); the sweep has \(count)",
                                                    fix: "sweep more configurations, or raise min_epochs or lower eta so there are fewer rungs"))
            }
            // The first rung at min_epochs, each next one eta times longer, the last at max_epochs.
            var rungs = (0...sMax).map { i in Rung(epochs: spec.minEpochs * power(spec.eta, i), configurations: count / power(spec.eta, i)) }
            rungs[sMax].epochs = spec.maxEpochs
            return .success(SearchSchedule(brackets: [Bracket(configurations: Array(0..<count), rungs: rungs)]))
        case .hyperband:
            var brackets: [Bracket] = []
            var next = 0
            for s in stride(from: sMax, through: 0, by: -1) {
                let n = Int((Double(sMax + 1) / Double(s + 1) * Double(power(spec.eta, s))).rounded(.up))
                brackets.append(Bracket(configurations: Array(next..<(next + n)), rungs: rungs(spec, n: n, s: s)))
                next += n
            }
            guard count >= next else {
                return .failure(SearchScheduleError(message: "hyperband with eta \(spec.eta) from \(spec.minEpochs) to \(spec.maxEpochs) epochs runs \(brackets.count) brackets of \(brackets.map { String($0.configurations.count) }.joined(separator: ", ")) new configurations (\(next) in all); the sweep has \(count)",
                                                    fix: "sweep at least \(next) configurations (e.g. sweep.random.trials: \(next)), or raise min_epochs or eta"))
            }
            return .success(SearchSchedule(brackets: brackets))
        case .evolution, .reinforce, .darts:
            // One full training per model (darts: one network): no brackets.
            return .success(SearchSchedule(brackets: []))
        }
    }

    /// `tlc plan`'s lines: every bracket's rungs.
    public func describe(_ spec: SearchSpec, labels: [String]) -> [String] {
        switch spec.method {
        case .evolution:
            return ["search: regularized evolution over \(labels.count) configurations: a population of \(spec.population) drawn at random, then tournaments of \(spec.sample) pick a parent whose child changes one swept value and replaces the oldest member; \(spec.models) models of \(spec.maxEpochs) epochs (seed \(spec.seed)), ranked by \(spec.metric)",
                    "  at most \(spec.models * spec.maxEpochs) epochs of training (every configuration: \(labels.count * spec.maxEpochs))"]
        case .reinforce:
            return ["search: a REINFORCE controller (one softmax per swept field, learning rate \(spec.learningRate), baseline decay \(spec.baselineDecay)) samples \(spec.models) of \(labels.count) configurations, each trained \(spec.maxEpochs) epochs (seed \(spec.seed)), rewarded by \(spec.metric)",
                    "  at most \(spec.models * spec.maxEpochs) epochs of training (every configuration: \(labels.count * spec.maxEpochs))"]
        case .asha:
            guard let rungs = brackets.first?.rungs else { return [] }
            var lines = ["search: asha (asynchronous successive halving), eta \(spec.eta), \(spec.minEpochs)–\(spec.maxEpochs) epochs, ranked by \(spec.metric) (\(spec.maximize ? "higher" : "lower") is better)",
                         "  a free worker promotes a configuration from rung k as soon as it is in the best 1/\(spec.eta) of those completed at rung k, else starts the next of \(labels.count) configurations (in an order drawn with seed \(spec.seed)); it stops when every configuration has started and nothing can be promoted"]
            for (i, r) in rungs.enumerated() {
                lines.append("    rung \(i + 1): \(r.epochs) epoch\(r.epochs == 1 ? "" : "s"), at least \(r.configurations) configuration\(r.configurations == 1 ? "" : "s")" + (i == 0 ? " (all of them)" : ""))
            }
            lines.append("  about \(scheduledEpochs) epochs of training, more when an early promotion is overtaken (every configuration at \(spec.maxEpochs): \(configurationsNeeded * spec.maxEpochs))")
            return lines
        case .darts:
            let d = spec.darts ?? DartsSpace()
            return ["search: darts (first order) over cells of \(d.nodes) nodes, every edge mixing \(d.operations.joined(separator: ", ")); \(d.cells) cells of \(d.channels) channels, pooling after \(d.reductions)",
                    "  one training of \(spec.maxEpochs) epochs: weights on training batches, alpha (Adam, lr \(d.alphaLearningRate), weight decay \(d.alphaWeightDecay)) on validation batches; then the strongest operation per edge (top 2 edges per node) is written as derived.yaml"]
        case .successiveHalving, .hyperband: break
        }
        var lines = ["search: \(spec.method.rawValue), eta \(spec.eta), \(spec.minEpochs)–\(spec.maxEpochs) epochs, ranked by \(spec.metric) (\(spec.maximize ? "higher" : "lower") is better)"]
        for (b, bracket) in brackets.enumerated() {
            let first = bracket.configurations.first.map { labels.indices.contains($0) ? labels[$0] : "" } ?? ""
            lines.append("  bracket \(b + 1): \(bracket.configurations.count) configurations (from '\(first)')")
            for (i, r) in bracket.rungs.enumerated() {
                lines.append("    rung \(i + 1): \(r.configurations) × \(r.epochs) epochs" + (i + 1 < bracket.rungs.count ? ", best \(bracket.rungs[i + 1].configurations) promoted" : ", the bracket's best"))
            }
        }
        lines.append("  at most \(scheduledEpochs) epochs of training (every configuration at \(spec.maxEpochs): \(configurationsNeeded * spec.maxEpochs))")
        return lines
    }
}

public struct SearchScheduleError: Error, Hashable, Sendable {
    public var message: String
    public var fix: String
}
