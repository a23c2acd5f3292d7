// TLCCommands — the command line (swift-argument-parser). Thin: argument
// handling, printing and exit codes only; the work lives in the layers below.
// Exit codes: 0 success, 1 a run failed, 2 the spec or the command line is wrong.
import ArgumentParser
import Foundation
import FrontEnd
import Jobs
import Planner
import Reporting
import Runtime

public struct TLC: ParsableCommand {
    public static let version = "0.1.0"
    public static let configuration = CommandConfiguration(
        commandName: "tlc",
        abstract: "A compiler for declarative transfer-learning experiments.",
        discussion: "Write an experiment as YAML, then `tlc validate`, `tlc plan` and `tlc run` it.",
        version: version,
        subcommands: [Validate.self, PlanCommand.self, Run.self, Schema.self,
                      ListRuns.self, ShowRun.self, CollectGarbage.self, RemoveRuns.self, VerifyRun.self, ZooCommand.self,
                      Diff.self, Report.self, Init.self, Status.self, ExecStage.self, Predict.self, Export.self])
    public init() {}

    /// The command line being run, program name first, exactly as given (`tlc run`
    /// records it in env.json and log.txt). Task-local, so commands run side by side
    /// in one process (the tests) each see their own.
    @TaskLocal static var invocation: [String]?

    /// Runs the command line and returns the process exit code. `program` is the
    /// name the command was called by (argv[0]).
    public static func run(_ arguments: [String], program: String = "tlc") -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            try $invocation.withValue([program] + arguments) { try command.run() }
            return 0
        } catch let failure as CommandFailure {
            return failure.code
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                print(message)
                return 0
            }
            FileHandle.standardError.write(Data((message + "\n").utf8))
            // Usage errors are exit code 2, like spec errors.
            return code == .validationFailure ? 2 : code.rawValue
        }
    }

    public static func entry() -> Never {
        Foundation.exit(run(Array(CommandLine.arguments.dropFirst()), program: CommandLine.arguments.first ?? "tlc"))
    }
}

/// Large values a command prints and then exits with: freeing a 10,000-point plan
/// just before the process ends is wasted time.
enum Retained {
    nonisolated(unsafe) static var values: [Any] = []
    static func keepUntilExit(_ value: Any) { values.append(value) }
}

/// A failure already reported to the user; carries the exit code.
struct CommandFailure: Error { var code: Int32 }

enum Output {
    /// When set, what a command prints on stdout is collected here instead (tests run
    /// commands in-process, in parallel, and read their output without touching fd 1).
    @TaskLocal static var capture: Capture?

    final class Capture: @unchecked Sendable {
        private let lock = NSLock()
        private var collected = ""
        var text: String { lock.withLock { collected } }
        func append(_ s: String) { lock.withLock { collected += s } }
    }

    static func err(_ text: String) { FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8)) }
    static func out(_ text: String) {
        let line = text.hasSuffix("\n") ? text : text + "\n"
        if let capture { capture.append(line) } else { FileHandle.standardOutput.write(Data(line.utf8)) }
    }
    static func diagnostics(_ ds: [Diagnostic]) { for d in ds { err(d.description) } }
}

/// Options every spec-reading command takes.
struct SpecOptions: ParsableArguments {
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a field: PATH=VALUE (repeatable), e.g. --set optimizer.lr=3e-4", valueName: "path=value"))
    var overrides: [String] = []

    /// Loads and plans `file`; errors are printed and become exit code 2. `run:NAME/best`
    /// references resolve against the runs under `outputRoot`.
    /// A search is lowered as its first rung (the rest depends on what that rung finds).
    func plan(_ file: String, outputRoot: String? = nil, bestMayBeUnknown: Bool = false,
              resolvedSpecs: Bool = true) throws -> (LoadedExperiment, Plan) {
        let loaded = try load(file)
        return (loaded, try plan(SearchRunner.firstRung(loaded), outputRoot: outputRoot, bestMayBeUnknown: bestMayBeUnknown,
                                 resolvedSpecs: resolvedSpecs))
    }

    func plan(_ loaded: LoadedExperiment, outputRoot: String? = nil, bestMayBeUnknown: Bool = false,
              resolvedSpecs: Bool = true) throws -> Plan {
        var builder = PlanBuilder()
        builder.bestMayBeUnknown = bestMayBeUnknown
        builder.resolvedSpecs = resolvedSpecs
        builder.bestPoint = { name, points in try RunStore(outputRoot: outputRoot).bestPointLabel(of: name, matching: points) }
        do { return try builder.plan(loaded) } catch {
            Output.err(error.description)
            throw CommandFailure(code: 2)
        }
    }

    /// Why `plan` would not fit in `maxMemory` bytes (default: this machine's available
    /// memory), or nil.
    static func memoryProblem(_ plan: Plan, maxMemory: Int?) -> String? {
        if let maxMemory { return MemoryEstimate.problem(plan, limit: maxMemory, limitSource: "--max-memory") }
        guard let available = MemoryEstimate.available() else { return nil }
        return MemoryEstimate.problem(plan, limit: available, limitSource: "this machine's available memory")
    }

    func load(_ file: String) throws -> LoadedExperiment {
        do {
            let loaded = try ExperimentLoader().load(path: file, overrides: overrides)
            Retained.keepUntilExit(loaded)
            Output.diagnostics(loaded.warnings)
            return loaded
        } catch {
            Output.diagnostics(error.diagnostics)
            let n = error.diagnostics.filter { $0.severity == .error }.count
            Output.err("\(n) error\(n == 1 ? "" : "s") in \(file)")
            throw CommandFailure(code: 2)
        }
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check experiment files and report every error with its location.")
    @Argument(help: "Experiment files.") var files: [String]
    @OptionGroup var spec: SpecOptions
    @Flag(name: .shortAndLong, help: "Print nothing when everything is valid.") var quiet = false

    func run() throws {
        var failed = false
        for file in files {
            do {
                // Planning too: what `tlc plan` would refuse (a point label that names
                // nothing, members on different data) is an error here, and its warnings show.
                let (loaded, plan) = try spec.plan(file, bestMayBeUnknown: true, resolvedSpecs: false)
                for w in plan.warnings { Output.err("\(file): warning: \(w)") }
                if let problem = SpecOptions.memoryProblem(plan, maxMemory: nil) { Output.err("\(file): warning: \(problem)") }
                if !quiet {
                    let points = loaded.hasSweep ? " (\(loaded.points.count) sweep points)" : ""
                    Output.out("ok: \(file): '\(loaded.name)'\(points)")
                }
            } catch is CommandFailure { failed = true }
        }
        if failed { throw CommandFailure(code: 2) }
    }
}

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan", abstract: "Lower an experiment to its plan of stages and print it.")
    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, dot }
    @Argument(help: "Experiment file.") var file: String
    @OptionGroup var spec: SpecOptions
    @Option(help: "text, json or dot.") var format: Format = .text
    @Option(help: ArgumentHelp("Artifact root whose runs `run:NAME/best` reads (default: Outputs, or $TLC_OUTPUT).", valueName: "dir"))
    var output: String?

    func run() throws {
        let (loaded, plan) = try spec.plan(file, outputRoot: output, bestMayBeUnknown: true, resolvedSpecs: format == .json)
        Retained.keepUntilExit(plan)
        if let problem = SpecOptions.memoryProblem(plan, maxMemory: nil) { Output.err("\(file): warning: \(problem)") }
        switch format {
        case .text:
            // Drawn configurations that are invalid: never planned, never trained.
            if !loaded.rejected.isEmpty { Output.out(loaded.rejected.map(\.description).joined(separator: "\n") + "\n") }
            if let search = loaded.search, case .success(let schedule) = SearchSchedule.make(search, configurations: loaded.points.count) {
                // The schedule, then the first rung's stages: later rungs depend on what it finds.
                Output.out(schedule.describe(search, labels: loaded.points.map(\.label)).joined(separator: "\n")
                           + (search.method == .darts ? "\n\nthe search network's stages:" : "\n\nfirst rung:"))
            }
            Output.out(plan.text())
        case .json: Output.out(plan.json())
        case .dot: Output.out(plan.dot())
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an experiment's plan: train, evaluate, and write a run directory under Outputs.",
        discussion: "The run directory records what the run was asked to do: the command line and the --set overrides "
            + "(env.json's `command` and `overrides`, and the first lines of log.txt), the base seed and the seeds its points used. "
            + "When every stage comes from the cache, the last line says 'succeeded (all N stages from the cache)' and env.json has \"cached\": true.")
    @Argument(help: "Experiment file.") var file: String
    @OptionGroup var spec: SpecOptions
    @Option(help: ArgumentHelp("Artifact root (default: Outputs, or $TLC_OUTPUT).", valueName: "dir")) var output: String?
    @Flag(help: "Print one JSON object on stdout (run_dir, status, metrics); progress goes to stderr.") var json = false
    @Flag(help: "Rerun this experiment's stages even when they are cached.") var force = false
    @Flag(name: .customLong("no-cache"), help: "Neither read nor write the stage cache.") var noCache = false
    @Option(help: "Stages run at once (default: the number of cores).") var jobs: Int?
    @Flag(name: .customLong("fail-fast"), help: "Stop starting stages after the first failure.") var failFast = false
    @Option(help: ArgumentHelp("A folder of report templates overriding the built-in ones (default: the spec's report.template).",
                               valueName: "dir")) var template: String?
    @Option(name: .customLong("max-memory"), help: ArgumentHelp(
        "Refuse to start when a stage's estimated peak memory is above this (e.g. 8G, 512M; default: the memory this machine has available).",
        valueName: "size")) var maxMemory: String?
    @OptionGroup(title: "Executor") var executor: ExecutorOptions

    func validate() throws {
        if let problem = RunOptions.outputRootProblem(output) { throw ValidationError(problem) }
        if let maxMemory, MemoryEstimate.parseSize(maxMemory) == nil {
            throw ValidationError("--max-memory '\(maxMemory)' is not a size (say 8G, 512M or 1.5GB)")
        }
        if let jobs, jobs < 1 || jobs > 256 { throw ValidationError("--jobs must be between 1 and 256") }
        try executor.check(force: force, noCache: noCache, jobs: jobs)
    }

    func run() throws {
        let (loaded, plan) = try spec.plan(file, outputRoot: output)
        if executor.isSlurm, jobs != nil, loaded.search?.method != .asha {
            Output.err("tlc run: --jobs applies to the local executor (and to an asha search's workers); Slurm runs as many jobs as the partition allows")
            throw CommandFailure(code: 2)
        }
        if loaded.search != nil { return try runSearch(loaded, firstRung: plan) }
        let reporter = try preflight(loaded, plan: plan)
        let cancellation = Cancellation()
        // --executor slurm: the stages run as Slurm jobs (ClusterCommands.swift).
        let slurm = try executor.slurmRunner(file: file, overrides: spec.overrides, output: output, cancellation: cancellation)
        if let slurm, executor.detach { return try ExecutorOptions.submitDetached(slurm, plan: plan, json: json) }
        let signals = cancellation.installSignalHandlers { _ in
            Output.err(slurm == nil ? "tlc run: cancelling — running stages stop at their next epoch; finished stages stay cached"
                                    : "tlc run: interrupted")
        }
        defer { withExtendedLifetime(signals) {} }
        let result: RunResult
        do {
            var options = RunOptions(outputRoot: output, useCache: !noCache, force: force, jobs: jobs, failFast: failFast,
                                     cancellation: cancellation, reporter: reporter)
            options.remote = slurm
            options.commandLine = TLC.invocation
            let display = ProgressDisplay()
            defer { display.finish() }
            result = try LocalRunner.run(plan, options: options, progress: { display.line($0) },
                                         events: { display.event($0) })
        } catch {
            Output.err("tlc run: \(error)")
            throw CommandFailure(code: 1)
        }
        // The run folder is in place: Outputs/index.html lists it (failed runs too, by status).
        refreshIndex(outputRoot: output, templates: reporter.templates, command: "run")
        Output.out(json ? result.json : Self.summary(result, target: plan.reportTarget))
        if result.status != "succeeded" { throw CommandFailure(code: 1) }
    }
}

extension Run {
    /// What is refused before anything runs (exit code 2): a stage that cannot fit in
    /// memory (not an abort mid-run), and report templates that do not load. Returns
    /// the report writer of those templates.
    func preflight(_ loaded: LoadedExperiment, plan: Plan) throws -> ReportWriter {
        if let problem = SpecOptions.memoryProblem(plan, maxMemory: maxMemory.flatMap(MemoryEstimate.parseSize)) {
            Output.err("\(file): error: \(problem)\n  lower the batch size or the model's size, or set --max-memory if the estimate is wrong")
            throw CommandFailure(code: 2)
        }
        let templateDir = template ?? loaded.base.report.template.map { dir in
            dir.hasPrefix("/") ? dir : (((file as NSString).deletingLastPathComponent as NSString).appendingPathComponent(dir) as NSString).standardizingPath
        }
        return ReportWriter(templates: try loadTemplates(templateDir, command: "run"))
    }

    /// `search:` — rung after rung through the stage cache, then the winner's run directory.
    func runSearch(_ loaded: LoadedExperiment, firstRung: Plan) throws {
        if executor.detach {
            Output.err("tlc run: \(file): a search cannot be detached: each rung depends on the results of the one before (run it without --detach, e.g. under nohup)")
            throw CommandFailure(code: 2)
        }
        let reporter = try preflight(loaded, plan: firstRung)
        let cancellation = Cancellation()
        let signals = cancellation.installSignalHandlers { _ in
            Output.err("tlc run: cancelling — running stages stop at their next epoch; finished rungs stay in the journal")
        }
        defer { withExtendedLifetime(signals) {} }
        var options = RunOptions(outputRoot: output, useCache: !noCache, force: force, jobs: jobs, failFast: failFast,
                                 cancellation: cancellation, reporter: reporter)
        options.commandLine = TLC.invocation
        // --executor slurm: every rung is a wave of Slurm jobs sharing the cache.
        options.remote = try executor.slurmRunner(file: file, overrides: spec.overrides, output: output, cancellation: cancellation)
        let result: RunResult
        do {
            let display = ProgressDisplay()
            defer { display.finish() }
            let outputRoot = output
            result = try SearchRunner.run(loaded, plan: { experiment in try spec.plan(experiment, outputRoot: outputRoot) }, options: options,
                                          progress: { display.line($0) })
        } catch let e as CommandFailure { throw e } catch {
            Output.err("tlc run: \(error)")
            throw CommandFailure(code: 1)
        }
        refreshIndex(outputRoot: output, templates: reporter.templates, command: "run")
        Output.out(json ? result.json : loaded.search?.method == .darts ? Self.dartsSummary(result)
                   : Self.searchSummary(result, metric: loaded.search?.metric ?? "val.accuracy"))
        if result.status != "succeeded" { throw CommandFailure(code: 1) }
    }

    /// A DARTS search's last line: where the derived experiment is.
    static func dartsSummary(_ result: RunResult) -> String {
        guard result.status == "succeeded", let last = result.points.last else { return summary(result) }
        let value = last.metrics["val.accuracy"].map { String(format: " (the search network's val.accuracy %.2f%%)", $0 * 100) } ?? ""
        let cached = result.cachedStages.map { " (all \($0) stages from the cache)" } ?? ""
        return "succeeded\(cached): darts derived a cell\(value); train it with: tlc run \(result.runDir)/derived.yaml"
    }

    /// A search's last line: the winner at its full budget, its validation metric and test accuracy.
    static func searchSummary(_ result: RunResult, metric: String) -> String {
        guard result.status == "succeeded", let last = result.points.last else { return summary(result) }
        let test = last.metrics["test.accuracy"].map { String(format: ", test accuracy %.2f%%", $0 * 100) } ?? ""
        let value = last.metrics[metric].map { " (\(metric) \(Leaderboard.format($0, metric: metric))\(test))" } ?? ""
        let cached = result.cachedStages.map { " (all \($0) stages from the cache)" } ?? ""
        return "succeeded\(cached): search winner \(last.label)\(value)  →  \(result.runDir)"
    }

    /// The line `tlc run` ends with: the status (and whether every stage came from
    /// the cache), the test accuracy of a single run, the run directory.
    /// A sweep names its best point by `target` and that point's value.
    static func summary(_ result: RunResult, target: String? = nil) -> String {
        let status = result.status + (result.cachedStages.map { " (all \($0) stages from the cache)" } ?? "")
        if !result.isSweep, let p = result.points.first, let acc = p.metrics["test.accuracy"] {
            return "\(status): test accuracy \(String(format: "%.2f", acc * 100))%  →  \(result.runDir)"
        }
        if result.isSweep, let target {
            if let best = Leaderboard(points: result.points, target: target).best, let value = best.metrics[target] {
                return "\(status): best of \(result.points.count) points \(best.label) (\(target) \(Leaderboard.format(value, metric: target)))  →  \(result.runDir)"
            }
        }
        return "\(status): \(result.runDir)"
    }
}

struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the JSON Schema of the spec language (for yaml-language-server).")
    func run() throws { Output.out(SpecSchema.jsonSchema()) }
}
