// PlanBuilder — the lowering: resolved spec points → stages. Each stage reads an
// explicit slice of the spec; its hash covers that slice and its dependencies'
// hashes, so changing a field reruns exactly the stages downstream of it, and
// sweep points that agree on a stage's inputs share it.
import Crypto
import Foundation
import FrontEnd
import ModelZoo

public enum PlanError: Error, CustomStringConvertible {
    case diagnostics(DiagnosticError)
    case message(String)
    public var description: String {
        switch self {
        case .diagnostics(let d): d.description
        case .message(let m): "error: " + m
        }
    }
}

public struct PlanBuilder {
    /// Bump when the engine's outputs for the same inputs change: every hash changes.
    public static let formatVersion = 1

    /// Loads referenced experiments (`run:NAME`); injectable for tests.
    public var loadExperiment: (_ path: String) throws -> LoadedExperiment = { try ExperimentLoader().load(path: $0) }

    public init() {}

    private final class State {
        var stages: [String: Stage] = [:]      // by id
        var stagePoints: [String: Set<String>] = [:]
        /// Upstream stages by the spec slices they read, so sweep points that share
        /// them skip building, serialising and hashing them again.
        var dataChains: [DataKey: (load: String, norm: String)] = [:]
        var architectures: [ArchitectureKey: ArchitectureSummary] = [:]
        var weights: [WeightsKey: (deps: [String], input: SpecValue)] = [:]
        var models: [ModelKey: (inputs: SpecValue, stage: String)] = [:]
        var order: [String] = []
        var byExperimentFinal: [String: Lowered] = [:]
        var warnings: [String] = []
        var visiting: [String] = []
        /// The spec being lowered (its key in `specs`).
        var source = ""
        var specs: [String: Spec] = [:]
        var experimentFiles: [String: String] = [:]
    }

    public func plan(_ experiment: LoadedExperiment) throws(PlanError) -> Plan {
        let state = State()
        state.visiting = [experiment.name]
        var points: [PlanPoint] = []
        var finals: [(point: ExperimentPoint, model: String, data: String)] = []
        for (point, lowered) in zip(experiment.points, try lowerAll(experiment, into: state)) {
            finals.append((point, lowered.model, lowered.normalized))
            points.append(PlanPoint(id: point.id, label: point.label, assignments: point.assignments,
                                    modelStage: lowered.model, evaluateStages: lowered.evaluations, reportStage: ""))
        }
        // Ensembles of the top k sweep points are one stage over all points.
        // Ensembles over sweep points (the top k, or points named by label) are one
        // stage for the whole sweep; its members must share their test data.
        if let ens = experiment.base.ensemble, case let members = ens.members, Self.isSweepLevel(members) {
            state.source = points[0].id
            var deps: [String] = []
            var memberPoints: [Int] = []
            var inputs: SpecValue
            var summary: String
            switch members {
            case .topOfSweep(let k):
                memberPoints = Array(points.indices)
                deps = points.map(\.modelStage) + points.compactMap { $0.evaluateStages.first }
                inputs = .object([("members", .object([("top", .int(k))])), ("method", .string(ens.method.rawValue)),
                                  ("target", .string(experiment.base.report.target))])
                summary = "ensemble of the top \(k) sweep points by \(experiment.base.report.target), \(ens.method.rawValue)"
            case .references(let refs):
                for ref in refs {
                    if ref.hasPrefix("point:") {
                        let label = String(ref.dropFirst(6))
                        guard let i = points.firstIndex(where: { $0.label == label }) else {
                            throw .message("ensemble member '\(ref)' names no sweep point; labels: \(points.prefix(8).map(\.label).joined(separator: "; "))")
                        }
                        memberPoints.append(i)
                        deps.append(points[i].modelStage)
                    } else {
                        deps.append(try upstream(ref.hasPrefix("run:") ? String(ref.dropFirst(4)) : ref, from: experiment.file, state: state).model)
                    }
                }
                inputs = .object([("members", .list(refs.map(SpecValue.string))), ("method", .string(ens.method.rawValue))])
                summary = "ensemble of \(refs.count) members, \(ens.method.rawValue)"
            case .seeds: fatalError("unreachable: seeds ensembles are per point")
            }
            let dataStages = Set(memberPoints.map { finals[$0].data })
            guard dataStages.count <= 1 else {
                throw .message("the ensemble's members were trained on different data (the sweep changes data or normalization); an ensemble needs one test set")
            }
            let data = finals[memberPoints.first ?? 0].data
            let stage = add(.ensemble, experiment: experiment.name, inputs: inputs, deps: deps + [data],
                            points: points.map(\.id), flops: 0, summary: summary, state: state)
            let finals0data = data
            let eval = evaluate(stage, data: finals0data, spec: experiment.base, variant: "ensemble",
                                points: points.map(\.id), experiment: experiment.name, state: state)
            for i in points.indices { points[i].evaluateStages.append(eval) }
        }
        for i in points.indices {
            state.source = points[i].id
            let spec = finals[i].point.spec
            let report = add(.report, experiment: experiment.name, inputs: spec.report.specValue
                                .merging([("label", .string(points[i].label)), ("name", .string(spec.name))]),
                             deps: points[i].evaluateStages, points: [points[i].id], flops: 0,
                             summary: "report" + (points[i].label.isEmpty ? "" : " for \(points[i].label)"), state: state)
            points[i].reportStage = report
        }
        let count = experiment.points.count
        if count > SweepExpansion.largeSweepWarning {
            state.warnings.append("the sweep has \(count) points; consider random search or fewer values")
        }
        let stages = state.order.map { state.stages[$0]! }
        var plan = Plan(experiment: experiment.name, file: experiment.file, stages: stages, points: points,
                        sweptPaths: experiment.sweptPaths, warnings: state.warnings, specs: state.specs)
        plan.experimentFiles = state.experimentFiles
        return plan
    }

    struct DataKey: Hashable { var data: DataSpec; var seed: Int; var normalization: NormalizationSpec; var experiment: String }
    struct WeightsKey: Hashable { var weights: WeightsSource; var file: String }
    struct ModelKey: Hashable { var architecture: ArchitectureKey; var weights: WeightsKey; var seed: Int; var experiment: String }
    struct ArchitectureKey: Hashable { var backbone: BackboneSpec; var head: HeadSpec; var input: FeatureShape; var classes: Int }

    /// Lowers every point. A big sweep is lowered in two halves on two threads, each
    /// into its own state, then merged: stage ids are content hashes, so the halves
    /// agree on every stage they share, and the result equals a sequential lowering.
    private func lowerAll(_ experiment: LoadedExperiment, into state: State) throws(PlanError) -> [Lowered] {
        let all = experiment.points
        guard all.count >= 512, ProcessInfo.processInfo.activeProcessorCount > 1 else {
            var out: [Lowered] = []
            for point in all { out.append(try lower(point.spec, file: experiment.file, pointID: point.id, state: state)) }
            return out
        }
        let half = all.count / 2
        let chunks = [Array(all[..<half]), Array(all[half...])]
        let states = [state, State()]
        states[1].visiting = state.visiting
        nonisolated(unsafe) var results: [Result<[Lowered], PlanError>] = [.success([]), .success([])]
        nonisolated(unsafe) let builder = self
        nonisolated(unsafe) let shared = (chunks, states, experiment.file)
        DispatchQueue.concurrentPerform(iterations: 2) { c in
            var out: [Lowered] = []
            do {
                for point in shared.0[c] {
                    out.append(try builder.lower(point.spec, file: shared.2, pointID: point.id, state: shared.1[c]))
                }
                results[c] = .success(out)
            } catch {
                results[c] = .failure(error as? PlanError ?? .message("\(error)"))
            }
        }
        merge(states[1], into: state)
        return try results[0].get() + results[1].get()
    }

    /// Adds `other`'s stages (in order) and bookkeeping to `state`.
    private func merge(_ other: State, into state: State) {
        for id in other.order {
            if state.stages[id] != nil {
                addPoints(other.stages[id]!.points, to: id, state: state)
            } else {
                state.stages[id] = other.stages[id]
                state.stagePoints[id] = other.stagePoints[id]
                state.order.append(id)
            }
        }
        for w in other.warnings where !state.warnings.contains(w) { state.warnings.append(w) }
        state.specs.merge(other.specs) { a, _ in a }
        state.byExperimentFinal.merge(other.byExperimentFinal) { a, _ in a }
        state.experimentFiles.merge(other.experimentFiles) { a, _ in a }
        state.dataChains.merge(other.dataChains) { a, _ in a }
        state.architectures.merge(other.architectures) { a, _ in a }
        state.weights.merge(other.weights) { a, _ in a }
        state.models.merge(other.models) { a, _ in a }
    }

    private struct Lowered { var model: String; var normalized: String; var evaluations: [String]; var experiment: String = "" }

    private func lower(_ spec: Spec, file: String, pointID: String, state: State) throws(PlanError) -> Lowered {
        let outerSource = state.source
        state.source = pointID
        state.specs[pointID] = spec
        if state.experimentFiles[spec.name] == nil { state.experimentFiles[spec.name] = file }
        defer { state.source = outerSource }
        let classes = spec.data.classCount ?? 2
        let trainSamples = Double(Self.trainSamples(spec.data))
        let testSamples = Double(Self.testSamples(spec.data))
        let points = [pointID]

        // Data.
        let dataKey = DataKey(data: spec.data, seed: spec.seed, normalization: spec.normalization, experiment: spec.name)
        let load: String, norm: String
        if let known = state.dataChains[dataKey] {
            (load, norm) = known
            for id in [load, norm] { addPoints(points, to: id, state: state) }
        } else {
            var dataInputs = spec.data.specValue.removing("augment").merging([("seed", .int(spec.seed))])
            // A user's data files: their contents are part of the hash, so editing one reruns what depends on it.
            var digests: [SpecValue] = []
            for source in [spec.data.dataset] + (spec.data.testDataset.map { [$0] } ?? []) {
                for path in Self.dataFiles(source, relativeTo: file) {
                    guard let bytes = FileManager.default.contents(atPath: path) else { throw .message("data: cannot read \(path)") }
                    digests.append(.string(Self.sha256(bytes)))
                }
            }
            if !digests.isEmpty { dataInputs = dataInputs.merging([("files_sha256", .list(digests))]) }
            load = add(.dataLoad, experiment: spec.name, inputs: dataInputs, deps: [], points: points, flops: 0,
                       summary: "load \(spec.data.dataset.text), \(classes) classes" +
                           (spec.data.trainPerClass.map { ", \($0) per class" } ?? ""), state: state)
            norm = add(.dataNormalize, experiment: spec.name, inputs: spec.normalization.specValue, deps: [load], points: points,
                       flops: trainSamples * Double(spec.data.inputShape.count) * 2,
                       summary: "\(spec.normalization.kind.rawValue) per \(spec.normalization.per.rawValue), fit on the training split",
                       state: state)
            state.dataChains[dataKey] = (load, norm)
        }

        // Model.
        let archKey = ArchitectureKey(backbone: spec.backbone, head: spec.head, input: spec.data.inputShape, classes: classes)
        let summary: ArchitectureSummary
        if let known = state.architectures[archKey] { summary = known } else {
            do {
                summary = try Zoo.architecture(spec.backbone.arch, options: spec.backbone.options, input: spec.data.inputShape,
                                               classes: classes, head: spec.head.descriptions).analyze()
            } catch { throw .message("\(spec.name): \(error)") }
            state.architectures[archKey] = summary
        }
        let weightsKey = WeightsKey(weights: spec.backbone.weights, file: file)
        let initDeps: [String], weightsInput: SpecValue
        if let known = state.weights[weightsKey] { (initDeps, weightsInput) = known } else {
            switch spec.backbone.weights {
            case .none:
                (initDeps, weightsInput) = ([], .string("none"))
            case .file(let path):
                let full = SpecDecoder.resolvePath(path, relativeTo: file)
                guard let data = FileManager.default.contents(atPath: full) else { throw .message("backbone.weights: cannot read \(full)") }
                (initDeps, weightsInput) = ([], .object([("file", .string(path)), ("sha256", .string(Self.sha256(data)))]))
            case .run(let ref):
                (initDeps, weightsInput) = ([try upstream(ref, from: file, state: state).model], .object([("run", .string(ref))]))
            }
            state.weights[weightsKey] = (initDeps, weightsInput)
        }
        let modelKey = ModelKey(architecture: archKey, weights: weightsKey, seed: spec.seed, experiment: spec.name)
        let modelInputs: SpecValue, initStage: String
        if let known = state.models[modelKey] {
            (modelInputs, initStage) = known
            addPoints(points, to: initStage, state: state)
        } else {
            modelInputs = .object([
                ("arch", .string(spec.backbone.arch)), ("options", spec.backbone.specValue["options"]),
                ("head", spec.head.specValue), ("classes", .int(classes)),
                ("input_shape", spec.data.specValue["input_shape"]), ("weights", weightsInput), ("seed", .int(spec.seed)),
            ])
            initStage = add(.modelInit, experiment: spec.name, inputs: modelInputs, deps: initDeps, points: points, flops: 0,
                            summary: "\(spec.backbone.arch) (\(Self.count(summary.parameters)) parameters), weights \(spec.backbone.weights.text)",
                            state: state)
            state.models[modelKey] = (modelInputs, initStage)
        }

        // Frozen-prefix features: the leading backbone layers that are wholly frozen
        // compute the same outputs every epoch, so they run once (see featureCut).
        let frozen = Set(summary.frozenLayers(spec.backbone.freeze))
        let cut = Self.featureCut(spec, summary: summary)
        let useFeatures = cut != nil
        let topLevel = summary.layers.filter { $0.inBackbone && !$0.path.contains(".") }
        let prefixPaths = Set(topLevel.prefix(cut ?? 0).map(\.path))
        let wholeBackbone = cut == topLevel.count
        let backboneFLOPs = Double(summary.layers.filter { l in
            !l.isGroup && l.inBackbone && prefixPaths.contains(String(l.path.split(separator: ".")[0]))
        }.reduce(0) { $0 + $1.flops })
        let headFLOPs = Double(summary.forwardFLOPs) - backboneFLOPs
        var trainDeps = [initStage, norm]
        var trainFLOPs: Double
        if useFeatures {
            // Features depend on the backbone and its weights only, never on the head,
            // so head sweeps share them.
            // (The whole backbone leaves `cut` out, so its hashes stay as they were.)
            let featureInputs: SpecValue = .object([
                ("arch", .string(spec.backbone.arch)), ("options", spec.backbone.specValue["options"]),
                ("input_shape", spec.data.specValue["input_shape"]), ("weights", weightsInput),
                ("seed", spec.backbone.weights == .none ? .int(spec.seed) : nil),
                ("cut", wholeBackbone ? nil : .string(topLevel[cut! - 1].path)),
            ])
            let cutShape = topLevel[cut! - 1].output
            let features = add(.features, experiment: spec.name, inputs: featureInputs,
                               deps: initDeps + [norm], points: points,
                               flops: backboneFLOPs * (trainSamples + testSamples),
                               summary: wholeBackbone ? "run the frozen backbone once over every split (\(summary.backboneOutput) features)"
                                   : "run the frozen layers up to \(topLevel[cut! - 1].path) once over every split (\(cutShape) features)",
                               state: state)
            trainDeps.append(features)
            trainFLOPs = 3 * (Double(summary.forwardFLOPs) - backboneFLOPs) * trainSamples * Double(spec.training.epochs)
        } else {
            let trainable = Double(summary.layers.filter { !$0.isGroup && !frozen.contains($0.path) }.reduce(0) { $0 + $1.flops })
            // Forward everything, backward (≈2×) through what is trained.
            trainFLOPs = (Double(summary.forwardFLOPs) + 2 * trainable) * trainSamples * Double(spec.training.epochs)
        }
        let trainInputs: SpecValue = .object([
            ("optimizer", spec.optimizer.specValue), ("training", spec.training.specValue),
            ("freeze", spec.backbone.freeze.specValue), ("augment", spec.data.augment.specValue),
            ("seed", .int(spec.seed)), ("features", .bool(useFeatures)),
        ])
        // The source task, when the backbone comes from another experiment: EWC's Fisher
        // information is estimated on its data, and the report scores it again after fine-tuning.
        var source: Lowered?
        if case .run(let ref) = spec.backbone.weights { source = try upstream(ref, from: file, state: state) }
        if spec.training.regularization.ewc > 0, let source {
            let fisherInputs: SpecValue = .object([("samples", .int(spec.training.regularization.fisherSamples)), ("seed", .int(spec.seed))])
            trainDeps.append(add(.fisher, experiment: spec.name, inputs: fisherInputs, deps: [source.model, source.normalized], points: points,
                                 flops: 3 * Double(summary.forwardFLOPs) * Double(spec.training.regularization.fisherSamples),
                                 summary: "Fisher information of \(source.experiment) on \(spec.training.regularization.fisherSamples) of its training images",
                                 state: state))
        }
        let frozenCount = summary.layers.filter { frozen.contains($0.path) }.reduce(0) { $0 + $1.parameters }
        let train = add(.train, experiment: spec.name, inputs: trainInputs, deps: trainDeps, points: points, flops: trainFLOPs,
                        summary: "\(spec.training.epochs) epochs, \(spec.optimizer.kind.rawValue) lr=\(SpecValue.double(spec.optimizer.lr).compactText), " +
                            "batch \(spec.training.batchSize); \(Self.count(summary.parameters - frozenCount)) trainable, \(Self.count(frozenCount)) frozen" +
                            (spec.training.unfreeze.isEmpty ? "" : " at first, unfreezing at epoch " + spec.training.unfreeze.map { String($0.epoch) }.joined(separator: ", ")) +
                            (spec.training.regularization.l2sp > 0 ? ", L2-SP" : "") + (spec.training.regularization.ewc > 0 ? ", EWC" : ""),
                        state: state)
        var evaluations = [evaluate(train, data: norm, spec: spec, variant: "baseline", points: points, experiment: spec.name, state: state,
                                    flops: Double(summary.forwardFLOPs) * testSamples)]
        if let source {
            // Source-task accuracy before (the source model itself) and after fine-tuning
            // (the fine-tuned backbone under the source's own head).
            evaluations.append(add(.evaluate, experiment: spec.name, inputs: .object([("variant", .string("source.before")), ("top_k", .int(5))]),
                                   deps: [source.model, source.normalized], points: points, flops: 0,
                                   summary: "evaluate the source model \(source.experiment) on its own test split", state: state))
            // A wholly frozen backbone is unchanged bit for bit: nothing to re-score.
            if !wholeBackbone {
                evaluations.append(add(.evaluate, experiment: spec.name, inputs: .object([("variant", .string("source.after")), ("top_k", .int(5))]),
                                       deps: [train, source.normalized, source.model], points: points,
                                       flops: Double(summary.forwardFLOPs) * Double(Self.testSamples(spec.data)),
                                       summary: "evaluate the fine-tuned backbone with the source head on \(source.experiment)'s test split", state: state))
            }
        }

        // Ensemble of seeds or of other experiments.
        var ensembleStage: String?
        if let ens = spec.ensemble {
            switch ens.members {
            case .seeds(let n):
                var members = [train]
                for k in 1..<n {
                    var member = spec
                    member.seed = Self.memberSeed(spec.seed, k)
                    let memberInit = add(.modelInit, experiment: spec.name, inputs: modelInputs.merging([("seed", .int(member.seed))]),
                                         deps: initDeps, points: points, flops: 0, summary: "ensemble member \(k + 1): \(spec.backbone.arch)", state: state)
                    var deps = [memberInit, norm]
                    if useFeatures { deps.append(trainDeps[2]) }
                    members.append(add(.train, experiment: spec.name, inputs: trainInputs.merging([("seed", .int(member.seed))]),
                                       deps: deps, points: points, flops: trainFLOPs,
                                       summary: "ensemble member \(k + 1): \(spec.training.epochs) epochs, seed \(member.seed)", state: state))
                }
                ensembleStage = add(.ensemble, experiment: spec.name,
                                    inputs: .object([("members", .int(n)), ("method", .string(ens.method.rawValue))]),
                                    deps: members + [norm], points: points, flops: Double(n) * Double(summary.forwardFLOPs) * testSamples,
                                    summary: "\(n) seeds, \(ens.method.rawValue)", state: state)
            case .references(let refs) where refs.contains(where: { $0.hasPrefix("point:") }):
                break // an ensemble of sweep points is one stage for the whole sweep, added by plan(_:)
            case .references(let refs):
                var members: [String] = []
                for ref in refs {
                    let name = ref.hasPrefix("run:") ? String(ref.dropFirst(4)) : ref
                    members.append(try upstream(name, from: file, state: state).model)
                }
                ensembleStage = add(.ensemble, experiment: spec.name,
                                    inputs: .object([("members", .list(refs.map(SpecValue.string))), ("method", .string(ens.method.rawValue))]),
                                    deps: members + [norm], points: points, flops: 0,
                                    summary: "\(refs.count) experiments, \(ens.method.rawValue)", state: state)
            case .topOfSweep: break // one stage for the whole sweep, added by plan(_:)
            }
        }

        // Compression steps, in order, each reading the previous model.
        var current = train
        for (i, step) in spec.compression.enumerated() {
            var deps = [current, norm]
            var flops = 0.0
            var stepSummary = ""
            switch step {
            case .prune(let p):
                flops = 3 * Double(summary.forwardFLOPs) * trainSamples * Double(p.finetuneEpochs * p.steps)
                stepSummary = "\(p.method.rawValue) to \(Int((p.sparsity * 100).rounded()))% sparsity in \(p.steps) step(s), \(p.finetuneEpochs) fine-tune epoch(s) each"
            case .quantize(let q):
                flops = Double(summary.forwardFLOPs) * Double(q.calibrationBatches * spec.training.batchSize)
                    + 3 * Double(summary.forwardFLOPs) * trainSamples * Double(q.qatEpochs)
                stepSummary = "int\(q.bits), weights \(q.weights.rawValue), \(q.calibrationBatches) calibration batches"
            case .distill(let d):
                if case .run(let ref) = d.teacher { deps.append(try upstream(ref, from: file, state: state).model) }
                if case .ensemble = d.teacher, let e = ensembleStage { deps.append(e) }
                let student = (try? Zoo.architecture(d.studentArch, options: d.studentOptions, input: spec.data.inputShape, classes: classes).analyze())
                // The teacher's soft targets are computed once; the student trains for its epochs.
                flops = (3 * Double(student?.forwardFLOPs ?? 0) * Double(d.epochs ?? spec.training.epochs) + Double(summary.forwardFLOPs)) * trainSamples
                stepSummary = "student \(d.studentArch), teacher \(d.teacher.text), T=\(SpecValue.double(d.temperature).compactText), alpha=\(SpecValue.double(d.alpha).compactText)"
            }
            let kind: Stage.Kind = switch step { case .prune: .prune; case .quantize: .quantize; case .distill: .distill }
            let inputs: SpecValue = .object([("step", step.specValue), ("index", .int(i)), ("seed", .int(spec.seed)),
                                             ("batch_size", .int(spec.training.batchSize)), ("optimizer", spec.optimizer.specValue)])
            current = add(kind, experiment: spec.name, inputs: inputs, deps: deps, points: points, flops: flops, summary: stepSummary, state: state)
            evaluations.append(evaluate(current, data: norm, spec: spec, variant: step.kindName, points: points,
                                        experiment: spec.name, state: state, flops: Double(summary.forwardFLOPs) * testSamples))
        }
        if let ensembleStage {
            evaluations.append(evaluate(ensembleStage, data: norm, spec: spec, variant: "ensemble", points: points,
                                        experiment: spec.name, state: state, flops: 0))
        }
        return Lowered(model: current, normalized: norm, evaluations: evaluations)
    }

    private func evaluate(_ model: String, data: String, spec: Spec, variant: String, points: [String],
                          experiment: String, state: State, flops: Double = 0) -> String {
        add(.evaluate, experiment: experiment, inputs: .object([("variant", .string(variant)), ("top_k", .int(5))]),
            deps: [model, data], points: points, flops: flops, summary: "evaluate \(variant) on the test split", state: state)
    }

    /// Plans another experiment (its base point) and returns its final model and data stages.
    private func upstream(_ ref: String, from file: String, state: State) throws(PlanError) -> Lowered {
        guard let path = ExperimentLoader.resolveExperiment(ref, from: file) else {
            throw .message("no experiment '\(ref)' found next to \(file) or in Experiments/")
        }
        if let done = state.byExperimentFinal[path] { return done }
        if state.visiting.contains(path) || state.visiting.count > 16 {
            throw .message("experiments depend on each other in a cycle: \((state.visiting + [path]).joined(separator: " → "))")
        }
        let loaded: LoadedExperiment
        do { loaded = try loadExperiment(path) }
        catch let e as DiagnosticError { throw .diagnostics(e) }
        catch { throw .message("\(path): \(error)") }
        if loaded.hasSweep { state.warnings.append("'\(ref)' has a sweep; its base point (without sweep values) is used") }
        var base = loaded.base
        base.ensemble = nil
        state.visiting.append(path)
        var lowered = try lower(base, file: path, pointID: "\(loaded.name)", state: state)
        lowered.experiment = loaded.name
        state.visiting.removeLast()
        state.byExperimentFinal[path] = lowered
        return lowered
    }

    /// Adds (or reuses) a stage and returns its id.
    @discardableResult
    private func add(_ kind: Stage.Kind, experiment: String, inputs: SpecValue, deps: [String], points: [String],
                     flops: Double, summary: @autoclosure () -> String, state: State) -> String {
        let depHashes = deps.map { state.stages[$0]!.hash }
        var canonical = Array("tlc-stage/\(Self.formatVersion)\n\(kind.rawValue)\n".utf8)
        canonical += inputs.canonicalBytes
        canonical += Array("\n\(depHashes.joined(separator: ","))".utf8)
        let hash = Self.sha256(Data(canonical))
        let id = "\(kind.rawValue):\(hash.prefix(12))"
        if state.stages[id] != nil {
            addPoints(points, to: id, state: state)
            return id
        }
        state.stagePoints[id] = Set(points)
        state.stages[id] = Stage(id: id, kind: kind, experiment: experiment, hash: hash, deps: deps, inputs: inputs,
                                 points: points, flops: flops, summary: summary(), source: state.source)
        state.order.append(id)
        return id
    }

    private func addPoints(_ points: [String], to id: String, state: State) {
        for p in points where state.stagePoints[id, default: []].insert(p).inserted { state.stages[id]!.points.append(p) }
    }

    // MARK: helpers

    static func isSweepLevel(_ members: EnsembleMembers) -> Bool {
        switch members {
        case .topOfSweep: true
        case .references(let refs): refs.contains { $0.hasPrefix("point:") }
        case .seeds: false
        }
    }

    /// How many leading top-level backbone layers run once, as a feature extractor,
    /// instead of every epoch: the longest prefix whose layers are wholly frozen (or
    /// hold no parameters) and hold no dropout, ending at its last frozen parameter
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
            if leaves.contains(where: { $0.kind == "dropout" }) { break }
            let params = leaves.filter { $0.parameters > 0 }
            if !params.allSatisfy({ frozen.contains($0.path) }) { break }
            cut = i + 1
            if !params.isEmpty { lastFrozen = i + 1 }
        }
        return lastFrozen == 0 ? nil : cut
    }

    /// The files a csv/npy source reads, as absolute paths.
    public static func dataFiles(_ source: DatasetSource, relativeTo file: String) -> [String] {
        switch source {
        case .fashionMNIST: return []
        case .csv(let path): return [SpecDecoder.resolvePath(path, relativeTo: file)]
        case .npy(let path):
            let folder = SpecDecoder.resolvePath(path, relativeTo: file)
            return ["x.npy", "y.npy"].map { (folder as NSString).appendingPathComponent($0) }
        }
    }

    static func sha256(_ data: Data) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in SHA256.hash(data: data) {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A member's seed, derived from the experiment seed (stable, no Swift hashing).
    public static func memberSeed(_ seed: Int, _ k: Int) -> Int {
        Int(UInt64(stableID("\(seed)/member/\(k)").prefix(12), radix: 16)! % 1_000_000_007)
    }

    static func trainSamples(_ d: DataSpec) -> Int {
        let classes = d.classCount ?? 10
        let perClass = d.trainPerClass.map { min($0, d.dataset == .fashionMNIST ? 6000 : $0) } ?? (d.dataset == .fashionMNIST ? 6000 : 1000)
        return Int(Double(classes * perClass) * (1 - d.validation))
    }

    static func testSamples(_ d: DataSpec) -> Int {
        let classes = d.classCount ?? 10
        return classes * (d.testPerClass.map { min($0, 1000) } ?? 1000)
    }

    /// 1234 → "1234", 235146 → "235.1k", 2_500_000 → "2.50M" (no Foundation formatting: it is slow).
    static func count(_ n: Int) -> String {
        if n >= 1_000_000 { let c = (n + 5_000) / 10_000; return "\(c / 100).\(c % 100 < 10 ? "0" : "")\(c % 100)M" }
        if n >= 10_000 { let d = (n + 50) / 100; return "\(d / 10).\(d % 10)k" }
        return "\(n)"
    }
}

extension SpecValue {
    /// A map with `entries` set (replaced or appended).
    func merging(_ entries: [(String, SpecValue)]) -> SpecValue {
        guard case .map(var items) = self else { return self }
        for (k, v) in entries {
            if let i = items.firstIndex(where: { $0.key == k }) { items[i].value = v } else { items.append(SpecEntry(k, v)) }
        }
        return .map(items)
    }
    func removing(_ key: String) -> SpecValue {
        guard case .map(let items) = self else { return self }
        return .map(items.filter { $0.key != key })
    }
}
