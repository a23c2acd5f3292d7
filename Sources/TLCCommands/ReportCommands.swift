// Commands about reports: `tlc diff` (runs, two sweeps point by point, or specs
// with --plan), `tlc report` (re-render a finished run's reports, e.g. with other
// templates, and with --index the page of every run, which `tlc run` also writes
// after each run) and `tlc init` (write a starter experiment). Thin: the work
// lives in Reporting.
// Exit codes: 0 ok, 1 a report could not be written, 2 a bad reference, spec,
// template or usage.
import ArgumentParser
import Foundation
import FrontEnd
import Jobs
import Planner
import Reporting
import Runtime

enum DiffFormat: String, ExpressibleByArgument, CaseIterable { case text, md, json }

/// Whether stdout is a terminal (colour only then, and never with NO_COLOR).
func stdoutIsTerminal() -> Bool {
    isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
}

/// Loads report templates for a command; a bad folder or template is exit code 2.
func loadTemplates(_ dir: String?, command: String) throws -> ReportTemplates {
    do { return try ReportTemplates(directory: dir) } catch {
        Output.err("tlc \(command): \(error.description)")
        throw CommandFailure(code: 2)
    }
}

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare runs (config, metrics, stages), two sweeps point by point, or with --plan two versions of a spec before running.",
        discussion: """
            RUN is a run directory, a run id, NAME@latest, NAME@N, a sweep point as RUN/LABEL, or a bare \
            point label of a sweep named before it. A single sweep compares each point with --baseline \
            (default: its first point). Two sweeps alone (tlc diff SWEEP_A SWEEP_B) are compared point by \
            point in one table: a row per point label of either sweep, the target and leaderboard metrics \
            in A, in B and B − A (better/worse by the metric's direction), both run ids in the header, \
            points only one sweep has marked; with --baseline LABEL, that point of each sweep instead. \
            A sweep next to a single run is an error (exit code 2). With --plan, OLD and NEW are experiment \
            files; either may be REV:path, read from git (e.g. HEAD~1:Experiments/x.yaml); --set overrides \
            apply to NEW.
            """)
    @Argument(help: ArgumentHelp("Runs to compare; the first is the baseline (with --plan: OLD NEW).", valueName: "run"))
    var references: [String] = []
    @Flag(help: "Compare two experiment files: changed fields, and which stages would run or come from the cache.")
    var plan = false
    @Option(help: "text (a terminal table), md or json.") var format: DiffFormat = .text
    @Option(help: ArgumentHelp("For a sweep: the point the others are compared with.", valueName: "label")) var baseline: String?
    @Option(help: ArgumentHelp("A folder of report templates (diff.md.mustache, sweep-diff.md.mustache) for --format md.", valueName: "dir")) var template: String?
    @OptionGroup var root: OutputRootOption
    @OptionGroup var spec: SpecOptions

    func validate() throws {
        if plan && references.count != 2 { throw ValidationError("--plan takes exactly two experiment files: OLD NEW") }
        if !plan && references.isEmpty { throw ValidationError("give two or more runs to compare, or one sweep") }
        if plan && baseline != nil { throw ValidationError("--baseline is for sweeps of finished runs, not --plan") }
        if !plan && !spec.overrides.isEmpty { throw ValidationError("--set applies to NEW with --plan; finished runs cannot be changed") }
    }

    func run() throws {
        if plan { return try runPlanDiff() }
        let templates = try loadTemplates(template, command: "diff")
        // Two sweeps alone: point by point in one table; anything else: run points side by side.
        let sweeps: (a: (run: RunRecord, sweep: SweepData), b: (run: RunRecord, sweep: SweepData))?
        var points: [PointData] = []
        do {
            sweeps = try DiffTargets.sweepPair(references, store: root.store, baseline: baseline)
            if sweeps == nil { points = try DiffTargets.resolve(references, store: root.store, baseline: baseline) }
        } catch {
            Output.err("tlc diff: \(error.description)")
            throw CommandFailure(code: 2)
        }
        if let sweeps {
            let diff = SweepDiff(a: sweeps.a.sweep, runA: sweeps.a.run, b: sweeps.b.sweep, runB: sweeps.b.run)
            return try emit(text: diff.text, json: diff.json, markdown: { () throws(ReportError) in try diff.markdown(templates: templates) })
        }
        let diff = RunDiff(points)
        try emit(text: diff.text, json: diff.json, markdown: { () throws(ReportError) in try diff.markdown(templates: templates) })
    }

    /// Prints a diff in the chosen --format; a user's template that fails is exit code 2.
    func emit(text: (Bool) -> String, json: SpecValue, markdown: () throws(ReportError) -> String) throws {
        switch format {
        case .text: Output.out(text(stdoutIsTerminal()))
        case .json: Output.out(json.prettyJSON())
        case .md:
            do { Output.out(try markdown()) } catch {
                Output.err("tlc diff: \(error.description)")
                throw CommandFailure(code: 2)
            }
        }
    }

    func runPlanDiff() throws {
        let scratch = (NSTemporaryDirectory() as NSString).appendingPathComponent("tlc-diff-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var sides: [(name: String, loaded: LoadedExperiment, plan: Plan)] = []
        for (i, ref) in references.enumerated() {
            let file: String
            do { file = try SpecSource.materialize(ref, scratch: (scratch as NSString).appendingPathComponent("\(i)")) } catch {
                Output.err("tlc diff: \(error.description)")
                throw CommandFailure(code: 2)
            }
            // --set changes NEW only: `tlc diff --plan x.yaml x.yaml --set optimizer.lr=3e-4`
            // shows what that override would rerun.
            var options = spec
            if i == 0 { options.overrides = [] }
            let (loaded, plan) = try options.plan(file)
            sides.append((ref, loaded, plan))
        }
        let cache = StageCache(root: RunOptions(outputRoot: root.output).cacheRoot)
        let diff = PlanDiff(old: sides[0], new: sides[1], cache: cache)
        switch format {
        case .text: Output.out(diff.text(color: stdoutIsTerminal()))
        case .md: Output.out(diff.markdown())
        case .json: Output.out(diff.json.prettyJSON())
        }
    }
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a finished run's reports again (report.md, report.html, the sweep's leaderboard), e.g. with other templates; "
            + "with --index, the page of every run under the artifact root.",
        discussion: """
            --index writes index.html at the top of the artifact root (Outputs, or --output DIR): every experiment \
            and run, newest first, with its date, status, number of points and the --metrics columns (default: \
            target,test.accuracy; `target` is each run's report.target, a sweep shows its best point); each sweep's \
            points and charts in a collapsible row. One self-contained file: click a column to sort, type to filter \
            by experiment, run id or point label, choose a status. `tlc run` writes it after every run.
            """)
    @Argument(help: ArgumentHelp("A run directory, a run id, NAME@latest or NAME@N.", valueName: "run")) var reference: String?
    @Flag(help: "Write index.html at the top of the artifact root: every run on one sortable, filterable page.") var index = false
    @Option(help: ArgumentHelp("With --index: the metric columns, comma-separated (default: target,test.accuracy; "
                               + "`target` is each run's report.target).", valueName: "names")) var metrics: String?
    @Option(help: ArgumentHelp("A folder of report templates overriding the built-in ones.", valueName: "dir")) var template: String?
    @Option(help: ArgumentHelp("Write the run's reports into this folder instead of over the run's own (a sweep's point reports go to its point folders there).",
                               valueName: "dir")) var into: String?
    @OptionGroup var root: OutputRootOption

    /// --metrics as a list of names.
    var metricNames: [String] {
        (metrics ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func validate() throws {
        if reference == nil && !index { throw ValidationError("give a run to write its reports again, or --index for the page of every run") }
        if metrics != nil && !index { throw ValidationError("--metrics chooses the columns of --index") }
        if into != nil && reference == nil { throw ValidationError("--into writes a run's reports elsewhere: give the run") }
        if metrics != nil && metricNames.isEmpty { throw ValidationError("--metrics needs metric names, e.g. --metrics target,test.accuracy,val.accuracy") }
    }

    func run() throws {
        let record = try reference.map { try root.resolve($0, command: "report") }
        let templates = try loadTemplates(template, command: "report")
        if let record {
            do {
                for file in try ReportWriter(templates: templates).rewrite(runDir: record.path, into: into) { Output.out("wrote \(file)") }
            } catch {
                Output.err("tlc report: \(error)")
                throw CommandFailure(code: 1)
            }
        }
        if index {
            let page: IndexPage
            do { page = try IndexPage(store: root.store, metrics: metricNames) } catch {
                Output.err("tlc report: \(error.description)")
                throw CommandFailure(code: 2)
            }
            for m in page.unknownMetrics { Output.err("tlc report: note: no run has the metric '\(m)'; its column stays empty") }
            do { Output.out("wrote \(try page.write(templates: templates)) (\(page.runs.count) runs)") } catch {
                Output.err("tlc report: cannot write \(page.file): \(error)")
                throw CommandFailure(code: 1)
            }
        }
    }
}

/// Writes Outputs/index.html again after a run; a failure is a warning, never the run's.
func refreshIndex(outputRoot: String?, templates: ReportTemplates, command: String) {
    do { try IndexPage(store: RunStore(outputRoot: outputRoot)).write(templates: templates) } catch {
        Output.err("tlc \(command): warning: the index of all runs was not written: \(error)")
    }
}

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a commented starter experiment that validates and runs.",
        discussion: "Starters: \(Starters.names.joined(separator: ", ")). The experiment's name comes from the file name.")
    @Argument(help: ArgumentHelp("The experiment file to write (e.g. Experiments/mine.yaml).", valueName: "file")) var file: String
    @Option(help: ArgumentHelp("The starter: \(Starters.names.joined(separator: ", ")).", valueName: "name"))
    var template: String = Starters.defaultName
    @Flag(help: "Overwrite FILE if it exists.") var force = false

    func run() throws {
        let files: [(path: String, text: String)]
        do { files = try Starters.files(template, file: file) } catch {
            Output.err("tlc init: \(error.description)")
            throw CommandFailure(code: 2)
        }
        let fm = FileManager.default
        for f in files where fm.fileExists(atPath: f.path) && !force {
            Output.err("tlc init: \(f.path) exists; choose another name or pass --force to overwrite it")
            throw CommandFailure(code: 2)
        }
        let dir = (file as NSString).deletingLastPathComponent
        do {
            if !dir.isEmpty { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            for f in files { try Data(f.text.utf8).write(to: URL(fileURLWithPath: f.path), options: .atomic) }
        } catch {
            Output.err("tlc init: cannot write \(file): \(error.localizedDescription)")
            throw CommandFailure(code: 1)
        }
        for f in files.dropFirst() { Output.out("wrote \(f.path) (the source experiment it uses)") }
        Output.out("wrote \(file) (starter '\(template)', experiment '\(Starters.experimentName(file))'); next: tlc validate \(file) && tlc run \(file)")
    }
}
