// ReportContext — turns RunData into the plain dictionaries the Mustache
// templates read (every value already formatted for people), plus the SVG
// charts as ready-made strings for the HTML templates. The keys are documented
// in docs/reports.md; a user's template may use any of them.
import Foundation
import FrontEnd
import Runtime

public enum ReportContext {
    public static let tlcVersion = "0.1.0"

    /// A metric for people: accuracies as percentages, bytes in KB/MB, counts as integers.
    public static func format(_ v: Double, metric: String) -> String {
        guard v.isFinite else { return v.isNaN ? "nan" : v > 0 ? "inf" : "-inf" }
        let m = metric.lowercased()
        if m.hasSuffix("bytes") { return bytes(v) }
        if m.contains("sparsity") { return String(format: "%.1f%%", v * 100) }
        if m.contains("latency") || m.hasSuffix("_ms") { return String(format: "%.3f ms", v) }
        if m.hasSuffix("params") { return String(Int(v)) }
        return Leaderboard.format(v, metric: metric)
    }

    static func bytes(_ v: Double) -> String {
        if abs(v) >= 1024 * 1024 { return String(format: "%.2f MB", v / 1024 / 1024) }
        if abs(v) >= 1024 { return String(format: "%.1f KB", v / 1024) }
        return "\(Int(v)) B"
    }

    /// How the inputs were normalized, in words (from resolved.yaml): which statistics,
    /// and whether they were fit on this data or taken as they are.
    static func normalization(_ resolved: SpecValue) -> String? {
        guard let n = resolved["normalization"], case .string(let kind)? = n["kind"] else { return nil }
        let per: String = if case .string(let p)? = n["per"], p == "global" { "over all channels" } else { "per channel" }
        switch kind {
        case "standardize": return "standardized \(per) with the mean and standard deviation of this run's training split"
        case "minmax": return "scaled \(per) to [0, 1] by the minimum and maximum of this run's training split"
        case "imagenet": return "ImageNet's mean and standard deviation (not fit on this data)"
        case "checkpoint": return "the statistics stored with the backbone's weights (not refit on this data)"
        case "none": return "none"
        default: return kind
        }
    }

    static func pct(_ v: Double?) -> String { v.map { $0.isFinite ? String(format: "%.2f%%", $0 * 100) : "nan" } ?? "–" }
    static func num(_ v: Double?, _ digits: Int = 4) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "–" }

    // MARK: one point

    /// The context of report.md and report.html; `charts` adds the SVG strings.
    public static func point(_ d: PointData, charts: Bool) -> [String: Any] {
        var c: [String: Any] = ["experiment": d.experiment, "target": d.target, "tlc_version": tlcVersion]
        if !d.label.isEmpty { c["label"] = d.label }
        if let desc = d.description, !desc.isEmpty { c["description"] = desc }
        if let t = d.metrics[d.target] { c["target_value"] = format(t, metric: d.target) }
        c["metrics"] = d.metrics.keys.sorted().map { ["name": $0, "value": format(d.metrics[$0]!, metric: $0)] }
        if let n = normalization(d.resolved) { c["normalization"] = n }

        if let frozen = d.metrics["model.frozen_params"], frozen > 0 || d.metrics["source.accuracy_before"] != nil {
            // Transfer: what was frozen, what the frozen backbone cost, what the source task kept.
            var t: [String: Any] = ["frozen": format(frozen, metric: "model.frozen_params"),
                                    "trainable": d.metrics["model.trainable_params"].map { format($0, metric: "model.trainable_params") } ?? "–"]
            if let s = d.metrics["time.features_seconds"] { t["features_seconds"] = format(s, metric: "time.features_seconds") }
            if let b = d.metrics["source.accuracy_before"], let a = d.metrics["source.accuracy_after"] {
                t["source"] = ["before": pct(b), "after": pct(a), "forgetting": "forgetting " + String(format: "%+.2f pp", (b - a) * 100)]
            }
            c["transfer"] = t
        }
        if let darts = dartsTable(d.dir) { c["darts"] = darts }
        c["has_history"] = !d.history.isEmpty
        c["history"] = d.history.map { e -> [String: Any] in
            ["epoch": e.epoch, "train_loss": num(e.trainLoss), "train_accuracy": pct(e.trainAccuracy),
             "val_loss": num(e.valLoss), "val_accuracy": pct(e.valAccuracy),
             "lr": e.lr.map { String(format: "%.4g", $0) } ?? "–", "seconds": num(e.seconds, 1)]
        }
        if let ev = d.baselineEvaluation {
            let k = ev.confusion.count
            let names = (0..<max(k, ev.precision.count)).map { $0 < ev.classes.count ? ev.classes[$0] : "class \($0)" }
            c["evaluation"] = [
                "variant": ev.variant, "is_variant": ev.variant != "baseline",
                "classes": names.indices.map { i -> [String: Any] in
                    ["name": names[i], "precision": pct(ev.precision[safe: i]), "recall": pct(ev.recall[safe: i]), "f1": pct(ev.f1[safe: i])]
                },
                "columns": (0..<k).map { ["index": $0, "name": names[$0]] },
                "rows": ev.confusion.enumerated().map { i, row -> [String: Any] in
                    ["index": i, "name": i < names.count ? names[i] : "", "cells": row.map { ["count": $0] }]
                },
            ] as [String: Any]
        }
        let variantColumns = variantMetricNames(d.variants)
        c["has_variants"] = !d.variants.isEmpty
        c["variant_columns"] = variantColumns.map { ["name": $0] }
        c["variants"] = d.variants.map { v -> [String: Any] in
            ["name": v.name, "cells": TemplateList.cells(variantColumns.map { n in v.metrics[n].map { format($0, metric: n) } ?? "–" })]
        }
        c["resolved_yaml"] = ((try? String(contentsOfFile: path(d.dir, "resolved.yaml"), encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .newlines)
        c["stopped_early"] = false
        if charts { addCharts(d, to: &c) }
        return c
    }

    /// A DARTS search's alphas (search.json): per edge the softmax over the operations,
    /// the chosen operation of each kept edge marked, and the derived genotype.
    static func dartsTable(_ dir: String) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: path(dir, "search.json")),
              let search = try? JSONSerialization.jsonObject(with: data) as? [String: Any], search["method"] as? String == "darts",
              let ops = search["operations"] as? [String], let alphas = search["alphas"] as? [[String: Any]],
              let genotype = search["genotype"] as? [[String]] else { return nil }
        let kept = Set(genotype.enumerated().flatMap { j, edges in edges.map { "\(j + 1):\($0)" } })
        return [
            "operations": ops.map { ["name": $0] },
            "edges": alphas.map { a -> [String: Any] in
                let node = a["node"] as? Int ?? 0, from = a["from"] as? Int ?? 0
                let softmax = a["softmax"] as? [String: Double] ?? [:]
                return ["node": node, "from": from == 0 ? "input" : "node \(from)",
                        "cells": ops.map { op -> [String: Any] in
                            ["value": String(format: "%.3f", softmax[op] ?? 0), "chosen": kept.contains("\(node):\(op)@\(from)")]
                        }]
            },
            "genotype": genotype.enumerated().map { j, edges in ["node": j + 1, "edges": edges.joined(separator: " + ")] },
        ]
    }

    /// Metric names over all variants: accuracy first, then size, then the rest by name.
    static func variantMetricNames(_ variants: [Variant]) -> [String] {
        let all = Set(variants.flatMap { $0.metrics.keys })
        let preferred = ["test.accuracy", "accuracy", "bytes", "model.bytes", "params", "model.params", "sparsity",
                         "latency.per_image_ms", "latency_ms"]
        return preferred.filter(all.contains) + all.subtracting(preferred).sorted()
    }

    static func addCharts(_ d: PointData, to c: inout [String: Any]) {
        // Per epoch, numbered across training stages (a finetune continues the count).
        var xs: [Double] = []
        for (i, _) in d.history.enumerated() { xs.append(Double(i + 1)) }
        func series(_ name: String, _ key: KeyPath<EpochPoint, Double?>, dashed: Bool = false) -> Chart.Series {
            Chart.Series(name: name, points: zip(xs, d.history).compactMap { x, e in e[keyPath: key].map { (x: x, y: $0) } }, dashed: dashed)
        }
        let loss = [series("train", \.trainLoss), series("validation", \.valLoss, dashed: true)].filter { !$0.points.isEmpty }
        c["chart_loss"] = Chart.lines(id: "loss", title: "Loss per epoch", xLabel: "epoch",
                                      yLabel: "cross-entropy loss (nats)", series: loss)
        let acc = [series("train", \.trainAccuracy), series("validation", \.valAccuracy, dashed: true)].filter { !$0.points.isEmpty }
        c["chart_accuracy"] = Chart.lines(id: "accuracy", title: "Accuracy per epoch", xLabel: "epoch",
                                          yLabel: "accuracy (%)", series: acc, yFormat: .percent)
        if let ev = d.baselineEvaluation {
            c["chart_confusion"] = Chart.heatMap(id: "confusion", title: "Confusion matrix (test, counts)",
                                                 classes: ev.classes, matrix: ev.confusion)
            c["chart_per_class"] = Chart.bars(id: "per-class", title: "Precision and recall per class (test)",
                                              categories: ev.classes, series: [("precision", ev.precision), ("recall", ev.recall)],
                                              yLabel: "score (%)")
        }
        if !d.variants.isEmpty {
            let marks = d.variants.compactMap { v -> Chart.Mark? in
                guard let size = v.metrics["bytes"] ?? v.metrics["model.bytes"],
                      let acc = v.metrics["test.accuracy"] ?? v.metrics["accuracy"] else { return nil }
                return Chart.Mark(x: size / 1024, y: acc, label: v.name)
            }
            let spread = (marks.map(\.x).max() ?? 1) / max(1e-9, marks.map(\.x).min() ?? 1)
            c["chart_variants"] = Chart.scatter(id: "variants", title: "Accuracy against model size", xLabel: "model size (KB)",
                                                yLabel: "test accuracy (%)", marks: marks, logX: spread >= 8, yFormat: .percent)
        }
    }

    // MARK: a sweep

    public static func sweep(_ s: SweepData, charts: Bool) -> [String: Any] {
        // The runtime's leaderboard decides the columns (transfer ones when present) and
        // the seed groups (mean ± standard deviation over points that differ only in seed).
        let board = (try? RunStore().read(s.dir)).map { Leaderboard(records: $0.points, target: s.target) }
        let columns = s.columns
        var c: [String: Any] = ["experiment": s.experiment, "target": s.target, "tlc_version": tlcVersion,
                                "direction": s.higherIsBetter ? "higher" : "lower", "point_count": s.points.count]
        if !s.sweptPaths.isEmpty { c["swept"] = s.sweptPaths.joined(separator: ", ") }
        c["columns"] = columns.map { ["name": $0] }
        let bestLabel = s.points.first { $0.rank == 1 }?.label
        c["points"] = s.points.map { p -> [String: Any] in
            ["rank": p.rank.map(String.init) ?? "–", "label": p.label, "folder": p.folder, "status": p.status,
             "succeeded": p.status == "succeeded", "best": p.label == bestLabel,
             "cells": TemplateList.cells(columns.map { n in p.metrics[n].map { format($0, metric: n) } ?? "–" })]
        }
        if let best = s.points.first(where: { $0.rank == 1 }), let v = best.metrics[s.target] {
            c["best"] = TemplateRecord(fields: ["label": best.label, "folder": best.folder, "value": format(v, metric: s.target)],
                                       text: "\(best.label) (\(s.target) \(format(v, metric: s.target)))")
        }
        let groups = board?.groups ?? []
        c["has_groups"] = !groups.isEmpty
        c["groups"] = groups.map { g -> [String: Any] in
            ["label": g.label, "count": g.count, "cells": TemplateList.cells(columns.map { n -> String in
                guard let m = g.mean[n] else { return "–" }
                let spread = g.count > 1 ? " ± " + Leaderboard.format(g.std[n] ?? 0, metric: n, spread: true) : ""
                let interval = g.ci95[n].map { " [\(format($0.low, metric: n)), \(format($0.high, metric: n))]" } ?? ""
                return format(m, metric: n) + spread + interval
            })]
        }
        let comparisons = board?.comparisons ?? []
        c["has_comparisons"] = !comparisons.isEmpty
        c["comparisons"] = comparisons.map { cmp -> [String: Any] in
            let r = cmp.result
            let verdict = cmp.isSignificant ? "more than seed noise"
                : r.smallestPossibleP >= 0.05 ? "cannot tell: \(r.seeds) seeds can never give p below 0.05"
                : "within seed noise"
            return ["better": cmp.better, "other": cmp.other, "seeds": r.seeds,
                    "difference": signed(r.meanDifference, metric: s.target),
                    "interval": r.ci95.map { "[\(signed($0.low, metric: s.target)), \(signed($0.high, metric: s.target))]" } ?? "–",
                    "p": String(format: "%.3g", r.pValue), "verdict": verdict]
        }
        if charts, !groups.isEmpty {
            let yFormat: Chart.Format = s.target.contains("accuracy") || s.target.contains("f1") ? .percent : .plain
            c["interval_chart"] = Chart.intervals(
                id: "seed-intervals", title: "\(s.target): mean and 95 % interval over seeds", xLabel: "case",
                yLabel: s.target + (yFormat == .percent ? " (%)" : unitSuffix(s.target)),
                groups: groups.compactMap { g in
                    guard let m = g.mean[s.target], let ci = g.ci95[s.target] else { return nil }
                    return (g.label, m, ci.low, ci.high, g.count)
                }, yFormat: yFormat)
        }
        c["has_ensembles"] = !s.ensembles.isEmpty
        c["ensembles"] = s.ensembles.map { e -> [String: Any] in
            let best = e.members.max { $0.accuracy < $1.accuracy }
            return ["description": e.description, "status": e.status + (e.error.map { ": \($0)" } ?? ""),
                    "accuracy": e.accuracy.map { format($0, metric: "test.accuracy") } ?? "–",
                    "best": best.map { "\($0.label) \(format($0.accuracy, metric: "test.accuracy"))" } ?? "–",
                    "delta": best.flatMap { b in e.accuracy.map { String(format: "%+.2f pp", 100 * ($0 - b.accuracy)) } } ?? "–",
                    "members": e.members.map { "\($0.label) \(format($0.accuracy, metric: "test.accuracy"))" }.joined(separator: "; ")]
        }
        let failures = s.points.filter { $0.status != "succeeded" }
        c["has_failures"] = !failures.isEmpty
        c["failures"] = failures.map { ["label": $0.label, "error": $0.error ?? "failed"] }
        if charts { c["charts"] = ((searchChart(s.dir).map { [$0] } ?? []) + sweepCharts(s)).map { ["svg": $0] } }
        return c
    }

    /// A search's rung chart (the run directory's search.json): every configuration's
    /// validation metric at each epochs it reached, promoted, stopped and the winner apart.
    static func searchChart(_ dir: String) -> String? {
        guard let data = FileManager.default.contents(atPath: (dir as NSString).appendingPathComponent("search.json")),
              let search = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let metric = search["metric"] as? String else { return nil }
        let winner = search["winner"] as? String
        let percent = metric.contains("accuracy")
        if let steps = search["steps"] as? [[String: Any]] {
            // Evolution and reinforce: every model in the order it was trained.
            let marks = steps.compactMap { st -> Chart.Mark? in
                guard let n = st["model"] as? Int, let label = st["configuration"] as? String, let value = st[metric] as? Double else { return nil }
                let kind = label == winner ? "winner" : st["parent"] != nil ? "child (one mutation)" : search["method"] as? String == "evolution" ? "initial population" : "sampled"
                return Chart.Mark(x: Double(n), y: value, label: label, series: kind)
            }
            guard !marks.isEmpty else { return nil }
            return Chart.scatter(id: "search-rungs", title: "\(metric) of each model the search trained", xLabel: "model (in training order)",
                                 yLabel: metric + (percent ? " (%)" : ""), marks: marks, xFormat: .integer, yFormat: percent ? .percent : .plain)
        }
        guard let brackets = search["brackets"] as? [[String: Any]] else { return nil }
        var marks: [Chart.Mark] = []
        for (b, bracket) in brackets.enumerated() {
            let rungs = bracket["rungs"] as? [[String: Any]] ?? []
            for (r, rung) in rungs.enumerated() {
                guard let epochs = rung["epochs"] as? Int else { continue }
                for t in rung["trained"] as? [[String: Any]] ?? [] {
                    guard let label = t["configuration"] as? String, let value = t[metric] as? Double else { continue }
                    let promoted = t["promoted"] as? Bool ?? false, last = r == rungs.count - 1
                    let kind = last ? (label == winner ? "winner" : "bracket best") : promoted ? "promoted" : "stopped"
                    marks.append(Chart.Mark(x: Double(epochs), y: value, label: "\(label) (bracket \(b + 1))", series: kind))
                }
            }
        }
        guard !marks.isEmpty else { return nil }
        return Chart.scatter(id: "search-rungs", title: "\(metric) at each rung: promoted, stopped, the winner",
                             xLabel: "epochs trained (log scale)", yLabel: metric + (percent ? " (%)" : ""), marks: marks,
                             logX: true, xFormat: .integer, yFormat: percent ? .percent : .plain)
    }

    /// One chart per swept parameter: the target metric of each succeeded point
    /// against that parameter's value (log axis for rates spread over decades).
    /// Charts are tagged `<idPrefix>-<n>` (several sweeps share the index page).
    static func sweepCharts(_ s: SweepData, idPrefix: String = "sweep") -> [String] {
        let ok = s.points.filter { $0.status == "succeeded" && $0.metrics[s.target] != nil }
        let yFormat: Chart.Format = s.target.contains("accuracy") || s.target.contains("f1") ? .percent : .plain
        let yLabel = s.target + (yFormat == .percent ? " (%)" : unitSuffix(s.target))
        /// Points are coloured by another swept parameter with few values (names first, e.g. a case).
        func seriesPath(except p: String) -> String? {
            let others = s.sweptPaths.filter { $0 != p }
            func distinct(_ q: String) -> Int { Set(ok.map { $0.assignments[q]?.compactText ?? "" }).count }
            func isNumeric(_ q: String) -> Bool {
                ok.allSatisfy { if case .int? = $0.assignments[q] { true } else if case .double? = $0.assignments[q] { true } else { false } }
            }
            return others.first { !isNumeric($0) && distinct($0) <= 8 } ?? others.first { distinct($0) <= 8 }
        }
        return s.sweptPaths.enumerated().map { i, p in
            let id = "\(idPrefix)-\(i)"
            let title = "\(s.target) against \(p)"
            let values = ok.map { $0.assignments[p] ?? .null }
            let seriesOf = seriesPath(except: p)
            let series: [String?] = ok.map { pt in seriesOf.map { "\($0.split(separator: ".").last ?? "")=\(pt.assignments[$0]?.compactText ?? "?")" } }
            let numeric = values.compactMap { v -> Double? in
                switch v { case .int(let n): Double(n); case .double(let d): d; default: nil }
            }
            // Seeds are names for runs, not quantities: no axis between seed 1 and seed 2.
            let isSeed = p == "seed" || p.hasPrefix("seeds.")
            if numeric.count == values.count, !numeric.isEmpty, !isSeed {
                let positive = numeric.allSatisfy { $0 > 0 }
                let spread = (numeric.max() ?? 1) / max(1e-300, numeric.min() ?? 1)
                let marks = zip(ok, numeric).enumerated().map { j, pair in
                    Chart.Mark(x: pair.1, y: pair.0.metrics[s.target]!,
                               label: (s.sweptPaths.count > 1 ? otherLabel(pair.0, except: p, s) : "") + counts(pair.0, s.target),
                               series: series[j])
                }
                return Chart.scatter(id: id, title: title, xLabel: p + (positive && spread >= 10 ? " (log scale)" : ""),
                                     yLabel: yLabel, marks: marks, logX: positive && spread >= 10, yFormat: yFormat,
                                     connect: s.sweptPaths.count == 1)
            }
            var categories: [String] = []
            for v in values where !categories.contains(v.compactText) { categories.append(v.compactText) }
            // Seeds in their own order (1, 2, 3), not the ranking's.
            if isSeed, categories.allSatisfy({ Int($0) != nil }) { categories.sort { Int($0)! < Int($1)! } }
            let marks = zip(ok, values).map { (category: categories.firstIndex(of: $1.compactText)!, y: $0.metrics[s.target]!, label: $0.label + counts($0, s.target)) }
            return Chart.categorical(id: id, title: title, xLabel: p, yLabel: yLabel, categories: categories, marks: marks,
                                     series: seriesOf == nil ? nil : series, yFormat: yFormat)
        }
    }

    /// " (4405/5000)": a test accuracy as the images behind it, so a small gap reads as
    /// the few images it is.
    static func counts(_ p: SweepData.Point, _ metric: String) -> String {
        guard metric == "test.accuracy", let n = p.testCount, let a = p.metrics[metric] else { return "" }
        return " (\(Int((a * Double(n)).rounded()))/\(n))"
    }

    /// The other swept values of a point ("dense=64"), to tell its mark apart.
    static func otherLabel(_ p: SweepData.Point, except path: String, _ s: SweepData) -> String {
        s.sweptPaths.filter { $0 != path }.map { "\($0.split(separator: ".").last ?? "")=\(p.assignments[$0]?.compactText ?? "?")" }
            .joined(separator: ",")
    }

    /// A difference in a metric's units, signed (accuracies in percentage points).
    static func signed(_ d: Double, metric: String) -> String {
        if metric.contains("accuracy") || metric.contains("f1") || metric.contains("top5") { return String(format: "%+.2f pp", 100 * d) }
        return String(format: "%+.4g", d)
    }

    static func unitSuffix(_ metric: String) -> String {
        if metric.hasSuffix("bytes") { return " (bytes)" }
        if metric.hasPrefix("time.") { return " (s)" }
        if metric.hasSuffix("_ms") { return " (ms)" }
        if metric.hasSuffix("loss") { return " (nats)" }
        return ""
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
