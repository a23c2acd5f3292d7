// Parallel — the engine's own parallelism: a batch is cut into a fixed number of
// contiguous parts that run on up to `threads` threads (each its own parts, then any left),
// each calling a single-threaded OpenBLAS. Because the cut does not depend on the thread
// count or on which thread runs a part, results are bitwise identical whatever the number of threads.

import CBLAS
import Foundation
import Synchronization

public enum Parallel {
    /// Number of parts a batch is cut into (independent of the machine, for determinism).
    public static let parts = 4
    nonisolated(unsafe) private static var threadCount = max(1, min(ProcessInfo.processInfo.activeProcessorCount, parts))

    /// Threads used by engine kernels (at most ``parts``). OpenBLAS itself is run
    /// single-threaded inside each worker; this is a process-wide setting.
    public static var threads: Int {
        get { threadCount }
        set { threadCount = max(1, min(newValue, parts)) }
    }

    /// Makes OpenBLAS single-threaded and stops the thread pool it started when it
    /// was loaded: idle OpenBLAS workers spin (sched_yield) for a while after start,
    /// which costs a short-lived process (`tlc validate`, `tlc plan`) real CPU time.
    /// Call once, early, from the command line's entry point.
    public static func makeBLASSingleThreaded() {
        openblas_set_num_threads(1)
        _ = blas_thread_shutdown_()
    }

    /// Keeps OpenBLAS single-threaded (even if someone changed it); the engine
    /// parallelises over the batch instead, so BLAS threads would only oversubscribe.
    @inline(__always) static func configureBLAS() {
        if openblas_get_num_threads() != 1 { openblas_set_num_threads(1) }
    }

    /// The contiguous ranges `0..<n` is cut into.
    static func ranges(_ n: Int, parts p: Int = parts) -> [Range<Int>] {
        let k = max(1, min(p, n))
        return (0..<k).map { i in (n * i / k)..<(n * (i + 1) / k) }
    }

    /// The workers ``forEachPart(_:parts:_:)`` runs `0..<n` on. Worker w runs its own parts
    /// w, w + workers, … (the same ones in every layer, so each part's data stays in its
    /// core's caches), then takes any part no worker has started (one that finishes early, on
    /// a core that runs faster, takes over a slower one's), one part after another, so
    /// scratch for one part at a time can be kept per worker (``forEachPartOnWorkers(_:parts:_:)``
    /// says which) instead of per part.
    static func workers(_ n: Int, parts p: Int = parts) -> Int {
        let count = max(1, min(p, n))   // ranges(n, parts: p).count, without building them
        return threadCount <= 1 || count == 1 ? 1 : min(threadCount, count)
    }

    /// Runs `body(part, range)` for every part of `0..<n`, on up to `threads` threads.
    static func forEachPart(_ n: Int, parts p: Int = parts, _ body: (Int, Range<Int>) -> Void) {
        forEachPartOnWorkers(n, parts: p) { _, part, range in body(part, range) }
    }

    /// Runs `body(worker, part, range)` for every part of `0..<n` on the ``workers(_:parts:)``:
    /// each claims its own parts first, then those left. Which worker runs which part depends
    /// on timing, never a result: each part's work is fixed.
    static func forEachPartOnWorkers(_ n: Int, parts p: Int = parts, _ body: (Int, Int, Range<Int>) -> Void) {
        configureBLAS()
        let rs = ranges(n, parts: p)
        if threadCount <= 1 || rs.count == 1 {
            for (i, r) in rs.enumerated() { body(0, i, r) }
            return
        }
        let workers = workers(n, parts: p), claims = PartClaims(rs.count)
        let ranOnPool = PartPool.shared.run(workers) { w in
            claims.run(worker: w, of: workers) { i in body(w, i, rs[i]) }
        }
        if ranOnPool { return }
        withoutActuallyEscaping(body) { b in
            nonisolated(unsafe) let fn = b
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                claims.run(worker: w, of: workers) { i in fn(w, i, rs[i]) }
            }
        }
    }
}

/// Which parts of one ``Parallel/forEachPartOnWorkers(_:parts:_:)`` a worker has started (one bit each).
final class PartClaims: Sendable {
    private let taken = Atomic<Int>(0)
    private let count: Int
    init(_ count: Int) {
        precondition(count < Int.bitWidth, "\(count) parts: at most \(Int.bitWidth - 1) fit the claims' bits")
        self.count = count
    }

    /// Whether this call is the first to claim part `i`.
    private func claim(_ i: Int) -> Bool {
        taken.bitwiseOr(1 << i, ordering: .relaxed).oldValue & (1 << i) == 0
    }

    /// Runs `body(part)` for worker `w`'s own parts (w, w + workers, …) that no one has
    /// started, then for any other part left.
    func run(worker w: Int, of workers: Int, _ body: (Int) -> Void) {
        var i = w
        while i < count { if claim(i) { body(i) }; i += workers }
        for i in 0..<count where claim(i) { body(i) }
    }
}
