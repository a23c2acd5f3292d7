// Commands about reports: `tlc diff` (runs, or specs with --plan), `tlc report`
// (re-render a finished run's reports, e.g. with other templates) and `tlc init`
// (write a starter experiment). Thin: the work lives in Reporting.
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
        abstract: "Compare runs (config, metrics, stages), or with --plan two versions of a spec before running.",
        discussion: """
            RUN is a run directory, a run id, NAME@latest, NAME@N, a sweep point as RUN/LABEL, or a bare \
            point label of a sweep named before it. A single sweep compares each point with --baseline \
            (default: its first point). With --plan, OLD and NEW are experiment files; either may be \
            REV:path, read from git (e.g. HEAD~1:Experiments/x.yaml); --set overrides apply to NEW.
            """)
    @Argument(help: ArgumentHelp("Runs to compare; the first is the baseline (with --plan: OLD NEW).", valueName: "run"))
    var references: [String] = []
    @Flag(help: "Compare two experiment files: changed fields, and which stages would run or come from the cache.")
    var plan = false
    @Option(help: "text (a terminal table), md or json.") var format: DiffFormat = .text
    @Option(help: ArgumentHelp("For a sweep: the point the others are compared with.", valueName: "label")) var baseline: String?
    @Option(help: ArgumentHelp("A folder of report templates (diff.md.mustache) for --format md.", valueName: "dir")) var template: String?
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
        let points: [PointData]
        do { points = try DiffTargets.resolve(references, store: root.store, baseline: baseline) } catch {
            Output.err("tlc diff: \(error.description)")
            throw CommandFailure(code: 2)
        }
        let diff = RunDiff(points)
        switch format {
        case .text: Output.out(diff.text(color: stdoutIsTerminal()))
        case .json: Output.out(diff.json.prettyJSON())
        case .md:
            do { Output.out(try diff.markdown(templates: templates)) } catch {
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
        abstract: "Write a finished run's reports again (report.md, report.html, the sweep's leaderboard), e.g. with other templates.")
    @Argument(help: ArgumentHelp("A run directory, a run id, NAME@latest or NAME@N.", valueName: "run")) var reference: String
    @Option(help: ArgumentHelp("A folder of report templates overriding the built-in ones.", valueName: "dir")) var template: String?
    @OptionGroup var root: OutputRootOption

    func run() throws {
        let record = try root.resolve(reference, command: "report")
        let writer = ReportWriter(templates: try loadTemplates(template, command: "report"))
        do {
            for file in try writer.rewrite(runDir: record.path) { Output.out("wrote \(file)") }
        } catch {
            Output.err("tlc report: \(error)")
            throw CommandFailure(code: 1)
        }
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
