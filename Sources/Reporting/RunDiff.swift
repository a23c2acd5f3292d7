// RunDiff — `tlc diff A B [C …]`: what differs between finished runs. The
// resolved configurations as dotted paths (only keys that differ, old → new), the
// metric deltas against the first run with an arrow saying better or worse for
// that metric's direction (accuracy up; loss, bytes, latency down; parameter
// counts and wall-clock seconds neither), and the plan's
// stages paired by kind: shared (same hash, computed once) or differing. Printed
// as a terminal table, Markdown (the diff.md template) or JSON.
import Foundation
import FrontEnd
import Runtime

public struct RunDiff: Sendable {
    /// Display names of the runs, the first is the baseline.
    public var runs: [String]

    public struct ConfigChange: Sendable, Equatable {
        public var path: String
        /// The value in each run (nil: the key is absent).
        public var values: [String?]
    }
    public var config: [ConfigChange]

    public struct MetricRow: Sendable, Equatable {
        public var name: String
        public var values: [Double?]
        /// nil: neither direction is better (parameter counts, wall-clock seconds).
        public var higherIsBetter: Bool?
        public init(name: String, values: [Double?], higherIsBetter: Bool?) {
            self.name = name; self.values = values; self.higherIsBetter = higherIsBetter
        }
        /// Whether a change from the baseline to `values[i]` is an improvement
        /// (nil: no change, not comparable, or a metric with no better direction).
        public func better(_ i: Int) -> Bool? {
            guard i > 0, let higher = higherIsBetter, let a = values[0], let b = values[i], a.isFinite, b.isFinite, a != b else { return nil }
            // Sizes that move by under 1 % (a few bytes of metadata) are no verdict either.
            if name.hasSuffix("bytes"), abs(b - a) < 0.01 * max(abs(a), abs(b)) { return nil }
            return higher ? b > a : b < a
        }
        public func delta(_ i: Int) -> Double? {
            guard i > 0, let a = values[0], let b = values[i] else { return nil }
            return b - a
        }
        /// "↑ better", "↓ worse", or only the arrow when the metric has no better direction.
        public func arrow(_ i: Int) -> String {
            guard let d = delta(i), d != 0, d.isFinite else { return "" }
            guard let b = better(i) else { return d > 0 ? "↑" : "↓" }
            return (d > 0 ? "↑" : "↓") + (b ? " better" : " worse")
        }
        /// The change from the baseline for people: "+2.30 pp ↑ better", "=" when
        /// equal, "" when a side has no value.
        public func deltaCell(_ i: Int) -> String {
            if let d = delta(i), d != 0, d.isFinite { return RunDiff.deltaText(d, name) + " " + arrow(i) }
            return values[i] != nil && values[0] != nil ? "=" : ""
        }
    }
    public var metrics: [MetricRow]

    public struct StageRow: Sendable, Equatable {
        public var kind: String
        /// "shared", "differs", "only in <run>"
        public var status: String
        /// The stage's hash in each run (nil where it has no such stage).
        public var hashes: [String?]
    }
    public var stages: [StageRow]

    /// Compares points; the first is the baseline. `names` label them (default: their folders).
    public init(_ points: [PointData], names: [String]? = nil, target: String? = nil) {
        runs = names ?? points.map { Self.displayName($0) }
        // Configuration: every dotted path whose value differs in any run.
        let flats = points.map { Self.flatten($0.resolved) }
        var keys: [String] = []
        var seen = Set<String>()
        for f in flats { for (k, _) in f where seen.insert(k).inserted { keys.append(k) } }
        let lookup = flats.map { Dictionary($0, uniquingKeysWith: { a, _ in a }) }
        config = keys.compactMap { k in
            let values = lookup.map { $0[k] }
            // An empty map or list, null and an absent key all say "nothing here": not a change.
            return Set(values.map { Self.isEmptyValue($0) ? "\u{0}absent" : $0! }).count > 1 ? ConfigChange(path: k, values: values) : nil
        }
        // Metrics: the union, target first, then by name; variants as variants.<name>.<metric>.
        let metricMaps = points.map { p -> [String: Double] in
            var m = p.metrics
            for v in p.variants { for (k, x) in v.metrics { m["variants.\(v.name).\(k)"] = x } }
            return m
        }
        let target = target ?? points.first?.target ?? "test.accuracy"
        // The target first, then quality, size, variants, and timings (which vary run to run) last.
        func group(_ n: String) -> Int {
            if n == target { return 0 }
            for (i, prefix) in ["test.", "val.", "train.", "model.", "variants."].enumerated() where n.hasPrefix(prefix) { return i + 1 }
            return n.hasPrefix("time.") || n.hasPrefix("latency.") ? 8 : 7
        }
        let names = Set(metricMaps.flatMap(\.keys)).sorted { (group($0), $0) < (group($1), $1) }
        metrics = names.map { n in
            MetricRow(name: n, values: metricMaps.map { $0[n] }, higherIsBetter: Self.higherIsBetter(n))
        }
        stages = Self.pairStages(points.map(\.stages), runs: runs)
    }

    static func displayName(_ p: PointData) -> String {
        let folder = (p.dir as NSString).lastPathComponent
        return p.label.isEmpty ? "\(p.experiment)/\(folder)" : p.label
    }

    /// Whether a larger value of a metric is better (true: accuracy, F1, top-5,
    /// sparsity), a smaller one (false: loss, bytes, latency), or neither (nil:
    /// parameter counts and wall-clock seconds describe a run, they do not judge it).
    public static func higherIsBetter(_ metric: String) -> Bool? {
        let leaf = metric.split(separator: ".").suffix(2).joined(separator: ".")
        if leaf.hasSuffix("params") || leaf.hasSuffix("seconds") { return nil }
        return ReportSpec.higherIsBetter(leaf) || leaf.contains("sparsity")
    }

    /// An absent, null or empty setting: all the same to a comparison.
    static func isEmptyValue(_ v: String?) -> Bool { v == nil || v == "{}" || v == "[]" || v == "null" }

    /// Whether two flattened values of one path differ (absent and empty do not).
    static func differs(_ a: String?, _ b: String?) -> Bool { a != b && !(isEmptyValue(a) && isEmptyValue(b)) }

    /// A value as dotted paths to its leaves: `optimizer.lr`, `head.layers.0.dense`.
    public static func flatten(_ v: SpecValue, prefix: String = "") -> [(String, String)] {
        switch v {
        case .map(let entries):
            if entries.isEmpty { return prefix.isEmpty ? [] : [(prefix, "{}")] }
            return entries.flatMap { flatten($0.value, prefix: prefix.isEmpty ? $0.key : prefix + "." + $0.key) }
        case .list(let items):
            // Lists of scalars read best whole; lists of maps per index.
            if items.allSatisfy({ if case .map = $0 { return false }; if case .list = $0 { return false }; return true }) {
                return [(prefix, v.compactText)]
            }
            return items.enumerated().flatMap { flatten($1, prefix: prefix + ".\($0)") }
        case .null: return [(prefix, "null")]
        default: return [(prefix, v.compactText)]
        }
    }

    /// Pairs stages by kind: a hash found in every run is shared; otherwise the
    /// n-th unshared stage of a kind in each run is compared with the others'.
    static func pairStages(_ lists: [[PlanStageRecord]], runs: [String]) -> [StageRow] {
        guard !lists.isEmpty, lists.contains(where: { !$0.isEmpty }) else { return [] }
        let sets = lists.map { Set($0.map(\.hash)) }
        var rows: [StageRow] = []
        // Shared stages in the first run's order.
        var kinds: [String] = []
        for l in lists { for s in l where !kinds.contains(s.kind) { kinds.append(s.kind) } }
        for kind in kinds {
            let perRun = lists.map { $0.filter { $0.kind == kind } }
            let shared = perRun[0].filter { s in sets.allSatisfy { $0.contains(s.hash) } }
            for s in shared { rows.append(StageRow(kind: kind, status: "shared", hashes: lists.map { _ in s.hash })) }
            let sharedHashes = Set(shared.map(\.hash))
            let rest = perRun.map { $0.filter { !sharedHashes.contains($0.hash) } }
            let n = rest.map(\.count).max() ?? 0
            for i in 0..<n {
                let hashes = rest.map { i < $0.count ? $0[i].hash : nil }
                let present = hashes.enumerated().filter { $0.element != nil }.map(\.offset)
                let status = present.count == lists.count ? "differs"
                    : "only in " + present.map { runs[$0] }.joined(separator: ", ")
                rows.append(StageRow(kind: kind, status: status, hashes: hashes))
            }
        }
        return rows
    }

    // MARK: output

    /// A value for people (accuracy in %, bytes in KB/MB …).
    static func value(_ v: Double?, _ metric: String) -> String {
        v.map { ReportContext.format($0, metric: metricLeaf(metric)) } ?? "–"
    }

    static func metricLeaf(_ m: String) -> String {
        m.hasPrefix("variants.") ? m.split(separator: ".").dropFirst(2).joined(separator: ".") : m
    }

    /// A delta for people: percentage points for accuracies, otherwise the metric's unit.
    static func deltaText(_ d: Double, _ metric: String) -> String {
        let leaf = metricLeaf(metric).lowercased()
        let sign = d > 0 ? "+" : d < 0 ? "−" : "±"
        let a = abs(d)
        if leaf.contains("accuracy") || leaf.contains("f1") || leaf.contains("top5") || leaf.contains("sparsity") {
            return sign + String(format: "%.2f pp", a * 100)
        }
        if leaf.hasSuffix("bytes") { return sign + ReportContext.bytes(a) }
        if leaf.hasSuffix("params") { return sign + String(Int(a)) }
        if leaf.hasPrefix("time.") { return sign + String(format: "%.1f s", a) }
        if leaf.contains("latency") { return sign + String(format: "%.3f ms", a) }
        return sign + String(format: "%.4f", a)
    }

    public func arrow(_ row: MetricRow, _ i: Int) -> String { row.arrow(i) }

    /// The terminal table; ANSI colour (green better, red worse) only when `color`.
    public func text(color: Bool) -> String {
        let style = TerminalStyle(color: color), paint = style.paint, bold = style.bold
        var out = bold("runs") + "\n"
        for (i, r) in runs.enumerated() { out += "  \(Self.letter(i)) \(r)\(i == 0 ? "  (baseline)" : "")\n" }
        out += "\n" + bold("configuration") + "\n"
        if config.isEmpty { out += "  identical\n" } else {
            var rows: [[String]] = []
            for c in config {
                rows.append(["  " + c.path] + c.values.enumerated().flatMap { i, v in (i == 0 ? [] : ["→"]) + [v ?? "(absent)"] })
            }
            out += table(rows) + "\n"
        }
        out += "\n" + bold("metrics") + "\n"
        if metrics.isEmpty { out += "  none\n" } else {
            // One column per run's value, and after each non-baseline run its change and verdict.
            var rows: [[String]] = [["  METRIC"] + runs.indices.flatMap { $0 == 0 ? [Self.letter($0)] : [Self.letter($0), "Δ " + Self.letter($0)] }]
            var paints: [[Bool?]] = [[]]
            for m in metrics {
                var cells = ["  " + m.name]
                var p: [Bool?] = [nil]
                for i in runs.indices {
                    cells.append(Self.value(m.values[i], m.name))
                    if i == 0 { continue }
                    cells.append(m.deltaCell(i))
                    p.append(m.better(i))
                }
                rows.append(cells)
                paints.append(p)
            }
            let lines = table(rows).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            // Colour whole lines by the last run's verdict (padding stays aligned).
            out += lines.enumerated().map { i, l in
                let verdict = paints[safe: i]?.compactMap { $0 }.last
                return paint(l, verdict)
            }.joined(separator: "\n") + "\n"
        }
        out += "\n" + bold("stages") + "\n"
        if stages.isEmpty { out += "  no plan to compare\n" } else {
            let rows = stages.map { s in
                ["  " + s.kind, s.status] + s.hashes.map { $0.map { String($0.prefix(10)) } ?? "-" }
            }
            out += table(rows) + "\n"
            let shared = stages.filter { $0.status == "shared" }.count
            out += "  \(shared) shared, \(stages.count - shared) differ\n"
        }
        return out
    }

    /// A, B, …, Z, then R27, R28, … for the column headings.
    static func letter(_ i: Int) -> String { i < 26 ? String(UnicodeScalar(UInt8(65 + i))) : "R\(i + 1)" }

    /// The Markdown report (diff.md template).
    public func markdown(templates: ReportTemplates = .builtIn()) throws(ReportError) -> String {
        try templates.render("diff.md", context)
    }

    public var context: [String: Any] {
        [
            "runs": runs.enumerated().map { ["name": $1, "first": $0 == 0] },
            "has_config": !config.isEmpty,
            "config": config.map { c in ["path": c.path, "values": c.values.map { ["value": $0 ?? "(absent)"] }] },
            "has_metrics": !metrics.isEmpty,
            "metrics": metrics.map { m -> [String: Any] in
                ["name": m.name, "values": m.values.indices.map { i -> [String: Any] in
                    var cell: [String: Any] = ["value": Self.value(m.values[i], m.name)]
                    if let d = m.delta(i), d != 0, d.isFinite { cell["delta"] = Self.deltaText(d, m.name); cell["arrow"] = m.arrow(i) }
                    return cell
                }]
            },
            "stages": stages.map { s -> [String: Any] in
                let hashes = s.status == "shared" ? Array(s.hashes.prefix(1)) : s.hashes
                return ["kind": s.kind, "status": s.status, "hashes": hashes.map { $0.map { "`\($0.prefix(10))`" } ?? "–" }]
            },
        ]
    }

    public var json: SpecValue {
        .object([
            ("runs", .list(runs.map(SpecValue.string))),
            ("config", .list(config.map { c in
                .object([("path", .string(c.path)), ("values", .list(c.values.map { $0.map(SpecValue.string) ?? .null }))])
            })),
            ("metrics", .list(metrics.map { m in
                .object([("name", .string(m.name)), ("higher_is_better", m.higherIsBetter.map(SpecValue.bool) ?? .null),
                         ("values", .list(m.values.map { $0.map(SpecValue.double) ?? .null })),
                         ("deltas", .list(m.values.indices.dropFirst().map { m.delta($0).map(SpecValue.double) ?? .null })),
                         ("better", .list(m.values.indices.dropFirst().map { m.better($0).map(SpecValue.bool) ?? .null }))])
            })),
            ("stages", .list(stages.map { s in
                .object([("kind", .string(s.kind)), ("status", .string(s.status)),
                         ("hashes", .list(s.hashes.map { $0.map(SpecValue.string) ?? .null }))])
            })),
        ])
    }
}

/// ANSI styling of the diffs' terminal tables; plain text when `color` is false
/// (piped, or NO_COLOR).
struct TerminalStyle {
    let color: Bool
    func tint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m" + s + "\u{1B}[0m" : s }
    func bold(_ s: String) -> String { tint(s, "1") }
    /// Green for better, red for worse, unchanged for neither.
    func paint(_ s: String, _ better: Bool?) -> String { better.map { tint(s, $0 ? "32" : "31") } ?? s }
}

/// Columns padded to their widest cell (the last column is not padded).
func table(_ rows: [[String]]) -> String {
    padded(rows).map { $0.joined(separator: "  ") }.joined(separator: "\n")
}

/// Each cell padded to its column's widest cell, or `minWidths[c]` when wider (the
/// last cell of a row is not padded); join with two spaces.
func padded(_ rows: [[String]], minWidths: [Int] = []) -> [[String]] {
    let n = rows.map(\.count).max() ?? 0
    let widths = (0..<n).map { c in max(minWidths[safe: c] ?? 0, rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0) }
    return rows.map { row in
        row.enumerated().map { c, cell in c == row.count - 1 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
    }
}
