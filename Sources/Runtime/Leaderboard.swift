// Leaderboard — the ranking of a sweep's points by the spec's `report.target`
// metric, written as `leaderboard.json` at the top of the sweep folder (Reporting
// renders it as leaderboard.md). Succeeded points come first, best first; points without the
// target metric follow; failed points come last with their error. When the sweep
// repeats points over seeds, a second table gives each group's mean and spread.
import Foundation
import FrontEnd

public struct Leaderboard: Sendable {
    /// Metrics shown next to the target in every row.
    public static let columns = ["test.accuracy", "test.loss", "model.params", "time.train_seconds"]
    /// Shown too when some point has them (transfer runs).
    public static let optionalColumns = ["model.trainable_params", "time.features_seconds", "source.accuracy_after"]

    /// Points that differ only in their seed, summarised.
    public struct Group: Sendable {
        /// The points' label without its `seed=…` part.
        public var label: String
        public var count: Int
        /// Mean and sample standard deviation (0 for one point) of each metric.
        public var mean: [String: Double]
        public var std: [String: Double]
        /// The 95 % confidence interval of each metric's mean (Student's t).
        public var ci95: [String: (low: Double, high: Double)] = [:]
        /// The target metric by seed (the label's seed part, `seed=1`), for paired comparisons.
        public var targetBySeed: [String: Double] = [:]
    }

    /// Two seed groups run over the same seeds, compared on the target metric.
    public struct Comparison: Sendable {
        /// The better group by mean, and the other one.
        public var better: String
        public var other: String
        public var result: SeedStatistics.PairedComparison
        /// Whether the difference is more than seed noise (p < 0.05).
        public var isSignificant: Bool { result.pValue < 0.05 }
    }

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

    /// An ensemble over the sweep's points: its own row, compared with its members
    /// on the test set they share.
    public struct EnsembleRow: Sendable {
        public var name: String
        /// How it was asked for ("the top 2 points by val.accuracy, mean_probs").
        public var description: String
        public var status: String
        /// Its test metrics (`test.accuracy`, `test.loss`, `test.macro_f1`, `test.top5`).
        public var metrics: [String: Double]
        /// The members used, by point label (or `run:NAME`), with their test accuracy.
        public var members: [(label: String, testAccuracy: Double)]
        public var error: String?
        public init(name: String, description: String, status: String, metrics: [String: Double],
                    members: [(label: String, testAccuracy: Double)], error: String?) {
            self.name = name; self.description = description; self.status = status; self.metrics = metrics
            self.members = members; self.error = error
        }
    }

    public var target: String
    public var higherIsBetter: Bool
    public var rows: [Row]
    /// The best point by the target (ties to the smaller label); nil when no point has it.
    public var best: Row? { rows.first { $0.rank == 1 } }
    /// Ensembles over the sweep's points.
    public var ensembles: [EnsembleRow] = []
    /// Seed groups, best mean first; empty unless the sweep repeats points over `seed`.
    public var groups: [Group] = []
    /// Paired comparisons of seed groups that share their seeds (best group first in each).
    public var comparisons: [Comparison] = []
    /// The metric columns of this leaderboard: the target, the standard ones, and the optional ones present.
    public var columnNames: [String] {
        let present = Self.optionalColumns.filter { c in rows.contains { $0.metrics[c] != nil } }
        return [target] + (Self.columns + present).filter { $0 != target }
    }

    /// The label names of swept seeds: `seed`, and `seeds.data`, `seeds.init`, `seeds.shuffle`
    /// (labels shorten those to `data`, `init`, `shuffle`).
    static let seedNames: Set<String> = ["seed", "data", "init", "shuffle", "seeds.data", "seeds.init", "seeds.shuffle"]

    /// A label without its seed parts (the group a seed-repeated point belongs to).
    static func withoutSeed(_ label: String) -> String? {
        let parts = label.split(separator: ",", omittingEmptySubsequences: false)
        let kept = parts.filter { part in
            let kv = part.split(separator: "=", maxSplits: 1)
            return !(kv.count == 2 && seedNames.contains(String(kv[0])) && Int(kv[1]) != nil)
        }
        return kept.count == parts.count ? nil : kept.joined(separator: ",")
    }

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
        // Group succeeded points that differ only in their seed.
        var order: [String] = [], members: [String: [Row]] = [:]
        for r in rows where r.status == "succeeded" {
            guard let key = Self.withoutSeed(r.label) else { continue }
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(r)
        }
        let names = columnNames
        groups = order.filter { members[$0]!.count > 1 }.map { key in
            let rs = members[key]!
            var group = Group(label: key.isEmpty ? "(all)" : key, count: rs.count, mean: [:], std: [:])
            for n in names {
                let values = rs.compactMap { $0.metrics[n] }
                guard values.count == rs.count else { continue }
                group.mean[n] = SeedStatistics.mean(values)
                group.std[n] = SeedStatistics.sd(values)
                group.ci95[n] = SeedStatistics.ci95(values)
            }
            for r in rs { if let v = r.metrics[target] { group.targetBySeed[Self.seedPart(r.label)] = v } }
            return group
        }.sorted { a, b in
            let x = a.mean[target] ?? (higher ? -.infinity : .infinity), y = b.mean[target] ?? (higher ? -.infinity : .infinity)
            return x != y ? (higher ? x > y : x < y) : a.label < b.label
        }
        // Every pair of groups run over the same seeds, the better one (by mean) first.
        for (i, a) in groups.enumerated() {
            for b in groups[(i + 1)...] where Set(a.targetBySeed.keys) == Set(b.targetBySeed.keys) {
                let seeds = a.targetBySeed.keys.sorted()
                // Per seed: the better group's value minus the other's (in the metric's own units).
                guard let r = SeedStatistics.paired(seeds.map { b.targetBySeed[$0]! }, seeds.map { a.targetBySeed[$0]! }) else { continue }
                comparisons.append(Comparison(better: a.label, other: b.label, result: r))
            }
        }
    }

    /// The seed parts of a label (`seed=1`, `init=2,shuffle=1`): what pairs points across groups.
    static func seedPart(_ label: String) -> String {
        label.split(separator: ",").filter { part in
            let kv = part.split(separator: "=", maxSplits: 1)
            return kv.count == 2 && seedNames.contains(String(kv[0])) && Int(kv[1]) != nil
        }.joined(separator: ",")
    }

    /// The leaderboard of a sweep read back from disk.
    public init(records: [PointRecord], target: String) {
        self.init(points: records.map { PointResult(label: $0.label, runDir: $0.path, status: $0.status, metrics: $0.metrics) },
                  target: target)
    }

    /// Writes `leaderboard.json` into `dir` (Reporting renders leaderboard.md from it).
    public func write(to dir: String) throws {
        try LocalRunner.writeText(json.prettyJSON() + "\n", to: dir, "leaderboard.json")
    }

    /// Writes the leaderboard of a finished sweep (the hook LocalRunner calls).
    public static func write(points: [PointResult], ensembles: [EnsembleRow] = [], target: String, to dir: String) throws {
        var board = Leaderboard(points: points, target: target)
        board.ensembles = ensembles
        try board.write(to: dir)
    }

    public var json: SpecValue {
        let names = columnNames
        return .object([
            ("target", .string(target)),
            ("higher_is_better", .bool(higherIsBetter)),
            ("points", .list(rows.map { r in
                .object([("rank", r.rank.map(SpecValue.int)), ("label", .string(r.label)), ("folder", .string(r.folder)),
                         ("status", .string(r.status)),
                         ("metrics", .map(names.compactMap { n in r.metrics[n].map { SpecEntry(n, .double($0)) } })),
                         ("error", r.error.map(SpecValue.string))])
            })),
            ("ensembles", ensembles.isEmpty ? nil : .list(ensembles.map { e in
                let best = e.members.max { $0.testAccuracy < $1.testAccuracy }
                return .object([
                    ("name", .string(e.name)), ("description", .string(e.description)), ("status", .string(e.status)),
                    ("metrics", .map(e.metrics.keys.sorted().map { SpecEntry($0, .double(e.metrics[$0]!)) })),
                    ("members", .list(e.members.map { .object([("label", .string($0.label)), ("test.accuracy", .double($0.testAccuracy))]) })),
                    ("best_member", best.map { .object([("label", .string($0.label)), ("test.accuracy", .double($0.testAccuracy))]) }),
                    ("vs_best_member", best.flatMap { b in e.metrics["test.accuracy"].map { .object([("test.accuracy_delta", .double($0 - b.testAccuracy))]) } }),
                    ("error", e.error.map(SpecValue.string)),
                ])
            })),
            ("seed_groups", groups.isEmpty ? nil : .list(groups.map { g in
                .object([("label", .string(g.label)), ("points", .int(g.count)),
                         ("mean", .map(names.compactMap { n in g.mean[n].map { SpecEntry(n, .double($0)) } })),
                         ("std", .map(names.compactMap { n in g.std[n].map { SpecEntry(n, .double($0)) } })),
                         ("ci95", .map(names.compactMap { n in g.ci95[n].map { SpecEntry(n, .list([.double($0.low), .double($0.high)])) } }))])
            })),
            ("comparisons", comparisons.isEmpty ? nil : .list(comparisons.map { c in
                .object([("better", .string(c.better)), ("other", .string(c.other)), ("metric", .string(target)),
                         ("seeds", .int(c.result.seeds)), ("mean_difference", .double(c.result.meanDifference)),
                         ("ci95", c.result.ci95.map { .list([.double($0.low), .double($0.high)]) }),
                         ("p_value", .double(c.result.pValue)), ("smallest_possible_p", .double(c.result.smallestPossibleP)),
                         ("test", .string("paired sign-flip permutation test over the shared seeds, exact, two-sided")),
                         ("significant", .bool(c.isSignificant))])
            })),
        ])
    }

    /// A metric for people: accuracies as percentages, counts as integers.
    public static func format(_ v: Double, metric: String, spread: Bool = false) -> String {
        // Differences of accuracies (forgetting, deltas) in percentage points, signed.
        if metric.contains("forgetting") || metric.contains("delta") {
            return spread ? String(format: "%.2f pp", v * 100) : String(format: "%+.2f pp", v * 100)
        }
        if metric.contains("accuracy") || metric.contains("f1") || metric.contains("top5") {
            return String(format: "%.2f%%", v * 100)
        }
        if metric.hasPrefix("model.") { return spread ? String(format: "%.0f", v) : String(Int(v)) }
        if metric.hasPrefix("time.") { return String(format: "%.1f s", v) }
        return String(format: "%.4f", v)
    }
}
