// ProcessMemory — how the process's allocator treats the engine's large, short-lived
// tensors. glibc serves allocations above its mmap threshold (128 KiB, rising only as
// such blocks are freed) with fresh mappings, so every batch's activations page-faulted
// anew: 12,500 faults per cnn round at batch 256 (one float and one int8 pass; 600,800
// faults in 43 rounds against 100,300 in 3).
// Keeping blocks up to 32 MiB on the heap and never trimming it lets each pass reuse the
// last one's pages; the process's peak stays what its largest working set needs
// (Tests/CLITests/MemoryEstimateTests holds it to the plan's estimate).

#if canImport(Glibc)
import CMalloc
#endif

public enum ProcessMemory {
    /// Unmaps the freed tensors of 32 MiB and more that are kept for reuse (``HugeBlocks``):
    /// called when a network is done training, so that the process returns them.
    public static func releaseKeptTensors() { HugeBlocks.releaseKept() }

    /// Call once, early, from a command line's entry point (tlc, the benchmarks).
    public static func keepFreedTensorsMapped() {
        #if canImport(Glibc)
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)       // glibc's largest allowed threshold
        _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
        // One heap for every thread: with a heap per worker thread, each kept its own
        // peak (a resnet-8 run reached 222 MB against the plan's 148 MB estimate);
        // tensors are few and large, so sharing one lock costs little.
        _ = mallopt(M_ARENA_MAX, 1)
        #endif
    }
}
