// StageRunner — runs a plan's stages in this process through the executor
// (Execution) and keeps their outputs: in memory while the run lasts, and in the
// stage cache across runs. A stage's output is loaded from its cache entry only
// when a later stage or the run directory asks for it. It hands the executor a
// stage's work and its dependencies' outputs, nothing else.
import Engine
import Execution
import Foundation
import Jobs

/// How the runner uses the stage cache.
public struct CachePolicy: Sendable {
    /// nil: no cache at all (`--no-cache`).
    public var cache: StageCache?
    /// Rerun (and replace) the stages of this experiment even when cached (`--force`).
    public var forceExperiment: String?
    public init(cache: StageCache?, forceExperiment: String? = nil) { self.cache = cache; self.forceExperiment = forceExperiment }
}

/// Runs stages and holds their outputs. Stages may run on several threads at once:
/// the shared tables sit behind one lock; the work itself runs outside it.
final class StageRunner: @unchecked Sendable {
    let plan: Plan
    let policy: CachePolicy
    let cancellation: Cancellation
    let log: @Sendable (String) -> Void
    var events: (@Sendable (RunEvent) -> Void)?
    private let sources = DataSourceCache()
    private let stagesByID: [String: Stage]
    private let lock = NSLock()
    private var outputTable: [String: StageOutput] = [:]
    /// Stages whose output is a complete cache entry not loaded into memory yet.
    private var cachedTable: Set<String> = []
    private var ran = 0, reused = 0
    /// Cache entries checked against their manifests, and the time it took.
    private var verified = 0, verifySeconds = 0.0
    var verification: (entries: Int, seconds: Double) { locked { (verified, verifySeconds) } }
    /// Seconds each stage computed for (this run, or the run that filled its cache entry).
    private var secondsTable: [String: Double] = [:]

    init(plan: Plan, policy: CachePolicy, cancellation: Cancellation = Cancellation(), log: @escaping @Sendable (String) -> Void) {
        self.plan = plan
        self.policy = policy
        self.cancellation = cancellation
        self.log = log
        self.stagesByID = Dictionary(plan.stages.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let labels = Dictionary(plan.points.map { ($0.id, $0.label) }, uniquingKeysWith: { a, _ in a })
        self.pointLabels = plan.isSweep ? plan.stages.reduce(into: [:]) { out, s in
            if s.points.count == 1, let label = labels[s.points[0]], !label.isEmpty { out[s.id] = label }
        } : [:]
    }

    /// The sweep point a stage belongs to alone (its log lines carry the label, so
    /// stages running at once stay apart); shared stages have none.
    let pointLabels: [String: String]

    /// A stage's log line as the run's log shows it.
    func logLine(_ line: String, stage: String) -> String {
        guard let label = pointLabels[stage] else { return line }
        // "[train] summary" → "[train] [lr=1e-3] summary"; "  epoch 1/5 …" → "  [lr=1e-3] epoch 1/5 …".
        if line.hasPrefix("["), let end = line.range(of: "] ") {
            return line[..<end.upperBound] + "[\(label)] " + line[end.upperBound...]
        }
        let indent = line.prefix { $0 == " " }
        return indent + "[\(label)] " + line.dropFirst(indent.count)
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T { lock.lock(); defer { lock.unlock() }; return try body() }
    private func setOutput(_ id: String, _ out: StageOutput) { locked { outputTable[id] = out } }
    private func markCached(_ id: String) { locked { cachedTable.insert(id); reused += 1 } }
    private func countRan(_ id: String) { locked { ran += 1; ranIDs.insert(id) } }
    /// Stages computed by this run (not taken from the cache).
    private var ranIDs: Set<String> = []
    func didRun(_ id: String) -> Bool { locked { ranIDs.contains(id) } }
    var ranCount: Int { locked { ran } }
    var reusedCount: Int { locked { reused } }

    func stage(_ id: String) -> Stage? { stagesByID[id] }

    /// What the executor gets besides the work: how to log, report and stop.
    private func context(_ stage: Stage) -> StageContext {
        let cancellation = self.cancellation, log = self.log, id = stage.id
        let label = pointLabels[id]
        return StageContext(stage: stage.id, log: { line in log(label == nil ? line : self.logLine(line, stage: id)) }, events: events,
                            isCancelled: { cancellation.isCancelled }, sources: sources)
    }

    /// The dependencies' outputs of `stage`, fetched when the executor asks.
    private func inputs(_ stage: Stage) -> StageInputs {
        StageInputs(count: stage.deps.count) { [unowned self] i in try self.output(stage.deps[i]) }
    }

    /// How long a stage took to compute, here or in the run that filled its cache entry.
    func computeSeconds(_ id: String) -> Double? {
        if let s = locked({ secondsTable[id] }) { return s }
        guard let dir = entry(id), let data = FileManager.default.contents(atPath: (dir as NSString).appendingPathComponent("timing.json")),
              let info = try? JSONDecoder().decode(StageTiming.self, from: data) else { return nil }
        locked { secondsTable[id] = info.seconds }
        return info.seconds
    }

    /// Runs a stage's work and records how long it took.
    private func timedExecute(_ stage: Stage) throws -> StageOutput {
        let started = Date()
        let out = try StageExecutor.execute(stage.work, inputs: inputs(stage), context: context(stage))
        locked { secondsTable[stage.id] = Date().timeIntervalSince(started) }
        return out
    }

    /// Writes a stage's output and its timing into a cache entry folder.
    private func saveEntry(_ out: StageOutput, of stage: Stage, to dir: String) throws {
        try StageStorage.save(out, stage: stage.id, to: dir)
        if let seconds = locked({ secondsTable[stage.id] }) {
            try JSONEncoder().encode(StageTiming(seconds: seconds)).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("timing.json")))
        }
    }

    /// The output of a finished stage, loading it from the cache when needed.
    func output(_ id: String) throws -> StageOutput {
        if let out = locked({ outputTable[id] }) { return out }
        guard locked({ cachedTable.contains(id) }), let stage = stage(id), let cache = policy.cache else {
            throw StageFailure(stage: id, message: "has not run")
        }
        let out: StageOutput
        do {
            // Every file against its manifest's digest first, then its decoding.
            let t0 = DispatchTime.now().uptimeNanoseconds
            let checked = Result { try cache.verify(stage.hash) }
            locked { verified += 1; verifySeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
            try checked.get()
            out = try StageStorage.load(stage.work, from: cache.entry(stage.hash), inputs: inputs(stage), context: context(stage))
        } catch let error as CacheError {
            // A damaged entry is moved aside, recomputed and replaced, never trusted.
            log("warning: cache entry \(stage.id) is damaged (\(error.reason)); recomputing")
            cache.discard(stage.hash)
            let fresh = try timedExecute(stage)
            try cache.withLock(stage.hash) {
                try cache.store(stage.hash, kind: stage.kind.rawValue, replace: true) { dir in try saveEntry(fresh, of: stage, to: dir) }
            }
            countRan(id)
            out = fresh
        }
        setOutput(id, out)
        return out
    }

    /// A data.normalize stage's fitted statistics, without loading the data it normalizes.
    func normalization(_ id: String) throws -> Normalization? {
        if case .normalized(_, _, _, let n)? = locked({ outputTable[id] }) { return n }
        if let dir = entry(id), let cache = policy.cache, let stage = stage(id), (try? cache.verify(stage.hash)) != nil,
           let data = FileManager.default.contents(atPath: (dir as NSString).appendingPathComponent("normalization.json")),
           let n = try? JSONDecoder().decode(Normalization.self, from: data) {
            return n
        }
        // Not a usable entry: load (or recompute) the stage's output.
        guard case .normalized(_, _, _, let n) = try output(id) else { return nil }
        return n
    }

    /// A data.decode stage's image count and skipped files, without loading the images.
    func decodedSummary(_ id: String) -> (images: Int, skipped: [DecodedImages.Skipped])? {
        if case .images(let d)? = locked({ outputTable[id] }) { return (d.count, d.skipped) }
        if let dir = entry(id) { return try? ImageStorage.summary(from: dir) }
        return nil
    }

    /// The cache entry folder of a finished stage, if it has one.
    func entry(_ id: String) -> String? {
        guard let cache = policy.cache, let stage = stage(id), cache.isComplete(stage.hash) else { return nil }
        return cache.entry(stage.hash)
    }

    private func reusable(_ stage: Stage) -> Bool {
        guard let cache = policy.cache, cache.isComplete(stage.hash) else { return false }
        return policy.forceExperiment != stage.experiment
    }

    /// Runs `stage` (or reuses its cache entry); its dependencies must be done.
    func run(_ stage: Stage) throws {
        if reusable(stage) {
            markCached(stage.id)
            log(logLine("  cached (\(stage.hash.prefix(10)))", stage: stage.id))
            return
        }
        do {
            guard let cache = policy.cache, stage.kind != .report else {
                setOutput(stage.id, try timedExecute(stage))
                countRan(stage.id)
                return
            }
            // One process computes a stage; a second one waits, then reuses its entry.
            try cache.withLock(stage.hash) {
                if reusable(stage) {
                    markCached(stage.id)
                    log(logLine("  cached by another run (\(stage.hash.prefix(10)))", stage: stage.id))
                    return
                }
                let out = try timedExecute(stage)
                setOutput(stage.id, out)
                countRan(stage.id)
                try cache.store(stage.hash, kind: stage.kind.rawValue, replace: true) { dir in
                    try saveEntry(out, of: stage, to: dir)
                }
            }
        } catch let failure as StageFailure {
            throw failure
        } catch {
            throw StageFailure(stage: stage.id, message: "\(error)")
        }
    }

    /// The model a stage's output holds, as a private copy.
    func inferenceModel(_ id: String) throws -> InferenceModel? { try StageExecutor.inferenceModel(try output(id)) }
}
