// SweepDiff — `tlc diff SWEEP_A SWEEP_B`: two sweeps compared point by point in
// one table. A row per point label found in either sweep (A's grid order, then
// the points only B has); for the target metric and the other leaderboard
// columns, A's value, B's and B − A with a verdict from the metric's direction
// (RunDiff.higherIsBetter: none for parameter counts and seconds). Points only
// one sweep has, or that failed on a side, say so. Before the table: both run
// ids, and the configuration keys that differ between the points both have
// (e.g. the seed). Printed as a terminal table, Markdown (the sweep-diff.md
// template) or JSON.
import Foundation
import FrontEnd
import Runtime

public struct SweepDiff: Sendable {
    /// One of the two sweeps.
    public struct Side: Sendable {
        public var experiment: String
        public var runID: String
        public var path: String
        /// "succeeded" or "failed" (some point failed).
        public var status: String
        public var pointCount: Int
        /// The sweep's report.target.
        public var target: String
    }
    /// A (the baseline) and B.
    public var sides: [Side]
    /// The metric the sweeps are ranked by (A's report.target).
    public var target: String
    /// The target, then the other leaderboard columns of either sweep.
    public var columns: [String]

    /// A configuration key that differs between the sweeps.
    public struct ConfigChange: Sendable, Equatable {
        public var path: String
        /// A's and B's value at the first shared point where they differ (nil: absent).
        public var values: [String?]
        /// How many shared points differ on this key.
        public var points: Int
    }
    public var config: [ConfigChange]
    /// How many point labels both sweeps have.
    public var sharedCount: Int

    public struct Row: Sendable {
        public var label: String
        /// Each side's status of the point; nil where that sweep has no such point.
        public var statuses: [String?]
        /// One per column, each with the values [A, B].
        public var metrics: [RunDiff.MetricRow]

        /// "both", "only in A", "only in B", "failed in A", "failed in B" or "failed in both".
        public var status: String {
            guard let a = statuses[0] else { return "only in B" }
            guard let b = statuses[1] else { return "only in A" }
            switch (a == "succeeded", b == "succeeded") {
            case (true, true): return "both"
            case (false, true): return "failed in A"
            case (true, false): return "failed in B"
            case (false, false): return "failed in both"
            }
        }
        /// The target metric's verdict for B against A (nil: equal, missing or no direction).
        public var better: Bool? { metrics.first?.better(1) }
    }
    public var rows: [Row]

    public init(a: SweepData, runA: RunRecord, b: SweepData, runB: RunRecord) {
        func side(_ s: SweepData, _ r: RunRecord) -> Side {
            Side(experiment: r.experiment, runID: r.id, path: r.path, status: r.status, pointCount: s.points.count, target: s.target)
        }
        sides = [side(a, runA), side(b, runB)]
        target = a.target
        columns = a.columns + b.columns.filter { !a.columns.contains($0) }
        let pointsA = Dictionary(a.points.map { ($0.label, $0) }, uniquingKeysWith: { x, _ in x })
        let pointsB = Dictionary(b.points.map { ($0.label, $0) }, uniquingKeysWith: { x, _ in x })
        var labels: [String] = []
        for l in a.planOrder + a.points.map(\.label) + b.planOrder + b.points.map(\.label)
        where !labels.contains(l) && (pointsA[l] != nil || pointsB[l] != nil) { labels.append(l) }
        let columns = columns
        rows = labels.map { label in
            let pa = pointsA[label], pb = pointsB[label]
            return Row(label: label, statuses: [pa?.status, pb?.status], metrics: columns.map { n in
                RunDiff.MetricRow(name: n, values: [pa?.metrics[n], pb?.metrics[n]], higherIsBetter: RunDiff.higherIsBetter(n))
            })
        }
        // Configuration: the keys whose resolved values differ at some point both sweeps have.
        let shared = labels.compactMap { l in pointsA[l].flatMap { pa in pointsB[l].map { (pa, $0) } } }
        sharedCount = shared.count
        var changes: [ConfigChange] = []
        var index: [String: Int] = [:]
        for (pa, pb) in shared {
            // A point whose resolved.yaml cannot be read has nothing to compare.
            let flatA = RunDiff.flatten(PointData.resolvedSpec(path(a.dir, pa.folder)))
            let flatB = RunDiff.flatten(PointData.resolvedSpec(path(b.dir, pb.folder)))
            guard !flatA.isEmpty, !flatB.isEmpty else { continue }
            let lookupA = Dictionary(flatA, uniquingKeysWith: { x, _ in x }), lookupB = Dictionary(flatB, uniquingKeysWith: { x, _ in x })
            var keys: [String] = []
            for (k, _) in flatA + flatB where !keys.contains(k) { keys.append(k) }
            for k in keys where RunDiff.differs(lookupA[k], lookupB[k]) {
                if let i = index[k] { changes[i].points += 1; continue }
                index[k] = changes.count
                changes.append(ConfigChange(path: k, values: [lookupA[k], lookupB[k]], points: 1))
            }
        }
        config = changes
    }

    // MARK: summary

    /// The points both sweeps measured the target on, and how B did on them.
    public struct Summary: Sendable, Equatable {
        public var compared = 0, better = 0, worse = 0, equal = 0, onlyA = 0, onlyB = 0
    }

    public var summary: Summary {
        var s = Summary()
        for r in rows {
            switch r.status {
            case "only in A": s.onlyA += 1
            case "only in B": s.onlyB += 1
            default: break
            }
            guard let t = r.metrics.first, let d = t.delta(1), d.isFinite else { continue }
            s.compared += 1
            if d == 0 { s.equal += 1 } else if let b = t.better(1) { if b { s.better += 1 } else { s.worse += 1 } }
        }
        return s
    }

    /// "higher", "lower", or "no" (a target with no better direction).
    var direction: String {
        RunDiff.higherIsBetter(target).map { $0 ? "higher" : "lower" } ?? "no"
    }

    /// One sentence: how B did against A on the target.
    public var summaryText: String {
        let s = summary
        var out = "\(target) measured in both on \(s.compared) point\(s.compared == 1 ? "" : "s")"
        if RunDiff.higherIsBetter(target) != nil {
            out += ": B better on \(s.better), worse on \(s.worse), equal on \(s.equal)"
        }
        if s.onlyA + s.onlyB > 0 { out += "; \(s.onlyA) only in A, \(s.onlyB) only in B" }
        return out
    }

    func configNote(_ c: ConfigChange) -> String {
        c.points == sharedCount ? "" : "(in \(c.points) of \(sharedCount) points)"
    }

    // MARK: output

    /// The terminal table; each change coloured (green better, red worse) only when `color`.
    public func text(color: Bool) -> String {
        let style = TerminalStyle(color: color), paint = style.paint, bold = style.bold
        var out = bold("sweeps") + "\n"
        out += table(sides.enumerated().map { i, s in
            ["  " + RunDiff.letter(i), s.experiment, s.runID, "\(s.pointCount) points, \(s.status)" + (i == 0 ? "  (baseline)" : "")]
        }) + "\n"
        out += "\n" + bold("configuration") + " (points in both)\n"
        if sharedCount == 0 { out += "  no point in both sweeps\n" } else if config.isEmpty { out += "  identical\n" } else {
            out += table(config.map { c in
                ["  " + c.path, c.values[0] ?? "(absent)", "→", c.values[1] ?? "(absent)"] + (c.points == sharedCount ? [] : [configNote(c)])
            }) + "\n"
        }
        out += "\n" + bold("points") + " (\(target), \(direction) is better; Δ = B − A)\n"
        // Two header lines: the metric over its A, B and Δ columns, then A B Δ.
        var body: [[String]] = [["  POINT", "IN"] + columns.flatMap { _ in ["A", "B", "Δ"] }]
        var verdicts: [[Bool?]] = [[]]
        for r in rows {
            body.append(["  " + r.label, r.status] + r.metrics.flatMap { m in
                [RunDiff.value(m.values[0], m.name), RunDiff.value(m.values[1], m.name), m.deltaCell(1)]
            })
            verdicts.append([nil, nil] + r.metrics.flatMap { m in [nil, nil, m.better(1)] })
        }
        var widths = (0..<(body.first?.count ?? 0)).map { c in body.map { $0[c].count }.max() ?? 0 }
        for (g, name) in columns.enumerated() {
            let first = 2 + 3 * g, span = widths[first] + widths[first + 1] + widths[first + 2] + 4
            if name.count > span { widths[first + 2] += name.count - span }
        }
        var heading = "".padding(toLength: widths[0] + widths[1] + 4, withPad: " ", startingAt: 0)
        for (g, name) in columns.enumerated() {
            let first = 2 + 3 * g
            heading += name.padding(toLength: widths[first] + widths[first + 1] + widths[first + 2] + 6, withPad: " ", startingAt: 0)
        }
        out += heading.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
        let cells = padded(body, minWidths: widths)
        for (i, row) in cells.enumerated() {
            out += row.enumerated().map { c, cell in paint(cell, verdicts[i][safe: c] ?? nil) }.joined(separator: "  ")
                .replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
        }
        out += "\n  " + summaryText + "\n"
        return out
    }

    /// The Markdown report (sweep-diff.md template).
    public func markdown(templates: ReportTemplates = .builtIn()) throws(ReportError) -> String {
        try templates.render("sweep-diff.md", context)
    }

    public var context: [String: Any] {
        let sideContexts = sides.enumerated().map { i, s -> [String: Any] in
            ["name": RunDiff.letter(i), "experiment": s.experiment, "run": s.runID, "path": s.path,
             "points": s.pointCount, "status": s.status, "baseline": i == 0]
        }
        return [
            "sides": sideContexts, "a": sideContexts[0], "b": sideContexts[1],
            "target": target, "direction": direction,
            "has_shared": sharedCount > 0, "has_config": !config.isEmpty,
            "config": config.map { c -> [String: Any] in
                ["path": c.path, "a": c.values[0] ?? "(absent)", "b": c.values[1] ?? "(absent)", "note": configNote(c)]
            },
            "columns": columns.map { ["name": $0] },
            "points": rows.map { r -> [String: Any] in
                ["label": r.label, "status": r.status, "cells": r.metrics.map { m -> [String: Any] in
                    ["name": m.name, "a": RunDiff.value(m.values[0], m.name), "b": RunDiff.value(m.values[1], m.name),
                     "delta": m.deltaCell(1)]
                }]
            },
            "summary": summaryText,
        ]
    }

    public var json: SpecValue {
        let s = summary
        return .object([
            ("sweeps", .list(sides.enumerated().map { i, side in
                .object([("name", .string(RunDiff.letter(i))), ("experiment", .string(side.experiment)), ("run_id", .string(side.runID)),
                         ("path", .string(side.path)), ("status", .string(side.status)), ("points", .int(side.pointCount)),
                         ("target", .string(side.target))])
            })),
            ("target", .string(target)),
            ("higher_is_better", RunDiff.higherIsBetter(target).map(SpecValue.bool) ?? .null),
            ("columns", .list(columns.map(SpecValue.string))),
            ("config", .list(config.map { c in
                .object([("path", .string(c.path)), ("values", .list(c.values.map { $0.map(SpecValue.string) ?? .null })),
                         ("points", .int(c.points))])
            })),
            ("points", .list(rows.map { r in
                .object([("label", .string(r.label)), ("status", .string(r.status)),
                         ("statuses", .list(r.statuses.map { $0.map(SpecValue.string) ?? .null })),
                         ("metrics", .list(r.metrics.map { m in
                             .object([("name", .string(m.name)),
                                      ("values", .list(m.values.map { $0.map(SpecValue.double) ?? .null })),
                                      ("delta", m.delta(1).map(SpecValue.double) ?? .null),
                                      ("better", m.better(1).map(SpecValue.bool) ?? .null),
                                      ("higher_is_better", m.higherIsBetter.map(SpecValue.bool) ?? .null)])
                         }))])
            })),
            ("summary", .object([("compared", .int(s.compared)), ("better", .int(s.better)), ("worse", .int(s.worse)),
                                 ("equal", .int(s.equal)), ("only_in_a", .int(s.onlyA)), ("only_in_b", .int(s.onlyB))])),
        ])
    }
}
