// OpenBLAS's kernels match the CPU's instruction sets (CBLASCore): Debian's OpenBLAS 0.3.21
// takes recent Xeons for Prescotts (SSE3), and tlc picks the core those CPUs can run.
import CBLAS
import CDense
import Engine
import Foundation
import Testing

@Suite struct BLASCoreTests {
    static let avx512Cores: Set<String> = ["SkylakeX", "Cooperlake", "SapphireRapids"]
    static let avx2Cores: Set<String> = avx512Cores.union(["Haswell", "Zen", "Excavator"])

    @Test func openBLASRunsKernelsForThisCPUsInstructionSets() throws {
        // A core the user chose stands, whatever it is.
        try #require(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil
                     || KernelSet.blasCoreDetected == nil)
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil else { return }
        // tlc_dense_level: 2 with AVX-512 F, 1 with AVX2 and FMA (what the core needs, BW/DQ/VL aside).
        switch tlc_dense_level() {
        case 2: #expect(Self.avx512Cores.contains(KernelSet.blasCore), "OpenBLAS runs \(KernelSet.blasCore) on an AVX-512 CPU")
        case 1: #expect(Self.avx2Cores.contains(KernelSet.blasCore), "OpenBLAS runs \(KernelSet.blasCore) on an AVX2 CPU")
        default: break
        }
        if let detected = KernelSet.blasCoreDetected {
            #expect(detected != KernelSet.blasCore)
            // The variable tlc set to choose the core is gone again: child processes see the environment as it was.
            #expect(getenv("OPENBLAS_CORETYPE") == nil)
        }
    }

    @Test func theChosenCoreComputesWhatBLASPromises() {
        // sgemm on the chosen kernels: C = A·B for small integers is exact in float.
        let m = 67, n = 129, k = 253
        let a = (0..<(m * k)).map { Float($0 % 7) - 3 }, b = (0..<(k * n)).map { Float($0 % 5) - 2 }
        var c = [Float](repeating: 0, count: m * n)
        var expected = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { var s: Float = 0; for p in 0..<k { s += a[i * k + p] * b[p * n + j] }; expected[i * n + j] = s } }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, &c, Int32(n))
        #expect(c == expected)
    }

    @Test func switchingTheCoreAtLoadTimeNeverCrashes() throws {
        // OpenBLAS's own worker threads start at load time and select a core on their first
        // buffer; switching while they did crashed about one start in fifteen on an Emerald
        // Rapids Xeon. Start this test binary (running no test) a hundred times.
        guard KernelSet.blasCoreDetected != nil else { return }
        for _ in 0..<100 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
            p.arguments = ["--testing-library", "swift-testing", "--filter", "NoTestHasThisName"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationReason == .exit, "the binary died of signal \(p.terminationStatus) at start")
            if p.terminationReason != .exit { break }
        }
    }
}
