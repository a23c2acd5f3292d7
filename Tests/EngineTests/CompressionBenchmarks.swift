// Int8 vs float inference benchmark (release): the zoo's sequential networks on
// batches of 256 and on single images, float (the engine's layers) against the
// integer path (CInt8: its best kernel, then every kernel this CPU runs). Prints
// figures; skipped unless TLC_BENCH=1:
//   TLC_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter CompressionBenchmarks
import Foundation
import ModelZoo
import Testing
@testable import Engine

@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["TLC_BENCH"] == "1"))
struct CompressionBenchmarks {
    func median(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
        var times: [Double] = []
        for _ in 0..<runs {
            let t = Date()
            try body()
            times.append(Date().timeIntervalSince(t))
        }
        return times.sorted()[runs / 2]
    }

    @Test func int8AgainstFloatInference() throws {
        let env = ProcessInfo.processInfo.environment
        if let t = env["TLC_BENCH_THREADS"].flatMap(Int.init) { Parallel.threads = t }
        let models = (env["TLC_BENCH_MODELS"] ?? "mlp,lenet5,cnn,vgg-mini").split(separator: ",").map(String.init)
        var g = SeededGenerator(seed: 1)
        let n = 256
        let data = try Dataset(sampleShape: FeatureShape(channels: 1, height: 28, width: 28),
                               features: (0..<(n * 784)).map { _ in g.normal(std: 1) }, labels: (0..<n).map { $0 % 10 },
                               classNames: (0..<10).map(String.init))
        let (x, _) = data.batch(Array(0..<n)[...])
        let (one, _) = data.batch([0][...])
        print("int8 kernel: \(QuantizedNetwork.kernel); engine threads \(Parallel.threads)")
        print("| model | float ms / batch of 256 | int8 ms / batch of 256 | speed-up | float ms / image (batch 1) | int8 ms / image (batch 1) | speed-up | int8 ms / 256 by kernel |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for name in models {
            let net = try Network(architecture: try Zoo.architecture(name, classes: 10), seed: 2)
            let q = try QuantizedNetwork.quantize(net, calibration: data, config: QuantizationConfig(calibrationBatches: 2, batchSize: 128))
            _ = try net.forward(x, training: false); _ = try q.forward(x)
            let fb = try median(7) { _ = try net.forward(x, training: false) }
            let qb = try median(7) { _ = try q.forward(x) }
            let f1 = try median(51) { _ = try net.forward(one, training: false) }
            let q1 = try median(51) { _ = try q.forward(one) }
            let byKernel = try Int8Kernel.allCases.filter(\.isSupported).map { kernel in
                String(format: "%@ %.1f", kernel.description, try median(3) { _ = try q.forward(x, kernel: kernel) } * 1000)
            }.joined(separator: ", ")
            print(String(format: "| %@ | %.1f | %.1f | %.2f× | %.3f | %.3f | %.2f× | %@ |", name, fb * 1000, qb * 1000, fb / qb, f1 * 1000, q1 * 1000, f1 / q1, byKernel))
        }
    }
}
