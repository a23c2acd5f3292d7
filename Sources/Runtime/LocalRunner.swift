// Runtime — runs plans: schedules their stages (Scheduler), hands each stage's
// work to the executor (StageRunner → Execution), keeps outputs in the stage
// cache (StageCache), writes run directories as JSON and safetensors (LocalRunner,
// Variants, Leaderboard), sends stages to Slurm (Cluster/), and lists, collects and
// verifies runs (RunStore, Verify). It never decides what a stage does (the
// planner did) and renders no Markdown or HTML (Reporting does).
//
// LocalRunner — runs a whole plan in this process, stage after stage in
// dependency order, and writes one run directory per point. A run directory is
// assembled under a hidden temporary name and renamed into place only when the
// point finished, so a directory that looks finished is finished; a failed point
// keeps its log under `<run-id>.failed`.
import Engine
import Execution
import Foundation
import FrontEnd
import Jobs

public struct RunOptions: Sendable {
    /// Artifact root (default `Outputs`, or `TLC_OUTPUT`).
    public var outputRoot: String
    /// Read and write the stage cache (`--no-cache` turns it off).
    public var useCache: Bool
    /// Rerun this experiment's stages even when cached (`--force`).
    public var force: Bool
    /// Stages run at once (default: the number of cores).
    public var jobs: Int
    /// Stop starting stages after the first failure.
    public var failFast: Bool
    public var cancellation: Cancellation
    /// Writes the human-readable reports (report.md, report.html, compression.md, leaderboard.md)
    /// from the data files of a finished point or sweep; nil writes none. The
    /// runtime knows nothing about templates: the Reporting module supplies this.
    public var reporter: (any RunReporter)?
    /// Computes the stages elsewhere (`--executor slurm`); nil: in this process.
    public var remote: (any RemoteExecutor)? = nil
    /// The command line as given (program name first), recorded in env.json and log.txt;
    /// nil when the run is not started from the command line.
    public var commandLine: [String]? = nil
    /// Why this run exists when no command asked for it (a dependency trained on the way).
    public var note: String? = nil
    /// Files written into the run directory (a search's search.json), by name.
    public var extraFiles: [String: Data] = [:]
    public init(outputRoot: String? = nil, useCache: Bool = true, force: Bool = false, jobs: Int? = nil,
                failFast: Bool = false, cancellation: Cancellation = Cancellation(), reporter: (any RunReporter)? = nil) {
        self.reporter = reporter
        self.outputRoot = Self.outputRoot(outputRoot)
        self.useCache = useCache
        self.force = force
        self.jobs = max(1, jobs ?? ProcessInfo.processInfo.activeProcessorCount)
        self.failFast = failFast
        self.cancellation = cancellation
    }
    public var cacheRoot: String { (outputRoot as NSString).appendingPathComponent(".cache") }

    /// The artifact root: `--output`, else `$TLC_OUTPUT`, else `Outputs`.
    public static func outputRoot(_ option: String?) -> String {
        option ?? ProcessInfo.processInfo.environment["TLC_OUTPUT"] ?? "Outputs"
    }

    /// Why the artifact root cannot be used as given, or nil: an empty `--output` or
    /// `TLC_OUTPUT` would write into the current folder.
    public static func outputRootProblem(_ option: String?) -> String? {
        if let option, option.trimmingCharacters(in: .whitespaces).isEmpty { return "--output is empty: give the artifact folder, e.g. --output Outputs" }
        var isDir: ObjCBool = false
        let root = outputRoot(option)
        if FileManager.default.fileExists(atPath: root, isDirectory: &isDir), !isDir.boolValue {
            return "the artifact root \(root) is a file, not a folder: give another with --output or TLC_OUTPUT"
        }
        if option == nil, let env = ProcessInfo.processInfo.environment["TLC_OUTPUT"], env.trimmingCharacters(in: .whitespaces).isEmpty {
            return "TLC_OUTPUT is set but empty: unset it or give the artifact folder"
        }
        return nil
    }
}

/// Writes reports into a run directory before it is published. Called with the
/// unpublished (hidden) folder: every data file of the point (metrics.json,
/// history.jsonl, evaluation.json, resolved.yaml, …) or of the sweep
/// (leaderboard.json, plan.json, each point's folder) is already there.
public protocol RunReporter: Sendable {
    func writePointReport(pointDir: String) throws
    func writeSweepReport(sweepDir: String) throws
}

/// The outcome of one point.
public struct PointResult: Sendable {
    public var label: String
    public var runDir: String
    public var status: String          // "succeeded" or "failed"
    public var metrics: [String: Double]
    public var error: String?
}

/// The outcome of `tlc run`.
public struct RunResult: Sendable {
    public var experiment: String
    public var runDir: String
    public var status: String
    public var points: [PointResult]
    public var isSweep: Bool
    /// Set when every stage came from the cache: how many stages that was.
    public var cachedStages: Int? = nil

    /// The `--json` summary: `run_dir`, `status`, `metrics` (and `points` for sweeps).
    public var json: String {
        func metricsValue(_ m: [String: Double]) -> SpecValue { .map(m.keys.sorted().map { SpecEntry($0, .double(m[$0]!)) }) }
        var entries: [(String, SpecValue?)] = [("experiment", .string(experiment)), ("run_dir", .string(runDir)), ("status", .string(status)),
                                               ("cached", .bool(cachedStages != nil))]
        if isSweep {
            entries.append(("points", .list(points.map { p in
                .object([("label", .string(p.label)), ("run_dir", .string(p.runDir)), ("status", .string(p.status)),
                         ("metrics", metricsValue(p.metrics)), ("error", p.error.map(SpecValue.string))])
            })))
        } else if let p = points.first {
            entries.append(("metrics", metricsValue(p.metrics)))
            entries.append(("error", p.error.map(SpecValue.string)))
        }
        return SpecValue.object(entries).prettyJSON()
    }
}

/// What a run reports as it goes (defined with the executor, which sends most of it).
public typealias RunEvent = Execution.RunEvent

public enum RunError: Error, CustomStringConvertible {
    case output(String)
    public var description: String {
        switch self { case .output(let m): m }
    }
}

/// A file-system error as a short phrase ("No such file or directory").
func describe(_ error: Error) -> String { FileSystemErrors.phrase(error) }

/// The run's log: kept for log.txt and passed on to the progress callback, from any thread.
final class LogBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    private let progress: (String) -> Void
    init(progress: @escaping (String) -> Void) { self.progress = progress }
    func append(_ line: String) {
        lock.lock(); lines.append(line); lock.unlock()
        progress(line)
    }
    var text: String { lock.lock(); defer { lock.unlock() }; return lines.joined(separator: "\n") + "\n" }
}

public enum LocalRunner {
    /// Runs `plan` (its stages carry everything they need) into a new run directory.
    public static func run(_ plan: Plan, options: RunOptions,
                           progress: @escaping (String) -> Void,
                           events: (@Sendable (RunEvent) -> Void)? = nil) throws -> RunResult {
        let fm = FileManager.default
        let experimentDir = (options.outputRoot as NSString).appendingPathComponent(plan.experiment)
        do {
            try fm.createDirectory(atPath: experimentDir, withIntermediateDirectories: true)
            guard fm.isWritableFile(atPath: experimentDir) else { throw CocoaError(.fileWriteNoPermission) }
        } catch {
            throw RunError.output("cannot write to the output folder \(experimentDir): \(describe(error)); choose another with --output or TLC_OUTPUT")
        }
        let runID = makeRunID()
        let isSweep = plan.isSweep
        // Sweep: <experiment>/<sweep-id>/<label>/; single run: <experiment>/<run-id>/.
        let finalRoot = (experimentDir as NSString).appendingPathComponent(runID)
        let workRoot = (experimentDir as NSString).appendingPathComponent(".\(runID).partial")
        try fm.createDirectory(atPath: workRoot, withIntermediateDirectories: true)
        // Who is writing this folder: `tlc gc` removes it once that process is gone (killed).
        let writerFile = (workRoot as NSString).appendingPathComponent(Unfinished.writerFile)
        try? Data("\(getpid()) \(StageCache.hostTag)\n".utf8).write(to: URL(fileURLWithPath: writerFile))

        let logBuffer = LogBuffer(progress: progress)
        let log: @Sendable (String) -> Void = { logBuffer.append($0) }
        var provenance = RunProvenance(plan: plan, command: options.commandLine)
        provenance.logLines.forEach(log)
        if let note = options.note { log(note) }
        log("tlc \(versionString) run \(plan.experiment) (\(plan.file)): \(plan.points.count) point(s), \(plan.stages.count) stages")

        let cache = options.useCache ? StageCache(root: options.cacheRoot) : nil
        cache?.sweepTemporaries()
        let executor = StageRunner(plan: plan, policy: CachePolicy(cache: cache, forceExperiment: options.force ? plan.experiment : nil),
                                     cancellation: options.cancellation, log: log)
        executor.events = events
        let started = Date()
        let scheduler = Scheduler(plan: plan, jobs: options.jobs, failFast: options.failFast, cancellation: options.cancellation)
        let schedulerStart = Date()
        // A remote executor (Slurm) first computes the missing stages into the shared
        // cache; the scheduler below then finds them there (see Cluster/RemoteExecutor.swift).
        let cachedBeforeRemote = options.remote == nil || cache.map { RunProvenance.everyStageCached(plan, in: $0) } == true
        let remoteFailures = cache.flatMap { cache in options.remote.map { $0.execute(plan, cache: cache, log: log) } } ?? [:]
        let failures = scheduler.run(shouldRun: { $0.kind != .report }, execute: { stage in
            if options.remote != nil, cache?.isComplete(stage.hash) != true {   // never computed here
                throw StageFailure(stage: stage.id, message: remoteFailures[stage.id] ?? "not in the cache after the remote executor ran")
            }
            log(executor.logLine("[\(stage.kind.rawValue)] \(stage.summary)", stage: stage.id))
            events?(.stageStarted(id: stage.id, kind: stage.kind.rawValue, summary: stage.summary,
                                  label: plan.points.first { stage.points.contains($0.id) && stage.points.count == 1 }?.label ?? ""))
            let t0 = Date()
            do { try executor.run(stage) } catch {
                events?(.stageFinished(id: stage.id, seconds: Date().timeIntervalSince(t0), failed: true))
                throw error
            }
            events?(.stageFinished(id: stage.id, seconds: Date().timeIntervalSince(t0), failed: false))
            log(executor.logLine("  done: \(stage.id) in \(fmt(Date().timeIntervalSince(t0), 2)) s", stage: stage.id))
        }, log: log)
        let stagesSeconds = Date().timeIntervalSince(schedulerStart)

        var results: [PointResult] = []
        var ok = false
        do {
            // The plan first: the reporter reads each point's stages and label from it
            // (and a search's files, such as search.json).
            try writeText(String(decoding: try plan.encoded(), as: UTF8.self), to: workRoot, "plan.json")
            for (name, data) in options.extraFiles.sorted(by: { $0.key < $1.key }) {
                try data.write(to: URL(fileURLWithPath: (workRoot as NSString).appendingPathComponent(name)), options: .atomic)
            }
            let folders = pointFolders(plan.points.map { ($0.id, $0.label) })
            for (point, folder) in zip(plan.points, folders) {
                let dirName = isSweep ? folder : ""
                let pointWork = dirName.isEmpty ? workRoot : (workRoot as NSString).appendingPathComponent(dirName)
                let pointFinal = dirName.isEmpty ? finalRoot : (finalRoot as NSString).appendingPathComponent(dirName)
                try fm.createDirectory(atPath: pointWork, withIntermediateDirectories: true)
                let failure = ([point.modelStage] + point.evaluateStages).compactMap { failures[$0] }.first
                var metrics: [String: Double] = [:]
                if failure == nil {
                    metrics = try writePoint(point, plan: plan, executor: executor, to: pointWork)
                }
                try writeText(plan.sourceText, to: pointWork, "spec.yaml")
                try writeText(point.resolvedSpec, to: pointWork, "resolved.yaml")
                if failure == nil { try options.reporter?.writePointReport(pointDir: pointWork) }
                results.append(PointResult(label: point.label, runDir: pointFinal, status: failure == nil ? "succeeded" : "failed",
                                           metrics: metrics, error: failure))
            }
            // Experiments trained on the way (`run:NAME`) get run directories of their own,
            // assembled from the cache this run just filled.
            if options.useCache {
                for upstream in plan.upstreamRuns where executor.didRun(upstream.point.modelStage) && failures[upstream.point.modelStage] == nil {
                    var sub = options
                    (sub.commandLine, sub.remote, sub.force) = (nil, nil, false)
                    sub.note = "trained on the way by a run of \(plan.experiment) (\(runID)); every stage comes from the cache it filled"
                    do {
                        let r = try LocalRunner.run(plan.plan(of: upstream), options: sub, progress: { _ in })
                        log("\(upstream.experiment) was trained on the way: its run directory is \(r.runDir)")
                    } catch {
                        log("warning: the run directory of \(upstream.experiment), trained on the way, was not written: \(error)")
                    }
                }
            }
            let ensembles = try sweepEnsembleRows(plan, failures: failures, executor: executor)
            for e in ensembles {
                if let acc = e.metrics["test.accuracy"], let best = e.members.max(by: { $0.testAccuracy < $1.testAccuracy }) {
                    log("ensemble (\(e.description)): test accuracy \(pct(acc)); best member \(best.label) \(pct(best.testAccuracy)) on the same test set")
                } else {
                    log("ensemble (\(e.description)) failed: \(e.error ?? "")")
                }
            }
            ok = results.allSatisfy { $0.status == "succeeded" } && ensembles.allSatisfy { $0.status == "succeeded" }
            let checked = executor.verification
            log("stages: \(executor.ranCount) ran, \(executor.reusedCount) from the cache; \(fmt(stagesSeconds, 3)) s in the scheduler"
                + (checked.entries > 0 ? "; \(checked.entries) cache entries checked against their digests in \(fmt(checked.seconds * 1000, 1)) ms" : ""))
            provenance.noteStages(ran: executor.ranCount, reused: executor.reusedCount, failed: !ok || !failures.isEmpty, cachedBeforeRemote: cachedBeforeRemote)
            let suffix = options.cancellation.isCancelled ? ".cancelled" : ".failed"
            log(ok ? "finished in \(fmt(Date().timeIntervalSince(started), 1)) s: \(finalRoot)"
                   : "failed: \(results.filter { $0.status == "failed" }.count) of \(results.count) point(s)"
                       + (isSweep ? " (" + results.filter { $0.status == "failed" }.map { "\($0.label): \($0.error ?? "failed")" }.joined(separator: "; ") + ")" : "")
                       + "; logs kept in \(finalRoot)\(suffix)")
            try writeText(logBuffer.text, to: workRoot, "log.txt")
            if isSweep {
                try Leaderboard.write(points: results, ensembles: ensembles, target: plan.reportTarget, to: workRoot)
                try options.reporter?.writeSweepReport(sweepDir: workRoot)
            }
            try writeText(RunEnvironment.capture(specFile: plan.file, provenance: provenance, started: started).prettyJSON() + "\n", to: workRoot, "env.json")
        } catch {
            // A write failed (disk full, a folder gone read-only, …): keep what can be kept
            // under a failed name, never a finished-looking directory.
            log("error: cannot write the run directory: \(describe(error))")
            try? fm.removeItem(atPath: writerFile)
            try? writeText(logBuffer.text, to: workRoot, "log.txt")
            let failedDir = finalRoot + ".failed"
            if (try? fm.moveItem(atPath: workRoot, toPath: failedDir)) != nil {
                throw RunError.output("cannot write the run directory: \(describe(error)); what was written is in \(failedDir)")
            }
            throw RunError.output("cannot write the run directory \(workRoot): \(describe(error))")
        }
        try? fm.removeItem(atPath: writerFile)
        // Publish: rename the finished directory into place; failures keep their logs.
        let cancelled = options.cancellation.isCancelled
        let published = ok ? finalRoot : finalRoot + (cancelled ? ".cancelled" : ".failed")
        try fm.moveItem(atPath: workRoot, toPath: published)
        if ok {
            try RunStore.linkLatest(in: experimentDir, to: runID)
        } else {
            for i in results.indices { results[i].runDir = results[i].runDir.replacingOccurrences(of: finalRoot, with: published) }
        }
        return RunResult(experiment: plan.experiment, runDir: published, status: ok ? "succeeded" : cancelled ? "cancelled" : "failed",
                         points: results, isSweep: isSweep, cachedStages: provenance.cachedStages)
    }

    /// The image folder decoding a data.normalize stage's data comes from, if any: its
    /// first dependency is its data.load, whose only one is the data.decode (a
    /// normalization from an upstream run depends on that run's data after it).
    static func imageDecodeWork(upstreamOf normalizeID: String, executor: StageRunner) -> ImageDecodeWork? {
        guard let load = executor.stage(normalizeID)?.deps.first, let decode = executor.stage(load)?.deps.first,
              case .dataDecode(let w)? = executor.stage(decode)?.work else { return nil }
        return w
    }

    /// Writes metrics.json, history.jsonl, model.safetensors and report.md of a finished point.
    /// The top-level metrics and model.safetensors are the baseline (trained) model's;
    /// compressed models and ensembles are listed under `variants` (see Variants.swift).
    private static func writePoint(_ point: PlanPoint, plan: Plan, executor: StageRunner, to dir: String) throws -> [String: Double] {
        guard case .report(let report)? = executor.stage(point.reportStage)?.work,
              let evalID = point.evaluateStages.first, let trainID = executor.stage(evalID)?.deps.first,
              case .trained(let network, let history, let seconds, let stoppedEarly, _) = try executor.output(trainID),
              case .evaluation(_, let test) = try executor.output(evalID) else { return [:] }
        var metrics: [String: Double] = [
            "test.accuracy": test.accuracy, "test.loss": test.loss, "test.macro_f1": test.macroF1,
            "model.params": Double(network.parameterCount), "model.trainable_params": Double(trainableParameters(network, frozen: report.frozen)),
            "time.train_seconds": seconds,
        ]
        metrics["model.frozen_params"] = metrics["model.params"]! - metrics["model.trainable_params"]!
        // An image folder: the images used and the files skipped as broken.
        if let normID = executor.stage(evalID)?.deps.dropFirst().first, let loadID = executor.stage(normID)?.deps.first,
           let decodeID = executor.stage(loadID)?.deps.first, executor.stage(decodeID)?.kind == .dataDecode,
           let summary = executor.decodedSummary(decodeID) {
            metrics["data.images"] = Double(summary.images)
            metrics["data.skipped_files"] = Double(summary.skipped.count)
        }
        // Top-5 accuracy says something only with more than five classes.
        if report.classes.count > 5 { metrics["test.top5"] = test.topKAccuracy }
        if let trainStage = executor.stage(point.modelStage), case .train(let work) = trainStage.work, work.featureCut != nil,
           let s = executor.computeSeconds(trainStage.deps[2]) {
            // The frozen backbone ran once over every split; the head trained on its outputs.
            metrics["time.features_seconds"] = s
        }
        for id in point.evaluateStages {
            guard case .evaluation(let variant, let result)? = try? executor.output(id) else { continue }
            if variant == "source.before" { metrics["source.accuracy_before"] = result.accuracy }
            if variant == "source.after" { metrics["source.accuracy_after"] = result.accuracy }
        }
        if let before = metrics["source.accuracy_before"], metrics["source.accuracy_after"] == nil {
            // The planner re-scores the source task unless the whole backbone was frozen,
            // which leaves it unchanged bit for bit (batch norm on running statistics).
            metrics["source.accuracy_after"] = before
        }
        if let before = metrics["source.accuracy_before"], let after = metrics["source.accuracy_after"] {
            metrics["source.forgetting"] = before - after
        }
        if let last = history.last {
            metrics["train.loss"] = last.trainLoss
            metrics["train.accuracy"] = last.trainAccuracy
            if let v = last.validationAccuracy { metrics["val.accuracy"] = v }
            if let v = last.validationLoss { metrics["val.loss"] = v }
        }
        // Class names as the data names them (a csv's label column, an image folder's subfolders), else as planned.
        var classNames = report.classNames
        let testNormID = executor.stage(evalID)?.deps.dropFirst().first
        let testSplit: Dataset?
        if let testNormID, case .normalized(_, _, let split, _) = try executor.output(testNormID) { testSplit = split } else { testSplit = nil }
        if let testSplit, testSplit.classNames.count == classNames.count, testSplit.classNames.contains(where: { Int($0) == nil }) {
            classNames = testSplit.classNames
        }
        // The checkpoint describes itself for `tlc predict FILE`: normalization, class names,
        // and an image folder's resize and crop.
        var meta: [String: String] = ["tlc.version": versionString, "tlc.experiment": report.experiment, "tlc.point": point.label,
                                      "tlc.classes": report.classes.map(String.init).joined(separator: ","),
                                      "tlc.class_names": Prediction.classNamesMetadata(classNames)]
        if let normID = executor.stage(trainID)?.deps.dropFirst().first {
            if let n = try executor.normalization(normID) { meta["tlc.normalization"] = n.metadataText }
            if let decode = Self.imageDecodeWork(upstreamOf: normID, executor: executor) {
                meta["tlc.image"] = Prediction.imageMetadata(resize: decode.resize, size: decode.size)
            }
        }
        let modelPath = (dir as NSString).appendingPathComponent("model.safetensors")
        try network.save(to: modelPath, metadata: meta)
        // The architecture the weights belong to (`tlc predict` builds the model from it).
        try writeArchitecture(network.architecture, to: (dir as NSString).appendingPathComponent("architecture.json"))
        metrics["model.bytes"] = Double((try? FileManager.default.attributesOfItem(atPath: modelPath)[.size] as? Int) ?? network.sizeInBytes)

        let historyLines = history.map { r -> String in
            SpecValue.object([("stage", .string(trainID)), ("epoch", .int(r.epoch)), ("train.loss", .double(r.trainLoss)),
                              ("train.accuracy", .double(r.trainAccuracy)), ("val.loss", r.validationLoss.map(SpecValue.double)),
                              ("val.accuracy", r.validationAccuracy.map(SpecValue.double)), ("lr", .double(r.learningRate)),
                              ("lr.groups", r.groupLearningRates.map { g in .map(g.keys.sorted().map { SpecEntry($0, .double(g[$0]!)) }) }),
                              ("seconds", .double(r.seconds)), ("penalty", r.penalty.map(SpecValue.double)),
                              ("trainable_params", r.trainableParameters.map(SpecValue.int))]).canonicalJSON
        }
        try writeText(historyLines.joined(separator: "\n") + (historyLines.isEmpty ? "" : "\n"), to: dir, "history.jsonl")
        var rows = [VariantRow(name: "baseline", result: test, bytes: Int(metrics["model.bytes"]!), params: network.parameterCount,
                               sparsity: PruningMasks.sparsity(network), model: try executor.inferenceModel(trainID))]
        if !variantEvaluations(point, executor: executor).isEmpty {
            rows += try variantRows(point, executor: executor, dir: dir, metadata: meta)
        }
        // Latency is measured now, every model of the point interleaved, never taken from the cache.
        if let testSplit {
            let count = min(256, testSplit.count)
            let (batch, _) = testSplit.batch(Array(0..<count)[...])
            let stats = try LatencyMeasurement.measure(rows.compactMap { r in r.model.map { (r.name, $0) } }, on: batch, count: count)
            for i in rows.indices { rows[i].latency = stats[rows[i].name] }
            try writeText(LatencyMeasurement.json(stats, order: rows.map(\.name)), to: dir, "latency.json")
        }
        metrics["latency.per_image_ms"] = rows[0].latency.map { $0.perImageMedian * 1000 }
        metrics["latency.per_batch_ms"] = rows[0].latency.map { $0.median * 1000 }
        var entries = metrics.keys.sorted().map { SpecEntry($0, .double(metrics[$0]!)) }
        if rows.count > 1 {
            entries.append(SpecEntry("variants", variantsValue(rows)))
            // Per-variant evaluations for the reports, and the compression details (per-layer
            // sparsity, ensemble members) the generic variants table does not show.
            for r in rows.dropFirst() {
                try writeText(evaluationJSON(r.result, variant: r.name, classNames: classNames, stoppedEarly: false), to: dir, "evaluation.\(r.name).json")
            }
            try writeText(compressionDetails(rows).prettyJSON() + "\n", to: dir, "compression.json")
        }
        try writeText(SpecValue.map(entries).prettyJSON() + "\n", to: dir, "metrics.json")
        try writeText(evaluationJSON(test, variant: "baseline", classNames: classNames, stoppedEarly: stoppedEarly), to: dir, "evaluation.json")
        return metrics
    }

    /// The sweep's own ensemble row: its test metrics and its members' on the same test set.
    private static func sweepEnsembleRows(_ plan: Plan, failures: [String: String], executor: StageRunner) throws -> [Leaderboard.EnsembleRow] {
        guard let e = plan.sweepEnsemble else { return [] }
        if let failure = failures[e.stage] ?? failures[e.evaluation] {
            return [Leaderboard.EnsembleRow(name: "ensemble", description: e.description, status: "failed", metrics: [:], members: [], error: failure)]
        }
        guard case .evaluation(_, let r) = try executor.output(e.evaluation), case .ensemble(_, let info) = try executor.output(e.stage) else {
            return [Leaderboard.EnsembleRow(name: "ensemble", description: e.description, status: "failed", metrics: [:], members: [],
                                            error: "the ensemble stage produced no ensemble")]
        }
        var metrics = ["test.accuracy": r.accuracy, "test.loss": r.loss, "test.macro_f1": r.macroF1]
        if r.confusion.count > 5 { metrics["test.top5"] = r.topKAccuracy }
        return [Leaderboard.EnsembleRow(name: "ensemble", description: e.description, status: "succeeded", metrics: metrics,
                                        members: zip(info.memberNames, info.memberTestAccuracy).map { ($0, $1) }, error: nil)]
    }

    /// Trainable parameters given the frozen layer paths (the same whether the
    /// model was just trained or read from the cache).
    static func trainableParameters(_ network: Network, frozen: [String]) -> Int {
        let frozen = Set(frozen)
        return network.summary.layers.filter { !$0.isGroup && !frozen.contains($0.path) }.reduce(0) { $0 + $1.parameters }
    }

    /// evaluation.json of a run directory: one variant's test evaluation with the
    /// class names, per-class scores and the confusion matrix (rows: true class).
    static func evaluationJSON(_ e: EvaluationResult, variant: String, classNames: [String], stoppedEarly: Bool) -> String {
        func doubles(_ xs: [Double]) -> SpecValue { .list(xs.map(SpecValue.double)) }
        return SpecValue.object([
            ("variant", .string(variant)), ("split", .string("test")), ("count", .int(e.count)),
            ("classes", .list(classNames.map(SpecValue.string))),
            ("accuracy", .double(e.accuracy)), ("loss", .double(e.loss)), ("top_k", .int(e.topK)),
            ("top_k_accuracy", .double(e.topKAccuracy)), ("macro_f1", .double(e.macroF1)),
            ("precision", doubles(e.precision)), ("recall", doubles(e.recall)), ("f1", doubles(e.f1)),
            ("confusion", .list(e.confusion.map { .list($0.map(SpecValue.int)) })),
            ("stopped_early", .bool(stoppedEarly)),
        ]).prettyJSON() + "\n"
    }

    // MARK: helpers

    public static let versionString = "0.1.0"

    static func makeRunID() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date()) + "-" + String(format: "%04x", UInt32.random(in: 0...0xffff))
    }

    public static func sanitize(_ label: String) -> String {
        String(label.map { $0.isLetter || $0.isNumber || "-_.=,".contains($0) ? $0 : "_" })
    }

    /// Each sweep point's folder: its label made safe for a file name, and always its
    /// own — when two labels make the same name (`a/b`, `a?b`), or a name is long or
    /// hidden, the point id is added. Writers and readers of run directories use this
    /// one function, from plan.json's points.
    public static func pointFolders(_ points: [(id: String, label: String)]) -> [String] {
        let names = points.map { p -> String in
            var n = sanitize(p.label)
            if n.hasPrefix(".") { n = "_" + n.dropFirst() }      // never hidden, never "." or ".."
            return n.isEmpty ? "point" : n
        }
        var counts: [String: Int] = [:]
        for n in names { counts[n, default: 0] += 1 }
        return zip(points, names).map { p, n in
            counts[n]! > 1 || n.utf8.count > 120 ? String(n.prefix(100)) + "-" + p.id.prefix(12) : n
        }
    }

    /// Writes a file atomically (temporary name, fsync, rename).
    static func writeText(_ text: String, to dir: String, _ name: String) throws {
        let path = (dir as NSString).appendingPathComponent(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
