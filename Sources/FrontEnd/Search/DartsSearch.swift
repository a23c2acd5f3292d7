// DartsSearch — `search: {method: darts}`: differentiable architecture search
// (Liu et al. 2018, first order) over a cell space instead of a sweep. The section
// names the space (candidate operations, nodes per cell, cells, channels, where the
// network halves its feature maps) and the architecture weights' optimizer; the
// loader turns the space into the experiment's backbone (`darts_supernet`, so the
// zoo's own checks locate a misfit at the search keys that caused it) and the single
// point trains it for `max_epochs` with alpha steps on the validation split. The
// experiment's own `training.epochs` is what the derived network retrains for.
import Foundation
import ModelZoo

/// The cell space and alpha's optimizer of a DARTS search.
public struct DartsSpace: Hashable, Sendable {
    public var operations: [String] = CellOperation.allCases.map(\.rawValue)
    public var nodes: Int = 3
    public var cells: Int = 3
    public var channels: Int = 16
    public var reductions: [Int] = [0, 1]
    /// Adam (β 0.5, 0.999) on alpha, as in the paper.
    public var alphaLearningRate: Double = 3e-4
    public var alphaWeightDecay: Double = 1e-3

    public static let keys = ["operations", "nodes", "cells", "channels", "reductions", "alpha_lr", "alpha_weight_decay"]

    /// `darts_supernet`'s options.
    public var supernetOptions: [String: OptionValue] {
        ["operations": .list(operations.map(OptionValue.string)), "nodes": .int(nodes), "cells": .int(cells),
         "channels": .int(channels), "reductions": .list(reductions.map(OptionValue.int))]
    }

    var specEntries: [(String, SpecValue)] {
        [("operations", .list(operations.map(SpecValue.string))), ("nodes", .int(nodes)), ("cells", .int(cells)), ("channels", .int(channels)),
         ("reductions", .list(reductions.map(SpecValue.int))), ("alpha_lr", .double(alphaLearningRate)),
         ("alpha_weight_decay", .double(alphaWeightDecay))]
    }

    /// Reads the darts keys of a search section (the shapes are the zoo's to check).
    static func parse(_ m: [String: YAMLNode], _ r: NodeReader) -> DartsSpace {
        var d = DartsSpace()
        if let n = m["operations"], let items = r.sequence(n, "search.operations") {
            var ops: [String] = []
            for item in items {
                guard let s = r.string(item, "search.operations") else { continue }
                if CellOperation(rawValue: s) == nil {
                    let hint = suggestion(for: s, among: CellOperation.allCases.map(\.rawValue)).map { "; did you mean '\($0)'?" } ?? ""
                    r.error("search.operations: unknown operation '\(s)'\(hint)", at: item,
                            notes: ["the operations are " + CellOperation.allCases.map(\.rawValue).joined(separator: ", ")])
                } else if ops.contains(s) {
                    r.error("search.operations lists '\(s)' twice", at: item)
                }
                ops.append(s)
            }
            if items.isEmpty { r.error("search.operations is empty; list at least two, e.g. [conv_3x3, sep_conv_3x3, max_pool_3x3, identity, zero]", at: n) }
            else if Set(ops).subtracting(["zero"]).count < 2 {
                r.error("search.operations needs at least two operations other than zero to choose between", at: n,
                        notes: ["a single operation needs no search: train darts_cell_net with a genotype of it"])
            }
            d.operations = ops
        }
        func int(_ key: String, _ range: ClosedRange<Int>, _ set: (Int) -> Void) {
            guard let n = m[key], let v = r.int(n, "search.\(key)") else { return }
            if range.contains(v) { set(v) } else { r.error("search.\(key) must be between \(range.lowerBound) and \(range.upperBound)", at: n) }
        }
        int("nodes", 1...8) { d.nodes = $0 }
        int("cells", 1...20) { d.cells = $0 }
        int("channels", 1...1024) { d.channels = $0 }
        if let n = m["reductions"], let items = r.sequence(n, "search.reductions") {
            d.reductions = items.compactMap { r.int($0, "search.reductions") }
        }
        if let n = m["alpha_lr"], let v = r.double(n, "search.alpha_lr") {
            d.alphaLearningRate = v
            if !(v > 0 && v <= 1) { r.error("search.alpha_lr must be in (0, 1]; the paper uses 3e-4", at: n) }
        }
        if let n = m["alpha_weight_decay"], let v = r.double(n, "search.alpha_weight_decay") {
            d.alphaWeightDecay = v
            if !(v >= 0 && v < 1) { r.error("search.alpha_weight_decay must be in [0, 1); the paper uses 1e-3", at: n) }
        }
        return d
    }

    /// The experiment's tree with its backbone the search's supernet; the options'
    /// keys are the search section's, so the zoo's errors point there.
    static func inject(_ space: DartsSpace, search node: YAMLNode, into tree: YAMLNode, diagnostics: DiagnosticEngine) -> YAMLNode {
        let r = NodeReader(diagnostics: diagnostics)
        if let backbone = tree["backbone"] {
            r.error("search: darts builds its network (darts_supernet) from the search's cell space; remove backbone", at: backbone,
                    notes: ["set operations, nodes, cells, channels and reductions under search"])
        }
        if let head = tree["head"]?["classifier"] { r.error("search: darts's network has no classifier to keep; remove head.classifier", at: head) }
        let here = node["method"] ?? node
        func scalar(_ s: String, at n: YAMLNode) -> YAMLNode { YAMLNode(.scalar(YAMLScalar(s)), at: n.location) }
        func key(_ k: String) -> YAMLNode { node.mapping?.first { $0.key.scalar?.text == k }?.key ?? scalar(k, at: here) }
        func value(_ v: SpecValue, _ k: String) -> YAMLNode {
            if let given = node[k] { return given }
            switch v {
            case .list(let items): return YAMLNode(.sequence(items.map { value($0, "") }), at: here.location)
            default: return scalar(v.compactText, at: here)
            }
        }
        var options: [YAMLPair] = []
        for (k, v) in space.supernetOptions.sorted(by: { $0.key < $1.key }) { options.append(YAMLPair(key: key(k), value: value(v.specValue, k))) }
        let backbone = YAMLNode(.mapping([YAMLPair(key: scalar("arch", at: here), value: scalar("darts_supernet", at: here)),
                                          YAMLPair(key: scalar("options", at: here), value: YAMLNode(.mapping(options), at: here.location))]),
                                at: here.location)
        let rest = TreeEditing.removing("backbone", from: tree)
        guard case .mapping(var pairs) = rest.kind else { return tree }
        pairs.append(YAMLPair(key: scalar("backbone", at: here), value: backbone))
        return YAMLNode(.mapping(pairs), at: tree.location)
    }
}

extension ExperimentLoader {
    /// The tree a darts search decodes: its backbone the search's supernet.
    static func withDartsBackbone(_ search: SearchSpec?, _ node: YAMLNode?, _ tree: YAMLNode, diagnostics: DiagnosticEngine) -> YAMLNode {
        guard let darts = search?.darts, let node else { return tree }
        return DartsSpace.inject(darts, search: node, into: tree, diagnostics: diagnostics)
    }

    /// A DARTS search trains one network: no sweep, a validation split, plain training.
    /// Its one point trains the supernet for max_epochs with alpha steps.
    func prepareDarts(_ search: SearchSpec, points: inout [ExperimentPoint], sweep: YAMLNode?, at node: YAMLNode, diagnostics: DiagnosticEngine) {
        if let sweep {
            diagnostics.emit(.error("search: darts searches a cell space by gradient descent, not a sweep; remove sweep", at: sweep.location,
                                    notes: ["to compare settings (e.g. alpha_lr) run the search once per setting, or use hyperband, evolution or reinforce over a sweep"]))
            return
        }
        guard let darts = search.darts, points.count == 1 else { return }
        let spec = points[0].spec
        if spec.data.validation <= 0 {
            diagnostics.emit(.error("search: darts trains the architecture weights on the validation split; data.validation is 0", at: node.location,
                                    notes: ["set data.validation, e.g. 0.5 (the paper halves the training data)"]))
        }
        if spec.training.earlyStopping != nil || spec.training.budget != nil || spec.model != nil {
            diagnostics.emit(.error("search: darts trains its network plainly for max_epochs; remove "
                                    + (spec.model != nil ? "model" : spec.training.earlyStopping != nil ? "training.early_stopping" : "training.budget"),
                                    at: node.location))
        }
        if !spec.compression.isEmpty || spec.ensemble != nil {
            diagnostics.emit(.error("search: darts trains one search network; compression and ensembles belong in the derived experiment", at: node.location,
                                    notes: ["remove compression and ensemble here; add them to derived.yaml after the search"]))
        }
        var p = points[0]
        p.spec.training.epochs = search.maxEpochs
        p.spec.training.architectureSearch = ArchitectureSearchSpec(learningRate: darts.alphaLearningRate, weightDecay: darts.alphaWeightDecay)
        p.id = String(stableID(p.spec.specValue.canonicalJSON + "\ndarts " + SpecValue.object(darts.specEntries).canonicalJSON).prefix(12))
        points[0] = p
    }
}

/// Alpha's optimizer for a point that trains a DARTS supernet (set by the loader
/// for `search: {method: darts}`; not a key of the training section).
public struct ArchitectureSearchSpec: Hashable, Sendable {
    public var learningRate: Double
    public var weightDecay: Double
}
