// RunStore — reads what `tlc run` left under an output root: the run directories
// of each experiment (`<name>/<run-id>[.failed]/`, sweeps with one folder per
// point), their status, metrics and plan; resolves the references people type
// (a path, a run id, `NAME@latest`, `NAME@N`), with what each run was asked to do
// (command, overrides) and whether it came wholly from the cache. It never writes
// a run directory; deleting runs and cache entries is RunCleanup's.
import Foundation
import FrontEnd

/// One point of a run as found on disk.
public struct PointRecord: Sendable {
    /// The sweep point label ("" for a run without a sweep).
    public var label: String
    public var path: String
    public var status: String
    public var metrics: [String: Double]
}

/// One run directory as found on disk.
public struct RunRecord: Sendable {
    /// The directory (a run folder, or one point's folder inside a sweep).
    public var path: String
    public var experiment: String
    /// The run id (folder name without `.failed`; `id/label` for a single sweep point).
    public var id: String
    /// "succeeded" or "failed".
    public var status: String
    /// When the run started (from its id), else the folder's modification time.
    public var date: Date
    public var isSweep: Bool
    public var points: [PointRecord]
    /// The spec's `report.target` metric.
    public var target: String
    /// The experiment file the run was made from (as given to `tlc run`).
    public var specFile: String?
    /// Hashes of every stage in the run's plan.
    public var stageHashes: [String]
    /// The first error line of log.txt, for failed runs.
    public var error: String?
    /// The `--set` overrides the run's plan was made with.
    public var overrides: [String] = []
    /// The command line as given (env.json's `command`); nil when not recorded.
    public var command: [String]? = nil
    /// Every stage came from the cache (env.json's `cached`).
    public var cached = false

    /// The best value of the target metric over the succeeded points.
    public var bestTarget: Double? {
        let values = points.filter { $0.status == "succeeded" }.compactMap { $0.metrics[target] }
        return ReportSpec.higherIsBetter(target) ? values.max() : values.min()
    }

    /// The directory of the run folder itself (the parent for a single sweep point).
    public var runFolder: String {
        id.contains("/") ? (path as NSString).deletingLastPathComponent : path
    }
}

public struct RunStoreError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ message: String) { description = message }
}

public struct RunStore: Sendable {
    public let outputRoot: String
    public init(outputRoot: String? = nil) { self.outputRoot = RunOptions(outputRoot: outputRoot).outputRoot }

    var cacheRoot: String { (outputRoot as NSString).appendingPathComponent(".cache") }

    /// Names of experiments that have a folder under the output root.
    public func experiments() -> [String] {
        let fm = FileManager.default
        return ((try? fm.contentsOfDirectory(atPath: outputRoot)) ?? []).filter { name in
            var isDir: ObjCBool = false
            return !name.hasPrefix(".") && fm.fileExists(atPath: appendingPath(outputRoot, name), isDirectory: &isDir) && isDir.boolValue
        }.sorted()
    }

    /// Finished runs (succeeded and failed) of one experiment, newest first.
    /// Unfinished (`.partial`) folders and the `latest` link are not runs.
    public func runs(of experiment: String) -> [RunRecord] {
        runs(inFolder: appendingPath(outputRoot, experiment))
    }

    /// Finished runs in one experiment folder, newest first.
    func runs(inFolder dir: String) -> [RunRecord] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { !$0.hasPrefix(".") && $0 != "latest" }
        return newestFirst(names.compactMap { try? read(appendingPath(dir, $0)) })
    }

    /// Every finished run under the output root, newest first.
    public func allRuns() -> [RunRecord] {
        newestFirst(experiments().flatMap(runs(of:)))
    }

    private func newestFirst(_ records: [RunRecord]) -> [RunRecord] {
        records.map { ($0, finishTime($0.path)) }.sorted { a, b in
            if a.0.date != b.0.date { return a.0.date > b.0.date }
            // Runs started in the same second: the one that finished last is newer.
            if a.1 != b.1 { return a.1 > b.1 }
            return a.0.id > b.0.id
        }.map(\.0)
    }

    // MARK: resolving references

    /// Finds the run a reference names: a run (or sweep point) directory path, a run
    /// id, `NAME@latest` (the `latest` link) or `NAME@N` (N succeeded runs back,
    /// 0 = latest). Failed runs are named by path or id.
    public func resolve(_ reference: String) throws(RunStoreError) -> RunRecord {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: reference, isDirectory: &isDir), isDir.boolValue {
            do { return try read(reference) } catch {
                throw RunStoreError("'\(reference)' is not a run directory: \(error.description)")
            }
        }
        // RUN/LABEL: one point of a sweep (RUN is NAME@N, a run id, or NAME for NAME@latest).
        if let slash = reference.firstIndex(of: "/"), !reference.hasPrefix("/"), !reference.hasPrefix(".") {
            let head = String(reference[..<slash]), label = String(reference[reference.index(after: slash)...])
            let sweep = try resolve(head.contains("@") || experiments().contains(head) == false ? head : head + "@latest")
            guard sweep.isSweep else { throw RunStoreError("'\(head)' (\(sweep.id)) is not a sweep, so it has no point '\(label)'") }
            guard let point = sweep.points.first(where: { $0.label == label }) else {
                let hint = suggestion(for: label, among: sweep.points.map(\.label)).map { " Did you mean '\(head)/\($0)'?" } ?? ""
                throw RunStoreError("sweep \(sweep.id) has no point '\(label)'.\(hint) Its points look like '\(sweep.points.first?.label ?? "")'")
            }
            do { return try read(point.path) } catch { throw RunStoreError("'\(reference)': \(error.description)") }
        }
        if let at = reference.lastIndex(of: "@") {
            let name = String(reference[..<at]), back = String(reference[reference.index(after: at)...])
            return try resolve(experiment: name, back: back, reference: reference)
        }
        for name in experiments() where reference != "latest" {
            for candidate in [reference, reference + ".failed"] {
                let path = appendingPath(appendingPath(outputRoot, name), candidate)
                if fm.fileExists(atPath: path), let record = try? read(path) { return record }
            }
        }
        throw RunStoreError("no run '\(reference)' under \(outputRoot): give a run directory, a run id, NAME@latest or NAME@N"
                            + " (`tlc ls` lists runs)")
    }

    private func resolve(experiment name: String, back: String, reference: String) throws(RunStoreError) -> RunRecord {
        let known = experiments()
        guard known.contains(name) else {
            let hint = suggestion(for: name, among: known).map { " Did you mean '\($0)@\(back)'?" } ?? ""
            throw RunStoreError("no experiment '\(name)' has runs under \(outputRoot).\(hint)"
                                + (known.isEmpty ? "" : " Experiments with runs: \(known.joined(separator: ", "))."))
        }
        let n: Int
        if back == "latest" { n = 0 } else if let k = Int(back), k >= 0 { n = k } else {
            throw RunStoreError("bad run reference '\(reference)': after '@' write 'latest' or a number of runs back (0 = latest)")
        }
        let succeeded = runs(of: name).filter { $0.status == "succeeded" }
        if n == 0, let target = try? FileManager.default.destinationOfSymbolicLink(atPath: appendingPath(appendingPath(outputRoot, name), "latest")),
           let record = try? read(appendingPath(appendingPath(outputRoot, name), target)) {
            return record
        }
        guard n < succeeded.count else {
            throw RunStoreError("'\(reference)': \(name) has \(succeeded.count) succeeded run\(succeeded.count == 1 ? "" : "s")"
                                + (succeeded.isEmpty ? "" : " (\(name)@0 … \(name)@\(succeeded.count - 1))"))
        }
        return succeeded[n]
    }

    // MARK: reading a directory

    /// Reads a run directory, or one point's folder inside a sweep.
    public func read(_ path: String) throws(RunStoreError) -> RunRecord {
        let fm = FileManager.default
        let planPath = appendingPath(path, "plan.json")
        if !fm.fileExists(atPath: planPath) {
            // A sweep point: its parent holds the plan.
            let parent = (path as NSString).deletingLastPathComponent
            guard fm.fileExists(atPath: appendingPath(parent, "plan.json")) else {
                throw RunStoreError("no plan.json in \(path)")
            }
            let run = try read(parent)
            let folder = (path as NSString).lastPathComponent
            guard let point = run.points.first(where: { ($0.path as NSString).lastPathComponent == folder }) else {
                throw RunStoreError("\(path) is not a point of the sweep \(parent)")
            }
            var record = run
            record.path = path
            record.id = run.id + "/" + folder
            record.isSweep = false
            record.points = [point]
            record.status = point.status
            return record
        }
        guard let plan = Self.readJSON(planPath) as? [String: Any] else { throw RunStoreError("unreadable plan.json in \(path)") }
        let folder = (path as NSString).lastPathComponent
        let failed = folder.hasSuffix(".failed")
        let id = failed ? String(folder.dropLast(".failed".count)) : folder
        let experiment = plan["experiment"] as? String ?? ((path as NSString).deletingLastPathComponent as NSString).lastPathComponent
        // Every plan has at least one point, each with an id: anything else is not a run of tlc's.
        guard let planPoints = plan["points"] as? [[String: Any]], !planPoints.isEmpty,
              planPoints.allSatisfy({ $0["id"] is String }) else {
            throw RunStoreError("plan.json in \(path) is not a tlc plan (it lists no points)")
        }
        // A single run keeps spec.yaml at its top; a sweep keeps it in each point's folder.
        let isSweep = !fm.fileExists(atPath: appendingPath(path, "spec.yaml"))
        var points: [PointRecord] = []
        let folders = LocalRunner.pointFolders(planPoints.map { ($0["id"] as? String ?? "", $0["label"] as? String ?? "") })
        for (p, folder) in zip(planPoints, folders) {
            let label = p["label"] as? String ?? ""
            let dir = isSweep ? appendingPath(path, folder) : path
            let metrics = Self.readMetrics(appendingPath(dir, "metrics.json"))
            points.append(PointRecord(label: label, path: dir, status: metrics == nil ? "failed" : "succeeded", metrics: metrics ?? [:]))
        }
        let stages = plan["stages"] as? [[String: Any]] ?? []
        let firstPoint = points.first?.path ?? path
        let env = Self.readJSON(appendingPath(path, "env.json")) as? [String: Any] ?? [:]
        var record = RunRecord(
            path: path, experiment: experiment, id: id,
            status: failed || points.contains { $0.status != "succeeded" } ? "failed" : "succeeded",
            date: Self.date(ofRunID: id) ?? modificationDate(path) ?? Date(timeIntervalSince1970: 0),
            isSweep: isSweep, points: points,
            target: Self.reportTarget(resolvedYAML: appendingPath(firstPoint, "resolved.yaml")),
            // The experiment file: env.json's absolute path, else plan.json's as given to `tlc run`.
            specFile: env["spec_file"] as? String ?? plan["file"] as? String, stageHashes: stages.compactMap { $0["hash"] as? String }, error: nil)
        // What the run was asked to do (see RunProvenance).
        record.overrides = plan["overrides"] as? [String] ?? []
        record.command = env["command"] as? [String]
        record.cached = env["cached"] as? Bool ?? false
        if record.status == "failed", let log = try? String(contentsOfFile: appendingPath(path, "log.txt"), encoding: .utf8) {
            record.error = log.split(separator: "\n").first { $0.hasPrefix("error:") }.map(String.init)
        }
        return record
    }

    /// When the run id says it started: `yyyyMMdd-HHmmss-xxxx`, UTC.
    static func date(ofRunID id: String) -> Date? {
        guard id.count >= 15 else { return nil }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyyMMdd-HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.date(from: String(id.prefix(15)))
    }

    /// metrics.json as numbers (nil when missing or unreadable).
    public static func readMetrics(_ path: String) -> [String: Double]? {
        guard let object = readJSON(path) as? [String: Any] else { return nil }
        var out: [String: Double] = [:]
        for (k, v) in object {
            if let n = v as? NSNumber { out[k] = n.doubleValue }
            else if let s = v as? String {   // non-finite values are written as strings
                switch s { case "nan": out[k] = .nan; case "inf": out[k] = .infinity; case "-inf": out[k] = -.infinity; default: break }
            }
        }
        return out
    }

    static func readJSON(_ path: String) -> Any? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONSerialization.jsonObject(with: data)
    }

    /// `report.target` from a resolved.yaml (the default when absent).
    static func reportTarget(resolvedYAML path: String) -> String {
        guard let node = try? YAMLParser.parse(fileAt: path),
              case .string(let target)? = ExperimentLoader.specValue(node)["report"]?["target"] else { return "test.accuracy" }   // the default report.target
        return target
    }

    private func finishTime(_ path: String) -> Date {
        modificationDate(appendingPath(path, "log.txt")) ?? modificationDate(path) ?? .distantPast
    }

    func modificationDate(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }
}

func appendingPath(_ a: String, _ b: String) -> String { (a as NSString).appendingPathComponent(b) }

extension RunStore {
    /// The label of the best point of `experiment`'s newest succeeded sweep made from
    /// exactly these points (label → resolved spec as YAML, as each point folder's
    /// resolved.yaml records it), by that sweep's own target metric: what
    /// `run:NAME/best` names. A sweep run with `--set`, or before the file changed,
    /// is passed over, so the best point is always one the file still plans.
    public func bestPointLabel(of experiment: String, matching points: [String: String]) throws(RunStoreError) -> String {
        let sweeps = runs(of: experiment).filter { $0.isSweep && $0.status == "succeeded" }
        guard !sweeps.isEmpty else { throw RunStoreError("no finished sweep of '\(experiment)' under \(outputRoot); run it first") }
        func matches(_ sweep: RunRecord) -> Bool {
            sweep.points.count == points.count && sweep.points.allSatisfy { p in
                guard let expected = points[p.label] else { return false }
                return (try? String(contentsOfFile: appendingPath(p.path, "resolved.yaml"), encoding: .utf8)) == expected
            }
        }
        guard let sweep = sweeps.first(where: matches) else {
            throw RunStoreError("no finished sweep of '\(experiment)' under \(outputRoot) was made from its file as it is now"
                                + " (the newest, \(sweeps[0].id), differs: --set overrides or an edit); run it again")
        }
        guard let best = Leaderboard(records: sweep.points, target: sweep.target).best else {
            throw RunStoreError("the sweep \(sweep.id) of '\(experiment)' has no point with \(sweep.target)")
        }
        return best.label
    }
}
