// Compression and ensemble lowering: `prune`, `quantize`, `distill`, `share` and
// `encode` steps in
// order (each reads the previous model), ensembles of seeds or of other
// experiments per point, ensembles over sweep points once per sweep, and the
// evaluation of each resulting model.
import Foundation
import FrontEnd
import Jobs
import ModelZoo

extension PlanBuilder {
    func lowerCompression(_ spec: Spec, file: String, data: (load: String, norm: String), model: LoweredModel,
                          into lowered: inout Lowered, points: [String], state: State) throws(PlanError) {
        let summary = model.summary
        let forward = Double(summary.forwardFLOPs)
        let trainSamples = Double(Self.trainSamples(spec.data)), testSamples = Double(Self.testSamples(spec.data))
        let training = Self.trainingSettings(spec)
        let train = lowered.model

        // Ensemble of seeds or of other experiments.
        var ensembleStage: String?
        if let ens = spec.ensemble {
            switch ens.members {
            case .seeds(let n):
                guard case .train(let trainWork)? = state.stages[train]?.work else { preconditionFailure("a point's model stage is its train stage") }
                let trainDeps = state.stages[train]!.deps
                var members = [train]
                for k in 1..<n {
                    // Member k draws its own initialization and shuffling from the point's seeds.
                    let seed = Self.memberSeed(spec.initSeed, k)
                    var initWork = model.initWork
                    initWork.seed = seed
                    let memberInit = add(.modelInit(initWork), experiment: spec.name, deps: model.initDeps, points: points, flops: 0,
                                         summary: "ensemble member \(k + 1): \(spec.backbone.arch)", state: state)
                    var work = trainWork
                    work.training.seed = Self.memberSeed(spec.shuffleSeed, k)
                    members.append(add(.train(work), experiment: spec.name, deps: [memberInit] + trainDeps.dropFirst(), points: points,
                                       flops: state.stages[train]!.flops,
                                       summary: "ensemble member \(k + 1): \(spec.training.epochs) epochs, seed \(seed)", state: state))
                }
                ensembleStage = add(.ensemble(EnsembleWork(method: Self.ensembleMethod(ens.method), members: .all,
                                                           memberNames: (1...n).map { "seed member \($0)" })),
                                    experiment: spec.name, deps: members + [data.norm], points: points,
                                    flops: Double(n) * forward * testSamples, summary: "\(n) seeds, \(ens.method.rawValue)", state: state)
            case .references(let refs) where !Self.isSweepLevel(ens.members):
                var members: [String] = []
                for ref in refs {
                    members.append(try upstream(ref.hasPrefix("run:") ? String(ref.dropFirst(4)) : ref, from: file, state: state).model)
                }
                ensembleStage = add(.ensemble(EnsembleWork(method: Self.ensembleMethod(ens.method), members: .all, memberNames: refs)),
                                    experiment: spec.name, deps: members + [data.norm], points: points, flops: 0,
                                    summary: "\(refs.count) experiments, \(ens.method.rawValue)", state: state)
            case .references, .topOfSweep: break // one stage for the whole sweep (sweepEnsemble)
            }
        }

        // Compression steps, in order, each reading the previous model.
        var current = train
        for (i, step) in spec.compression.enumerated() {
            var deps = [current, data.norm]
            let work: StageWork, flops: Double, stepSummary: String
            switch step {
            case .prune(let p):
                work = .prune(PruneWork(method: p.method == .magnitude ? .magnitude : .l1Filter, global: p.scope == .global,
                                        sparsity: p.sparsity, steps: p.steps, finetuneEpochs: p.finetuneEpochs, index: i,
                                        seed: spec.shuffleSeed, training: training))
                flops = 3 * forward * trainSamples * Double(p.finetuneEpochs * p.steps)
                stepSummary = "\(p.method.rawValue) to \(Int((p.sparsity * 100).rounded()))% sparsity in \(p.steps) step(s), \(p.finetuneEpochs) fine-tune epoch(s) each"
            case .quantize(let q):
                work = .quantize(QuantizeWork(bits: q.bits, perChannel: q.weights == .per_channel, calibrationBatches: q.calibrationBatches,
                                              qatEpochs: q.qatEpochs, index: i, seed: spec.shuffleSeed, training: training))
                flops = forward * Double(q.calibrationBatches * spec.training.batchSize) + 3 * forward * trainSamples * Double(q.qatEpochs)
                stepSummary = "int\(q.bits), weights \(q.weights.rawValue), \(q.calibrationBatches) calibration batches"
            case .distill(let d):
                if case .run(let ref) = d.teacher { deps.append(try upstream(ref, from: file, state: state).model) }
                if case .ensemble = d.teacher, let e = ensembleStage { deps.append(e) }
                let student: Architecture, studentSummary: ArchitectureSummary
                do {
                    student = try Zoo.architecture(d.studentArch, options: d.studentOptions, input: spec.data.inputShape,
                                                   classes: try Self.classCount(spec))
                    studentSummary = try student.analyze()
                } catch let e as PlanError { throw e } catch { throw .message("\(spec.name): compression[\(i)].distill: \(error)") }
                var studentTraining = training
                studentTraining.epochs = d.epochs ?? spec.training.epochs
                work = .distill(DistillWork(student: student, temperature: d.temperature, alpha: d.alpha, index: i, seed: spec.initSeed,
                                            training: studentTraining))
                // The teacher's soft targets are computed once; the student trains for its epochs.
                flops = (3 * Double(studentSummary.forwardFLOPs) * Double(studentTraining.epochs) + forward) * trainSamples
                stepSummary = "student \(d.studentArch), teacher \(d.teacher.text), T=\(SpecValue.double(d.temperature).compactText), alpha=\(SpecValue.double(d.alpha).compactText)"
            case .share(let sh):
                work = .share(ShareWork(bits: sh.bits, finetuneEpochs: sh.finetuneEpochs, index: i, seed: spec.shuffleSeed, training: training))
                flops = 3 * forward * trainSamples * Double(sh.finetuneEpochs)
                stepSummary = "share weights: \(1 << sh.bits) values per layer (k-means), \(sh.finetuneEpochs) fine-tune epoch(s)"
            case .encode:
                deps = [current]
                work = .encode(EncodeWork(index: i))
                flops = 0
                stepSummary = "encode: sparse, coded, deflated (Deep Compression storage)"
            }
            current = add(work, experiment: spec.name, deps: deps, points: points, flops: flops, summary: stepSummary, state: state)
            lowered.evaluations.append(add(.evaluate(EvaluateWork(variant: step.kindName, topK: 5, featureCut: nil)), experiment: spec.name,
                                           deps: [current, data.norm], points: points, flops: forward * testSamples,
                                           summary: "evaluate \(step.kindName) on the test split", state: state))
        }
        if let ensembleStage {
            lowered.evaluations.append(add(.evaluate(EvaluateWork(variant: "ensemble", topK: 5, featureCut: nil)), experiment: spec.name,
                                           deps: [ensembleStage, data.norm], points: points, flops: 0,
                                           summary: "evaluate ensemble on the test split", state: state))
        }
        lowered.model = current
    }

    /// The one ensemble stage of a sweep (the top k points, or points named by label)
    /// and its evaluation.
    func sweepEnsemble(_ ens: EnsembleSpec, experiment: LoadedExperiment, points: [PlanPoint], data: [String],
                       state: State) throws(PlanError) -> SweepEnsemble {
        var deps: [String] = [], names: [String] = [], memberPoints: [Int] = []
        let members: EnsembleWork.Members
        let summary: String
        switch ens.members {
        case .topOfSweep(let k):
            let metric = experiment.base.report.target
            memberPoints = Array(points.indices)
            // Candidates are ranked by their baseline's test evaluation (test.*), or by the
            // last validation scores of their training (val.*), as the leaderboard shows them.
            let scores: [String]
            switch metric {
            case "test.accuracy", "test.loss", "test.top5", "test.macro_f1":
                scores = points.compactMap { $0.evaluateStages.first }
            case "val.accuracy", "val.loss":
                scores = points.compactMap { p in p.evaluateStages.first.flatMap { state.stages[$0]?.deps.first } }
            default:
                throw .message("ensemble: {members: {top: \(k)}} ranks points by report.target, which must be val.accuracy, val.loss or a test metric (it is \(metric))")
            }
            deps = points.map(\.modelStage) + scores
            names = points.map(\.label)
            members = .top(count: k, metric: metric)
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
                    names.append(label)
                } else {
                    deps.append(try upstream(ref.hasPrefix("run:") ? String(ref.dropFirst(4)) : ref, from: experiment.file, state: state).model)
                    names.append(ref)
                }
            }
            members = .all
            summary = "ensemble of \(refs.count) members, \(ens.method.rawValue)"
        case .seeds: preconditionFailure("seeds ensembles are per point")
        }
        guard Set(memberPoints.map { data[$0] }).count <= 1 else {
            throw .message("the ensemble's members were trained on different data (the sweep changes data or normalization); an ensemble needs one test set")
        }
        let norm = data[memberPoints.first ?? 0]
        let all = points.map(\.id)
        let stage = add(.ensemble(EnsembleWork(method: Self.ensembleMethod(ens.method), members: members, memberNames: names)),
                        experiment: experiment.name, deps: deps + [norm], points: all, flops: 0, summary: summary, state: state)
        let evaluation = add(.evaluate(EvaluateWork(variant: "ensemble", topK: 5, featureCut: nil)), experiment: experiment.name,
                             deps: [stage, norm], points: all, flops: 0, summary: "evaluate ensemble on the test split", state: state)
        let description: String = switch members {
        case .top(let k, let metric): "the top \(k) points by \(metric), \(ens.method.rawValue)"
        case .all: names.joined(separator: ", ") + ", \(ens.method.rawValue)"
        }
        return SweepEnsemble(stage: stage, evaluation: evaluation, description: description)
    }

    static func ensembleMethod(_ m: EnsembleSpec.Method) -> EnsembleWork.Method {
        switch m {
        case .mean_probs: .meanProbs
        case .vote: .vote
        case .weighted: .weighted
        }
    }
}
