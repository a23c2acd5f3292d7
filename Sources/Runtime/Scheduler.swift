// Scheduler — runs a plan's stages in dependency order, up to `jobs` at a time.
// A stage starts when all its dependencies have finished; a failed stage fails
// everything downstream of it and nothing else (the other sweep points go on,
// unless `failFast`). The engine's kernel threads are divided among the jobs so
// that jobs × threads never exceeds the cores; results do not depend on either.
import Engine
import Execution
import Foundation
import Jobs
import Planner

/// Set by SIGINT/SIGTERM; running stages stop at their next epoch.
public final class Cancellation: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    public init() {}
    public var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return flag }
    public func cancel() { lock.lock(); flag = true; lock.unlock() }

    /// Cancels on Ctrl-C or SIGTERM for as long as the returned sources live.
    public func installSignalHandlers(onSignal: @escaping @Sendable (Int32) -> Void) -> [DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                self?.cancel()
                onSignal(sig)
            }
            source.resume()
            return source
        }
    }
}

struct Scheduler {
    let plan: Plan
    let jobs: Int
    let failFast: Bool
    let cancellation: Cancellation

    /// Runs every stage `shouldRun` admits with `execute`; returns failures by stage id.
    func run(shouldRun: (Stage) -> Bool, execute: @escaping @Sendable (Stage) throws -> Void,
             log: @escaping @Sendable (String) -> Void) -> [String: String] {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let jobs = max(1, self.jobs)
        Parallel.threads = max(1, cores / jobs)

        let state = SchedulerState(stages: plan.stages.filter(shouldRun))
        let queue = DispatchQueue(label: "tlc.scheduler.workers", attributes: .concurrent)
        let group = DispatchGroup()
        let slots = DispatchSemaphore(value: jobs)
        let wake = DispatchSemaphore(value: 0)
        let failFast = self.failFast, cancellation = self.cancellation

        while true {
            // Start everything that is ready, as slots allow.
            while let stage = state.nextReady(stopping: cancellation.isCancelled || (failFast && state.hasFailures)) {
                slots.wait()
                group.enter()
                queue.async {
                    var failure: String?
                    if cancellation.isCancelled {
                        failure = "cancelled"
                    } else {
                        do { try execute(stage) } catch {
                            failure = (error as? StageFailure)?.message ?? "\(error)"
                            log("error: stage \(stage.id) failed: \(failure!)")
                        }
                    }
                    state.finish(stage.id, failure: failure)
                    slots.signal()
                    group.leave()
                    wake.signal()
                }
            }
            if state.isDone { break }
            let stopping = cancellation.isCancelled || (failFast && state.hasFailures)
            if !state.anyRunning && (stopping || state.nextReadyCount == 0) {
                // Nothing running and nothing can (or may) start: the rest is blocked by failures or cancellation.
                state.failRemaining(cancellation.isCancelled ? "cancelled" : "not run: an earlier stage failed")
                break
            }
            wake.wait()
        }
        group.wait()
        return state.failures
    }
}

/// The scheduler's bookkeeping, behind a lock.
final class SchedulerState: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [Stage]
    private var done: Set<String> = []
    private var running: Set<String> = []
    private(set) var failuresByID: [String: String] = [:]
    private let known: Set<String>

    init(stages: [Stage]) {
        pending = stages
        known = Set(stages.map(\.id))
    }

    var failures: [String: String] { lock.lock(); defer { lock.unlock() }; return failuresByID }
    var hasFailures: Bool { lock.lock(); defer { lock.unlock() }; return !failuresByID.isEmpty }
    var isDone: Bool { lock.lock(); defer { lock.unlock() }; return pending.isEmpty && running.isEmpty }
    var anyRunning: Bool { lock.lock(); defer { lock.unlock() }; return !running.isEmpty }
    var nextReadyCount: Int { lock.lock(); defer { lock.unlock() }; return pending.filter(isReady).count }

    private func isReady(_ s: Stage) -> Bool { s.deps.allSatisfy { done.contains($0) || !known.contains($0) } }

    /// The next stage whose dependencies are done (in plan order), marking it running.
    /// Stages downstream of a failure fail at once.
    func nextReady(stopping: Bool) -> Stage? {
        lock.lock(); defer { lock.unlock() }
        // Propagate failures downstream.
        var changed = true
        while changed {
            changed = false
            for (i, s) in pending.enumerated().reversed() {
                if let bad = s.deps.first(where: { failuresByID[$0] != nil }) {
                    failuresByID[s.id] = failuresByID[bad]
                    pending.remove(at: i)
                    changed = true
                }
            }
        }
        if stopping { return nil }
        guard let i = pending.firstIndex(where: isReady) else { return nil }
        let s = pending.remove(at: i)
        running.insert(s.id)
        return s
    }

    func finish(_ id: String, failure: String?) {
        lock.lock(); defer { lock.unlock() }
        running.remove(id)
        if let failure { failuresByID[id] = failure } else { done.insert(id) }
    }

    func failRemaining(_ reason: String) {
        lock.lock(); defer { lock.unlock() }
        for s in pending { failuresByID[s.id] = reason }
        pending.removeAll()
    }
}
