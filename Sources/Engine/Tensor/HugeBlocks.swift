// HugeBlocks — the mapped memory behind tensors of 32 MiB and more (``AlignedFloats``):
// mapped on 2 MiB boundaries and advised as transparent huge pages, and kept for reuse
// when freed. A 224×224 batch's activations and their gradients come and go in the same
// few sizes every step; unmapping them made the kernel clear every page again on the next
// step's first touch (`clear_page_erms` took 12 % of resnet18's fine-tuning step in `perf`).
// A freed block is kept, and a request for the same mapped length takes it back; a request
// that finds none takes the head of the shortest longer kept block and unmaps its tail (the
// head's pages are already there: mobilenet_v2's many sizes had mapped and faulted in about
// a gigabyte a step); when every kept block is shorter, a request first unmaps kept blocks
// until the mapped total (in use and kept) is no more than the most that was ever in use,
// so the process's peak stays what it was without the cache. ``releaseKept()`` unmaps what
// is kept when a network is done.

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
        /// Kept blocks, oldest first.
        var kept: [(block: UnsafeMutableRawPointer, length: Int)] = []
        var keptBytes = 0, inUse = 0, mostInUse = 0

        /// A kept block of `length` (nil if none), and what to unmap: the tail of a longer
        /// kept block whose head serves the request, or kept blocks to unmap before a new one is mapped.
        mutating func take(_ length: Int) -> (UnsafeMutableRawPointer?, [(UnsafeMutableRawPointer, Int)]) {
            inUse += length
            mostInUse = max(mostInUse, inUse)
            if let i = kept.lastIndex(where: { $0.length == length }) {
                keptBytes -= length
                return (kept.remove(at: i).block, [])
            }
            var shortestLonger: Int?
            for (i, k) in kept.enumerated() where k.length > length && shortestLonger.map({ k.length < kept[$0].length }) ?? true {
                shortestLonger = i
            }
            if let i = shortestLonger {
                let longer = kept.remove(at: i)
                keptBytes -= longer.length
                return (longer.block, [(longer.block + length, longer.length - length)])
            }
            var release: [(UnsafeMutableRawPointer, Int)] = []
            while !kept.isEmpty && inUse + keptBytes > mostInUse {
                let oldest = kept.removeFirst()
                keptBytes -= oldest.length
                release.append((oldest.block, oldest.length))
            }
            return (nil, release)
        }

        mutating func keep(_ block: UnsafeMutableRawPointer, length: Int) {
            inUse -= length
            keptBytes += length
            kept.append((block, length))
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
