// RunData — what a report or a diff knows about a run, read back from the files
// of a run directory (metrics.json, history.jsonl, evaluation*.json,
// resolved.yaml, plan.json, leaderboard.json). Reading from disk rather than
// from the runner's memory means `tlc report` and `tlc diff` see exactly what
// `tlc run` wrote, and a report can be re-rendered with other templates later.
// Unknown or missing files give empty parts, never a crash.
import Foundation
import FrontEnd
import Runtime

/// One epoch of a training stage (a line of history.jsonl).
public struct EpochPoint: Sendable, Equatable {
    public var stage: String
    public var epoch: Int
    public var trainLoss: Double?
    public var trainAccuracy: Double?
    public var valLoss: Double?
    public var valAccuracy: Double?
    public var lr: Double?
    public var seconds: Double?
}

/// One variant's test evaluation (evaluation.json, evaluation.<variant>.json).
public struct VariantEvaluation: Sendable, Equatable {
    public var variant: String
    public var classes: [String]
    public var accuracy: Double?
    public var loss: Double?
    public var precision: [Double]
    public var recall: [Double]
    public var f1: [Double]
    /// `confusion[true][predicted]`.
    public var confusion: [[Int]]
}

/// One compression/ensemble variant from metrics.json's `variants` object.
public struct Variant: Sendable, Equatable {
    public var name: String
    public var metrics: [String: Double]
}

/// One stage of a run's plan (from plan.json).
public struct PlanStageRecord: Sendable, Equatable {
    public var id: String
    public var kind: String
    public var hash: String
    public var summary: String
}

/// A point's folder: a single run, or one point of a sweep.
public struct PointData: Sendable {
    public var dir: String
    public var experiment: String
    public var label: String
    public var description: String?
    public var metrics: [String: Double]
    public var variants: [Variant]
    public var history: [EpochPoint]
    public var evaluations: [VariantEvaluation]
    /// resolved.yaml as a plain value (the empty map when missing).
    public var resolved: SpecValue
    /// The stages this point used, from plan.json (the sweep's, for a sweep point).
    public var stages: [PlanStageRecord]
    public var target: String

    /// Reads a point folder. Throws only when there is nothing that looks like a run.
    public static func read(_ dir: String) throws(ReportError) -> PointData {
        let fm = FileManager.default
        guard fm.fileExists(atPath: path(dir, "metrics.json")) || fm.fileExists(atPath: path(dir, "resolved.yaml")) else {
            throw ReportError("\(dir) is not a finished run point (no metrics.json or resolved.yaml)")
        }
        let resolved = resolvedSpec(dir)
        let rawMetrics = readJSON(path(dir, "metrics.json")) as? [String: Any] ?? [:]
        var metrics: [String: Double] = [:]
        var variants: [Variant] = []
        for (k, v) in rawMetrics {
            if let n = number(v) { metrics[k] = n }
            else if k == "variants", let vs = v as? [String: Any] {
                for (name, body) in vs {
                    var m: [String: Double] = [:]
                    for (mk, mv) in body as? [String: Any] ?? [:] {
                        if let n = number(mv) { m[mk] = n }
                        // One level of nesting (`storage`) as dotted keys: storage.coded_bytes.
                        else if let inner = mv as? [String: Any], mk != "vs_baseline" {
                            for (ik, iv) in inner { if let n = number(iv) { m[mk + "." + ik] = n } }
                        }
                    }
                    variants.append(Variant(name: name, metrics: m))
                }
            }
        }
        variants.sort { variantOrder($0.name) < variantOrder($1.name) }

        var history: [EpochPoint] = []
        if let text = try? String(contentsOfFile: path(dir, "history.jsonl"), encoding: .utf8) {
            for line in text.split(separator: "\n") {
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
                history.append(EpochPoint(stage: o["stage"] as? String ?? "", epoch: (o["epoch"] as? NSNumber)?.intValue ?? history.count + 1,
                                          trainLoss: number(o["train.loss"]), trainAccuracy: number(o["train.accuracy"]),
                                          valLoss: number(o["val.loss"]), valAccuracy: number(o["val.accuracy"]),
                                          lr: number(o["lr"]), seconds: number(o["seconds"])))
            }
        }

        var evaluations: [VariantEvaluation] = []
        let files = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter {
            $0.hasPrefix("evaluation") && $0.hasSuffix(".json")
        }
        for file in files {
            guard let o = readJSON(path(dir, file)) as? [String: Any] else { continue }
            let fromName = file == "evaluation.json" ? "baseline"
                : String(file.dropFirst("evaluation".count).dropLast(".json".count)).trimmingCharacters(in: CharacterSet(charactersIn: ".-_"))
            let confusion = (o["confusion"] as? [[Any]] ?? []).map { $0.map { number($0).map(Int.init) ?? 0 } }
            let k = confusion.count
            let classes = (o["classes"] as? [Any])?.map { "\($0)" } ?? (0..<k).map { "class \($0)" }
            evaluations.append(VariantEvaluation(
                variant: o["variant"] as? String ?? fromName, classes: classes,
                accuracy: number(o["accuracy"]), loss: number(o["loss"]),
                precision: numbers(o["precision"]), recall: numbers(o["recall"]), f1: numbers(o["f1"]),
                confusion: confusion))
        }
        evaluations.sort { variantOrder($0.variant) < variantOrder($1.variant) }

        // plan.json: here for a single run, in the parent for a sweep point.
        var stages: [PlanStageRecord] = []
        let parent = (dir as NSString).deletingLastPathComponent
        let planPath = fm.fileExists(atPath: path(dir, "plan.json")) ? path(dir, "plan.json") : path(parent, "plan.json")
        var label = "", experiment = resolved["name"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? ""
        if let plan = readJSON(planPath) as? [String: Any] {
            experiment = plan["experiment"] as? String ?? experiment
            let points = plan["points"] as? [[String: Any]] ?? []
            let folder = (dir as NSString).lastPathComponent
            let folders = LocalRunner.pointFolders(points.map { ($0["id"] as? String ?? "", $0["label"] as? String ?? "") })
            let point = points.count == 1 ? points.first : zip(points, folders).first { $0.1 == folder }?.0
            label = point?["label"] as? String ?? ""
            let id = point?["id"] as? String
            for s in plan["stages"] as? [[String: Any]] ?? [] {
                let users = s["points"] as? [String] ?? []
                guard id == nil || users.isEmpty || users.contains(id!) else { continue }
                stages.append(PlanStageRecord(id: s["id"] as? String ?? "", kind: s["kind"] as? String ?? "",
                                              hash: s["hash"] as? String ?? "", summary: s["summary"] as? String ?? ""))
            }
        }
        let description = resolved["description"].flatMap { if case .string(let s) = $0 { s } else { nil } }
        let target = resolved["report"]?["target"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "test.accuracy"
        return PointData(dir: dir, experiment: experiment, label: label, description: description, metrics: metrics,
                         variants: variants, history: history, evaluations: evaluations, resolved: resolved,
                         stages: stages, target: target)
    }

    /// A point folder's resolved.yaml as a plain value (the empty map when missing or unreadable).
    public static func resolvedSpec(_ dir: String) -> SpecValue {
        (try? YAMLParser.parse(fileAt: path(dir, "resolved.yaml"))).map(ExperimentLoader.specValue) ?? .map([])
    }

    /// The baseline evaluation (the first variant when there is no baseline).
    public var baselineEvaluation: VariantEvaluation? {
        evaluations.first { $0.variant == "baseline" } ?? evaluations.first
    }
}

/// A sweep folder: its points and what was swept.
public struct SweepData: Sendable {
    public var dir: String
    public var experiment: String
    public var target: String
    public var higherIsBetter: Bool
    /// Swept parameters (dotted paths), in the spec's order.
    public var sweptPaths: [String]
    public struct Point: Sendable {
        public var label: String
        public var folder: String
        public var status: String
        public var rank: Int?
        public var metrics: [String: Double]
        /// The point's value of each swept path.
        public var assignments: [String: SpecValue]
        public var error: String?
        /// How many test images its evaluation scored (evaluation.json), for counts next to accuracies.
        public var testCount: Int? = nil
    }
    /// Points in leaderboard order (best first, failed last).
    public var points: [Point]
    /// An ensemble over the sweep's points (leaderboard.json's `ensembles`).
    public struct Ensemble: Sendable {
        public var description: String
        public var status: String
        public var accuracy: Double?
        public var members: [(label: String, accuracy: Double)]
        public var error: String?
    }
    public var ensembles: [Ensemble] = []
    /// Point labels in plan order (the order the grid spells).
    public var planOrder: [String]

    /// The metric columns of the sweep's tables: the target, the leaderboard's
    /// standard columns, the optional ones some point has, and val.accuracy when measured.
    public var columns: [String] {
        let present = Leaderboard.optionalColumns.filter { c in points.contains { $0.metrics[c] != nil } }
        var columns = [target] + (Leaderboard.columns + present).filter { $0 != target }
        if !columns.contains("val.accuracy"), points.contains(where: { $0.metrics["val.accuracy"] != nil }) {
            columns.insert("val.accuracy", at: min(columns.count, 3))
        }
        return columns
    }

    public static func read(_ dir: String) throws(ReportError) -> SweepData {
        guard let plan = readJSON(path(dir, "plan.json")) as? [String: Any] else {
            throw ReportError("\(dir) is not a run directory (no readable plan.json)")
        }
        let experiment = plan["experiment"] as? String ?? (dir as NSString).lastPathComponent
        var assignments: [String: [String: SpecValue]] = [:]
        var swept: [String] = []
        var labels: [String] = [], ids: [String] = []
        for p in plan["points"] as? [[String: Any]] ?? [] {
            let label = p["label"] as? String ?? ""
            labels.append(label)
            ids.append(p["id"] as? String ?? "")
            var values: [String: SpecValue] = [:]
            // plan.json writes assignments as a list of {path, value} in the sweep's
            // order (plans before format 2: an object).
            var pairs: [(String, Any)] = (p["assignments"] as? [[String: Any]] ?? []).compactMap { a in
                (a["path"] as? String).map { ($0, a["value"] as Any) }
            }
            if let object = p["assignments"] as? [String: Any] { pairs = object.map { ($0.key, $0.value) } }
            for (k, v) in pairs {
                values[k] = specValue(json: v)
                if !swept.contains(k) { swept.append(k) }
            }
            assignments[label] = values
        }
        if let first = labels.first {
            // Keep the order the label spells (`lr=…,dense=…`), which is the spec's.
            let order = first.split(separator: ",").map { String($0.split(separator: "=").first ?? "") }
            swept.sort { a, b in
                let ia = order.firstIndex { a.hasSuffix($0) } ?? Int.max, ib = order.firstIndex { b.hasSuffix($0) } ?? Int.max
                return ia != ib ? ia < ib : a < b
            }
        }
        let board = readJSON(path(dir, "leaderboard.json")) as? [String: Any] ?? [:]
        var target = board["target"] as? String ?? "test.accuracy"
        var points: [Point] = []
        let rows = board["points"] as? [[String: Any]] ?? []
        if rows.isEmpty {
            for (label, folder) in zip(labels, LocalRunner.pointFolders(Array(zip(ids, labels)))) {
                let metrics = RunStore.readMetrics(path(path(dir, folder), "metrics.json"))
                points.append(Point(label: label, folder: folder, status: metrics == nil ? "failed" : "succeeded", rank: nil,
                                    metrics: metrics ?? [:], assignments: assignments[label] ?? [:], error: nil))
            }
        } else {
            for r in rows {
                let label = r["label"] as? String ?? ""
                let folder = r["folder"] as? String ?? LocalRunner.pointFolders([("", label)])[0]
                // The full metrics.json of the point (the leaderboard keeps a few columns).
                let metrics = RunStore.readMetrics(path(path(dir, folder), "metrics.json")) ?? [:]
                points.append(Point(label: label, folder: folder, status: r["status"] as? String ?? "failed",
                                    rank: (r["rank"] as? NSNumber)?.intValue, metrics: metrics,
                                    assignments: assignments[label] ?? [:], error: r["error"] as? String))
            }
        }
        for i in points.indices {
            points[i].testCount = (readJSON(path(path(dir, points[i].folder), "evaluation.json")) as? [String: Any]).flatMap { number($0["count"]) }.map { Int($0) }
        }
        // Without a leaderboard: the first point's report.target (its resolved.yaml only, not its whole folder).
        if board["target"] == nil, let p = points.first,
           case .string(let t)? = PointData.resolvedSpec(path(dir, p.folder))["report"]?["target"] { target = t }
        let ensembles = (board["ensembles"] as? [[String: Any]] ?? []).map { e in
            Ensemble(description: e["description"] as? String ?? "ensemble", status: e["status"] as? String ?? "failed",
                     accuracy: number((e["metrics"] as? [String: Any])?["test.accuracy"]),
                     members: (e["members"] as? [[String: Any]] ?? []).map { ($0["label"] as? String ?? "?", number($0["test.accuracy"]) ?? 0) },
                     error: e["error"] as? String)
        }
        return SweepData(dir: dir, experiment: experiment, target: target, higherIsBetter: ReportSpec.higherIsBetter(target),
                         sweptPaths: swept, points: points, ensembles: ensembles, planOrder: labels)
    }
}

public struct ReportError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ message: String) { description = message }
}

// MARK: helpers

/// baseline first, then the usual compression order, then anything else by name.
func variantOrder(_ name: String) -> String {
    let known = ["baseline", "pruned", "shared", "int8", "quantized", "distilled", "compressed", "ensemble"]
    if let i = known.firstIndex(of: name) { return "\(i)" }
    return "9" + name
}

func path(_ a: String, _ b: String) -> String { (a as NSString).appendingPathComponent(b) }

func readJSON(_ path: String) -> Any? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    return try? JSONSerialization.jsonObject(with: data)
}

func number(_ v: Any?) -> Double? {
    if let n = v as? NSNumber { return n.doubleValue }
    if let s = v as? String {
        switch s { case "nan": return .nan; case "inf": return .infinity; case "-inf": return -.infinity; default: return Double(s) }
    }
    return nil
}

func numbers(_ v: Any?) -> [Double] { (v as? [Any] ?? []).map { number($0) ?? .nan } }

/// A JSON value (from JSONSerialization) as a SpecValue; object keys sorted.
func specValue(json v: Any) -> SpecValue {
    switch v {
    case let s as String: return .string(s)
    case let n as NSNumber:
        let type = String(cString: n.objCType)
        if type == "c" || type == "B" { return .bool(n.boolValue) }
        return ["q", "l", "i", "s", "Q", "L", "I", "S"].contains(type) ? .int(n.intValue) : .double(n.doubleValue)
    case let a as [Any]: return .list(a.map(specValue(json:)))
    // plan.json tags a double that JSON would write as an integer: {"double": "1.0"}.
    case let o as [String: Any] where o.count == 1 && (o["double"] as? String).flatMap(Double.init) != nil:
        return .double(Double(o["double"] as! String)!)
    case let o as [String: Any]: return .map(o.keys.sorted().map { SpecEntry($0, specValue(json: o[$0]!)) })
    default: return .null
    }
}
