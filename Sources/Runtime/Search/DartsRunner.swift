// DartsRunner — runs `search: {method: darts}`: the experiment's one point trains the
// supernet (one ordinary, cached train stage whose work carries alpha's optimizer),
// then the learned alphas are discretized as in the paper: per edge the strongest
// operation other than zero, per node the two edges whose best operation is
// strongest (when it has more). The genotype becomes `derived.yaml`, an ordinary
// experiment (darts_cell_net, the experiment's own training settings) that
// `tlc run derived.yaml` trains from scratch. The run directory is the supernet's,
// with search.json (alphas as softmax per edge, genotype, cost) and derived.yaml.
// One training, so no journal: a rerun takes the stage from the cache.
import Engine
import Execution
import Foundation
import FrontEnd
import Jobs
import ModelZoo
import Planner

enum DartsRunner {
    /// An edge's learned mixture: its nodes and softmax(alpha) per operation.
    struct EdgeWeights {
        var node: Int
        var from: Int
        var weights: [(op: CellOperation, weight: Double)]
        /// The strongest operation other than zero, and its weight.
        var best: (op: CellOperation, weight: Double)? {
            weights.filter { $0.op != .zero }.max { a, b in a.weight != b.weight ? a.weight < b.weight : a.op.rawValue > b.op.rawValue }
        }
    }

    /// The supernet's edges with their softmax(alpha) rows (row r: the r-th mixed edge).
    static func edgeWeights(_ architecture: Architecture, alpha: Tensor) throws -> [EdgeWeights] {
        guard let nodes = architecture.backbone.lazy.compactMap({ d -> [[CellEdge]]? in
            if case .cell(_, let nodes, _) = d { return nodes } else { return nil }
        }).first else { throw SearchError("darts: the trained network has no search cell") }
        let rows = DartsCell.softmaxRows(alpha)
        var out: [EdgeWeights] = []
        for (j, edges) in nodes.enumerated() {
            for e in edges where e.operations.count > 1 {
                guard out.count < rows.count, rows[out.count].count == e.operations.count else {
                    throw SearchError("darts: alpha \(alpha.shape) does not match the cell's edges")
                }
                out.append(EdgeWeights(node: j + 1, from: e.from, weights: zip(e.operations, rows[out.count].map(Double.init)).map { ($0, $1) }))
            }
        }
        guard out.count == rows.count else { throw SearchError("darts: alpha \(alpha.shape) does not match the cell's edges") }
        return out
    }

    /// Per node the strongest non-zero operation of each edge, the `k` strongest edges kept.
    static func discretize(_ edges: [EdgeWeights], k: Int = 2) -> Genotype {
        let nodes = Set(edges.map(\.node)).sorted()
        return Genotype(nodes: nodes.map { n in
            let ranked = edges.filter { $0.node == n && $0.best != nil }.sorted { a, b in
                a.best!.weight != b.best!.weight ? a.best!.weight > b.best!.weight : a.from < b.from
            }
            return ranked.prefix(k).sorted { $0.from < $1.from }.map { CellEdge(from: $0.from, operations: [$0.best!.op]) }
        })
    }

    /// The derived experiment: the search's spec with the discrete network as its backbone.
    static func derivedSpec(_ base: Spec, genotype: Genotype, space: DartsSpace) -> Spec {
        var spec = base
        spec.name = base.name + "-derived"
        spec.backbone.arch = "darts_cell_net"
        spec.backbone.options = ["genotype": .list(genotype.text.map { .list($0.map(OptionValue.string)) }), "cells": .int(space.cells),
                                 "channels": .int(space.channels), "reductions": .list(space.reductions.map(OptionValue.int))]
        spec.training.architectureSearch = nil
        return spec
    }

    static func run(_ experiment: LoadedExperiment, search: SearchSpec, plan makePlan: (LoadedExperiment) throws -> Plan, options: RunOptions,
                    progress: @escaping @Sendable (String) -> Void) throws -> RunResult {
        guard let space = search.darts, experiment.points.count == 1 else { throw SearchError("darts: the experiment must be one search network") }
        var single = experiment
        single.search = nil
        let plan = try makePlan(single)
        let stages = Dictionary(plan.stages.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        guard let point = plan.points.first, let eval = point.evaluateStages.first, let trainID = stages[eval]?.deps.first,
              stages[trainID]?.kind == .train else { throw SearchError("darts: the plan has no train stage") }
        var needed = Set<String>(), stack = [trainID]
        while let id = stack.popLast() { if needed.insert(id).inserted { stack += stages[id]?.deps ?? [] } }
        if options.remote != nil { progress("search: darts is one training; it runs here, not through the cluster") }

        // The search: one train stage (from the cache when it ran before).
        let started = Date()
        let cache = options.useCache ? StageCache(root: options.cacheRoot) : nil
        let log: @Sendable (String) -> Void = { progress($0) }
        let runner = try SearchRunner.runLocally(plan, needed: needed, cache: cache, options: options, log: log)
        guard case .trained(let network, let history, let seconds, _, _) = try runner.output(trainID),
              let alpha = network.architectureParameters.first else { throw SearchError("darts: the search stage kept no architecture weights") }
        let edges = try edgeWeights(network.architecture, alpha: alpha.value)
        let genotype = discretize(edges)
        progress("search: darts derived the cell " + genotype.text.enumerated().map { "node \($0.offset + 1) = \($0.element.joined(separator: " + "))" }.joined(separator: "; "))

        // derived.yaml, checked by loading it as `tlc run` will.
        let derived = derivedSpec(experiment.base, genotype: genotype, space: space)
        let yaml = "# Derived by DARTS from \(experiment.name) (\(experiment.file)): the cell below, trained from scratch.\n"
            + "# Rerun with: tlc run derived.yaml\n" + derived.specValue.resolvedYAML
        let check = (NSTemporaryDirectory() as NSString).appendingPathComponent("tlc-derived-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString).yaml")
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: check))
        defer { try? FileManager.default.removeItem(atPath: check) }
        do { _ = try ExperimentLoader().load(path: check) } catch {
            throw SearchError("darts: the derived experiment does not load: \(error.diagnostics.map(\.description).joined(separator: "; "))")
        }
        let derivedArchitecture = try? Zoo.architecture("darts_cell_net", options: derived.backbone.options, input: derived.data.inputShape,
                                                        classes: network.outputFeatures).analyze()
        let last = history.last
        let trainFLOPs = runner.didRun(trainID) ? (stages[trainID]?.flops ?? 0) : 0
        let object: [String: Any] = [
            "method": "darts", "max_epochs": search.maxEpochs, "metric": search.metric,
            "operations": space.operations, "nodes": space.nodes, "cells": space.cells, "channels": space.channels, "reductions": space.reductions,
            "alpha_lr": space.alphaLearningRate, "alpha_weight_decay": space.alphaWeightDecay,
            "alphas": edges.map { e in
                ["node": e.node, "from": e.from,
                 "softmax": Dictionary(e.weights.map { ($0.op.rawValue, $0.weight) }, uniquingKeysWith: { a, _ in a })] as [String: Any]
            },
            "genotype": genotype.text, "derived": "derived.yaml",
            "supernet": ["params": network.summary.parameters, "forward_flops": network.summary.forwardFLOPs,
                         "val.accuracy": last?.validationAccuracy ?? 0, "val.loss": last?.validationLoss ?? 0] as [String: Any],
            "derived_network": ["params": derivedArchitecture?.parameters ?? 0, "forward_flops": derivedArchitecture?.forwardFLOPs ?? 0],
            "epochs_trained": history.count, "train_flops_by_this_process": trainFLOPs,
            "search_seconds": seconds, "seconds_by_this_process": Date().timeIntervalSince(started),
        ]
        var final = options
        final.extraFiles["search.json"] = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        final.extraFiles["derived.yaml"] = Data(yaml.utf8)
        final.note = "search darts: the derived cell " + genotype.text.map { "[" + $0.joined(separator: ", ") + "]" }.joined(separator: " ")
            + "; derived.yaml trains it from scratch (tlc run derived.yaml)"
        return try LocalRunner.run(plan, options: final, progress: progress)
    }
}
