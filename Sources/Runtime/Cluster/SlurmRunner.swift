// SlurmRunner — `tlc run --executor slurm`: submits a plan's missing stages as
// Slurm jobs (SlurmSubmission), watches them by polling squeue, and reports
// failed tasks with their job id, state and log. A submission lives in
// `<Outputs>/.slurm/<experiment>/<submission-id>/`: submission.json (what each job
// runs; `tlc exec-stage` reads it), jobs/*.sh (the batch scripts) and logs/.
// Jobs still queued or running from an earlier submission are adopted, never
// submitted twice; stages in the cache are never submitted at all.
import Execution
import Foundation
import FrontEnd
import Jobs
import Planner

/// What a submission folder's submission.json holds.
public struct SlurmSubmissionRecord: Codable, Sendable {
    public var id: String
    public var experiment: String
    /// The spec file (absolute) and the overrides the plan was made with.
    public var spec: String
    public var overrides: [String]
    /// The shared artifact root (absolute).
    public var outputRoot: String
    public var created: String
    public var jobs: [SlurmJob]
    /// The recorded plan the jobs run (plan.json beside submission.json).
    public static let planFile = "plan.json"

    /// The plan a submission's jobs run, read from the submission folder.
    public static func plan(nextTo submissionFile: String) throws -> Plan {
        let path = ((submissionFile as NSString).deletingLastPathComponent as NSString).appendingPathComponent(planFile)
        do { return try Plan.read(path) } catch { throw StageJobError.usage("\(error)") }
    }

    public static func read(_ path: String) throws -> SlurmSubmissionRecord {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StageJobError.usage("cannot read the submission file \(path)")
        }
        do { return try JSONDecoder().decode(SlurmSubmissionRecord.self, from: data) } catch {
            throw StageJobError.usage("\(path) is not a tlc submission file: \(error)")
        }
    }

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// One thing Slurm runs for us: a shared job or one array task.
struct SlurmUnit {
    var ref: String          // "12" or "13_2"
    var jobID: String
    var label: String
    var hashes: [String]
    var log: String
}

public final class SlurmRunner: RemoteExecutor, @unchecked Sendable {
    public let settings: SlurmSettings
    let specFile: String
    let overrides: [String]
    let outputRoot: String
    let client = SlurmClient()
    let cancellation: Cancellation
    /// Asked after Ctrl-C with the number of jobs still queued or running: cancel them?
    let askToCancel: @Sendable (Int) -> Bool

    public init(settings: SlurmSettings, specFile: String, overrides: [String], outputRoot: String,
                cancellation: Cancellation, askToCancel: @escaping @Sendable (Int) -> Bool) {
        self.settings = settings
        self.specFile = Self.absolute(specFile)
        self.overrides = overrides
        self.outputRoot = Self.absolute(outputRoot)
        self.cancellation = cancellation
        self.askToCancel = askToCancel
    }

    static func absolute(_ path: String) -> String {
        let p = path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
        return (p as NSString).standardizingPath
    }

    /// The tlc binary the jobs run.
    var tlcBinary: String {
        if let b = settings.tlcBinary { return b }
        if let env = ProcessInfo.processInfo.environment["TLC_BINARY"], !env.isEmpty { return env }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return exe }
        return Self.absolute(CommandLine.arguments[0])
    }

    static func submissionsRoot(_ outputRoot: String) -> String { (outputRoot as NSString).appendingPathComponent(".slurm") }

    /// What `submit` did.
    public struct Submitted: Sendable {
        public var id: String?
        public var folder: String?
        /// "12 data.load-…", "13 points (4 tasks)".
        public var jobs: [String]
        public var submittedJobs: Int
        public var submittedTasks: Int
        public var adoptedUnits: Int
        public var cachedStages: Int
    }

    // MARK: submitting

    /// Submits the plan's missing stages (adopting jobs still in flight). Returns what
    /// was submitted and every unit to watch.
    func submitUnits(_ plan: Plan, isComplete: (Stage) -> Bool, log: @Sendable (String) -> Void) throws -> (Submitted, [SlurmUnit]) {
        let adopted = adoptInFlight(plan, log: log)
        var inFlight: [String: String] = [:]
        for unit in adopted { for h in unit.hashes { inFlight[h] = unit.ref } }
        let cached = plan.stages.filter { $0.kind != .report && isComplete($0) }.count
        var jobs = SlurmSubmissionPlanner.jobs(for: plan, isComplete: isComplete, inFlight: inFlight)
        var summary = Submitted(id: nil, folder: nil, jobs: [], submittedJobs: 0, submittedTasks: 0,
                                adoptedUnits: adopted.count, cachedStages: cached)
        guard !jobs.isEmpty else { return (summary, adopted) }

        let id = LocalRunner.makeRunID()
        let folder = ((Self.submissionsRoot(outputRoot) as NSString).appendingPathComponent(plan.experiment) as NSString).appendingPathComponent(id)
        let logDir = (folder as NSString).appendingPathComponent("logs"), jobDir = (folder as NSString).appendingPathComponent("jobs")
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: logDir, withIntermediateDirectories: true)
            try fm.createDirectory(atPath: jobDir, withIntermediateDirectories: true)
        } catch {
            throw RunError.output("cannot write the submission folder \(folder): \(describe(error))")
        }
        let submissionFile = (folder as NSString).appendingPathComponent("submission.json")
        // The jobs run the recorded plan, never a re-planned spec (which may have changed since).
        do { try plan.encoded().write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent(SlurmSubmissionRecord.planFile)), options: .atomic) }
        catch { throw RunError.output("cannot write the submission's plan in \(folder): \(describe(error))") }
        var record = SlurmSubmissionRecord(id: id, experiment: plan.experiment, spec: specFile, overrides: overrides,
                                           outputRoot: outputRoot, created: RunEnvironment.iso8601(Date()), jobs: jobs)
        try record.write(to: submissionFile)
        var units = adopted
        let tlc = tlcBinary
        for i in jobs.indices {
            let script = SlurmSubmissionPlanner.script(for: jobs[i], experiment: plan.experiment, submissionFile: submissionFile,
                                                       logDir: logDir, workDir: FileManager.default.currentDirectoryPath,
                                                       settings: settings, tlc: tlc)
            let scriptPath = (jobDir as NSString).appendingPathComponent(jobs[i].name + ".sh")
            try Data(script.utf8).write(to: URL(fileURLWithPath: scriptPath), options: .atomic)
            let deps = jobs[i].after.compactMap { jobs[$0].id } + jobs[i].afterInFlight
            let jobID: String
            do { jobID = try client.submit(script: scriptPath, dependencies: deps) } catch {
                // Take back what this submission queued: half a DAG is worse than none.
                let queued = jobs.compactMap(\.id)
                try? client.cancel(queued)
                if !queued.isEmpty { log("slurm: cancelled the \(queued.count) job(s) already submitted: \(queued.joined(separator: " "))") }
                throw error
            }
            jobs[i].id = jobID
            record.jobs = jobs
            try record.write(to: submissionFile)
            let tasks = jobs[i].tasks.count
            summary.jobs.append(jobs[i].isArray ? "\(jobID) points (array of \(tasks) task\(tasks == 1 ? "" : "s"))" : "\(jobID) \(jobs[i].name)")
            summary.submittedJobs += 1
            summary.submittedTasks += tasks
            for t in 0..<tasks {
                let ref = jobs[i].reference(task: t)!
                units.append(SlurmUnit(ref: ref, jobID: jobID, label: jobs[i].labels[t], hashes: jobs[i].tasks[t],
                                       log: (logDir as NSString).appendingPathComponent("\(jobs[i].name)-\(ref).out")))
            }
            log("slurm: submitted \(summary.jobs.last!)" + (deps.isEmpty ? "" : ", after \(deps.joined(separator: ","))"))
        }
        summary.id = id
        summary.folder = folder
        return (summary, units)
    }

    /// Units of earlier submissions (of any experiment under this Outputs) whose
    /// job is still queued or running and computes a stage of `plan`.
    func adoptInFlight(_ plan: Plan, log: @Sendable (String) -> Void) -> [SlurmUnit] {
        let wanted = Set(plan.stages.map(\.hash))
        let records = Self.records(under: outputRoot, experiment: nil).suffix(50)
        let ids = records.flatMap { $0.record.jobs.compactMap(\.id) }
        guard !ids.isEmpty, let states = try? client.states(of: ids) else { return [] }
        var units: [SlurmUnit] = []
        for (folder, record) in records {
            for job in record.jobs {
                for (t, hashes) in job.tasks.enumerated() where hashes.contains(where: wanted.contains) {
                    guard let ref = job.reference(task: t), let state = states[ref], state.isActive, !state.isStuck else { continue }
                    units.append(SlurmUnit(ref: ref, jobID: job.id!, label: job.labels[t], hashes: hashes,
                                           log: ((folder as NSString).appendingPathComponent("logs") as NSString).appendingPathComponent("\(job.name)-\(ref).out")))
                }
            }
        }
        if !units.isEmpty {
            log("slurm: \(units.count) job(s) of an earlier submission still queued or running; waiting for them: "
                + units.map(\.ref).joined(separator: " "))
        }
        return units
    }

    /// Submission records under an output root, oldest first (ids sort by time).
    static func records(under outputRoot: String, experiment: String?) -> [(folder: String, record: SlurmSubmissionRecord)] {
        let fm = FileManager.default
        let root = submissionsRoot(outputRoot)
        let experiments = experiment.map { [$0] } ?? ((try? fm.contentsOfDirectory(atPath: root)) ?? []).sorted()
        var out: [(folder: String, record: SlurmSubmissionRecord)] = []
        for e in experiments {
            let dir = (root as NSString).appendingPathComponent(e)
            for id in ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted() {
                let folder = (dir as NSString).appendingPathComponent(id)
                if let r = try? SlurmSubmissionRecord.read((folder as NSString).appendingPathComponent("submission.json")) { out.append((folder: folder, record: r)) }
            }
        }
        return out.sorted { $0.record.id < $1.record.id }
    }

    /// `--detach`: submit and return at once.
    public func submit(_ plan: Plan, log: @escaping @Sendable (String) -> Void) throws -> Submitted {
        let cache = StageCache(root: (outputRoot as NSString).appendingPathComponent(".cache"))
        try client.check()
        return try submitUnits(plan, isComplete: { cache.isComplete($0.hash) }, log: log).0
    }

    // MARK: watching

    public func execute(_ plan: Plan, cache: StageCache, log: @escaping @Sendable (String) -> Void) -> [String: String] {
        let started = Date()
        let submitted: (summary: Submitted, units: [SlurmUnit])
        do {
            try client.check()
            submitted = try submitUnits(plan, isComplete: { cache.isComplete($0.hash) }, log: log)
        } catch {
            log("error: slurm: \(error)")
            return failAll(plan, cache: cache, reason: "not submitted: \(error)")
        }
        let (summary, units) = submitted
        log("slurm: \(summary.submittedJobs) job(s) submitted (\(summary.submittedTasks) task(s)), \(summary.adoptedUnits) in flight adopted, \(summary.cachedStages) stage(s) in the cache"
            + (summary.folder.map { "; scripts and logs in \($0)" } ?? ""))
        var failures = watch(units, plan: plan, cache: cache, log: log)
        // Every stage not in the cache now has a reason.
        for stage in plan.stages where stage.kind != .report && !cache.isComplete(stage.hash) && failures[stage.id] == nil {
            if !stage.deps.contains(where: { failures[$0] != nil }) {
                failures[stage.id] = "not in the cache after its Slurm job ended"
            }
        }
        log("slurm: done in \(fmt(Date().timeIntervalSince(started), 1)) s" + (failures.isEmpty ? "" : ", \(failures.count) stage(s) failed"))
        return failures
    }

    private func failAll(_ plan: Plan, cache: StageCache, reason: String) -> [String: String] {
        var out: [String: String] = [:]
        for s in plan.stages where s.kind != .report && !cache.isComplete(s.hash) { out[s.id] = reason }
        return out
    }

    /// Polls the queue until every unit has ended; returns failures by stage id.
    func watch(_ units: [SlurmUnit], plan: Plan, cache: StageCache, log: @Sendable (String) -> Void) -> [String: String] {
        var open = units
        var failures: [String: String] = [:]
        var lastState: [String: String] = [:]
        var missingPolls: [String: Int] = [:]
        var queryErrors = 0
        var lastCounts = ""
        let ids = Array(Set(units.map(\.jobID))).sorted()
        func complete(_ u: SlurmUnit) -> Bool { u.hashes.allSatisfy(cache.isComplete) }
        func fail(_ u: SlurmUnit, _ message: String) {
            for h in u.hashes where !cache.isComplete(h) {
                for s in plan.stages where s.hash == h { failures[s.id] = message }
            }
        }
        func describeFailure(_ u: SlurmUnit, state: String) -> String {
            let exit = client.exitCode(of: u.ref).map { ", exit \($0)" } ?? ""
            let lastError = Self.lastErrorLine(u.log).map { ": \($0)" } ?? ""
            return "Slurm job \(u.ref) \(state)\(exit), log \(u.log)\(lastError)"
        }
        while !open.isEmpty {
            if cancellation.isCancelled {
                let refs = open.map(\.ref)
                if askToCancel(refs.count) {
                    try? client.cancel(refs)
                    log("slurm: cancelled \(refs.count) job(s): \(refs.joined(separator: " "))")
                    for u in open { fail(u, "cancelled (scancel \(u.ref))") }
                } else {
                    log("slurm: left \(refs.count) job(s) queued or running: \(refs.joined(separator: " ")); "
                        + "`tlc run` again waits for them and finishes the run; `scancel \(ids.joined(separator: " "))` stops them")
                    for u in open { fail(u, "still running on Slurm (job \(u.ref))") }
                }
                return failures
            }
            let states: [String: SlurmState]
            do { states = try client.states(of: ids); queryErrors = 0 } catch {
                queryErrors += 1
                log("warning: slurm: \(error)")
                if queryErrors >= 10 {
                    for u in open { fail(u, "lost track of Slurm job \(u.ref): \(error)") }
                    return failures
                }
                Thread.sleep(forTimeInterval: settings.pollSeconds)
                continue
            }
            var stillOpen: [SlurmUnit] = []
            for u in open {
                if let st = states[u.ref] {
                    if lastState[u.ref] != st.state {
                        lastState[u.ref] = st.state
                        log("slurm: \(u.ref) \(u.label): \(st.state.lowercased())")
                    }
                    if st.isStuck {
                        try? client.cancel([u.ref])
                        log("slurm: \(u.ref) \(u.label): cancelled, a job it waits for failed")
                        fail(u, "not run: a Slurm job it waits for failed (job \(u.ref) cancelled)")
                    } else if st.isActive {
                        stillOpen.append(u)
                    } else if st.isCompleted {
                        if !complete(u) { fail(u, describeFailure(u, state: "COMPLETED without a cache entry")) }
                    } else {
                        let message = describeFailure(u, state: st.state)
                        log("error: \(u.label): \(message)")
                        fail(u, message)
                    }
                } else if complete(u) {
                    if lastState[u.ref] != "COMPLETED" { log("slurm: \(u.ref) \(u.label): completed") }
                } else {
                    // Not in the queue (cancelled while pending, or purged): sure after two looks.
                    missingPolls[u.ref, default: 0] += 1
                    if missingPolls[u.ref]! >= 2 {
                        let message = "Slurm job \(u.ref) is gone from the queue without a result (cancelled with scancel?); log \(u.log)"
                        log("error: \(u.label): \(message)")
                        fail(u, message)
                    } else {
                        stillOpen.append(u)
                    }
                }
            }
            open = stillOpen
            let running = open.filter { states[$0.ref]?.state == "RUNNING" }.count
            let counts = "\(units.count - open.count)/\(units.count) ended, \(running) running, \(open.count - running) pending"
            if counts != lastCounts && !open.isEmpty { log("slurm: \(counts)"); lastCounts = counts }
            if !open.isEmpty { Thread.sleep(forTimeInterval: settings.pollSeconds) }
        }
        return failures
    }

    /// The last line of a job's log that says "error", for the failure message.
    static func lastErrorLine(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").last { $0.lowercased().contains("error") }.map { String($0.prefix(300)) }
    }

    // MARK: status

    /// `tlc status`: a submission's jobs, their Slurm states and which stages are cached.
    public static func status(reference: String, outputRoot: String) throws -> String {
        let root = absolute(outputRoot)
        let all = records(under: root, experiment: nil)
        let match: (folder: String, record: SlurmSubmissionRecord)?
        if FileManager.default.fileExists(atPath: (reference as NSString).appendingPathComponent("submission.json")) {
            let folder = absolute(reference)
            match = (folder, try SlurmSubmissionRecord.read((folder as NSString).appendingPathComponent("submission.json")))
        } else {
            match = all.last(where: { $0.record.id == reference })
                ?? all.last(where: { $0.record.experiment == reference || "\($0.record.experiment)@latest" == reference })
        }
        guard let found = match else {
            let known = Array(Set(all.map(\.record.experiment))).sorted()
            throw StageJobError.usage("no Slurm submission '\(reference)' under \(root)/.slurm"
                + (known.isEmpty ? " (nothing was submitted there yet)" : "; experiments with submissions: \(known.joined(separator: ", "))"))
        }
        let (folder, record) = found
        let cache = StageCache(root: (record.outputRoot as NSString).appendingPathComponent(".cache"))
        let client = SlurmClient()
        let states = (try? client.states(of: record.jobs.compactMap(\.id))) ?? [:]
        var lines = ["\(record.experiment) submission \(record.id) (\(record.created))", "  folder \(folder)", "  spec   \(record.spec)"]
        var total = 0, done = 0, failed = 0, active = 0
        var rows = [["JOB", "WHAT", "STATE", "CACHED"]]
        for job in record.jobs {
            for (t, hashes) in job.tasks.enumerated() {
                total += 1
                let ref = job.reference(task: t) ?? "-"
                let cached = hashes.filter(cache.isComplete).count
                let state: String
                if let s = states[ref] {
                    state = s.state + (s.reason == "None" || s.reason.isEmpty ? "" : " (\(s.reason))")
                    if s.isActive { active += 1 } else if cached < hashes.count { failed += 1 }
                } else {
                    state = cached == hashes.count ? "COMPLETED" : "GONE (cancelled or purged)"
                    if cached < hashes.count { failed += 1 }
                }
                if cached == hashes.count { done += 1 }
                rows.append([ref, job.isArray ? "point \(job.labels[t])" : job.name, state, "\(cached)/\(hashes.count)"])
            }
        }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        lines += rows.map { "  " + $0.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ") }
        var verdict = "\(done) of \(total) done, \(active) queued or running, \(failed) failed"
        if active == 0 {
            let defaultRoot = absolute(ProcessInfo.processInfo.environment["TLC_OUTPUT"] ?? "Outputs")
            let command = "`tlc run \(record.spec)" + record.overrides.map { " --set \($0)" }.joined() + " --executor slurm"
                + (record.outputRoot == defaultRoot ? "" : " --output \(record.outputRoot)") + "`"
            verdict += failed == 0 ? "; \(command) writes the run directory" : "; \(command) resubmits what is missing"
        }
        lines.append(verdict)
        return lines.joined(separator: "\n") + "\n"
    }
}
