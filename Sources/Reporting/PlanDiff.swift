// PlanDiff — `tlc diff --plan OLD.yaml NEW.yaml`: before running anything, what
// changed between two versions of an experiment (its resolved fields as dotted
// paths) and what running NEW would cost: which of its stages OLD already had
// (same hash), which are in the stage cache, and which would run. Either side may
// be `REV:path`, read through git (`git archive REV`, so `extends` and `run:`
// references resolve against the same revision).
import Foundation
import FrontEnd
import Jobs
import Planner
import Runtime

public struct PlanDiff: Sendable {
    public var old: String
    public var new: String
    public var config: [RunDiff.ConfigChange]

    public struct StageRow: Sendable, Equatable {
        public var kind: String
        public var hash: String
        public var summary: String
        /// "unchanged" (OLD has it), "changed" (a new hash).
        public var change: String
        /// "cached" or "would run".
        public var action: String
        /// Which points use it: one point's label, "all points", or "k points".
        public var points: String = ""
    }
    /// NEW's report stages (not listed: they are always written, never cached).
    public var reportStages = 0
    /// NEW's stages, in plan order.
    public var stages: [StageRow]
    /// OLD's stages that NEW no longer has.
    public var dropped: [StageRow]

    public init(old: (name: String, loaded: LoadedExperiment, plan: Plan),
                new: (name: String, loaded: LoadedExperiment, plan: Plan), cache: StageCache?) {
        self.old = old.name
        self.new = new.name
        func spec(_ l: LoadedExperiment) -> SpecValue {
            // The base spec plus the sweep grid (the points' values differ by design).
            var entries: [SpecEntry] = []
            if case .map(let e) = l.base.specValue { entries = e }
            if l.hasSweep {
                let paths = l.sweptPaths
                for p in paths {
                    let values = Array(Set(l.points.compactMap { $0.assignments.first { $0.path == p }?.value.compactText })).sorted()
                    entries.append(SpecEntry("sweep.\(p)", .string("[" + values.joined(separator: ", ") + "]")))
                }
            }
            return .map(entries)
        }
        let a = RunDiff.flatten(spec(old.loaded)), b = RunDiff.flatten(spec(new.loaded))
        let la = Dictionary(a, uniquingKeysWith: { x, _ in x }), lb = Dictionary(b, uniquingKeysWith: { x, _ in x })
        var keys: [String] = a.map(\.0)
        for (k, _) in b where la[k] == nil { keys.append(k) }
        config = keys.compactMap { k in
            RunDiff.differs(la[k], lb[k]) ? RunDiff.ConfigChange(path: k, values: [la[k], lb[k]]) : nil
        }
        let oldHashes = Set(old.plan.stages.map(\.hash))
        let newHashes = Set(new.plan.stages.map(\.hash))
        let labels = Dictionary(new.plan.points.map { ($0.id, $0.label) }, uniquingKeysWith: { a, _ in a })
        let total = new.plan.points.count
        func users(_ s: Stage) -> String {
            if total <= 1 { return "" }
            if s.points.count == total { return "all points" }
            if s.points.count == 1, let l = labels[s.points[0]] { return l }
            return "\(s.points.count) points"
        }
        stages = new.plan.stages.filter { $0.kind != .report }.map { s in
            StageRow(kind: s.kind.rawValue, hash: s.hash, summary: s.summary,
                     change: oldHashes.contains(s.hash) ? "unchanged" : "changed",
                     action: cache?.isComplete(s.hash) == true ? "cached" : "would run", points: users(s))
        }
        reportStages = new.plan.stages.filter { $0.kind == .report }.count
        dropped = old.plan.stages.filter { $0.kind != .report && !newHashes.contains($0.hash) }.map { s in
            StageRow(kind: s.kind.rawValue, hash: s.hash, summary: s.summary, change: "dropped", action: "")
        }
    }

    public func text(color: Bool) -> String {
        let style = TerminalStyle(color: color), bold = style.bold, tint = style.tint
        var out = bold("plan diff") + "\n  old \(old)\n  new \(new)\n\n" + bold("changed fields") + "\n"
        if config.isEmpty { out += "  none\n" } else {
            out += table(config.map { ["  " + $0.path, $0.values[0] ?? "(absent)", "→", $0.values[1] ?? "(absent)"] }) + "\n"
        }
        out += "\n" + bold("stages of new") + "\n"
        out += table(stages.map { s in
            ["  " + s.kind, String(s.hash.prefix(10)), s.change,
             s.action == "cached" ? tint("from the cache", "32") : tint("would run", "33"), s.points, s.summary]
        } + dropped.map { d in ["  " + d.kind, String(d.hash.prefix(10)), "dropped", "-", "", d.summary] }) + "\n"
        let run = stages.filter { $0.action != "cached" }.count
        out += "\n  \(run) of \(stages.count) stage\(stages.count == 1 ? "" : "s") would run, \(stages.count - run) from the cache"
            + (reportStages > 0 ? " (and \(reportStages) report stage\(reportStages == 1 ? "" : "s"), always written: \(stages.count + reportStages) as `tlc plan` counts)" : "")
        out += "; \(stages.filter { $0.change == "changed" }.count) changed since old\n"
        return out
    }

    public func markdown() -> String {
        var md = "# Plan diff: `\(old)` → `\(new)`\n\n## Changed fields\n\n"
        if config.isEmpty { md += "None.\n" } else {
            md += "| key | old | new |\n| --- | --- | --- |\n"
            for c in config { md += "| `\(c.path)` | \(c.values[0] ?? "(absent)") | \(c.values[1] ?? "(absent)") |\n" }
        }
        md += "\n## Stages of new\n\n| stage | hash | since old | action | point | what |\n| --- | --- | --- | --- | --- | --- |\n"
        for s in stages { md += "| \(s.kind) | `\(s.hash.prefix(10))` | \(s.change) | \(s.action == "cached" ? "from the cache" : "would run") | \(s.points) | \(s.summary) |\n" }
        if reportStages > 0 { md += "\nPlus \(reportStages) report stage(s), always written (\(stages.count + reportStages) stages as `tlc plan` counts them).\n" }
        return md
    }

    public var json: SpecValue {
        func row(_ s: StageRow) -> SpecValue {
            .object([("kind", .string(s.kind)), ("hash", .string(s.hash)), ("summary", .string(s.summary)),
                     ("change", .string(s.change)), ("action", s.action.isEmpty ? nil : .string(s.action)),
                     ("points", s.points.isEmpty ? nil : .string(s.points))])
        }
        return .object([
            ("old", .string(old)), ("new", .string(new)),
            ("config", .list(config.map { c in
                .object([("path", .string(c.path)), ("old", c.values[0].map(SpecValue.string) ?? .null),
                         ("new", c.values[1].map(SpecValue.string) ?? .null)])
            })),
            ("stages", .list(stages.map(row))), ("dropped", .list(dropped.map(row))),
        ])
    }
}

/// An experiment file named on the command line: a path, or `REV:path` in git.
public enum SpecSource {
    /// The file to load for `reference`: the path itself when it exists, else
    /// `REV:path` checked out (the whole tree at REV) into `scratch`. The path is
    /// relative to the repository's top, or to the current folder when it starts
    /// with `./` or `../`, as in `git show`.
    public static func materialize(_ reference: String, scratch: String) throws(ReportError) -> String {
        if FileManager.default.fileExists(atPath: reference) { return reference }
        guard let colon = reference.firstIndex(of: ":"), colon != reference.startIndex else {
            throw ReportError("\(reference): no such file (write REV:path for a file in a git revision, e.g. HEAD~1:Experiments/x.yaml)")
        }
        let rev = String(reference[..<colon]), file = String(reference[reference.index(after: colon)...])
        guard !file.isEmpty else { throw ReportError("\(reference): no path after the revision") }
        let top: String
        do { top = try git(["rev-parse", "--show-toplevel"]).trimmingCharacters(in: .whitespacesAndNewlines) } catch {
            throw ReportError("\(reference): not a file, and no git repository here to read it from (\(error.description))")
        }
        var relative = file
        if file.hasPrefix("./") || file.hasPrefix("../") {
            let prefix = (try? git(["rev-parse", "--show-prefix"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? ""
            relative = ((prefix + file) as NSString).standardizingPath
        }
        do { _ = try git(["cat-file", "-e", "\(rev):\(relative)"], in: top) } catch {
            throw ReportError("\(reference): git has no '\(relative)' at revision '\(rev)'")
        }
        let dest = (scratch as NSString).appendingPathComponent("tree")
        try? FileManager.default.createDirectory(atPath: dest, withIntermediateDirectories: true)
        do {
            _ = try run("/bin/sh", ["-c", "git archive --format=tar \"$0\" | tar -x -C \"$1\"", rev, dest], in: top)
        } catch {
            throw ReportError("\(reference): cannot read revision '\(rev)' from git: \(error.description)")
        }
        return (dest as NSString).appendingPathComponent(relative)
    }

    static func git(_ args: [String], in dir: String? = nil) throws(ReportError) -> String {
        try run("/usr/bin/env", ["git"] + args, in: dir)
    }

    static func run(_ exe: String, _ args: [String], in dir: String? = nil) throws(ReportError) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        if let dir { p.currentDirectoryURL = URL(fileURLWithPath: dir) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { throw ReportError("cannot start \(exe): \(error)") }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ReportError(String(decoding: errData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return String(decoding: data, as: UTF8.self)
    }
}
