// Model stages: `model.init` builds the planned architecture and loads its
// backbone weights (a file, or another experiment's final model); `features`
// runs a frozen backbone prefix once over every split. Also the network
// plumbing other stages share: private copies, copying state by name, and the
// part of a network after a frozen prefix.
import Engine
import Foundation
import Jobs
import ModelZoo

enum ModelStages {
    static func initialize(_ w: ModelInitWork, inputs: StageInputs, context: StageContext) throws -> StageOutput {
        let network = try Network(architecture: w.architecture, seed: modelSeed(w.seed))
        try loadWeights(w.weights, into: network, inputs: inputs, context: context)
        return .model(network)
    }

    static func features(_ w: FeaturesWork, inputs: StageInputs, context: StageContext) throws -> StageOutput {
        // The frozen backbone (or its frozen prefix) in inference mode, once over every split.
        guard case .normalized(let train, let validation, let test, _) = try inputs(inputs.count - 1) else { throw context.wrongInput() }
        let backbone = try Network(architecture: w.prefix, seed: modelSeed(w.seed ?? 0))
        try loadWeights(w.weights, into: backbone, inputs: inputs, context: context, quiet: true)
        let out = StageOutput.features(train: try features(of: train, through: backbone), validation: try features(of: validation, through: backbone),
                                       test: try features(of: test, through: backbone))
        context.log("  \(train.count + validation.count + test.count) images → \(backbone.summary.output.count) features each")
        return out
    }

    /// The seed a network's initial weights are drawn with.
    static func modelSeed(_ seed: Int) -> UInt64 { SeededGenerator(seed: UInt64(seed)).split(label: "model").key }

    /// Loads backbone weights: from a file (checked against its planned digest), or
    /// from the upstream model (the stage's first dependency).
    static func loadWeights(_ weights: WeightsWork, into network: Network, inputs: StageInputs, context: StageContext, quiet: Bool = false) throws {
        switch weights {
        case .none: return
        case .file(let f):
            guard let bytes = FileManager.default.contents(atPath: f.path) else { throw context.failure("backbone.weights: cannot read \(f.path)") }
            guard StageHashing.sha256(bytes) == f.sha256 else {
                throw context.failure("backbone.weights: \(f.path) changed since the plan was made (its SHA-256 differs); run the experiment again to re-plan")
            }
            // A kept torchvision classifier (`fc`, `classifier.6`) comes from the file too.
            let loaded = try network.load(from: f.path, only: Set(["backbone"] + network.architecture.keptClassifier))
            if !quiet {
                context.log("  loaded \(loaded.loaded.count) \(network.architecture.keptClassifier.isEmpty ? "backbone" : "backbone and classifier") tensors from \(f.path)")
            }
        case .upstream:
            let source: Network
            switch try inputs(0) {
            case .trained(let n, _, _, _, _), .encoded(let n, _, _): source = n
            default: throw context.wrongInput()
            }
            let copied = try copyBackbone(from: source, to: network, context: context)
            if !quiet { context.log("  loaded \(copied) backbone tensors from \(weights.text)") }
        }
    }

    private static func features(of data: Dataset, through backbone: Network) throws -> Dataset {
        let n = data.count, f = backbone.summary.output.count
        var out = [Float](repeating: 0, count: n * f)
        var start = 0
        while start < n {
            let end = min(start + 256, n)
            let (x, _) = data.batch(Array(start..<end)[...])
            let y = try backbone.forward(x, training: false)
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<((end - start) * f) { dst[start * f + i] = y[i] }
            }
            start = end
        }
        return try Dataset(sampleShape: backbone.summary.output, features: out, labels: data.labels, classNames: data.classNames)
    }

    /// A private copy: a network's forward pass uses its own scratch buffers, and
    /// other stages may run the same output at the same time.
    static func clone(_ network: Network) throws -> Network {
        let copy = try Network(architecture: network.architecture, seed: 0)
        try copyState(from: network, to: copy)
        return copy
    }

    /// Copies every state tensor `to` has by name from `from` (shapes must agree).
    static func copyState(from: Network, to: Network) throws {
        var byName: [String: Tensor] = [:]
        for (n, t) in from.stateTensors { byName[n] = t }
        for (n, t) in to.stateTensors {
            guard let s = byName[n] else { continue }
            guard s.shape == t.shape else { throw StageFailure(stage: "copy", message: "tensor '\(n)' is \(s.shape), expected \(t.shape)") }
            t.copyValues(from: s)
        }
    }

    static func copyBackbone(from source: Network, to target: Network, context: StageContext) throws -> Int {
        var byName: [String: Tensor] = [:]
        for (n, t) in source.stateTensors { byName[n] = t }
        var copied = 0
        var problems: [String] = []
        let kept = Set(target.architecture.keptClassifier)
        for (name, tensor) in target.stateTensors where !name.hasPrefix("head.") {
            guard let s = byName[name] else {
                let classifier = kept.contains { name.hasPrefix($0 + ".") }
                problems.append("missing '\(name)'" + (classifier ? " (head.classifier: keep needs the upstream experiment to keep its classifier too)" : ""))
                continue
            }
            guard s.shape == tensor.shape else { problems.append("'\(name)' is \(s.shape) upstream but \(tensor.shape) here"); continue }
            tensor.copyValues(from: s)
            copied += 1
        }
        if !problems.isEmpty {
            throw context.failure("the pretrained backbone does not match: " + problems.prefix(6).joined(separator: "; "))
        }
        return copied
    }

    /// The layers after the first `cut` top-level backbone layers, and the head,
    /// reading the prefix's outputs, with `network`'s weights and `frozen` layers.
    static func rest(of network: Network, cut: Int, frozen: [String]) throws -> Network {
        let arch = network.architecture
        let top = network.summary.layers.filter { $0.inBackbone && !$0.path.contains(".") }
        guard cut >= 1, cut <= top.count else { throw StageFailure(stage: "features", message: "the feature cut \(cut) is outside the backbone") }
        let rest = try Network(architecture: Architecture(name: arch.name + "-rest", input: top[cut - 1].output,
                                                          backbone: Array(arch.backbone.dropFirst(cut)), head: arch.head), seed: 0)
        try copyState(from: network, to: rest)
        if !frozen.isEmpty { rest.freeze(Set(frozen)) }
        return rest
    }
}
