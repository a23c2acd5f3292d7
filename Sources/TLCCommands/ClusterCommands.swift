// Cluster execution on the command line: `tlc run`'s executor options
// (--executor slurm, --partition, --time, --cpus-per-task, --mem, --sbatch-option,
// --executor-config, --detach), `tlc status` and the internal `tlc exec-stage`
// that each Slurm job runs. Thin: the work is in Runtime/Cluster.
import ArgumentParser
import Foundation
import FrontEnd
import Jobs
import Planner
import Runtime

struct ExecutorOptions: ParsableArguments {
    enum Kind: String, ExpressibleByArgument, CaseIterable { case local, slurm }
    @Option(help: "Where stages run: local (this machine) or slurm (jobs on a Slurm cluster sharing the output folder).")
    var executor: Kind = .local
    @Option(name: .customLong("executor-config"), help: ArgumentHelp("A YAML executor profile (partition, time, cpus_per_task, mem, sbatch, tlc).", valueName: "file"))
    var executorConfig: String?
    @Option(help: "Slurm partition (sbatch --partition).") var partition: String?
    @Option(help: ArgumentHelp("Slurm time limit per job, e.g. 30, 2:00:00 or 1-00:00:00 (sbatch --time).", valueName: "time")) var time: String?
    @Option(name: .customLong("cpus-per-task"), help: "Cores per Slurm job (sbatch --cpus-per-task); also the engine's threads.") var cpusPerTask: Int?
    @Option(help: ArgumentHelp("Memory per Slurm job, e.g. 4G (sbatch --mem).", valueName: "size")) var mem: String?
    @Option(name: .customLong("sbatch-option"), help: ArgumentHelp("One more sbatch option, e.g. --sbatch-option=--account=lab (repeatable).", valueName: "option"))
    var sbatchOptions: [String] = []
    @Option(name: .customLong("tlc-binary"), help: ArgumentHelp("The tlc binary the Slurm jobs run (default: this one).", valueName: "path", visibility: .hidden))
    var tlcBinary: String?
    @Option(name: .customLong("poll-seconds"), help: ArgumentHelp("Seconds between looks at the Slurm queue (default 2).", visibility: .hidden))
    var pollSeconds: Double?
    @Flag(help: "With --executor slurm: submit the jobs, print their ids and return at once (`tlc status` follows them).")
    var detach = false

    var isSlurm: Bool { executor == .slurm }

    /// Settings from the profile and the command line (which wins). Problems are
    /// printed and become exit code 2.
    func slurmSettings() throws -> SlurmSettings {
        var settings = SlurmSettings()
        if let executorConfig {
            do { settings = try SlurmSettings.load(profile: executorConfig) } catch {
                Output.diagnostics(error.diagnostics)
                Output.err("tlc run: \(error.diagnostics.count) error\(error.diagnostics.count == 1 ? "" : "s") in the executor profile \(executorConfig)")
                throw CommandFailure(code: 2)
            }
        }
        var cli = SlurmSettings()
        cli.partition = partition
        cli.time = time
        cli.cpusPerTask = cpusPerTask
        cli.mem = mem
        cli.sbatchOptions = sbatchOptions
        cli.tlcBinary = tlcBinary
        if let pollSeconds { cli.pollSeconds = pollSeconds }
        let problems = cli.problems()
        if !problems.isEmpty {
            let flags = ["cpus_per_task": "cpus-per-task", "sbatch": "sbatch-option", "tlc": "tlc-binary"]
            for p in problems { Output.err("tlc run: --\(flags[p.key] ?? p.key): \(p.message)") }
            throw CommandFailure(code: 2)
        }
        return settings.overridden(by: cli)
    }

    /// Checks combinations before anything runs (exit code 2).
    /// (`--jobs` with Slurm is checked once the spec is read: it sets an asha search's workers.)
    func check(force: Bool, noCache: Bool, jobs: Int?) throws {
        let slurmOnly: [(Bool, String)] = [(executorConfig != nil, "--executor-config"), (partition != nil, "--partition"),
                                           (time != nil, "--time"), (cpusPerTask != nil, "--cpus-per-task"), (mem != nil, "--mem"),
                                           (!sbatchOptions.isEmpty, "--sbatch-option"), (detach, "--detach")]
        if !isSlurm, let given = slurmOnly.first(where: { $0.0 }) {
            throw ValidationError("\(given.1) applies to --executor slurm")
        }
        guard isSlurm else { return }
        if noCache { throw ValidationError("--no-cache cannot be used with --executor slurm: the jobs hand their results over through the stage cache") }
        if force { throw ValidationError("--force cannot be used with --executor slurm; run it locally, or remove the cache entries to recompute") }
        if let pollSeconds, !(pollSeconds > 0 && pollSeconds <= 600) { throw ValidationError("--poll-seconds must be between 0 and 600") }
    }

    /// The Slurm executor for a run, or nil for the local one.
    func slurmRunner(file: String, overrides: [String], output: String?, cancellation: Cancellation) throws -> SlurmRunner? {
        guard isSlurm else { return nil }
        return SlurmRunner(settings: try slurmSettings(), specFile: file, overrides: overrides,
                           outputRoot: RunOptions(outputRoot: output).outputRoot, cancellation: cancellation,
                           askToCancel: { n in
                               guard isatty(STDIN_FILENO) != 0 else { return false }
                               Output.err("Cancel the \(n) Slurm job(s) still queued or running (scancel)? [y/N] ")
                               return (readLine() ?? "").lowercased().hasPrefix("y")
                           })
    }

    /// `--detach`: submit, print the job ids, return.
    static func submitDetached(_ runner: SlurmRunner, plan: Plan, json: Bool) throws {
        let submitted: SlurmRunner.Submitted
        do { submitted = try runner.submit(plan) { Output.err($0) } } catch {
            Output.err("tlc run: \(error)")
            throw CommandFailure(code: 1)
        }
        if json {
            let value = SpecValue.object([("experiment", .string(plan.experiment)), ("submission", submitted.id.map(SpecValue.string)),
                                          ("folder", submitted.folder.map(SpecValue.string)),
                                          ("jobs", .list(submitted.jobs.map(SpecValue.string))),
                                          ("submitted_tasks", .int(submitted.submittedTasks)),
                                          ("adopted", .int(submitted.adoptedUnits)), ("cached_stages", .int(submitted.cachedStages))])
            Output.out(value.prettyJSON())
        } else if let id = submitted.id {
            Output.out("submitted \(submitted.jobs.count) job(s): \(submitted.jobs.joined(separator: "; "))")
            Output.out("follow with `tlc status \(id)`; `tlc run` again (same options) writes the run directory when they are done")
        } else {
            Output.out("nothing to submit: \(submitted.cachedStages) stage(s) in the cache, \(submitted.adoptedUnits) job(s) still in flight")
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a Slurm submission's jobs: their states and which stages are in the cache.")
    @Argument(help: ArgumentHelp("A submission id (printed by `tlc run --executor slurm --detach`), its folder, or an experiment name (its newest submission).", valueName: "run"))
    var reference: String
    @Option(help: ArgumentHelp("Artifact root (default: Outputs, or $TLC_OUTPUT).", valueName: "dir")) var output: String?

    func run() throws {
        do { Output.out(try SlurmRunner.status(reference: reference, outputRoot: RunOptions(outputRoot: output).outputRoot)) } catch {
            Output.err("tlc status: \(error)")
            throw CommandFailure(code: 2)
        }
    }
}

struct ExecStage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec-stage",
        abstract: "Run some stages of a recorded plan into the stage cache (what each Slurm job runs).",
        discussion: "PLAN is a Slurm submission file (submission.json, whose folder holds the recorded plan.json) or a plan.json (then --output sets the artifact root). The stages' dependencies must be in the cache.",
        shouldDisplay: false)
    @Argument(help: ArgumentHelp("submission.json or plan.json.", valueName: "plan")) var plan: String
    @Argument(help: ArgumentHelp("Stage hashes (full, or at least 10 hex digits), run in order.", valueName: "stage")) var stages: [String]
    @Option(help: ArgumentHelp("Artifact root, for a plan.json (default: Outputs, or $TLC_OUTPUT).", valueName: "dir")) var output: String?

    func run() throws {
        let recorded: Plan, root: String
        do {
            if (plan as NSString).lastPathComponent == "plan.json" {
                (recorded, root) = (try Plan.read(plan), RunOptions(outputRoot: output).outputRoot)
            } else {
                let record = try SlurmSubmissionRecord.read(plan)
                (recorded, root) = (try SlurmSubmissionRecord.plan(nextTo: plan), record.outputRoot)
            }
        } catch {
            Output.err("tlc exec-stage: \(error)")
            throw CommandFailure(code: 2)
        }
        let cancellation = Cancellation()
        let signals = cancellation.installSignalHandlers { sig in
            Output.err("tlc exec-stage: signal \(sig): stopping at the next epoch; finished stages stay cached")
        }
        defer { withExtendedLifetime(signals) {} }
        let threads = ProcessInfo.processInfo.environment["SLURM_CPUS_PER_TASK"].flatMap { Int($0) }
        let host = ProcessInfo.processInfo.hostName
        Output.out("tlc exec-stage on \(host): \(stages.count) stage(s) of \(recorded.experiment), cache \(root)/.cache")
        do {
            try StageJob.run(recorded, hashes: stages, outputRoot: root, threads: threads, cancellation: cancellation) { Output.out($0) }
        } catch let e as StageJobError {
            Output.err("tlc exec-stage: error: \(e)")
            throw CommandFailure(code: 2)
        } catch {
            Output.err("tlc exec-stage: error: \(error)")
            throw CommandFailure(code: 1)
        }
    }
}
