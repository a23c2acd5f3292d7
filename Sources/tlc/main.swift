import Engine
import TLCCommands

// OpenBLAS runs single-threaded under the engine's own parallelism; stop the
// worker pool it started at load time before doing anything else.
Parallel.makeBLASSingleThreaded()
ProcessMemory.keepFreedTensorsMapped()
TLC.entry()
