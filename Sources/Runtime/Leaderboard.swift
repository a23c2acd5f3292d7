// Leaderboard — the ranking of a sweep's points by the spec's `report.target`
// metric, written as `leaderboard.md` and `leaderboard.json` at the top of the
// sweep folder. Succeeded points come first, best first; points without the
// target metric follow; failed points come last with their error.
import Foundation
import FrontEnd

public struct Leaderboard: Sendable {
    /// Metrics shown next to the target in every row.
    public static let columns = ["test.accuracy", "test.loss", "model.params", "time.train_seconds"]

    public struct Row: Sendable {
        /// 1-based rank among points that have the target metric; nil otherwise.
        public var rank: Int?
        public var label: String
        /// The point's folder name inside the sweep folder.
        public var folder: String
        public var status: String
        public var metrics: [String: Double]
        public var error: String?
    }

    public var target: String
    public var higherIsBetter: Bool
    public var rows: [Row]

    public init(points: [PointResult], target: String) {
        self.target = target
        self.higherIsBetter = ReportSpec.higherIsBetter(target)
        let higher = higherIsBetter
        func row(_ p: PointResult) -> Row {
            Row(rank: nil, label: p.label, folder: (p.runDir as NSString).lastPathComponent, status: p.status,
                metrics: p.metrics, error: p.error)
        }
        let ranked = points.filter { $0.status == "succeeded" && $0.metrics[target] != nil }
            .sorted { a, b in
                let x = a.metrics[target]!, y = b.metrics[target]!
                if x != y { return higher ? x > y : x < y }
                return a.label < b.label
            }
        let unranked = points.filter { $0.status == "succeeded" && $0.metrics[target] == nil }
        let failed = points.filter { $0.status != "succeeded" }
        var rows = ranked.enumerated().map { i, p in var r = row(p); r.rank = i + 1; return r }
        rows += unranked.map(row) + failed.map(row)
        self.rows = rows
    }

    /// The leaderboard of a sweep read back from disk.
    public init(records: [PointRecord], target: String) {
        self.init(points: records.map { PointResult(label: $0.label, runDir: $0.path, status: $0.status, metrics: $0.metrics) },
                  target: target)
    }

    /// Writes `leaderboard.md` and `leaderboard.json` into `dir`.
    public func write(to dir: String) throws {
        try LocalRunner.writeText(markdown(), to: dir, "leaderboard.md")
        try LocalRunner.writeText(json.prettyJSON() + "\n", to: dir, "leaderboard.json")
    }

    /// Writes the leaderboard of a finished sweep (the hook LocalRunner calls).
    public static func write(points: [PointResult], target: String, to dir: String) throws {
        try Leaderboard(points: points, target: target).write(to: dir)
    }

    public var json: SpecValue {
        let names = [target] + Self.columns.filter { $0 != target }
        return .object([
            ("target", .string(target)),
            ("higher_is_better", .bool(higherIsBetter)),
            ("points", .list(rows.map { r in
                .object([("rank", r.rank.map(SpecValue.int)), ("label", .string(r.label)), ("folder", .string(r.folder)),
                         ("status", .string(r.status)),
                         ("metrics", .map(names.compactMap { n in r.metrics[n].map { SpecEntry(n, .double($0)) } })),
                         ("error", r.error.map(SpecValue.string))])
            })),
        ])
    }

    public func markdown() -> String {
        let names = [target] + Self.columns.filter { $0 != target }
        var md = "# Leaderboard\n\nSorted by `\(target)` (\(higherIsBetter ? "higher" : "lower") is better).\n\n"
        md += "| rank | point | status | " + names.joined(separator: " | ") + " |\n"
        md += "| --- | --- | --- |" + String(repeating: " --- |", count: names.count) + "\n"
        for r in rows {
            let cells = names.map { n in r.metrics[n].map { Self.format($0, metric: n) } ?? "–" }
            md += "| \(r.rank.map(String.init) ?? "–") | \(r.label) | \(r.status) | " + cells.joined(separator: " | ") + " |\n"
        }
        let failures = rows.filter { $0.error != nil }
        if !failures.isEmpty {
            md += "\n## Failed points\n\n"
            for r in failures { md += "- **\(r.label)**: \(r.error!)\n" }
        }
        return md
    }

    /// A metric for people: accuracies as percentages, counts as integers.
    public static func format(_ v: Double, metric: String) -> String {
        if metric.contains("accuracy") || metric.contains("f1") || metric.contains("top5") {
            return String(format: "%.2f%%", v * 100)
        }
        if metric.hasPrefix("model.") { return String(Int(v)) }
        if metric.hasPrefix("time.") { return String(format: "%.1f s", v) }
        return String(format: "%.4f", v)
    }
}
