// RemoteExecutor — the runtime's hook for executors other than this process.
// `tlc run` always plans, assembles the run directory and prints its summary in
// this process (LocalRunner); with a remote executor the stages themselves are
// computed elsewhere (Slurm jobs running `tlc exec-stage`) into the same
// content-addressed cache, and LocalRunner then reads them as cached stages.
// StageJob is the other end: what one job runs.
import Engine
import Execution
import Foundation
import Jobs

/// Computes a plan's missing stages into the shared stage cache somewhere else.
public protocol RemoteExecutor: Sendable {
    /// Runs (or waits for) every stage of `plan` not in `cache`, except report stages.
    /// Returns a failure message by stage id for each stage that did not end in the
    /// cache; every other stage of the plan must be complete in the cache afterwards.
    func execute(_ plan: Plan, cache: StageCache, log: @escaping @Sendable (String) -> Void) -> [String: String]
}

public enum StageJobError: Error, CustomStringConvertible {
    /// The job was given something that does not fit the plan (exit code 2).
    case usage(String)
    public var description: String { switch self { case .usage(let m): m } }
}

/// What one cluster job does: runs some stages of a plan, in order, against the
/// shared cache (flock per entry, atomic entries), reading their dependencies'
/// outputs from the cache.
public enum StageJob {
    /// Runs the stages with these hashes (full, or a prefix of at least 10 hex digits).
    /// Throws `StageJobError.usage` when a hash is not in the plan and `StageFailure`
    /// when a stage fails or a dependency is not in the cache.
    public static func run(_ plan: Plan, hashes: [String], outputRoot: String, threads: Int? = nil,
                           cancellation: Cancellation = Cancellation(), log: @escaping @Sendable (String) -> Void) throws {
        var targets: [Stage] = []
        for hash in hashes {
            let matches = plan.stages.filter { $0.hash == hash || (hash.count >= 10 && $0.hash.hasPrefix(hash)) }
            guard let stage = matches.first, matches.allSatisfy({ $0.hash == stage.hash }) else {
                throw StageJobError.usage("no stage with hash \(hash) in the recorded plan of \(plan.file); run `tlc run` again to resubmit")
            }
            guard stage.kind != .report else { throw StageJobError.usage("stage \(stage.id) is a report stage; `tlc run` writes reports itself") }
            targets.append(stage)
        }
        let cache = StageCache(root: (outputRoot as NSString).appendingPathComponent(".cache"))
        cache.sweepTemporaries()
        let executor = StageRunner(plan: plan, policy: CachePolicy(cache: cache), cancellation: cancellation, log: log)
        Parallel.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let byID = Dictionary(plan.stages.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var available = Set<String>()
        for stage in targets {
            // Every stage it reads, directly or not, must be in the cache (its job ran first).
            var ancestors = Set<String>(), stack = stage.deps
            while let id = stack.popLast() {
                if ancestors.insert(id).inserted { stack += byID[id]?.deps ?? [] }
            }
            for dep in plan.stages where ancestors.contains(dep.id) && !available.contains(dep.id) {
                guard cache.isComplete(dep.hash) else {
                    throw StageFailure(stage: stage.id, message: "its dependency \(dep.id) is not in the cache \(cache.root) (did its job fail, or is Outputs not shared with this node?)")
                }
                try executor.run(dep)
                available.insert(dep.id)
            }
            log("[\(stage.kind.rawValue)] \(stage.summary)")
            let t0 = Date()
            try executor.run(stage)
            available.insert(stage.id)
            log("  done: \(stage.id) in \(fmt(Date().timeIntervalSince(t0), 2)) s")
        }
    }
}
