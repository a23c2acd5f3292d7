// HugeBlocks — the mapped memory behind tensors of 32 MiB and more (``AlignedFloats``):
// mapped on 2 MiB boundaries and advised as transparent huge pages, and kept for reuse
// when freed. A 224×224 batch's activations and their gradients come and go in the same
// few sizes every step; unmapping them made the kernel clear every page again on the next
// step's first touch (`clear_page_erms` took 12 % of resnet18's fine-tuning step in `perf`).
// Kept memory is a free list: a request takes the head of the shortest kept block that
// holds it (the rest stays kept, its pages already there), and a freed block merges with
// the kept blocks next to it, so a block split for smaller requests is whole again when
// they are done (mobilenet_v2's many sizes had mapped and faulted in about a gigabyte a
// step). When no kept block is long enough, a request first unmaps kept blocks until the
// mapped total (in use and kept) is no more than the most that was ever in use, so the
// process's peak stays what it was without the cache. ``releaseKept()`` unmaps what is
// kept when a network is done.

import Foundation

enum HugeBlocks {
    static let hugePage = 2 << 20

    /// The mapped length of a block that holds `bytes` 2 MiB-aligned: the pages, and one more to align the start.
    static func mappedLength(_ bytes: Int) -> Int { (bytes + hugePage - 1) / hugePage * hugePage + hugePage }

    /// A mapping of `mappedLength(bytes)` bytes (not zeroed when it is a reused one), or nil when out of memory.
    static func take(_ bytes: Int) -> UnsafeMutableRawPointer? {
        let length = mappedLength(bytes)
        let (reused, release) = cache.withLock { $0.take(length) }
        for (block, length) in release { unmap(block, length) }
        return reused ?? map(length)
    }

    /// Returns a block from ``take(_:)`` of `bytes`: kept for the next request of its length.
    static func give(_ block: UnsafeMutableRawPointer, bytes: Int) {
        cache.withLock { $0.keep(block, length: mappedLength(bytes)) }
    }

    /// Unmaps every kept block, and measures the most in use afresh from now on (when a
    /// network is done training, so that the process does not keep its peak mapped).
    static func releaseKept() {
        let release = cache.withLock { c -> [(block: UnsafeMutableRawPointer, length: Int)] in
            let kept = c.kept
            c.kept = []; c.keptBytes = 0; c.mostInUse = c.inUse
            return kept
        }
        for (block, length) in release { unmap(block, length) }
    }

    private static func map(_ length: Int) -> UnsafeMutableRawPointer? {
        #if canImport(Glibc)
        guard let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else { return nil }
        _ = madvise(p.alignedUp(toMultipleOf: hugePage), length - hugePage, MADV_HUGEPAGE)
        return p
        #else
        return nil
        #endif
    }

    private static func unmap(_ block: UnsafeMutableRawPointer, _ length: Int) {
        #if canImport(Glibc)
        munmap(block, length)
        #endif
    }

    /// The kept blocks and the byte counts that bound them.
    struct Cache {
        /// Kept blocks, oldest first; no two of them are next to each other (``keep`` merges them).
        var kept: [(block: UnsafeMutableRawPointer, length: Int)] = []
        var keptBytes = 0, inUse = 0, mostInUse = 0

        /// The head of the shortest kept block of at least `length` (nil if none; of equal
        /// ones, the last kept), and what to unmap: kept blocks, oldest first, when a new
        /// mapping would otherwise take the mapped total past the most ever in use.
        mutating func take(_ length: Int) -> (UnsafeMutableRawPointer?, [(UnsafeMutableRawPointer, Int)]) {
            inUse += length
            mostInUse = max(mostInUse, inUse)
            var best: Int?
            for (i, k) in kept.enumerated() where k.length >= length && best.map({ k.length <= kept[$0].length }) ?? true {
                best = i
            }
            if let i = best {
                let found = kept[i]
                keptBytes -= length
                if found.length == length { kept.remove(at: i) } else { kept[i] = (found.block + length, found.length - length) }
                return (found.block, [])
            }
            var release: [(UnsafeMutableRawPointer, Int)] = []
            while !kept.isEmpty && inUse + keptBytes > mostInUse {
                let oldest = kept.removeFirst()
                keptBytes -= oldest.length
                release.append((oldest.block, oldest.length))
            }
            return (nil, release)
        }

        /// Keeps a freed block, merged with the kept blocks just before and just after it.
        mutating func keep(_ block: UnsafeMutableRawPointer, length: Int) {
            inUse -= length
            keptBytes += length
            var start = block, end = block + length
            kept.removeAll { k in
                if k.block + k.length == start { start = k.block; return true }
                if k.block == end { end = k.block + k.length; return true }
                return false
            }
            kept.append((start, end - start))
        }
    }

    private static let cache = Locked(Cache())
}

/// A value behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
