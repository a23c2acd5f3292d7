// tlc-inference-latency — tlc's float and int8 inference on one batch, per zoo
// model, for Benchmarks/int8-vs-onnxruntime.sh: builds each model (random weights,
// Fashion-MNIST's 1×28×28 input, 10 classes), quantizes it (8 bits, per channel,
// calibrated on two batches of normal noise), then times the float forward pass and
// the integer path interleaved, after warm-up (at least 0.25 s), median over the rounds. Prints one
// JSON object per model: {"model", "float_ms", "int8_ms", "kernel", ...}.
//   tlc-inference-latency [models (comma-separated)] [batch] [rounds]
// TLC_BENCH_THREADS (default 2) sets the engine's threads; TLC_BENCH_INT8_KERNEL
// (portable, avx2, avx512vnni) another int8 kernel than the machine's best; TLC_BENCH_PROFILE
// also prints the float pass's milliseconds per layer (lines starting with #; =cpu: the
// thread's CPU time, meaningful with TLC_BENCH_THREADS=1 on a busy machine).
import Engine
import Foundation
import ModelZoo

let args = CommandLine.arguments
let models = (args.count > 1 ? args[1] : "mlp,lenet5,cnn,vgg-mini").split(separator: ",").map(String.init)
let batch = args.count > 2 ? Int(args[2]) ?? 256 : 256
let rounds = args.count > 3 ? Int(args[3]) ?? 21 : 21
let threads = Int(ProcessInfo.processInfo.environment["TLC_BENCH_THREADS"] ?? "") ?? 2
let kernels = ["portable": Int8Kernel.portable, "avx2": .avx2, "avx512vnni": .avx512VNNI]
let kernel = ProcessInfo.processInfo.environment["TLC_BENCH_INT8_KERNEL"].map { kernels[$0] ?? .best } ?? .best

Parallel.makeBLASSingleThreaded()
ProcessMemory.keepFreedTensorsMapped()
Parallel.threads = threads

var generator = SeededGenerator(seed: 1)
let sample = FeatureShape(channels: 1, height: 28, width: 28)
let data = try Dataset(sampleShape: sample, features: (0..<(batch * sample.count)).map { _ in generator.normal(std: 1) },
                       labels: (0..<batch).map { $0 % 10 }, classNames: (0..<10).map(String.init))
let (x, _) = data.batch(Array(0..<batch)[...])

func milliseconds(_ body: () throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
}

for name in models {
    let net = try Network(architecture: try Zoo.architecture(name, classes: 10), seed: 2)
    let q = try QuantizedNetwork.quantize(net, calibration: data, config: QuantizationConfig(calibrationBatches: 2, batchSize: 128))
    // Warm up for at least 0.25 s (onnxruntime_reference.py does the same): a process's
    // first milliseconds of parallel work can find both threads on one core.
    let warmupStart = DispatchTime.now().uptimeNanoseconds
    var warmups = 0
    while warmups < 3 || DispatchTime.now().uptimeNanoseconds - warmupStart < 250_000_000 {
        _ = try net.forward(x, training: false); _ = try q.forward(x, kernel: kernel)
        warmups += 1
    }
    var floatTimes: [Double] = [], int8Times: [Double] = []
    for round in 0..<rounds {
        // Alternate who goes first, so neither always runs on a warm cache.
        if round % 2 == 0 {
            floatTimes.append(try milliseconds { _ = try net.forward(x, training: false) })
            int8Times.append(try milliseconds { _ = try q.forward(x, kernel: kernel) })
        } else {
            int8Times.append(try milliseconds { _ = try q.forward(x, kernel: kernel) })
            floatTimes.append(try milliseconds { _ = try net.forward(x, training: false) })
        }
    }
    let f = floatTimes.sorted()[rounds / 2], i = int8Times.sorted()[rounds / 2]
    if ProcessInfo.processInfo.environment["TLC_BENCH_PROFILE"] != nil {
        // Where the float pass's time goes, per layer (milliseconds per batch).
        LayerProfiler.enabled = true
        LayerProfiler.threadCPUTime = ProcessInfo.processInfo.environment["TLC_BENCH_PROFILE"] == "cpu"
        _ = LayerProfiler.report()
        for _ in 0..<rounds { _ = try net.forward(x, training: false) }
        LayerProfiler.enabled = false
        for (layer, seconds) in LayerProfiler.report() {
            print(String(format: "#   %@ %@ %.3f ms", name, layer, seconds * 1e3 / Double(rounds)))
        }
    }
    print(String(format: "{\"model\": \"%@\", \"batch\": %d, \"threads\": %d, \"rounds\": %d, \"float_ms\": %.3f, \"int8_ms\": %.3f, \"int8_over_float\": %.3f, \"kernel\": \"%@\"}",
                 name, batch, threads, rounds, f, i, i / f, kernel.description))
}
