// torchvision's architectures, timed (release): one eval forward pass and one fine-tuning
// step (train-mode forward, cross-entropy, backward, Adam) on a batch at 224×224, in tlc
// and in PyTorch with the same thread count, and each one's peak RSS over the model's
// passes (VmHWM, reset before each model). Skipped unless TLC_BENCH=1; see
// Benchmarks/README.md for the command.
import Testing
import Foundation
import ModelZoo
@testable import Engine
import TestSupport

@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["TLC_BENCH"] == "1"))
struct TorchvisionBenchmarks {
    @Test func forwardAndTrainingStep() throws {
        let env = ProcessInfo.processInfo.environment
        let models = (env["TLC_BENCH_MODELS"] ?? "resnet18,resnet50,mobilenet_v2,efficientnet_b0,googlenet").split(separator: ",").map(String.init)
        let batch = Int(env["TLC_BENCH_BATCH"] ?? "32") ?? 32, side = Int(env["TLC_BENCH_SIZE"] ?? "224") ?? 224
        let repeats = Int(env["TLC_BENCH_REPEATS"] ?? "3") ?? 3
        if let t = env["TLC_BENCH_THREADS"].flatMap(Int.init) { Parallel.threads = t }
        setUpAllocatorAsTLC()
        LayerProfiler.enabled = env["TLC_PROFILE"] == "1"
        func median(_ f: () throws -> Void) rethrows -> Double {
            var times: [Double] = []
            for _ in 0..<repeats { let t = Date(); try f(); times.append(Date().timeIntervalSince(t)) }
            return times.sorted()[times.count / 2]
        }
        let list = models.map { "\"\($0)\"" }.joined(separator: ", ")
        // TLC_BENCH_TORCH=0 times tlc alone (profiling: Benchmarks/where-time-goes.sh); TLC_BENCH_PASSES=step times only the step.
        let withTorch = env["TLC_BENCH_TORCH"] != "0", passes = env["TLC_BENCH_PASSES"] ?? "both"
        let torch = !withTorch ? (status: Int32(0), output: "") : try pythonScript("""
            import gc, time, torch, torchvision.models as tvm
            torch.set_num_threads(\(Parallel.threads))
            def peak_mib():
                for line in open("/proc/self/status"):
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
            for name in [\(list)]:
                gc.collect()
                open("/proc/self/clear_refs", "w").write("5")
                m = tvm.GoogLeNet(aux_logits=False, init_weights=False) if name == "googlenet" else getattr(tvm, name)()
                opt = torch.optim.Adam(m.parameters(), lr=1e-3)
                x = torch.randn(\(batch), 3, \(side), \(side)); y = torch.randint(0, 1000, (\(batch),))
                def fwd():
                    m.eval()
                    with torch.no_grad(): m(x)
                def step():
                    m.train(); opt.zero_grad(); torch.nn.functional.cross_entropy(m(x), y).backward(); opt.step()
                for f, label in [(fwd, "forward"), (step, "step")]:
                    f(); ts = []
                    for _ in range(\(repeats)):
                        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
                    print(name, label, sorted(ts)[len(ts) // 2])
                print(name, "rss", peak_mib())
                del m, opt
            """, needs: [.torch, .torchvision])
        var reference: [String: Double] = [:]
        for line in torch.output.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 3, let v = Double(parts[2]) { reference["\(parts[0]) \(parts[1])"] = v }
        }
        var rows: [String] = []
        for name in models {
            ProcessMemory.releaseKeptTensors()
            resetPeakRSS()
            let net = try Network(architecture: Zoo.architecture(name, input: FeatureShape(channels: 3, height: side, width: side),
                                                                 classes: 1000, keepClassifier: true), seed: 1)
            let x = Tensor(zeros: [batch, 3, side, side])
            var g = SeededGenerator(seed: 1)
            g.fillNormal(x, std: 1)
            let labels = (0..<batch).map { $0 % 1000 }
            var forward = Double.nan
            if passes != "step" {
                _ = try net.forward(x, training: false)
                forward = try median { _ = try net.forward(x, training: false) }
            }
            let adam = try Optimizer(kind: .adam(), parameters: net.parameterObjects, learningRate: 1e-3)
            let step = passes == "forward" ? .nan : try median {
                let out = try net.forward(x, training: true)
                try net.backward(try SoftmaxCrossEntropy()(logits: out, labels: labels).grad)
                _ = adam.step()
            }
            let row = String(format: "| %@ | %.2f | %.2f | %.2f | %.2f | %.0f MiB | %.0f MiB |", name, forward, reference["\(name) forward"] ?? .nan,
                             step, reference["\(name) step"] ?? .nan, peakRSSMiB(), reference["\(name) rss"] ?? .nan)
            print(row); rows.append(row)
            // TLC_PROFILE=1: seconds per layer and direction over every pass run, the untimed first forward pass
            // included (the forward passes' and the steps' together).
            for (k, v) in LayerProfiler.report() { print(String(format: "    %-40@ %7.3f s", k, v)) }
            // Forward FLOPs from ModelZoo's analysis (a multiply-add is 2); the step counts 3× the forward.
            let flops = Double(net.summary.forwardFLOPs * batch)
            print(String(format: "%@: forward %@ GFLOP/s, fine-tuning step %@ GFLOP/s (3 × %.1f GFLOP)", name,
                         forward.isNaN ? "–" : String(format: "%.0f", flops / forward / 1e9),
                         step.isNaN ? "–" : String(format: "%.0f", 3 * flops / step / 1e9), flops / 1e9))
        }
        print("batch \(batch) at \(side)×\(side), \(Parallel.threads) threads, median of \(repeats)")
        print("| model | tlc forward s | PyTorch forward s | tlc fine-tuning step s | PyTorch fine-tuning step s | tlc peak RSS | PyTorch peak RSS |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for r in rows { print(r) }
        printSGEMMCeiling()   // last: its matrices and OpenBLAS's buffer for this thread would count in the models' peak RSS
    }
}
