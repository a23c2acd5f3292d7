// Model lowering: the architecture (resolved once per backbone, head, input and
// class count), where its weights come from, `model.init`, and the frozen-prefix
// `features` stage with the feature cut the training and evaluation works carry.
import Foundation
import FrontEnd
import Jobs
import ModelZoo

extension PlanBuilder {
    struct WeightsKey: Hashable { var weights: WeightsSource; var file: String }
    struct ModelKey: Hashable { var architecture: ArchitectureKey; var weights: WeightsKey; var seed: Int; var experiment: String }
    struct ArchitectureKey: Hashable { var backbone: BackboneSpec; var head: HeadSpec; var input: FeatureShape; var classes: Int }

    /// What the model part of a point resolved to.
    struct LoweredModel {
        var architecture: Architecture
        var summary: ArchitectureSummary
        var initStage: String
        /// The model.init work (ensemble members vary its seed).
        var initWork: ModelInitWork
        var initDeps: [String]
        /// Frozen layer paths.
        var frozen: [String]
        /// Leading top-level backbone layers computed once by `features` (nil: none).
        var featureCut: Int?
        var featuresStage: String?
        /// The whole backbone is the frozen prefix (so featureCut is set).
        var wholeBackbone: Bool
        /// Forward FLOPs of the prefix (per sample).
        var prefixFLOPs: Double
    }

    func lowerModel(_ spec: Spec, file: String, data: (load: String, norm: String), points: [String],
                    state: State) throws(PlanError) -> LoweredModel {
        let classes = try Self.classCount(spec)
        let archKey = ArchitectureKey(backbone: spec.backbone, head: spec.head, input: spec.data.inputShape, classes: classes)
        let architecture: Architecture, summary: ArchitectureSummary
        if let known = state.architectures[archKey] { (architecture, summary) = known } else {
            do {
                architecture = try Zoo.architecture(spec.backbone.arch, options: spec.backbone.options, input: spec.data.inputShape,
                                                    classes: classes, head: spec.head.descriptions,
                                                    keepClassifier: spec.head.keepsClassifier)
                summary = try architecture.analyze()
            } catch { throw .message("\(spec.name): \(error)") }
            state.architectures[archKey] = (architecture, summary)
        }
        let (initDeps, weights) = try lowerWeights(spec.backbone.weights, file: file, state: state)
        let initWork = ModelInitWork(architecture: architecture, seed: spec.initSeed, weights: weights)
        let modelKey = ModelKey(architecture: archKey, weights: WeightsKey(weights: spec.backbone.weights, file: file),
                                seed: spec.initSeed, experiment: spec.name)
        let initStage: String
        if let known = state.models[modelKey] {
            initStage = known
            addPoints(points, to: initStage, state: state)
        } else {
            initStage = add(.modelInit(initWork), experiment: spec.name, deps: initDeps, points: points, flops: 0,
                            summary: "\(spec.backbone.arch) (\(Self.count(summary.parameters)) parameters), weights \(spec.backbone.weights.text)",
                            state: state)
            state.models[modelKey] = initStage
        }

        // Frozen-prefix features: the leading backbone layers that are wholly frozen
        // compute the same outputs every epoch, so they run once (see featureCut).
        let frozen = summary.frozenLayers(spec.backbone.freeze)
        let cut = Self.featureCut(spec, summary: summary)
        let topLevel = summary.layers.filter { $0.inBackbone && !$0.path.contains(".") }
        let prefixPaths = Set(topLevel.prefix(cut ?? 0).map(\.path))
        let prefixFLOPs = Double(summary.layers.filter { l in
            !l.isGroup && l.inBackbone && prefixPaths.contains(String(l.path.split(separator: ".")[0]))
        }.reduce(0) { $0 + $1.flops })
        var model = LoweredModel(architecture: architecture, summary: summary, initStage: initStage, initWork: initWork,
                                 initDeps: initDeps, frozen: frozen, featureCut: cut, featuresStage: nil,
                                 wholeBackbone: cut == topLevel.count, prefixFLOPs: prefixFLOPs)
        if let cut {
            // Features depend on the backbone prefix and its weights only, never on the
            // head, so head sweeps share them.
            let prefix = Architecture(name: architecture.name + "-prefix", input: architecture.input,
                                      backbone: Array(architecture.backbone.prefix(cut)), head: [])
            let work = FeaturesWork(prefix: prefix, seed: weights == .none ? spec.initSeed : nil, weights: weights)
            let samples = Double(Self.trainSamples(spec.data) + Self.testSamples(spec.data))
            model.featuresStage = add(.features(work), experiment: spec.name, deps: initDeps + [data.norm], points: points,
                                      flops: prefixFLOPs * samples,
                                      summary: model.wholeBackbone ? "run the frozen backbone once over every split (\(summary.backboneOutput) features)"
                                          : "run the frozen layers up to \(topLevel[cut - 1].path) once over every split (\(topLevel[cut - 1].output) features)",
                                      state: state)
        }
        return model
    }

    /// The dependencies and work of a backbone's weights.
    func lowerWeights(_ source: WeightsSource, file: String, state: State) throws(PlanError) -> (deps: [String], work: WeightsWork) {
        let key = WeightsKey(weights: source, file: file)
        if let known = state.weights[key] { return known }
        let resolved: (deps: [String], work: WeightsWork)
        switch source {
        case .none:
            resolved = ([], .none)
        case .file(let path):
            let full = Self.absolute(SpecDecoder.resolvePath(path, relativeTo: file))
            guard let data = FileManager.default.contents(atPath: full) else { throw .message("backbone.weights: cannot read \(full)") }
            resolved = ([], .file(FileReference(path: full, sha256: StageHashing.sha256(data))))
        case .run(let ref):
            let upstream = try upstream(ref, from: file, state: state)
            resolved = ([upstream.model], .upstream(experiment: upstream.experiment))
        }
        state.weights[key] = resolved
        return resolved
    }

    /// How many leading top-level backbone layers run once, as a feature extractor,
    /// instead of every epoch: the longest prefix whose layers are wholly frozen (or
    /// hold no parameters) and hold no dropout or stochastic depth, ending at its last frozen parameter
    /// layer's top-level layer and any parameter-free layers after it (flatten, pool).
    /// nil when there is no such prefix, or when augmentation or gradual unfreezing
    /// would make the prefix's outputs change between epochs.
    public static func featureCut(_ spec: Spec, summary: ArchitectureSummary) -> Int? {
        guard !spec.data.augment.isEnabled, spec.training.unfreeze.isEmpty else { return nil }
        let frozen = Set(summary.frozenLayers(spec.backbone.freeze))
        guard !frozen.isEmpty else { return nil }
        let top = summary.layers.filter { $0.inBackbone && !$0.path.contains(".") }
        var cut = 0, lastFrozen = 0
        for (i, layer) in top.enumerated() {
            let leaves = summary.layers.filter { !$0.isGroup && ($0.path == layer.path || $0.path.hasPrefix(layer.path + ".")) }
            // Dropout and stochastic depth change what the layer computes in every training pass.
            if leaves.contains(where: { $0.kind == "dropout" || $0.kind == "stochastic_depth" }) { break }
            let params = leaves.filter { $0.parameters > 0 }
            if !params.allSatisfy({ frozen.contains($0.path) }) { break }
            cut = i + 1
            if !params.isEmpty { lastFrozen = i + 1 }
        }
        return lastFrozen == 0 ? nil : cut
    }
}
