// SearchSpec — the `search` section: how a sweep's configurations are searched
// instead of each trained to the full budget. Successive halving and Hyperband
// (Li et al. 2017) train every configuration of a rung for the rung's epochs, rank
// them by a validation metric, and promote the best 1/eta to the next rung, where
// they continue their training (the schedule spans `max_epochs`, see
// `training.budget`). ASHA (Li et al. 2020) promotes the same way but without
// waiting for a rung to end: a free worker promotes a configuration as soon as it is
// in the top 1/eta of those completed at its rung, else starts a new one (see
// AshaSearch). Regularized evolution (Real et al. 2019) and a REINFORCE
// controller (Zoph & Le 2016) search a grid sweep's space, training `models`
// configurations for `max_epochs` each. Parsing and the checks that need only this
// section live here; the checks against the sweep (enough configurations, a full
// grid) are the loader's.
import Foundation

public struct SearchSpec: Hashable, Sendable {
    public enum Method: String, CaseIterable, Hashable, Sendable {
        case successiveHalving = "successive_halving"
        case hyperband
        /// Asynchronous successive halving (Li et al. 2020).
        case asha
        case evolution
        case reinforce
        case darts
        /// Rung-based methods (else: one full training per model).
        public var usesRungs: Bool { self == .successiveHalving || self == .hyperband || self == .asha }
    }
    public var method: Method
    /// Each rung keeps the best 1/eta of its configurations.
    public var eta: Int = 3
    /// Epochs of the first rung (of the most aggressive bracket).
    public var minEpochs: Int = 1
    /// Epochs of the last rung: the budget every schedule spans.
    public var maxEpochs: Int
    /// The validation metric configurations are ranked by.
    public var metric: String = "val.accuracy"
    public var maximize: Bool { metric != "val.loss" }
    /// evolution and reinforce: configurations trained in all (each for max_epochs).
    public var models: Int = 0
    /// evolution: the population's size, and how many members a tournament samples.
    public var population: Int = 10
    public var sample: Int = 3
    /// reinforce: the controller's learning rate and the baseline's decay.
    public var learningRate: Double = 0.5
    public var baselineDecay: Double = 0.8
    /// Seeds the draws of evolution, the controller's samples and ASHA's order of new configurations.
    public var seed: Int = 0
    /// darts: the cell space and alpha's optimizer (DartsSearch.swift).
    public var darts: DartsSpace? = nil

    public static let metrics = ["val.accuracy", "val.loss"]

    public init(method: Method, eta: Int = 3, minEpochs: Int = 1, maxEpochs: Int, metric: String = "val.accuracy") {
        self.method = method; self.eta = eta; self.minEpochs = minEpochs; self.maxEpochs = maxEpochs; self.metric = metric
    }

    public var specValue: SpecValue {
        var entries: [(String, SpecValue)] = [("method", .string(method.rawValue)), ("max_epochs", .int(maxEpochs)), ("metric", .string(metric))]
        switch method {
        case .successiveHalving, .hyperband: entries += [("eta", .int(eta)), ("min_epochs", .int(minEpochs))]
        case .asha: entries += [("eta", .int(eta)), ("min_epochs", .int(minEpochs)), ("seed", .int(seed))]
        case .evolution: entries += [("models", .int(models)), ("population", .int(population)), ("sample", .int(sample)), ("seed", .int(seed))]
        case .reinforce: entries += [("models", .int(models)), ("learning_rate", .double(learningRate)), ("baseline_decay", .double(baselineDecay)), ("seed", .int(seed))]
        case .darts: entries += darts?.specEntries ?? []
        }
        return .object(entries)
    }

    /// Reads the section; nil (with errors emitted) when it is wrong.
    static func parse(_ node: YAMLNode, defaultSeed: Int, diagnostics: DiagnosticEngine) -> SearchSpec? {
        let r = NodeReader(diagnostics: diagnostics)
        let errorsBefore = diagnostics.diagnostics.count
        guard let m = r.mapping(node, "search", known: ["method", "eta", "min_epochs", "max_epochs", "metric", "models", "population", "sample",
                                                        "learning_rate", "baseline_decay", "seed"] + DartsSpace.keys) else { return nil }
        guard let methodNode = m["method"] else {
            r.error("search needs a method: \(Method.allCases.map(\.rawValue).joined(separator: " or "))", at: node)
            return nil
        }
        guard let method = r.enumeration(methodNode, "search.method", Method.self) else { return nil }
        guard let maxNode = m["max_epochs"] else {
            r.error("search needs max_epochs: the epochs the best configurations train for (the last rung)", at: node)
            return nil
        }
        let maxEpochs = r.int(maxNode, "search.max_epochs")
        var spec = SearchSpec(method: method, maxEpochs: maxEpochs ?? 1)
        if let n = m["eta"], let v = r.int(n, "search.eta") {
            spec.eta = v
            if v < 2 { r.error("search.eta must be at least 2 (each rung keeps 1/eta of the configurations); use 2 or 3", at: n) }
            else if v > 100 { r.error("search.eta must be at most 100", at: n) }
        }
        if let n = m["min_epochs"], let v = r.int(n, "search.min_epochs") {
            spec.minEpochs = v
            if v < 1 || v > 10_000 { r.error("search.min_epochs must be between 1 and 10000", at: n) }
        }
        if let v = maxEpochs, v < 1 || v > 10_000 { r.error("search.max_epochs must be between 1 and 10000", at: maxNode) }
        if let n = m["metric"], let v = r.string(n, "search.metric") {
            spec.metric = v
            if v.hasPrefix("test.") {
                r.error("search.metric \(v) would choose configurations on the test set", at: n,
                        notes: ["rank by val.accuracy or val.loss (the split `data.validation` holds out); the winner's test score is reported at the end"])
            } else if !metrics.contains(v) {
                r.error("search.metric '\(v)' is not a metric a training produces; use \(metrics.joined(separator: " or "))", at: n)
            }
        }
        spec.seed = defaultSeed
        if let n = m["seed"], let v = r.int(n, "search.seed") {
            spec.seed = v
            if v < 0 { r.error("search.seed must be at least 0", at: n) }
        }
        if method == .darts {
            for key in ["eta", "min_epochs", "models", "population", "sample", "learning_rate", "baseline_decay", "seed"] {
                if let n = m[key] { r.error("search.\(key) is not a setting of darts", at: n, notes: key == "learning_rate" ? ["alpha's learning rate is search.alpha_lr"] : []) }
            }
            spec.darts = DartsSpace.parse(m, r)
            return diagnostics.diagnostics.count == errorsBefore ? spec : nil
        }
        for key in DartsSpace.keys { if let n = m[key] { r.error("search.\(key) is a setting of darts, not of \(method.rawValue)", at: n) } }
        let rungKeys = ["eta", "min_epochs"], evolutionKeys = ["population", "sample"], controllerKeys = ["learning_rate", "baseline_decay"]
        let foreign = method.usesRungs ? ["models"] + evolutionKeys + controllerKeys
            : method == .evolution ? rungKeys + controllerKeys : rungKeys + evolutionKeys
        for key in foreign { if let n = m[key] { r.error("search.\(key) is not a setting of \(method.rawValue)", at: n) } }
        if !method.usesRungs {
            guard let n = m["models"] else {
                r.error("search.method \(method.rawValue) needs models: how many configurations it trains (each for max_epochs)", at: node)
                return nil
            }
            spec.models = r.int(n, "search.models") ?? 0
            if spec.models < 2 || spec.models > 100_000 { r.error("search.models must be between 2 and 100000", at: n) }
            if let n = m["population"], let v = r.int(n, "search.population") {
                spec.population = v
                if v < 2 { r.error("search.population must be at least 2", at: n) }
                else if v > spec.models {
                    r.error("search.population \(v) is larger than the budget of \(spec.models) models: the search would end before it evolves anything", at: n,
                            notes: ["raise search.models above the population, e.g. models: \(v * 5)"])
                }
            } else if method == .evolution && spec.population > spec.models {
                r.error("the default population of 10 is larger than the budget of \(spec.models) models", at: m["models"]!,
                        notes: ["raise search.models or set a smaller search.population"])
            }
            if let n = m["sample"], let v = r.int(n, "search.sample") {
                spec.sample = v
                if v < 1 || v > spec.population { r.error("search.sample must be between 1 and the population (\(spec.population))", at: n) }
            }
            if let n = m["learning_rate"], let v = r.double(n, "search.learning_rate") {
                spec.learningRate = v
                if !(v > 0 && v <= 10) { r.error("search.learning_rate must be in (0, 10]", at: n) }
            }
            if let n = m["baseline_decay"], let v = r.double(n, "search.baseline_decay") {
                spec.baselineDecay = v
                if !(v >= 0 && v < 1) { r.error("search.baseline_decay must be in [0, 1)", at: n) }
            }
            return diagnostics.diagnostics.count == errorsBefore ? spec : nil
        }
        guard diagnostics.diagnostics.count == errorsBefore else { return nil }
        if spec.minEpochs >= spec.maxEpochs || spec.minEpochs * spec.eta > spec.maxEpochs {
            r.error("search: min_epochs \(spec.minEpochs) and max_epochs \(spec.maxEpochs) give no rung to promote to with eta \(spec.eta)", at: maxNode,
                    notes: ["max_epochs must be at least min_epochs × eta, e.g. min_epochs: 1, max_epochs: \(spec.eta * spec.eta)"])
            return nil
        }
        return spec
    }
}

extension ExperimentPoint {
    /// This configuration trained for `epochs` of a schedule spanning `budget` epochs
    /// (a search rung): its spec with those settings and an id of its own.
    public func atEpochs(_ epochs: Int, budget: Int) -> ExperimentPoint {
        var p = self
        p.spec.training.epochs = epochs
        p.spec.training.budget = budget
        p.id = String(stableID(p.spec.specValue.canonicalJSON).prefix(12))
        p.label = (label.isEmpty ? "" : label + ",") + "epochs=\(epochs)"
        p.assignments.removeAll { $0.path == "training.epochs" }
        p.assignments.append(SweepAssignmentValue(path: "training.epochs", value: .int(epochs)))
        return p
    }
}
