// Commands about finished runs: `tlc ls`, `tlc show`, `tlc verify` (`tlc gc` and
// `tlc rm` are in CleanupCommands.swift). Thin: they parse arguments, call RunStore
// / Verify in the runtime, print, and choose the exit code (0 ok, 1 a failed check
// or run, 2 a bad reference or usage).
import ArgumentParser
import Foundation
import FrontEnd
import Runtime

/// The artifact root option shared by the run commands.
struct OutputRootOption: ParsableArguments {
    @Option(help: ArgumentHelp("Artifact root (default: Outputs, or $TLC_OUTPUT).", valueName: "dir")) var output: String?
    var store: RunStore { RunStore(outputRoot: output) }

    /// An empty --output or TLC_OUTPUT would mean the current folder: a usage error.
    func validate() throws {
        if let problem = RunOptions.outputRootProblem(output) { throw ValidationError(problem) }
    }

    /// Resolves a run reference, reporting a bad one as a usage error (exit code 2).
    func resolve(_ reference: String, command: String) throws -> RunRecord {
        do { return try store.resolve(reference) } catch {
            Output.err("tlc \(command): \(error.description)")
            throw CommandFailure(code: 2)
        }
    }
}

enum RunFormatting {
    /// "just now", "42 s ago", "3 min ago", "5 h ago", "2 days ago".
    static func age(_ date: Date, now: Date = Date()) -> String {
        let s = Int(now.timeIntervalSince(date))
        switch s {
        case ..<5: return "just now"
        case ..<60: return "\(s) s ago"
        case ..<3600: return "\(s / 60) min ago"
        case ..<86400: return "\(s / 3600) h ago"
        default: return "\(s / 86400) day\(s / 86400 == 1 ? "" : "s") ago"
        }
    }

    /// A run's status, with "(cached)" when every stage came from the cache.
    static func status(_ r: RunRecord) -> String {
        r.status + (r.cached && r.status == "succeeded" ? " (cached)" : "")
    }

    static func bytes(_ n: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var v = Double(n), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }

    /// Columns padded to their widest cell.
    static func table(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        let widths = first.indices.map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in c == row.count - 1 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

struct ListRuns: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List runs, newest first, with status, age, overrides and target metric.",
        discussion: "STATUS reads 'succeeded (cached)' when every stage of the run came from the cache. "
            + "OVERRIDES shows the run's first --set override (+N more); `tlc show RUN` prints them all with the command line.")
    @Argument(help: "Only this experiment's runs.") var name: String?
    @OptionGroup var root: OutputRootOption

    func run() throws {
        let store = root.store
        let runs: [RunRecord]
        if let name {
            guard store.experiments().contains(name) else {
                let hint = suggestion(for: name, among: store.experiments()).map { " Did you mean '\($0)'?" } ?? ""
                Output.err("tlc ls: no runs of '\(name)' under \(store.outputRoot).\(hint)")
                throw CommandFailure(code: 2)
            }
            runs = store.runs(of: name)
        } else {
            runs = store.allRuns()
        }
        let unfinished = store.unfinishedRuns().filter { name == nil || $0.experiment == name }
        if runs.isEmpty && unfinished.isEmpty {
            Output.out("no runs under \(store.outputRoot)")
            return
        }
        var rows = Self.rows(runs)
        for u in unfinished {
            rows.append([u.experiment, u.id, u.isRunning ? "running" : "killed (tlc gc removes it)", RunFormatting.age(u.date), "-", "-", "-"])
        }
        Output.out(RunFormatting.table(rows))
    }

    /// The table: a header, then one row per run.
    static func rows(_ runs: [RunRecord], now: Date = Date()) -> [[String]] {
        var rows = [["EXPERIMENT", "RUN", "STATUS", "AGE", "POINTS", "OVERRIDES", "TARGET"]]
        for r in runs {
            let points = r.isSweep ? String(r.points.count) : "-"
            let target = r.bestTarget.map { "\(r.target) \(Leaderboard.format($0, metric: r.target))" + (r.isSweep ? " (best)" : "") } ?? "-"
            rows.append([r.experiment, r.id, RunFormatting.status(r), RunFormatting.age(r.date, now: now), points,
                         overrides(r.overrides), target])
        }
        return rows
    }

    /// The OVERRIDES cell: "-", the one override, or the first (cut to 32 characters) and "+N".
    static func overrides(_ list: [String]) -> String {
        guard let first = list.first else { return "-" }
        let shown = first.count > 32 ? String(first.prefix(31)) + "…" : first
        return list.count == 1 ? shown : "\(shown) +\(list.count - 1)"
    }
}

struct ShowRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Summarize one run: status, command line and overrides, metrics, files, environment and seeds.")
    @Argument(help: ArgumentHelp("A run directory, a run id, NAME@latest or NAME@N (N runs back).", valueName: "run")) var reference: String
    @OptionGroup var root: OutputRootOption

    func run() throws {
        Output.out(Self.text(try root.resolve(reference, command: "show")))
    }

    /// Everything `tlc show` prints about a run.
    static func text(_ r: RunRecord) -> String {
        var out = "\(r.experiment) \(r.id)\n"
        out += RunFormatting.table([
            ["  path", r.path],
            ["  status", r.status + (r.cached ? " (every stage from the cache)" : "") + (r.error.map { "  (\($0))" } ?? "")],
            ["  started", "\(RunEnvironment.iso8601(r.date))  (\(RunFormatting.age(r.date)))"],
            ["  command", r.command.map(RunProvenance.shellLine) ?? "-"],
            ["  overrides", r.overrides.isEmpty ? "none" : r.overrides.map(RunProvenance.shellWord).joined(separator: " ")],
            ["  spec", r.specFile ?? "-"],
            ["  target", r.target],
        ]) + "\n"
        if r.isSweep {
            let board = Leaderboard(records: r.points, target: r.target)
            let names = [r.target] + Leaderboard.columns.filter { $0 != r.target }
            var rows = [["RANK", "POINT", "STATUS"] + names]
            for row in board.rows {
                let cells: [String] = names.map { n in row.metrics[n].map { Leaderboard.format($0, metric: n) } ?? "-" }
                let rank: String = row.rank.map { String($0) } ?? "-"
                rows.append([rank, row.label, row.status] + cells)
            }
            out += "\npoints (\(r.points.count)):\n" + RunFormatting.table(rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
        } else if let p = r.points.first, !p.metrics.isEmpty {
            let rows = [["METRIC", "VALUE"]] + p.metrics.keys.sorted().map { [$0, Leaderboard.format(p.metrics[$0]!, metric: $0)] }
            out += "\nmetrics:\n" + RunFormatting.table(rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
            out += variantsText(p.path)
        }
        out += "\nfiles:\n"
        let fm = FileManager.default
        let files = ((try? fm.contentsOfDirectory(atPath: r.path)) ?? []).sorted()
        out += RunFormatting.table(files.map { name in
            let path = (r.path as NSString).appendingPathComponent(name)
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: path, isDirectory: &isDir)
            let size = isDir.boolValue ? "folder" : RunFormatting.bytes((try? fm.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
            return ["  " + name + (isDir.boolValue ? "/" : ""), size]
        }) + "\n"
        if let env = readEnvironment(r) { out += "\nenvironment:\n" + env }
        return out
    }

    /// Highlights of env.json (found at the run folder's top, also for a sweep point).
    private static func readEnvironment(_ r: RunRecord) -> String? {
        let path = (r.runFolder as NSString).appendingPathComponent("env.json")
        guard let data = FileManager.default.contents(atPath: path),
              let env = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        func sub(_ k: String) -> [String: Any] { env[k] as? [String: Any] ?? [:] }
        let git = sub("git"), blas = sub("blas"), cpu = sub("cpu"), os = sub("os")
        let commit = (git["commit"] as? String).map { String($0.prefix(12)) + ((git["dirty"] as? Bool) == true ? " (dirty)" : "") } ?? "not in git"
        let rss = (env["peak_rss_bytes"] as? NSNumber).map { RunFormatting.bytes($0.intValue) } ?? "-"
        let wall = (env["wall_seconds"] as? NSNumber).map { String(format: "%.1f s", $0.doubleValue) } ?? "-"
        let cpuSeconds = (env["cpu_seconds"] as? NSNumber).map { String(format: "%.1f s", $0.doubleValue) } ?? "-"
        let rows: [[String]] = [
            ["  tlc", env["tlc_version"] as? String ?? "-"],
            ["  git", commit],
            ["  seed", seeds(env)],
            ["  time", "wall \(wall), cpu \(cpuSeconds), peak RSS \(rss)"],
            ["  blas", "\(blas["config"] as? String ?? "-"), \((blas["threads"] as? NSNumber)?.intValue ?? 0) thread(s)"],
            ["  cpu", cpu["model"] as? String ?? "-"],
            ["  os", "\(os["name"] as? String ?? "-"), kernel \(os["kernel"] as? String ?? "-")"],
        ]
        return RunFormatting.table(rows) + "\n"
    }

    /// env.json's seeds: a single run's `seed`; a sweep's base seed and the distinct
    /// seeds its points used (runs before `base_seed` was recorded: their `seed`).
    static func seeds(_ env: [String: Any]) -> String {
        func int(_ v: Any?) -> Int? { (v as? NSNumber)?.intValue }
        if let points = env["seeds"] as? [[String: Any]] {
            var used: [Int] = []
            for s in points.compactMap({ int($0["seed"]) }) where !used.contains(s) { used.append(s) }
            let streams = points.contains { $0["streams"] != nil } ? " (some set seeds.data/init/shuffle: see env.json)" : ""
            return "base \(int(env["base_seed"]).map(String.init) ?? "-"); points used \(used.map(String.init).joined(separator: ", "))" + streams
        }
        guard let seed = int(env["seed"]) else { return "-" }
        guard let streams = env["seed_streams"] as? [String: Any] else { return "\(seed)" }
        return "\(seed); " + ["data", "init", "shuffle"].compactMap { k in int(streams[k]).map { "\(k) \($0)" } }.joined(separator: ", ")
    }
}

extension ShowRun {
    /// The point's compression and ensemble variants (metrics.json's `variants`):
    /// accuracy, size and latency, with size and latency as variant ÷ baseline.
    static func variantsText(_ dir: String) -> String {
        guard let data = FileManager.default.contents(atPath: (dir as NSString).appendingPathComponent("metrics.json")),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let variants = json["variants"] as? [String: [String: Any]], variants.count > 1 else { return "" }
        func number(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue }
        let order = ["baseline", "pruned", "int8", "int4", "distilled", "ensemble"]
        let names = variants.keys.sorted { (order.firstIndex(of: $0) ?? 99, $0) < (order.firstIndex(of: $1) ?? 99, $1) }
        var rows = [["VARIANT", "TEST ACC", "Δ", "BYTES", "SIZE ×", "MS/BATCH", "LATENCY ×"]]
        for n in names {
            let v = variants[n]!, vs = v["vs_baseline"] as? [String: Any] ?? [:]
            rows.append([n, number(v["test.accuracy"]).map { Leaderboard.format($0, metric: "test.accuracy") } ?? "-",
                         number(vs["test.accuracy_delta"]).map { Leaderboard.format($0, metric: "delta") } ?? "-",
                         number(v["bytes"]).map { RunFormatting.bytes(Int($0)) } ?? "-",
                         number(vs["bytes_ratio"]).map { String(format: "%.2f", $0) } ?? "-",
                         number(v["latency.per_batch_ms"]).map { String(format: "%.1f", $0) } ?? "-",
                         number(vs["latency_ratio"]).map { String(format: "%.2f", $0) } ?? "-"])
        }
        return "\nvariants (size and latency as variant ÷ baseline):\n" + RunFormatting.table(rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
    }
}

struct VerifyRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-run a finished run's recorded plan without the cache and check its metrics and models are bitwise equal.")
    @Argument(help: ArgumentHelp("A run directory, a run id, NAME@latest or NAME@N.", valueName: "run")) var reference: String
    @OptionGroup var root: OutputRootOption
    @Flag(help: "Keep the re-executed run directory even when everything is equal.") var keep = false

    func run() throws {
        let record = try root.resolve(reference, command: "verify")
        let scratch = (NSTemporaryDirectory() as NSString).appendingPathComponent("tlc-verify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        Output.err("verifying \(record.path): re-running without the cache into \(scratch)")
        let report: VerifyReport
        do { report = try Verify.verify(record, scratch: scratch) { Output.err("  " + $0) } } catch {
            Output.err("tlc verify: \(error.description)")
            throw CommandFailure(code: 1)
        }
        for n in report.notes { Output.err("note: \(n)") }
        for d in report.differences { Output.out("differs: \(d)") }
        if report.passed {
            Output.out("verified: \(report.comparedMetrics) metrics and \(report.comparedModels) model file(s) bitwise equal (re-ran \(report.source))")
            if !keep { try? FileManager.default.removeItem(atPath: scratch) }
        } else {
            Output.out("NOT reproducible: \(report.differences.count) difference(s); the rerun is kept in \(report.rerunDirs.joined(separator: ", "))")
            throw CommandFailure(code: 1)
        }
    }
}
