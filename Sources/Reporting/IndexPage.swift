// IndexPage — `Outputs/index.html`: every experiment and run under an output root
// on one static page, newest first: experiment, run id (linking the run's
// report.html), date, status, number of points and the metric columns asked for
// (`target` stands for each run's report.target; a sweep shows its best point's
// values). Each sweep's points and its target-against-parameter charts (the
// sweep report's, from ReportContext.sweepCharts) sit in a collapsible row under
// it. Runs are enumerated by RunStore and read from plan.json, metrics.json,
// leaderboard.json and resolved.yaml only, so writing the page after every
// `tlc run` is cheap. Rendered with the index.html template, whose small inline
// script sorts by a clicked column and filters by text and status.
import Foundation
import FrontEnd
import Runtime

public struct IndexPage {
    /// The metric columns when none are asked for: each run's target, then test.accuracy.
    public static let defaultMetrics = ["target", "test.accuracy"]
    public static let fileName = "index.html"

    public let store: RunStore
    /// Metric columns; `target` is each run's report.target.
    public let metrics: [String]
    /// Every finished run under the output root, newest first.
    public let runs: [RunRecord]

    /// Reads the runs under the store's output root (which must exist).
    public init(store: RunStore, metrics: [String] = defaultMetrics) throws(ReportError) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: store.outputRoot, isDirectory: &isDir), isDir.boolValue else {
            throw ReportError("no artifact root \(store.outputRoot): nothing has run there yet (give --output DIR, or run an experiment first)")
        }
        self.store = store
        self.metrics = metrics.isEmpty ? Self.defaultMetrics : metrics
        runs = store.allRuns()
    }

    /// Where the page goes: index.html at the top of the output root.
    public var file: String { (store.outputRoot as NSString).appendingPathComponent(Self.fileName) }

    /// Metrics asked for that no run has (most likely a typo).
    public var unknownMetrics: [String] {
        metrics.filter { m in m != "target" && !runs.contains { r in r.points.contains { $0.metrics[m] != nil } } }
    }

    /// Writes index.html atomically; returns its path.
    @discardableResult
    public func write(templates: ReportTemplates = .builtIn()) throws -> String {
        let html = try templates.render("index.html", context)
        try Data(html.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
        return file
    }

    // MARK: context

    public var context: [String: Any] {
        let statuses = runs.map(status).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }.sorted()
        return [
            "output_root": store.outputRoot, "tlc_version": ReportContext.tlcVersion,
            "run_count": runs.count, "experiment_count": Set(runs.map(\.experiment)).count, "has_runs": !runs.isEmpty,
            "columns": metrics.map { ["key": $0, "name": $0, "title": $0 == "target" ? "each run's report.target" : $0] },
            "statuses": statuses.map { ["name": $0] },
            "colspan": 5 + metrics.count,
            "runs": runs.map(run),
        ]
    }

    /// "succeeded", "failed", or "cancelled" (a run stopped with Ctrl-C, kept as `<id>.cancelled`).
    func status(_ r: RunRecord) -> String { r.path.hasSuffix(".cancelled") ? "cancelled" : r.status }

    func run(_ r: RunRecord) -> [String: Any] {
        let best = Self.bestPoint(r)
        var c: [String: Any] = [
            "experiment": r.experiment, "run": r.id, "status": status(r),
            "date": Self.dateText(r.date), "date_sort": String(Int(r.date.timeIntervalSince1970)),
            "point_count": r.points.count, "is_sweep": r.isSweep,
            "search": ([r.experiment, r.id] + r.points.map(\.label).filter { !$0.isEmpty }).joined(separator: " ").lowercased(),
            "has_report": false,
            "cells": metrics.map { m -> [String: Any] in
                let name = m == "target" ? r.target : m
                let v = best?.metrics[name]
                return ["value": v.map { ReportContext.format($0, metric: name) } ?? "–",
                        "sort": v.flatMap { $0.isFinite ? SpecValue.canonicalNumber($0) : nil } ?? "",
                        "has_metric": m == "target", "metric": name,
                        "note": r.isSweep && best != nil ? "best point: \(best!.label)" : ""]
            },
        ]
        if let href = link(r.path) { c["has_report"] = true; c["href"] = href }
        if r.isSweep, let sweep = try? SweepData.read(r.path) { c["sweep"] = self.sweep(sweep, r) }
        return c
    }

    func sweep(_ s: SweepData, _ r: RunRecord) -> [String: Any] {
        let columns = s.columns
        let best = s.points.first { $0.rank == 1 }
        return [
            "target": s.target, "direction": s.higherIsBetter ? "higher" : "lower", "count": s.points.count,
            "swept": s.sweptPaths.joined(separator: ", "),
            "best": best.map { b in b.label + (b.metrics[s.target].map { " (\(ReportContext.format($0, metric: s.target)))" } ?? "") } ?? "–",
            "point_columns": columns.map { ["name": $0] },
            "rows": s.points.map { p -> [String: Any] in
                var row: [String: Any] = [
                    "rank": p.rank.map(String.init) ?? "–", "label": p.label, "point_status": p.status, "has_point_report": false,
                    "point_cells": columns.map { n in ["value": p.metrics[n].map { ReportContext.format($0, metric: n) } ?? "–"] },
                ]
                if let href = link(path(s.dir, p.folder)) { row["has_point_report"] = true; row["point_href"] = href }
                return row
            },
            "charts": ReportContext.sweepCharts(s, idPrefix: "\(r.experiment)/\(r.id)").map { ["svg": $0] },
        ]
    }

    /// The href of a folder's report.html relative to the index, when the report exists.
    func link(_ dir: String) -> String? {
        guard FileManager.default.fileExists(atPath: path(dir, "report.html")) else { return nil }
        let root = (store.outputRoot as NSString).standardizingPath, full = (dir as NSString).standardizingPath
        let inside = full.hasPrefix(root + "/")
        let relative = inside ? String(full.dropFirst(root.count + 1)) : full
        let encoded = (relative.split(separator: "/").map { String($0) } + ["report.html"])
            .map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? $0 }
            .joined(separator: "/")
        return inside || !full.hasPrefix("/") ? encoded : "/" + encoded
    }

    /// The point a run row shows: a single run's, or a sweep's best by its target.
    static func bestPoint(_ r: RunRecord) -> PointRecord? {
        guard r.isSweep else { return r.points.first }
        let higher = ReportSpec.higherIsBetter(r.target)      // as the leaderboard ranks
        return r.points.filter { $0.status == "succeeded" && $0.metrics[r.target]?.isFinite == true }
            .max { a, b in higher ? a.metrics[r.target]! < b.metrics[r.target]! : a.metrics[r.target]! > b.metrics[r.target]! }
    }

    /// `2026-11-29 01:02` (run ids are UTC).
    static func dateText(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f.string(from: d)
    }
}
