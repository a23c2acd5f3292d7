// RunCleanup — everything that deletes under an output root: `tlc gc` (cache entries
// no run's plan.json references, temporary folders whose writer is gone, and with
// `--keep-last N` the older runs of each experiment first), `tlc rm` (run
// directories; never the cache), and the `latest` link that LocalRunner sets and
// these keep pointing at the newest succeeded run. A run directory is renamed to a
// hidden temporary name before it is deleted, so a kill halfway never leaves a
// half-deleted folder that looks like a run.
import Foundation

extension RunStore {
    // MARK: the latest link

    /// Points `<experimentDir>/latest` at `runID` atomically (a temporary link renamed over it).
    static func linkLatest(in experimentDir: String, to runID: String) throws {
        let fm = FileManager.default
        let latest = appendingPath(experimentDir, "latest")
        let tmpLink = latest + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? fm.removeItem(atPath: tmpLink)
        try fm.createSymbolicLink(atPath: tmpLink, withDestinationPath: runID)
        if rename(tmpLink, latest) != 0 { try? fm.removeItem(atPath: tmpLink) }
    }

    /// What removing a run did to its experiment's `latest` link.
    public enum LatestChange: Sendable, Equatable, CustomStringConvertible {
        /// It pointed at the removed run and now points at this newer-than-the-rest run.
        case repointed(experimentDir: String, runID: String)
        /// It pointed at the removed run and no succeeded run is left: the link is gone.
        case removed(experimentDir: String)

        public var description: String {
            switch self {
            case .repointed(let dir, let id): "\(appendingPath(dir, "latest")) now points at \(id)"
            case .removed(let dir): "removed \(appendingPath(dir, "latest")): no succeeded run is left"
            }
        }
    }

    /// After `removedFolder` was deleted from `experimentDir`: when `latest` pointed at
    /// it, points it at the newest remaining succeeded run, or removes it when none is left.
    func repairLatest(in experimentDir: String, removedFolder: String) throws -> LatestChange? {
        let latest = appendingPath(experimentDir, "latest")
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: latest),
              (target as NSString).lastPathComponent == removedFolder else { return nil }
        // Only a plain run id (no `.failed`/`.cancelled`) that succeeded may be `latest`, as LocalRunner sets it.
        if let newest = runs(inFolder: experimentDir).first(where: {
            $0.status == "succeeded" && !($0.path as NSString).lastPathComponent.contains(".")
        }) {
            let id = (newest.path as NSString).lastPathComponent
            try Self.linkLatest(in: experimentDir, to: id)
            return .repointed(experimentDir: experimentDir, runID: id)
        }
        try FileManager.default.removeItem(atPath: latest)
        return .removed(experimentDir: experimentDir)
    }

    // MARK: removing runs

    /// What `removeRun` did.
    public struct RemovedRun: Sendable {
        public var path: String
        public var bytes: Int
        public var latest: LatestChange?
    }

    /// Deletes a whole run directory (a single run or a whole sweep) and repairs the
    /// experiment's `latest` link. Refuses one point of a sweep (the sweep's leaderboard
    /// and report cover every point) and a run still in progress. Never touches the cache.
    public func removeRun(_ record: RunRecord) throws -> RemovedRun {
        try Self.checkRemovable(record)
        var run = record
        run.path = Self.realFolder(record.path)     // `NAME/latest` given as a path: the run it points at, not the link
        let fm = FileManager.default
        let dir = (run.path as NSString).deletingLastPathComponent
        let folder = (run.path as NSString).lastPathComponent
        let bytes = Self.size(of: run.path)
        // Hidden first (`.tmp-…` in StageCache's naming, so gc knows a dead writer's leftover), then deleted.
        let aside = appendingPath(dir, ".tmp-removing-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(StageCache.hostTag)")
        do { try fm.moveItem(atPath: run.path, toPath: aside) } catch {
            throw RunStoreError("cannot remove \(run.path): \(describe(error))")
        }
        do { try fm.removeItem(atPath: aside) } catch {
            throw RunStoreError("removed \(run.path) from the runs, but could not delete its files in \(aside): \(describe(error))")
        }
        return RemovedRun(path: run.path, bytes: bytes, latest: try repairLatest(in: dir, removedFolder: folder))
    }

    /// Why a run cannot be removed on its own, as an error.
    public static func checkRemovable(_ run: RunRecord) throws(RunStoreError) {
        if run.id.contains("/") {
            throw RunStoreError("\(run.path) is one point of the sweep \(run.runFolder); a sweep is removed whole "
                                + "(its leaderboard and report cover every point): tlc rm \(run.runFolder)")
        }
        if (run.path as NSString).lastPathComponent.hasPrefix(".") {
            throw RunStoreError("\(run.path) is a run still in progress (or killed); it is not removed")
        }
    }

    /// The folder a path names, through a symbolic link at its end (the `latest` link).
    public static func realFolder(_ path: String) -> String {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else { return path }
        return target.hasPrefix("/") ? target : appendingPath((path as NSString).deletingLastPathComponent, target)
    }

    /// The runs `gc --keep-last N` removes: all but the newest `keep` finished runs
    /// (succeeded, failed or cancelled) of each experiment.
    public func runsBeyond(keepLast keep: Int) -> [RunRecord] {
        experiments().flatMap { runs(of: $0).dropFirst(max(0, keep)) }
    }

    // MARK: garbage collection

    /// One thing `gc` removes.
    public struct Garbage: Sendable {
        public var path: String
        public var bytes: Int
        /// Why it goes: "unreferenced cache entry", "leftover temporary folder", "older than the newest N runs".
        public var reason: String
        /// A cache entry's stage kind (from its manifest.json).
        public var kind: String? = nil
        /// The experiment a cache entry's stage (or a removed run) belongs to, found in a
        /// plan.json that still names it (a run `--keep-last` removes, a Slurm submission);
        /// nil: no plan names it any more.
        public var experiment: String? = nil
    }

    public struct CollectionResult: Sendable {
        /// Run directories removed by `--keep-last`.
        public var removedRuns: [Garbage] = []
        /// What became of `latest` links that pointed at removed runs.
        public var latestChanges: [LatestChange] = []
        /// Cache entries and temporary folders.
        public var removed: [Garbage] = []
        /// Entries kept although unreferenced, with why (in use, younger than an unfinished run).
        public var kept: [String] = []
        public var bytes: Int { (removedRuns + removed).reduce(0) { $0 + $1.bytes } }
    }

    /// Removes cache entries that no run directory's plan.json references and
    /// temporary folders whose writer is gone; with `keepLast`, first the runs beyond
    /// the newest `keepLast` of each experiment. With `dryRun`, only lists them (the
    /// runs `keepLast` would remove then count as gone when choosing entries).
    /// Entries newer than an unfinished run's folder are kept: that run's plan is
    /// not written yet. Entries whose lock is held are kept.
    public func collectGarbage(dryRun: Bool, keepLast: Int? = nil) throws -> CollectionResult {
        let fm = FileManager.default
        let doomed = keepLast.map { runsBeyond(keepLast: $0) } ?? []
        let doomedPaths = Set(doomed.map(\.path))
        var referenced = Set<String>()
        var origin: [String: String] = [:]       // stage hash → experiment, from every plan still on disk
        var oldestUnfinished: Date?
        var result = CollectionResult()
        for name in experiments() {
            let dir = appendingPath(outputRoot, name)
            for folder in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
                let path = appendingPath(dir, folder)
                if folder.hasPrefix(".") && folder.hasSuffix(".partial") {
                    if Unfinished.isAbandoned(path) {   // a killed run's folder: its log is all it has
                        result.removed.append(Garbage(path: path, bytes: Self.size(of: path), reason: "folder of a run that was killed",
                                                      experiment: name))
                        if !dryRun { try fm.removeItem(atPath: path) }
                    } else if let d = modificationDate(path) {
                        oldestUnfinished = min(oldestUnfinished ?? d, d)
                    }
                    continue
                }
                if folder.hasPrefix(".tmp-") {      // a run `tlc rm` or `--keep-last` was deleting when it died
                    if StageCache.isAbandoned(folder, at: path) {
                        result.removed.append(Garbage(path: path, bytes: Self.size(of: path), reason: "leftover of a removed run"))
                        if !dryRun { try fm.removeItem(atPath: path) }
                    }
                    continue
                }
                let stages = Self.planStages(in: path)
                for (hash, experiment) in stages { origin[hash] = origin[hash] ?? experiment }
                if !doomedPaths.contains(path) { referenced.formUnion(stages.map(\.hash)) }
            }
        }
        for plan in slurmPlans() {
            for (hash, experiment) in Self.planStages(in: plan) { origin[hash] = origin[hash] ?? experiment }
        }
        for run in doomed {
            result.removedRuns.append(Garbage(path: run.path, bytes: Self.size(of: run.path),
                                              reason: "older than the newest \(keepLast == 1 ? "run" : "\(keepLast ?? 0) runs") of \(run.experiment)",
                                              experiment: run.experiment))
            if !dryRun, let change = try removeRun(run).latest { result.latestChanges.append(change) }
        }
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
            let manifest = Self.readJSON(appendingPath(path, "manifest.json")) as? [String: Any]
            let garbage = Garbage(path: path, bytes: Self.size(of: path), reason: "unreferenced cache entry",
                                  kind: manifest?["kind"] as? String, experiment: origin[name])
            if dryRun { result.removed.append(garbage); continue }
            guard try removeUnlessLocked(name, cache: cache) else {
                result.kept.append("\(path) (in use)")
                continue
            }
            result.removed.append(garbage)
        }
        return result
    }

    /// Every stage of the plan.json in `folder`: its hash and the experiment it comes from.
    static func planStages(in folder: String) -> [(hash: String, experiment: String)] {
        guard let plan = readJSON(appendingPath(folder, "plan.json")) as? [String: Any] else { return [] }
        let experiment = plan["experiment"] as? String ?? "?"
        return (plan["stages"] as? [[String: Any]] ?? []).compactMap { stage in
            (stage["hash"] as? String).map { ($0, stage["experiment"] as? String ?? experiment) }
        }
    }

    /// The folders of Slurm submissions (`.slurm/<experiment>/<id>/`, each with its plan.json).
    private func slurmPlans() -> [String] {
        let fm = FileManager.default
        let root = appendingPath(outputRoot, ".slurm")
        return ((try? fm.contentsOfDirectory(atPath: root)) ?? []).flatMap { experiment in
            ((try? fm.contentsOfDirectory(atPath: appendingPath(root, experiment))) ?? []).map { appendingPath(appendingPath(root, experiment), $0) }
        }
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
