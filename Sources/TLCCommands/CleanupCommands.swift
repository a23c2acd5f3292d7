// Commands that delete: `tlc gc` (cache entries no run references, optionally
// after keeping only each experiment's newest runs) and `tlc rm` (run directories,
// never the cache). Thin: the deleting is RunStore's (Runtime/RunCleanup.swift);
// these parse, print and choose the exit code (0 ok, 1 a deletion failed, 2 a bad
// reference or option, in which case nothing is deleted).
import ArgumentParser
import Foundation
import Runtime

struct CollectGarbage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Remove cache entries that no run directory references.",
        discussion: """
            With --keep-last N, first remove all but the newest N finished runs (succeeded, failed or \
            cancelled) of each experiment, then the cache entries no remaining run references; `latest` \
            links that pointed at a removed run move to the newest succeeded run left. Each cache entry \
            is named with its stage kind and the experiment whose plan.json names it ('unreferenced' \
            when no plan does any more).
            """)
    @Flag(name: .customLong("dry-run"), help: "Only print what would be removed.") var dryRun = false
    @Option(name: .customLong("keep-last"), help: ArgumentHelp("Keep only the newest N finished runs of each experiment.", valueName: "n"))
    var keepLast: Int?
    @OptionGroup var root: OutputRootOption

    func validate() throws {
        if let keepLast, keepLast < 1 {
            throw ValidationError("--keep-last must be at least 1 (to remove every run of an experiment, use `tlc rm`)")
        }
    }

    func run() throws {
        let result: RunStore.CollectionResult
        do { result = try root.store.collectGarbage(dryRun: dryRun, keepLast: keepLast) } catch {
            Output.err("tlc gc: \(error)")
            throw CommandFailure(code: 1)
        }
        Output.out(Self.lines(result, dryRun: dryRun).joined(separator: "\n"))
    }

    /// What `tlc gc` prints: each removed run, link change, cache entry and kept entry, then the total.
    static func lines(_ result: RunStore.CollectionResult, dryRun: Bool) -> [String] {
        let verb = dryRun ? "would remove" : "removed"
        var lines = result.removedRuns.map { "\(verb) run \($0.path)  (\($0.reason), \(RunFormatting.bytes($0.bytes)))" }
        lines += result.latestChanges.map(\.description)
        lines += result.removed.map { g in
            // A cache entry: its stage kind and the experiment a plan.json still names it in.
            let what = g.kind.map { "\($0) stage " + (g.experiment.map { "of \($0)" } ?? "(unreferenced)") } ?? g.reason
            return "\(verb) \(g.path)  (\(what), \(RunFormatting.bytes(g.bytes)))"
        }
        lines += result.kept.map { "kept \($0)" }
        let n = result.removedRuns.count + result.removed.count
        lines.append("\(dryRun ? "would free" : "freed") \(RunFormatting.bytes(result.bytes)) in \(n) item\(n == 1 ? "" : "s")")
        return lines
    }
}

struct RemoveRuns: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Delete run directories (never the stage cache: `tlc gc` frees it).",
        discussion: """
            RUN is a run directory, a run id, NAME@latest or NAME@N (N succeeded runs back). A sweep is \
            removed whole: one of its points alone is refused. Every reference is checked before anything \
            is deleted (a bad one: exit code 2, nothing removed). When `latest` pointed at a removed run it \
            moves to the newest succeeded run left, or goes when none is left.
            """)
    @Argument(help: ArgumentHelp("Runs to delete.", valueName: "run")) var references: [String]
    @OptionGroup var root: OutputRootOption

    func run() throws {
        let store = root.store
        var runs: [RunRecord] = [], folders = Set<String>(), bad = false
        for reference in references {
            do {
                let run = try store.resolve(reference)
                try RunStore.checkRemovable(run)
                // The same run named twice (by id and by NAME@latest, say) is removed once.
                if folders.insert(URL(fileURLWithPath: RunStore.realFolder(run.path)).standardizedFileURL.path).inserted { runs.append(run) }
            } catch {
                Output.err("tlc rm: \(error)")
                bad = true
            }
        }
        if bad {
            Output.err("tlc rm: nothing removed")
            throw CommandFailure(code: 2)
        }
        var freed = 0
        for run in runs {
            let removed: RunStore.RemovedRun
            do { removed = try store.removeRun(run) } catch {
                Output.err("tlc rm: \(error)")
                throw CommandFailure(code: 1)
            }
            freed += removed.bytes
            Output.out("removed \(removed.path)  (\(RunFormatting.bytes(removed.bytes)))")
            if let change = removed.latest { Output.out(change.description) }
        }
        Output.out("freed \(RunFormatting.bytes(freed)) in \(runs.count) run\(runs.count == 1 ? "" : "s"); "
                   + "the stage cache is untouched: `tlc gc` frees the entries no remaining run references")
    }
}
