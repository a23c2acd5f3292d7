// RunStore — reads what `tlc run` left under an output root: the run directories
// of each experiment (`<name>/<run-id>[.failed]/`, sweeps with one folder per
// point), their status, metrics and plan; resolves the references people type
// (a path, a run id, `NAME@latest`, `NAME@N`); and collects cache garbage — entries
// no run directory's plan.json references. It never writes a run directory.
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
        let dir = appendingPath(outputRoot, experiment)
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
        let planPoints = plan["points"] as? [[String: Any]] ?? []
        // A single run keeps spec.yaml at its top; a sweep keeps it in each point's folder.
        let isSweep = !fm.fileExists(atPath: appendingPath(path, "spec.yaml"))
        var points: [PointRecord] = []
        for p in planPoints {
            let label = p["label"] as? String ?? ""
            let dir = isSweep ? appendingPath(path, LocalRunner.sanitize(label)) : path
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

    private func modificationDate(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    // MARK: garbage collection

    /// One thing `gc` removes.
    public struct Garbage: Sendable {
        public var path: String
        public var bytes: Int
        /// Why it goes: "unreferenced cache entry", "leftover temporary folder".
        public var reason: String
    }

    public struct CollectionResult: Sendable {
        public var removed: [Garbage]
        /// Entries kept although unreferenced, with why (in use, younger than an unfinished run).
        public var kept: [String]
        public var bytes: Int { removed.reduce(0) { $0 + $1.bytes } }
    }

    /// Removes cache entries that no run directory's plan.json references and
    /// temporary folders whose writer is gone; with `dryRun`, only lists them.
    /// Entries newer than an unfinished run's folder are kept: that run's plan is
    /// not written yet. Entries whose lock is held are kept.
    public func collectGarbage(dryRun: Bool) throws -> CollectionResult {
        let fm = FileManager.default
        var referenced = Set<String>()
        var oldestUnfinished: Date?
        for name in experiments() {
            let dir = appendingPath(outputRoot, name)
            for folder in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
                if folder.hasPrefix(".") && folder.hasSuffix(".partial") {
                    if let d = modificationDate(appendingPath(dir, folder)) { oldestUnfinished = min(oldestUnfinished ?? d, d) }
                    continue
                }
                guard let plan = Self.readJSON(appendingPath(appendingPath(dir, folder), "plan.json")) as? [String: Any] else { continue }
                for stage in plan["stages"] as? [[String: Any]] ?? [] {
                    if let h = stage["hash"] as? String { referenced.insert(h) }
                }
            }
        }
        var result = CollectionResult(removed: [], kept: [])
        let cache = StageCache(root: cacheRoot)
        for name in ((try? fm.contentsOfDirectory(atPath: cacheRoot)) ?? []).sorted() {
            let path = appendingPath(cacheRoot, name)
            if name.hasPrefix(".tmp-") {
                if !StageCache.isAbandoned(name, at: path) { continue }   // writer still running
                result.removed.append(Garbage(path: path, bytes: Self.size(of: path), reason: "leftover temporary folder"))
                if !dryRun { try fm.removeItem(atPath: path) }
                continue
            }
            guard !name.hasPrefix("."), !referenced.contains(name) else { continue }
            if let limit = oldestUnfinished, let d = modificationDate(path), d >= limit {
                result.kept.append("\(path) (newer than an unfinished run)")
                continue
            }
            let garbage = Garbage(path: path, bytes: Self.size(of: path), reason: "unreferenced cache entry")
            if dryRun { result.removed.append(garbage); continue }
            guard try removeUnlessLocked(name, cache: cache) else {
                result.kept.append("\(path) (in use)")
                continue
            }
            result.removed.append(garbage)
        }
        return result
    }

    /// Removes a cache entry while holding its lock; false when another process holds it.
    private func removeUnlessLocked(_ hash: String, cache: StageCache) throws -> Bool {
        let lockPath = appendingPath(appendingPath(cache.root, ".locks"), hash + ".lock")
        let fm = FileManager.default
        guard fm.fileExists(atPath: lockPath) else {
            try fm.removeItem(atPath: cache.entry(hash))
            return true
        }
        let fd = open(lockPath, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { try fm.removeItem(atPath: cache.entry(hash)); return true }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return false }
        defer { flock(fd, LOCK_UN) }
        try fm.removeItem(atPath: cache.entry(hash))
        try? fm.removeItem(atPath: lockPath)
        return true
    }

    /// Bytes of a file or of everything under a folder.
    static func size(of path: String) -> Int {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else { return 0 }
        if !isDir.boolValue { return (try? fm.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        var total = 0
        for sub in fm.subpaths(atPath: path) ?? [] {
            let p = appendingPath(path, sub)
            if let attrs = try? fm.attributesOfItem(atPath: p), attrs[.type] as? FileAttributeType == .typeRegular {
                total += attrs[.size] as? Int ?? 0
            }
        }
        return total
    }
}

func appendingPath(_ a: String, _ b: String) -> String { (a as NSString).appendingPathComponent(b) }
