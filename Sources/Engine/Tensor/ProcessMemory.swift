// ProcessMemory — how the process's allocator treats the engine's large, short-lived
// tensors. glibc serves allocations above its mmap threshold (128 KiB, rising only as
// such blocks are freed) with fresh mappings, so every batch's activations page-faulted
// anew: 12,500 faults per cnn forward pass at batch 256, about a tenth of its time.
// Keeping blocks up to 32 MiB on the heap and never trimming it lets each pass reuse the
// last one's pages; the process's peak stays what its largest working set needs
// (Tests/CLITests/MemoryEstimateTests holds it to the plan's estimate).

#if canImport(Glibc)
import CMalloc
#endif

public enum ProcessMemory {
    /// Call once, early, from a command line's entry point (tlc, the benchmarks).
    public static func keepFreedTensorsMapped() {
        #if canImport(Glibc)
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)       // glibc's largest allowed threshold
        _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
        // One heap for every thread: with a heap per worker thread, each kept its own
        // peak (a resnet-8 run's peak rose by half); tensors are few and large, so the
        // shared lock costs nothing measurable.
        _ = mallopt(M_ARENA_MAX, 1)
        #endif
    }
}
