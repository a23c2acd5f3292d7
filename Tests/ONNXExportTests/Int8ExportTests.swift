// The integer graph against tlc's integer path, layer kinds the Fashion-MNIST run
// does not reach included: for the zoo's sequential models (mlp, lenet5, cnn,
// vgg-mini, 8 and 4 bits) and a network with average pooling, padding and a global
// average pool, the exported int8 model's logits from onnxruntime on random
// inputs against QuantizedNetwork.forward on the same inputs: the same logits.
import Foundation
import ModelZoo
import Testing
import TestSupport
@testable import Engine
@testable import ONNXExport

@Suite struct Int8ExportTests {
    /// conv → avg pool (padded) → conv → global average pool → dense: the pooling paths.
    static let pooled = Architecture(name: "pooled", input: FeatureShape(channels: 2, height: 12, width: 12), backbone: [
        .conv2d(name: "conv1", filters: 8, kernel: 3, stride: 1, padding: 1), .relu(name: "relu1"),
        .avgPool(name: "pool1", size: 3, stride: 2, padding: 1),
        .conv2d(name: "conv2", filters: 16, kernel: 3, stride: 1, padding: 0), .relu(name: "relu2"),
        .globalAvgPool(name: "pool2"),
    ], head: [.block(name: "head", layers: [.dense(name: "output", units: 5)])])

    @Test func integerGraphsMatchTheIntegerPath() throws {
        let folder = try ScratchFolder("onnx-int8")
        var cases: [(String, Architecture, Int)] = [("pooled", Self.pooled, 8)]
        for arch in ["mlp", "lenet5", "cnn", "vgg-mini"] {
            cases.append((arch, try Zoo.architecture(arch, classes: 10), 8))
        }
        cases.append(("lenet5-4bit", try Zoo.architecture("lenet5", classes: 10), 4))
        var expected: [String: (logits: [Float], classes: Int)] = [:]
        var names: [String] = []
        for (i, (name, arch, bits)) in cases.enumerated() {
            let network = try Network(architecture: arch, seed: UInt64(20 + i))
            let shape = arch.input
            var rng = SeededGenerator(seed: UInt64(40 + i))
            let calibrationX = Tensor(zeros: [64, shape.count])
            rng.fillUniform(calibrationX, -1, 1)
            let classes = network.outputFeatures
            let calibration = try Dataset(sampleShape: shape, features: calibrationX.values, labels: (0..<64).map { $0 % classes },
                                          classNames: (0..<classes).map { "c\($0)" })
            let q = try QuantizedNetwork.quantize(network, calibration: calibration,
                                                  config: QuantizationConfig(bits: bits, perChannel: true, calibrationBatches: 1, batchSize: 64))
            let dims = [200, shape.channels, shape.height, shape.width]
            let x = Tensor(zeros: dims)
            rng.fillUniform(x, -1.2, 1.2)
            expected[name] = (try q.forward(x).values, classes)
            var options = ONNXExportOptions()
            options.foldNormalization = false
            try ONNXExporter.export(ExportMember(model: .int8(q), normalization: .identity), options: options)
                .write(to: URL(fileURLWithPath: "\(folder.path)/\(name).onnx"))
            try RawFloats.write(x.values, to: "\(folder.path)/\(name).input")
            try JSONSerialization.data(withJSONObject: dims).write(to: URL(fileURLWithPath: "\(folder.path)/\(name).shape"))
            names.append(name)
        }
        _ = try runWithOnnxruntime(folder.path, names: names)
        for name in names {
            let got = try RawFloats.read("\(folder.path)/\(name).output"), (want, k) = expected[name]!
            try #require(got.count == want.count, "\(name)")
            // The same integers, then the same float operations on them: the same logits.
            var same = 0
            for r in 0..<(want.count / k) {
                let a = got[(r * k)..<(r * k + k)], b = want[(r * k)..<(r * k + k)]
                if zip(a, b).allSatisfy({ abs($0 - $1) <= 1e-6 * max(1, abs($1)) }) { same += 1 }
            }
            #expect(same == want.count / k, "\(name): \(same) of \(want.count / k) rows of logits equal to tlc's")
        }
    }
}
