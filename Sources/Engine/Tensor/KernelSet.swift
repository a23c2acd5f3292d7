// KernelSet — which of its own kernels the engine runs on this CPU, and which OpenBLAS
// core, for a run's env.json and `tlc verify`. tlc's own float kernels (CDirectConv,
// which on AVX-512 also trains stride-1 convolutions, and CDense) and int8 kernels give the same
// bits with AVX-512 or AVX2; OpenBLAS's kernels (training dense layers and strided
// convolutions, and 1×1 convolutions on CPUs that prefer them) sum in an order of their own
// per core, so training results are bitwise equal only between machines on the same
// OpenBLAS core (OPENBLAS_CORETYPE pins it) that run 1×1 convolutions on the same kernels.
// Where OpenBLAS's own detection falls back to a core below the CPU's instruction sets,
// CBLASCore has picked the core for the CPU at load time (blasCoreDetected says so).

import CBLAS
import CBLASCore

public enum KernelSet {
    /// OpenBLAS's core for this CPU (or the one OPENBLAS_CORETYPE names), e.g. "Haswell".
    public static var blasCore: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The core OpenBLAS detected by itself when tlc replaced it with one for this CPU's
    /// instruction sets (e.g. "Prescott" on an Emerald Rapids Xeon that OpenBLAS 0.3.21 does
    /// not know), or nil when OpenBLAS's choice (or OPENBLAS_CORETYPE's) stands.
    public static var blasCoreDetected: String? {
        tlc_blas_detected_core().map { String(cString: $0) }
    }

    /// The instruction set of the float kernels (inference; stride-1 convolutions also in training): "AVX-512", "AVX2" or "none (OpenBLAS)".
    public static var float: String {
        switch min(Conv2D.directConvolutionLevel, Dense.kernelLevel) {
        case 2: return "AVX-512"
        case 1: return "AVX2"
        default: return "none (OpenBLAS)"
        }
    }

    /// Where 1×1 convolutions run: "OpenBLAS" (the CPU prefers its GEMMs, see Conv2DPointwise.swift) or "CDirectConv".
    public static var pointwise: String { Conv2D.pointwiseOnBLAS ? "OpenBLAS" : "CDirectConv" }

    /// The int8 kernel, e.g. "AVX-512 VNNI".
    public static var int8: String { Int8Kernel.best.description }
}
