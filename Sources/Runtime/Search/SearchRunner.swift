// SearchRunner — runs a `search` (successive halving, Hyperband; ASHA is AshaSearch,
// evolution and reinforce ModelSearch): rung by rung, it
// plans the surviving configurations at the rung's epochs, trains them through the
// stage cache, ranks them by the validation metric, and promotes the best 1/eta.
// A promoted configuration's train stage continues its previous rung's (the budget
// is max_epochs, so the schedule is the same), so a rung trains only the extra
// epochs. Every rung's outcome goes into the decision journal before the next rung
// starts; a rerun (after a kill, or to look again) replays the journal and decides
// nothing twice. The winner's run directory is written at the end: the winner at each
// epochs it reached (its test metrics measured only now), with search.json.
import Engine
import Execution
import Foundation
import FrontEnd
import Jobs
import Planner

public struct SearchError: Error, CustomStringConvertible {
    public var description: String
    public init(_ message: String) { description = message }
}

public enum SearchRunner {
    /// Runs the plan's stages in `needed` on this machine (each from the cache when it is
    /// there) and returns the runner that holds their outputs; a failed stage throws.
    static func runLocally(_ plan: Plan, needed: Set<String>, cache: StageCache?, options: RunOptions,
                           log: @escaping @Sendable (String) -> Void) throws -> StageRunner {
        let runner = StageRunner(plan: plan, policy: CachePolicy(cache: cache), cancellation: options.cancellation, log: log)
        let scheduler = Scheduler(plan: plan, jobs: options.jobs, failFast: true, cancellation: options.cancellation)
        let failures = scheduler.run(shouldRun: { needed.contains($0.id) }, execute: { stage in
            log(runner.logLine("[\(stage.kind.rawValue)] \(stage.summary)", stage: stage.id))
            try runner.run(stage)
        }, log: log)
        if let (id, message) = failures.first { throw SearchError("stage \(id) failed: \(message)") }
        return runner
    }

    /// One configuration's result at one rung.
    struct Trial {
        var configuration: Int
        var metric: Double
        var size: ModelSize? = nil
    }

    /// A network's parameters and forward FLOPs per sample.
    struct ModelSize: Sendable { var params: Int; var flops: Int }

    /// Runs the search of `experiment` (its `search` set); `plan` lowers an experiment
    /// (the command line's planner). Returns the winner's run.
    public static func run(_ experiment: LoadedExperiment, plan: (LoadedExperiment) throws -> Plan, options: RunOptions,
                           progress: @escaping @Sendable (String) -> Void) throws -> RunResult {
        guard let search = experiment.search else { throw SearchError("the experiment has no search section") }
        if search.method == .darts {
            if case .success(let schedule) = SearchSchedule.make(search, configurations: 1) {
                for line in schedule.describe(search, labels: []) { progress(line) }
            }
            return try DartsRunner.run(experiment, search: search, plan: plan, options: options, progress: progress)
        }
        let schedule: SearchSchedule
        switch SearchSchedule.make(search, configurations: experiment.points.count) {
        case .success(let s): schedule = s
        case .failure(let e): throw SearchError(e.message + "; " + e.fix)
        }
        let configurations = experiment.points
        var journal = try SearchJournal(outputRoot: options.outputRoot, experiment: experiment, search: search)
        let replayed = journal.entries.count
        let labels = configurations.map(\.label)
        for line in schedule.describe(search, labels: labels) { progress(line) }
        if replayed > 0 { progress("search: replaying \(replayed) decisions from \(journal.path)") }
        for r in experiment.rejected { progress("search: " + r.description) }
        if !search.method.usesRungs {
            let result = try ModelSearch.run(experiment, search: search, journal: &journal, plan: plan, options: options, progress: progress)
            let winner = result.models[result.winner]
            progress("search: the winner is \(labels[winner.configuration]) (\(search.metric) \(format(winner.metric)), model \(result.winner + 1) of \(result.models.count)); evaluating it on the test split")
            let steps: [[String: Any]] = result.models.enumerated().map { i, m in
                var o: [String: Any] = ["model": i + 1, "configuration": labels[m.configuration], search.metric: m.metric]
                if let p = m.parent { o["parent"] = p }
                if let mu = m.mutation { o["mutation"] = mu }
                return o
            }
            let object: [String: Any] = [
                "method": search.method.rawValue, "max_epochs": search.maxEpochs, "metric": search.metric, "models": search.models,
                "winner": labels[winner.configuration], "steps": steps,
                "epochs_trained": Set(result.models.map(\.configuration)).count * search.maxEpochs,
                "epochs_exhaustive": configurations.count * search.maxEpochs,
                "epochs_trained_by_this_process": result.epochsTrained, "train_flops_by_this_process": result.flops,
                "space": experiment.sweptPaths, "pareto": pareto(journal, search: search),
            ]
            return try finish(experiment, winner: configurations[winner.configuration], ladder: [search.maxEpochs], search: search,
                              summary: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]),
                              journal: journal, plan: plan, options: options, progress: progress)
        }

        if search.method == .asha {
            let outcome = try AshaSearch.run(experiment, search: search, schedule: schedule, journal: &journal, plan: plan, options: options, progress: progress)
            progress("search: the winner is \(labels[outcome.winner.configuration]) (\(search.metric) \(format(outcome.winner.metric)) at \(search.maxEpochs) epochs); evaluating it on the test split")
            return try finish(experiment, winner: configurations[outcome.winner.configuration], ladder: outcome.state.rungEpochs, search: search,
                              summary: try AshaSearch.summary(outcome, search: search, journal: journal, labels: labels),
                              journal: journal, plan: plan, options: options, progress: progress)
        }

        var winners: [(configuration: Int, metric: Double, bracket: Int)] = []
        var epochsTrained = 0, flopsTrained = 0.0
        for (b, bracket) in schedule.brackets.enumerated() {
            var survivors = bracket.configurations
            var previousEpochs = 0
            for (r, rung) in bracket.rungs.enumerated() {
                if options.cancellation.isCancelled { throw SearchError("cancelled") }
                let trials: [Trial]
                if let recorded = journal.rung(bracket: b, rung: r) {
                    guard Set(recorded.map(\.configuration)) == Set(survivors) else {
                        throw SearchError("the decision journal \(journal.path) disagrees with this search (another spec under the same name?); remove it to start the search over")
                    }
                    trials = recorded.map { e in
                        Trial(configuration: e.configuration, metric: e.metric, size: e.params.map { ModelSize(params: $0, flops: e.forwardFLOPs ?? 0) })
                    }
                    progress("bracket \(b + 1), rung \(r + 1): \(trials.count) × \(rung.epochs) epochs (from the journal)")
                } else {
                    progress("bracket \(b + 1), rung \(r + 1): \(survivors.count) configurations × \(rung.epochs) epochs")
                    let ladder = bracket.rungs.prefix(r + 1).map(\.epochs)
                    let outcome = try train(survivors.map { configurations[$0] }, ladder: ladder, budget: search.maxEpochs,
                                            experiment: experiment, search: search, plan: plan, options: options, progress: progress)
                    trials = survivors.indices.map { Trial(configuration: survivors[$0], metric: outcome.metrics[$0], size: outcome.sizes[$0]) }
                    flopsTrained += outcome.flops
                    epochsTrained += survivors.count * (rung.epochs - previousEpochs)
                }
                // Best first; equal metrics keep the sweep's order.
                let ranked = trials.sorted { a, b in
                    a.metric != b.metric ? (search.maximize ? a.metric > b.metric : a.metric < b.metric) : a.configuration < b.configuration
                }
                let isLast = r == bracket.rungs.count - 1
                let keep = isLast ? 1 : bracket.rungs[r + 1].configurations
                let promoted = Set(ranked.prefix(keep).map(\.configuration))
                if journal.rung(bracket: b, rung: r) == nil {
                    try journal.append(ranked.map { t in
                        SearchJournal.Entry(bracket: b, rung: r, configuration: t.configuration, label: labels[t.configuration],
                                            epochs: rung.epochs, metric: t.metric, promoted: promoted.contains(t.configuration),
                                            params: t.size?.params, forwardFLOPs: t.size?.flops)
                    })
                }
                for t in ranked {
                    progress("  \(promoted.contains(t.configuration) ? (isLast ? "best    " : "promoted") : "stopped ") \(labels[t.configuration]): \(search.metric) \(format(t.metric))")
                }
                survivors = ranked.prefix(keep).map(\.configuration)
                previousEpochs = rung.epochs
                if isLast, let best = ranked.first { winners.append((best.configuration, best.metric, b)) }
            }
        }
        guard let winner = winners.sorted(by: { a, b in
            a.metric != b.metric ? (search.maximize ? a.metric > b.metric : a.metric < b.metric) : a.bracket < b.bracket
        }).first else { throw SearchError("the search trained nothing") }
        progress("search: the winner is \(labels[winner.configuration]) (\(search.metric) \(format(winner.metric)) at \(search.maxEpochs) epochs); evaluating it on the test split")

        // The winner's run directory: its rungs, from the cache, evaluated on the test split now.
        let bracket = schedule.brackets[winner.bracket]
        return try finish(experiment, winner: configurations[winner.configuration], ladder: bracket.rungs.map(\.epochs), search: search,
                          summary: try summary(search: search, schedule: schedule, journal: journal, labels: labels,
                                               winner: winner.configuration, epochsTrained: epochsTrained, flopsTrained: flopsTrained),
                          journal: journal, plan: plan, options: options, progress: progress)
    }

    /// The winner's run directory: the winner at each epochs of `ladder` (from the
    /// cache), evaluated on the test split only now, with search.json and the journal.
    static func finish(_ experiment: LoadedExperiment, winner: ExperimentPoint, ladder: [Int], search: SearchSpec, summary: Data,
                       journal: SearchJournal, plan: (LoadedExperiment) throws -> Plan, options: RunOptions,
                       progress: @escaping @Sendable (String) -> Void) throws -> RunResult {
        var final = rungExperiment([winner], ladder: ladder, budget: search.maxEpochs, experiment: experiment)
        // Its points differ only in their epochs (the labels still name the configuration).
        final.sweptPaths = ["training.epochs"]
        for i in final.points.indices { final.points[i].assignments.removeAll { $0.path != "training.epochs" } }
        var finalOptions = options
        var summary = summary
        // Every method's search.json lists the configurations rejected as invalid (never
        // trained), and its Pareto front with the measured latency of its models.
        if var object = try? JSONSerialization.jsonObject(with: summary) as? [String: Any] {
            object["rejected"] = experiment.rejected.map { ["configuration": $0.label, "reasons": $0.reasons] as [String: Any] }
            let schedule = try? SearchSchedule.make(search, configurations: experiment.points.count).get()
            let ladder = { (e: SearchJournal.Entry) -> [Int] in
                guard e.bracket >= 0, let b = schedule?.brackets, b.indices.contains(e.bracket) else { return [search.maxEpochs] }
                return b[e.bracket].rungs.map(\.epochs)
            }
            do {
                let (stats, note) = try latencies(journal, experiment: experiment, search: search, ladder: ladder, plan: plan,
                                                  options: options, progress: progress)
                object["pareto"] = pareto(journal, search: search, latency: stats)
                object["latency"] = note
            } catch {
                object["latency"] = "not measured: \(error)"
            }
            summary = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        }
        finalOptions.extraFiles["search.json"] = summary
        finalOptions.extraFiles["search-journal.jsonl"] = Data(journal.text.utf8)
        finalOptions.note = "search \(search.method.rawValue): the winner \(winner.label); search.json has every decision"
        return try LocalRunner.run(try plan(final), options: finalOptions, progress: progress)
    }

    /// What a search starts with: its first bracket's first rung (what `tlc plan` shows
    /// and `tlc validate` lowers); the experiment itself when it has no search.
    public static func firstRung(_ experiment: LoadedExperiment) -> LoadedExperiment {
        if let search = experiment.search, search.method == .darts {
            var e = experiment
            e.search = nil
            return e
        }
        if let search = experiment.search, !search.method.usesRungs, let first = experiment.points.first {
            return rungExperiment([first], ladder: [search.maxEpochs], budget: search.maxEpochs, experiment: experiment)
        }
        guard let search = experiment.search, case .success(let schedule) = SearchSchedule.make(search, configurations: experiment.points.count),
              let bracket = schedule.brackets.first, let rung = bracket.rungs.first else { return experiment }
        return rungExperiment(bracket.configurations.map { experiment.points[$0] }, ladder: [rung.epochs], budget: search.maxEpochs,
                              experiment: experiment)
    }

    static func format(_ v: Double) -> String { String(format: "%.4f", v) }

    /// The configurations at every epochs of `ladder` (each rung continues the previous).
    static func rungExperiment(_ configurations: [ExperimentPoint], ladder: [Int], budget: Int, experiment: LoadedExperiment) -> LoadedExperiment {
        var e = experiment
        e.points = configurations.flatMap { c in ladder.map { c.atEpochs($0, budget: budget) } }
        e.hasSweep = true
        e.search = nil
        if !e.sweptPaths.contains("training.epochs") { e.sweptPaths.append("training.epochs") }
        return e
    }

    /// Trains `configurations` to the last epochs of `ladder` (earlier rungs come from
    /// the cache) and returns each one's validation metric, and the FLOPs computed.
    static func train(_ configurations: [ExperimentPoint], ladder: [Int], budget: Int, experiment: LoadedExperiment, search: SearchSpec,
                      plan makePlan: (LoadedExperiment) throws -> Plan, options: RunOptions,
                      progress: @escaping @Sendable (String) -> Void) throws -> (metrics: [Double], sizes: [ModelSize?], flops: Double) {
        try prepare(configurations, ladder: ladder, budget: budget, experiment: experiment, plan: makePlan)
            .execute(search: search, options: options, progress: progress)
    }

    /// Plans the training of `configurations` to the last epochs of `ladder` (what
    /// `Training.execute` runs; planning stays on the caller's thread).
    static func prepare(_ configurations: [ExperimentPoint], ladder: [Int], budget: Int, experiment: LoadedExperiment,
                        plan makePlan: (LoadedExperiment) throws -> Plan) throws -> Training {
        let rung = rungExperiment(configurations, ladder: ladder, budget: budget, experiment: experiment)
        let plan = try makePlan(rung)
        // The train stage of each configuration's last rung point, and everything it reads.
        let tops = stride(from: ladder.count - 1, to: plan.points.count, by: ladder.count).map { plan.points[$0] }
        let stages = Dictionary(plan.stages.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let trainIDs = try tops.map { point -> String in
            guard let eval = point.evaluateStages.first, let id = stages[eval]?.deps.first, stages[id]?.kind == .train else {
                throw SearchError("configuration \(point.label) has no train stage to rank")
            }
            return id
        }
        var needed = Set<String>(), stack = trainIDs
        while let id = stack.popLast() { if needed.insert(id).inserted { stack += stages[id]?.deps ?? [] } }
        return Training(plan: plan, stages: stages, trainIDs: trainIDs, needed: needed)
    }

    /// Planned trainings of some configurations: their plan, the train stage whose
    /// metric ranks each, and the stages those need.
    struct Training: Sendable {
        var plan: Plan
        var stages: [String: Stage]
        var trainIDs: [String]
        var needed: Set<String>

        /// Trains (or takes from the cache) the needed stages; each configuration's
        /// validation metric and size, and the training FLOPs computed. Safe to call on
        /// several threads at once (the cache locks each entry).
        func execute(search: SearchSpec, options: RunOptions,
                     progress: @escaping @Sendable (String) -> Void) throws -> (metrics: [Double], sizes: [ModelSize?], flops: Double) {
            let runner = try run(options: options, progress: progress)
            let needed = self.needed, stages = self.stages
            let flops = plan.stages.filter { needed.contains($0.id) && $0.kind == .train && runner.didRun($0.id) }.reduce(0) { $0 + $1.flops }
            let metrics = try trainIDs.map { id -> Double in
                guard case .trained(_, let history, _, _, _) = try runner.output(id), let last = history.last,
                      let value = search.metric == "val.loss" ? last.validationLoss : last.validationAccuracy else {
                    throw SearchError("stage \(id) recorded no \(search.metric)")
                }
                return value
            }
            // Each network's size, from its model.init stage's architecture.
            let sizes = trainIDs.map { id -> ModelSize? in
                var stack = [id], seen = Set<String>()
                while let s = stack.popLast() {
                    guard seen.insert(s).inserted else { continue }
                    if case .modelInit(let w)? = stages[s]?.work, let summary = try? w.architecture.analyze() {
                        return ModelSize(params: summary.parameters, flops: summary.forwardFLOPs)
                    }
                    stack += stages[s]?.deps ?? []
                }
                return nil
            }
            return (metrics, sizes, flops)
        }

        /// The trained models (from the cache when they are there).
        func models(options: RunOptions, progress: @escaping @Sendable (String) -> Void) throws -> [InferenceModel] {
            let runner = try run(options: options, progress: progress)
            return try trainIDs.map { id in
                guard let model = try runner.inferenceModel(id) else { throw SearchError("stage \(id) has no model") }
                return model
            }
        }

        /// Runs (or takes from the cache) the needed stages.
        private func run(options: RunOptions, progress: @escaping @Sendable (String) -> Void) throws -> StageRunner {
            let needed = self.needed, stages = self.stages
            let cache = options.useCache ? StageCache(root: options.cacheRoot) : nil
            let log: @Sendable (String) -> Void = { progress($0) }
            // Through Slurm: the rung is one wave of jobs filling the shared cache; the
            // scheduler below then finds every stage there.
            if let remote = options.remote, let cache {
                // Only what the ranking needs (no test evaluation); each point ends at its train stage.
                var wave = plan
                wave.stages = plan.stages.filter { needed.contains($0.id) }
                wave.points = plan.points.compactMap { p in
                    guard let eval = p.evaluateStages.first, let train = stages[eval]?.deps.first, needed.contains(train) else { return nil }
                    return PlanPoint(id: p.id, label: p.label, assignments: p.assignments, modelStage: train, evaluateStages: [],
                                     reportStage: train, resolvedSpec: p.resolvedSpec)
                }
                wave.upstreamRuns = []
                if let (id, message) = remote.execute(wave, cache: cache, log: log).sorted(by: { $0.key < $1.key }).first {
                    throw SearchError("stage \(id) failed on the cluster: \(message)")
                }
            }
            return try SearchRunner.runLocally(plan, needed: needed, cache: cache, options: options, log: log)
        }
    }

    /// search.json's `pareto`: the non-dominated models trained to max_epochs — on the
    /// metric, parameters, FLOPs and, when measured, latency (per batch, median).
    static func pareto(_ journal: SearchJournal, search: SearchSpec, latency: [Int: LatencyStats] = [:]) -> [[String: Any]] {
        journal.paretoFront(maxEpochs: search.maxEpochs, maximize: search.maximize,
                            latency: latency.isEmpty ? nil : latency.mapValues(\.median)).map { e in
            var o: [String: Any] = ["configuration": e.label, search.metric: e.metric, "params": e.params ?? 0, "forward_flops": e.forwardFLOPs ?? 0]
            if let l = latency[e.configuration] {
                o["latency_per_batch_ms"] = l.median * 1000
                o["latency_per_batch_ms_range"] = [l.min * 1000, l.max * 1000]
            }
            return o
        }
    }

    /// The most models whose latency a search measures (the best by the metric).
    static let latencyCandidates = 32

    /// Measured inference latency of the models trained to max_epochs (the best
    /// `latencyCandidates` by the metric), interleaved as LatencyMeasurement does, on
    /// one batch of 256 seeded random inputs of the input shape. Their trained models
    /// come from the cache; without the cache (`--no-cache`) nothing is measured.
    /// `ladder` gives the epochs a configuration's journal entry trained through.
    static func latencies(_ journal: SearchJournal, experiment: LoadedExperiment, search: SearchSpec,
                          ladder: (SearchJournal.Entry) -> [Int], plan: (LoadedExperiment) throws -> Plan, options: RunOptions,
                          progress: @escaping @Sendable (String) -> Void) throws -> (stats: [Int: LatencyStats], note: String) {
        guard options.useCache else { return ([:], "not measured: --no-cache (the models would be trained again)") }
        var best: [Int: SearchJournal.Entry] = [:]
        for e in journal.entries where e.epochs == search.maxEpochs && e.params != nil && best[e.configuration] == nil { best[e.configuration] = e }
        let candidates = best.values.sorted { a, b in
            a.metric != b.metric ? (search.maximize ? a.metric > b.metric : a.metric < b.metric) : a.configuration < b.configuration
        }.prefix(latencyCandidates)
        guard !candidates.isEmpty else { return ([:], "no model trained to max_epochs") }
        var models: [(name: String, model: InferenceModel)] = []
        var quiet = options
        quiet.remote = nil   // every stage is in the cache already
        for e in candidates {
            let training = try prepare([experiment.points[e.configuration]], ladder: ladder(e), budget: search.maxEpochs,
                                       experiment: experiment, plan: plan)
            models.append((String(e.configuration), try training.models(options: quiet, progress: { _ in })[0]))
        }
        guard let shape = models.first?.model.input else { return ([:], "no input shape") }
        let count = 256
        var rng = SeededGenerator(seed: 0).split(label: "search.latency")
        let batch = Tensor(zeros: [count, shape.channels, shape.height, shape.width])
        for i in 0..<batch.count { batch.pointer[i] = Float(rng.nextDouble() * 2 - 1) }
        progress("search: measuring the latency of \(models.count) model(s) trained to \(search.maxEpochs) epochs")
        let stats = try LatencyMeasurement.measure(models, on: batch, count: count)
        var out: [Int: LatencyStats] = [:]
        for (name, s) in stats { out[Int(name)!] = s }
        let note = "each of the \(models.count) best models trained to max_epochs (at most \(latencyCandidates)) predicts one batch of \(count) seeded random inputs per round; "
            + "\(LatencyMeasurement.warmup) warm-up rounds, then \(LatencyMeasurement.rounds) timed rounds with the models interleaved in a rotating order, "
            + "after the search (nothing else running), on \(ProcessInfo.processInfo.activeProcessorCount) thread(s); median and range over the rounds"
        return (out, note)
    }

    /// search.json: the schedule, every rung's configurations with their metric and the
    /// decision, the winner, and what the search cost.
    static func summary(search: SearchSpec, schedule: SearchSchedule, journal: SearchJournal, labels: [String], winner: Int,
                        epochsTrained: Int, flopsTrained: Double) throws -> Data {
        // Epochs the whole search trained, from the journal (this process may have replayed some).
        var spent = 0
        for (b, bracket) in schedule.brackets.enumerated() {
            var previous = 0
            for (r, rung) in bracket.rungs.enumerated() {
                spent += (journal.rung(bracket: b, rung: r)?.count ?? 0) * (rung.epochs - previous)
                previous = rung.epochs
            }
        }
        let object: [String: Any] = [
            "method": search.method.rawValue, "eta": search.eta, "min_epochs": search.minEpochs, "max_epochs": search.maxEpochs,
            "metric": search.metric, "winner": labels[winner], "pareto": pareto(journal, search: search),
            "epochs_trained": spent, "epochs_exhaustive": schedule.configurationsNeeded * search.maxEpochs,
            "epochs_trained_by_this_process": epochsTrained, "train_flops_by_this_process": flopsTrained,
            "brackets": schedule.brackets.enumerated().map { b, bracket in
                ["configurations": bracket.configurations.map { labels[$0] },
                 "rungs": bracket.rungs.enumerated().map { r, rung in
                     ["epochs": rung.epochs, "trained": (journal.rung(bracket: b, rung: r) ?? []).map { e in
                         ["configuration": e.label, search.metric: e.metric, "promoted": e.promoted] as [String: Any]
                     }] as [String: Any]
                 }] as [String: Any]
            },
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }
}
