// Training benchmark (release): mlp, lenet5 and cnn on all of Fashion-MNIST with Adam,
// batch 128. Skipped unless TLC_BENCH=1; see Benchmarks/README.md for the command.
import Testing
import Foundation
import ModelZoo
@testable import Engine

func peakRSSMiB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return .nan }
    return Double(line.split(separator: " ").dropFirst().first.map(String.init) ?? "") .map { $0 / 1024 } ?? .nan
}
func resetPeakRSS() { try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8) }

/// Sets the allocator up as `tlc` does, and says when this process cannot match it: `tlc`
/// limits glibc to one heap before it starts a thread, so every thread allocates from the
/// main heap, which is never trimmed; here the test runner's threads exist first and keep
/// heaps of their own, which glibc unmaps whenever they empty (page faults `tlc` does not
/// have: mobilenet_v2's step was 5 % slower in one measurement). The Benchmarks/ scripts start the binary with
/// GLIBC_TUNABLES=glibc.malloc.arena_max=1, which gives it `tlc`'s allocator from the start.
func setUpAllocatorAsTLC() {
    ProcessMemory.keepFreedTensorsMapped()
    if !(ProcessInfo.processInfo.environment["GLIBC_TUNABLES"] ?? "").contains("glibc.malloc.arena_max=1") {
        print("note: started without GLIBC_TUNABLES=glibc.malloc.arena_max=1, so the benchmark's allocations come from a heap per thread, not tlc's one heap (slower)")
    }
}

/// Prints OpenBLAS's sgemm ceiling on this machine, as the engine runs it (single-threaded
/// BLAS in each worker): 1024 × 1024 × 1024 products, best of 5, on one worker and on
/// every worker at once (each its own matrices).
func printSGEMMCeiling() {
    let n = 1024, flops = 2.0 * Double(n * n * n)
    let workers = Parallel.threads
    let operands = (0..<workers).map { _ in (Tensor(shape: [n, n], repeating: 0.5), Tensor(shape: [n, n], repeating: 0.25), Tensor(zeros: [n, n])) }
    func best(_ parts: Int) -> Double {
        var seconds = Double.infinity
        for _ in 0..<5 {
            let t = Date()
            Parallel.forEachPart(parts, parts: parts) { part, _ in
                let (a, b, c) = operands[part]
                gemm(m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
            }
            seconds = min(seconds, Date().timeIntervalSince(t))
        }
        return seconds
    }
    let one = flops / best(1) / 1e9, all = Double(workers) * flops / best(workers) / 1e9
    print(String(format: "sgemm ceiling (OpenBLAS, 1024³): %.0f GFLOP/s on one thread, %.0f on %d", one, all, workers))
}

@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["TLC_BENCH"] == "1"))
struct EngineBenchmarks {
    @Test func trainingSpeed() throws {
        let env = ProcessInfo.processInfo.environment
        let models = (env["TLC_BENCH_MODELS"] ?? "mlp,lenet5,cnn").split(separator: ",").map(String.init)
        let epochs = Int(env["TLC_BENCH_EPOCHS"] ?? "5") ?? 5
        if let t = env["TLC_BENCH_THREADS"].flatMap(Int.init) { Parallel.threads = t }
        LayerProfiler.enabled = env["TLC_PROFILE"] == "1"
        setUpAllocatorAsTLC()
        let t0 = Date()
        var (train, test) = try FashionMNIST.load()
        print(String(format: "load fashion-mnist (70k): %.3f s", Date().timeIntervalSince(t0)))
        let norm = try Normalization.fit(.standardize, on: train)
        train = try norm.apply(to: train); test = try norm.apply(to: test)
        if let limit = env["TLC_BENCH_LIMIT"].flatMap(Int.init) {   // quick profiling runs
            train = train.subset(Array(0..<min(limit, train.count))); test = test.subset(Array(0..<min(limit, test.count)))
        }
        let reference: [String: (String, String)] = ["mlp": ("0.58–0.68", "88.3"), "lenet5": ("2.85", "89.0"), "cnn": ("30–41", "92.4")]
        print("engine threads: \(Parallel.threads), OPENBLAS_CORETYPE=\(env["OPENBLAS_CORETYPE"] ?? "(unset)")")
        var rows: [String] = []
        for name in models {
            resetPeakRSS()
            let net = try Network(architecture: try Zoo.architecture(name, classes: 10), seed: 1)
            let cfg = TrainingConfig(epochs: epochs, batchSize: 128, optimizer: .adam(), learningRate: 1e-3, seed: 1)
            let r = try Trainer.fit(net, train: train, config: cfg) { rec in
                print(String(format: "  %@ epoch %d: %.2f s, train loss %.4f, acc %.4f", name, rec.epoch, rec.seconds, rec.trainLoss, rec.trainAccuracy))
                return true
            }
            for (k, v) in LayerProfiler.report() { print(String(format: "    %-28@ %7.3f s", k, v)) }
            let secs = r.history.map(\.seconds)
            let tail = Array(secs.dropFirst(secs.count > 1 ? 1 : 0)).sorted()
            let median = tail[tail.count / 2]
            let e = try net.evaluate(test, batchSize: 256)
            let ref = reference[name] ?? ("?", "?")
            let row = String(format: "| %@ | %.2f | %@ | %.1f%% | %@%% | %.0f MiB | %.2f ms |", name, median, ref.0, e.accuracy * 100, ref.1,
                             peakRSSMiB(), e.secondsPerImage * 1000)
            print(row); rows.append(row)
            // Training FLOPs from ModelZoo's analysis: 3 × the forward's (a multiply-add is 2).
            print(String(format: "%@: training %.0f GFLOP/s (%.1f MFLOP per image)", name,
                         Double(net.summary.trainingFLOPs * train.count) / median / 1e9, Double(net.summary.trainingFLOPs) / 1e6))
            if env["TLC_BENCH_LIMIT"] == nil { #expect(e.accuracy > 0.8) }
        }
        print("| model | tlc s/epoch (median epochs 2–\(epochs)) | PyTorch s/epoch | tlc test acc | PyTorch acc | tlc peak RSS | inference/image |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for r in rows { print(r) }
        printSGEMMCeiling()   // last: its matrices and OpenBLAS's buffer for this thread would count in the models' peak RSS
    }
}
