// PartPool — the persistent worker threads that run Parallel's parts. Between parts of a
// forward or backward pass the workers spin for a short while (100 µs) before they
// sleep, so a layer's parts start without waking a thread: that wake-up, through
// Dispatch's concurrentPerform, cost small networks (the mlp at batch 256 runs a layer
// in 50–150 µs) a large share of their time. One caller at a time: a call made while
// the pool is busy (another stage's thread, or a part that itself cuts work into
// parts) returns false and Parallel falls back to concurrentPerform. Which thread runs
// which part never changes a result (each part's work is fixed), so this is speed only.

import Foundation
import Synchronization

final class PartPool: @unchecked Sendable {
    static let shared = PartPool()

    /// How long an idle worker spins before it sleeps.
    static let spinNanoseconds: UInt64 = 100_000

    private final class Worker: @unchecked Sendable {
        /// 1 while the worker sleeps (or is about to); whoever sets it back to 0 signals `wake`.
        let state = Atomic<Int>(0)
        let wake = DispatchSemaphore(value: 0)
    }

    private let inUse = Atomic<Bool>(false)
    /// The current job's ticket: its generation (counting jobs) × 256 + how many take part,
    /// published in one store so that a worker never pairs one job's count with another's.
    private let ticket = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private var workers: [Worker] = []
    // Written by the caller before it publishes a ticket; read only by the workers that
    // take part in it, and left alone until they have all finished.
    nonisolated(unsafe) private var job: (Int) -> Void = { _ in }

    /// Runs `body(0)` on the calling thread and `body(1)` … `body(count − 1)` on workers,
    /// returning when all have finished; false (nothing run) when the pool is busy.
    func run(_ count: Int, _ body: (Int) -> Void) -> Bool {
        guard count > 1, inUse.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { inUse.store(false, ordering: .releasing) }
        while workers.count < count - 1 { start(index: workers.count) }
        withoutActuallyEscaping(body) { body in
            job = body
            pending.store(count - 1, ordering: .sequentiallyConsistent)
            let generation = ticket.load(ordering: .relaxed) >> 8 + 1
            ticket.store(generation << 8 | count, ordering: .sequentiallyConsistent)
            for w in workers.prefix(count - 1) where w.state.compareExchange(expected: 1, desired: 0, ordering: .sequentiallyConsistent).exchanged {
                w.wake.signal()
            }
            body(0)
            var spins = 0
            while pending.load(ordering: .acquiring) != 0 {
                spins += 1
                if spins > 256 { sched_yield() }
            }
            job = { _ in }
        }
        return true
    }

    private func start(index: Int) {
        let worker = Worker()
        workers.append(worker)
        // The generation it has seen is the current one: the job about to be published is new to it.
        let seen = ticket.load(ordering: .acquiring)
        let thread = Thread { [self] in loop(index: index, worker: worker, seen: seen) }
        thread.name = "tlc-part-\(index + 1)"
        thread.start()
    }

    private func loop(index: Int, worker: Worker, seen: Int) {
        var seen = seen
        while true {
            var current = ticket.load(ordering: .acquiring)
            var spinStart = DispatchTime.now().uptimeNanoseconds, spins = 0
            while current == seen {
                spins += 1
                if spins & 255 != 0 || DispatchTime.now().uptimeNanoseconds - spinStart < PartPool.spinNanoseconds {
                    // Now and then let a thread waiting for this core (the caller, when the
                    // two share one) run: spinning must never delay the work it waits for.
                    if spins & 255 == 0 { sched_yield() }
                    current = ticket.load(ordering: .acquiring)
                    continue
                }
                // Sleep: announce it, then look once more so that no job is missed.
                worker.state.store(1, ordering: .sequentiallyConsistent)
                current = ticket.load(ordering: .sequentiallyConsistent)
                if current != seen {
                    // A caller may already have claimed the wake-up; if so, take its signal.
                    if !worker.state.compareExchange(expected: 1, desired: 0, ordering: .sequentiallyConsistent).exchanged { worker.wake.wait() }
                    break
                }
                worker.wake.wait()
                current = ticket.load(ordering: .acquiring)
                spinStart = DispatchTime.now().uptimeNanoseconds; spins = 0
            }
            seen = current
            if index + 1 < current & 255 {
                job(index + 1)
                pending.subtract(1, ordering: .releasing)
            }
        }
    }
}
