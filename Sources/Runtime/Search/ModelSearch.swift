// ModelSearch — the searches that train whole models one after another over a
// sweep's space (SearchSpace: a grid, or the configurations of a random, zip or cases
// sweep), each configuration for max_epochs:
//   evolution  regularized ("aging") evolution, Real et al. 2019: a population drawn at
//              random; then, until `models` are trained, a tournament of `sample`
//              random members picks the best as parent, its child changes one swept
//              value (path and new value at random; off a grid, a random one of the
//              parent's nearest configurations: one value changed where the space has
//              such a neighbour), joins, and the oldest member dies;
//   reinforce  a REINFORCE controller, Zoph & Le 2016, reduced to one categorical
//              distribution per swept path (independent softmax logits, no recurrent
//              network): each step samples a configuration, its validation metric is
//              the reward, and the logits move by lr · (reward − baseline) ·
//              ∇log π(choice), the baseline a moving average of the rewards. Off a
//              grid it samples among the space's configurations with probability ∝
//              Π π_path(value), and ∇log of that is 1{value} − its marginal.
// Both are seeded (`search.seed`, default the experiment's), so the same spec makes
// the same decisions; every trained model goes into the decision journal, and a rerun
// replays it. A configuration trained before comes from the stage cache (it still
// counts as one of the `models`). The winner is the best model trained.
import Engine
import Foundation
import FrontEnd
import Jobs
import Planner

enum ModelSearch {
    struct Model {
        var configuration: Int
        var metric: Double
        var parent: String?
        var mutation: String?
    }

    static func run(_ experiment: LoadedExperiment, search: SearchSpec, journal: inout SearchJournal,
                    plan: (LoadedExperiment) throws -> Plan, options: RunOptions,
                    progress: @escaping @Sendable (String) -> Void) throws -> (models: [Model], winner: Int, epochsTrained: Int, flops: Double) {
        let space: SearchSpace
        switch SearchSpace.make(experiment.points) {
        case .success(let s): space = s
        case .failure(let e): throw SearchError("\(search.method.rawValue) \(e.message); \(e.fix)")
        }
        let labels = experiment.points.map(\.label)
        var rng = SeededGenerator(seed: UInt64(truncatingIfNeeded: search.seed)).split(label: "search." + search.method.rawValue)
        var models: [Model] = []
        var epochsTrained = 0, flops = 0.0

        /// Trains configuration `c` as model number `models.count` (or replays it).
        func evaluate(_ c: Int, parent: String? = nil, mutation: String? = nil) throws -> Double {
            let step = models.count
            if options.cancellation.isCancelled { throw SearchError("cancelled") }
            let metric: Double
            if let e = journal.step(step) {
                guard e.configuration == c else {
                    throw SearchError("the decision journal \(journal.path) disagrees with this search at model \(step + 1) (another spec under the same name?); remove it to start over")
                }
                metric = e.metric
            } else {
                let outcome = try SearchRunner.train([experiment.points[c]], ladder: [search.maxEpochs], budget: search.maxEpochs,
                                                     experiment: experiment, search: search, plan: plan, options: options, progress: progress)
                metric = outcome.metrics[0]
                flops += outcome.flops
                if outcome.flops > 0 { epochsTrained += search.maxEpochs }
                try journal.append([SearchJournal.Entry(bracket: -1, rung: step, configuration: c, label: labels[c], epochs: search.maxEpochs,
                                                        metric: metric, promoted: false, parent: parent, mutation: mutation,
                                                        params: outcome.sizes[0]?.params, forwardFLOPs: outcome.sizes[0]?.flops)])
            }
            models.append(Model(configuration: c, metric: metric, parent: parent, mutation: mutation))
            progress("model \(step + 1)/\(search.models): \(labels[c])" + (parent.map { " (child of \($0): \(mutation ?? ""))" } ?? "")
                     + ": \(search.metric) \(SearchRunner.format(metric))")
            return metric
        }
        func better(_ a: Double, _ b: Double) -> Bool { search.maximize ? a > b : a < b }

        switch search.method {
        case .evolution:
            var population: [Int] = []   // indices into `models`, oldest first
            while models.count < search.population {
                let c = rng.nextInt(below: experiment.points.count)
                _ = try evaluate(c)
                population.append(models.count - 1)
            }
            let mutable = space.paths.indices.filter { (space.values[space.paths[$0]]?.count ?? 0) >= 2 }
            while models.count < search.models {
                // Tournament: `sample` distinct members; the best is the parent (ties: the older).
                var pool = population
                rng.shuffle(&pool)
                let contestants = pool.prefix(search.sample).sorted()
                let parent = contestants.reduce(contestants[0]) { best, m in better(models[m].metric, models[best].metric) ? m : best }
                let from = models[parent].configuration
                let child: Int
                if space.isGrid {
                    var choice = space.choices[from]
                    let p = mutable[rng.nextInt(below: mutable.count)]
                    let count = space.values[space.paths[p]]!.count
                    choice[p] = (choice[p] + 1 + rng.nextInt(below: count - 1)) % count
                    guard let c = space.configuration(choice) else { throw SearchError("the grid has no configuration \(choice)") }
                    child = c
                } else {
                    // Off a grid: one of the parent's nearest configurations.
                    let near = space.neighbours(of: from)
                    guard !near.isEmpty else { throw SearchError("\(labels[from]) has no other configuration to mutate to") }
                    child = near[rng.nextInt(below: near.count)]
                }
                _ = try evaluate(child, parent: labels[from], mutation: space.change(from: from, to: child))
                population.append(models.count - 1)
                population.removeFirst()   // the oldest dies
            }
        case .reinforce:
            var logits = space.paths.map { [Double](repeating: 0, count: space.values[$0]!.count) }
            var baseline: Double? = nil
            while models.count < search.models {
                let probabilities = logits.map(softmax)
                let c: Int
                // ∂log P(c) / ∂logit[p][j] = 1{c_p = j} − marginal[p][j] (on a grid, π_p(j)).
                var marginals = probabilities
                if space.isGrid {
                    let choice = probabilities.map { sample($0, &rng) }
                    guard let found = space.configuration(choice) else { throw SearchError("the grid has no configuration \(choice)") }
                    c = found
                } else {
                    // P(c) ∝ Π_p π_p(c_p) over the space's configurations.
                    let scores = space.distinct.map { d in space.paths.indices.reduce(0.0) { $0 + logits[$1][space.choices[d][$1]] } }
                    let weights = softmax(scores)
                    c = space.distinct[sample(weights, &rng)]
                    marginals = logits.map { [Double](repeating: 0, count: $0.count) }
                    for (k, d) in space.distinct.enumerated() {
                        for p in space.paths.indices { marginals[p][space.choices[d][p]] += weights[k] }
                    }
                }
                let choice = space.choices[c]
                let metric = try evaluate(c)
                let reward = search.maximize ? metric : -metric
                let b = baseline ?? reward
                let advantage = reward - b
                for (p, marginal) in marginals.enumerated() {
                    for j in marginal.indices { logits[p][j] += search.learningRate * advantage * ((j == choice[p] ? 1 : 0) - marginal[j]) }
                }
                baseline = search.baselineDecay * b + (1 - search.baselineDecay) * reward
            }
            let final = logits.map(softmax)
            for (p, path) in space.paths.enumerated() {
                let best = final[p].indices.max { final[p][$0] < final[p][$1] }!
                progress("controller: \(path) → \(space.values[path]![best].compactText) (p = \(String(format: "%.2f", final[p][best])))")
            }
        case .successiveHalving, .hyperband, .asha, .darts:
            throw SearchError("\(search.method.rawValue) is not a search over a sweep's models")
        }
        let winner = models.indices.reduce(0) { best, m in better(models[m].metric, models[best].metric) ? m : best }
        return (models, winner, epochsTrained, flops)
    }

    static func softmax(_ x: [Double]) -> [Double] {
        let m = x.max() ?? 0
        let e = x.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    static func sample(_ p: [Double], _ rng: inout SeededGenerator) -> Int {
        let u = rng.nextDouble()
        var acc = 0.0
        for (i, q) in p.enumerated() { acc += q; if u < acc { return i } }
        return p.count - 1
    }
}
