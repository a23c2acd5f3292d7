// The exporter against onnxruntime: every architecture of the zoo (the miniature ones
// at Fashion-MNIST's 1×28×28, torchvision's at small sizes that exercise partial
// ceil-mode windows and unequal adaptive-pooling bins) exported with seeded random
// weights and batch-norm statistics, checked by onnx.checker (full_check) and run by
// onnxruntime on the same random batch as tlc: logits within 1e-4. Also the folded
// normalization (pixels 0–255 in) and an int8 network's integer graph.
import Foundation
import ModelZoo
import Testing
import TestSupport
@testable import Engine
@testable import ONNXExport

/// A folder for one test's files, removed when the test ends.
struct ScratchFolder: ~Copyable {
    let path: String
    init(_ name: String) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs every `NAME.onnx` of `folder` on `NAME.input` (float32, shape in `NAME.shape`)
/// with onnxruntime (2 threads) after onnx.checker's full check; writes `NAME.output`
/// (the graph's first output). Prints one line per model with the checker's verdict.
func runWithOnnxruntime(_ folder: String, names: [String]) throws -> String {
    let result = try pythonScript("""
        import json, numpy as np, onnx, onnxruntime as ort
        for name in \(String(decoding: try JSONSerialization.data(withJSONObject: names), as: UTF8.self)):
            base = "\(folder)/" + name
            model = onnx.load(base + ".onnx")
            onnx.checker.check_model(model, full_check=True)
            shape = json.load(open(base + ".shape"))
            x = np.fromfile(base + ".input", dtype=np.float32).reshape(shape)
            options = ort.SessionOptions()
            options.intra_op_num_threads = 2
            session = ort.InferenceSession(base + ".onnx", options, providers=["CPUExecutionProvider"])
            out = session.run(None, {"input": x})[0]
            out.astype(np.float32).tofile(base + ".output")
            print(name, "checked", out.shape)
        """, needs: [.onnx, .onnxruntime])
    #expect(result.status == 0, "\(result.output)")
    return result.output
}

@Suite struct FloatExportTests {
    struct Case: Sendable {
        var arch: String
        var input: FeatureShape
        var options: [String: OptionValue] = [:]
    }

    static let fashion = FeatureShape(channels: 1, height: 28, width: 28)
    static func square(_ side: Int) -> FeatureShape { FeatureShape(channels: 3, height: side, width: side) }

    static let cases: [Case] = [
        Case(arch: "mlp", input: fashion), Case(arch: "lenet5", input: fashion), Case(arch: "cnn", input: fashion),
        Case(arch: "vgg-mini", input: fashion), Case(arch: "resnet-8", input: fashion), Case(arch: "resnet-20", input: fashion),
        Case(arch: "alexnet-mini", input: fashion), Case(arch: "inception-mini", input: fashion),
        Case(arch: "resnet18", input: square(64)), Case(arch: "resnet34", input: square(64)), Case(arch: "resnet50", input: square(64)),
        Case(arch: "vgg11_bn", input: square(64)), Case(arch: "vgg16", input: square(64)), Case(arch: "vgg16_bn", input: square(64)),
        // 67: adaptive pooling from 1×1 to 6×6; 75: every ceil-mode pool ends in a partial window.
        Case(arch: "alexnet", input: square(67)), Case(arch: "mobilenet_v2", input: square(96)),
        Case(arch: "efficientnet_b0", input: square(64)), Case(arch: "googlenet", input: square(75)),
        Case(arch: "googlenet", input: square(64), options: ["transform_input": .bool(true)]),
        // A derived DARTS cell with every operation (its nodes' Adds, identity edges, same-padded pools).
        Case(arch: "darts_cell_net", input: fashion, options: [
            "genotype": .list([["sep_conv_3x3@0"], ["conv_5x5@0", "max_pool_3x3@1"], ["conv_3x3@0", "avg_pool_3x3@1", "identity@2"]]
                .map { .list($0.map(OptionValue.string)) }),
            "cells": .int(2), "channels": .int(4)]),
    ]

    /// A seeded network whose batch-norm statistics are random too (fresh ones are 0 and 1).
    static func network(_ c: Case, classes: Int = 10) throws -> Network {
        let arch = try Zoo.architecture(c.arch, options: c.options, input: c.input, classes: classes)
        let network = try Network(architecture: arch, seed: 11)
        var rng = SeededGenerator(seed: 5)
        for (name, tensor) in network.buffers {
            if name.hasSuffix("running_mean") { rng.fillUniform(tensor, -0.2, 0.2) }
            if name.hasSuffix("running_var") { rng.fillUniform(tensor, 0.5, 1.5) }
        }
        return network
    }

    @Test func everyArchitectureMatchesOnnxruntime() throws {
        let folder = try ScratchFolder("onnx-float")
        var names: [String] = []
        var expected: [String: [Float]] = [:]
        for (i, c) in Self.cases.enumerated() {
            let network = try Self.network(c)
            let name = "\(i)-\(c.arch)"
            let shape = [2, c.input.channels, c.input.height, c.input.width]
            let x = Tensor(zeros: shape)
            var rng = SeededGenerator(seed: UInt64(100 + i))
            rng.fillUniform(x, -1, 1)
            expected[name] = try network.forward(x, training: false).values
            var options = ONNXExportOptions()
            options.foldNormalization = false
            let data = try ONNXExporter.export(ExportMember(model: .float(network), normalization: .identity), options: options)
            try data.write(to: URL(fileURLWithPath: "\(folder.path)/\(name).onnx"))
            try RawFloats.write(x.values, to: "\(folder.path)/\(name).input")
            try JSONSerialization.data(withJSONObject: shape).write(to: URL(fileURLWithPath: "\(folder.path)/\(name).shape"))
            names.append(name)
        }
        _ = try runWithOnnxruntime(folder.path, names: names)
        for name in names {
            let got = try RawFloats.read("\(folder.path)/\(name).output"), want = expected[name]!
            #expect(got.count == want.count, "\(name): \(got.count) logits, tlc has \(want.count)")
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= 1e-4, "\(name): onnxruntime's logits differ from tlc's by up to \(worst)")
        }
    }
}
