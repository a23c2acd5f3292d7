// `tlc export` on a real run: LeNet-5 on Fashion-MNIST with an int8 variant and a
// two-seed ensemble, each exported to ONNX and run by onnxruntime on the whole
// Fashion-MNIST test set as raw pixels 0–255 (the normalization folded in):
// the float model's logits within 1e-4 of tlc's, the int8 model's predictions the
// same as tlc's integer path on at least 99.9 % of the images with its accuracy
// within 0.1 point, the ensemble's probabilities tlc's. Also: the metadata, the
// dynamic batch, `--no-normalization`, and bad requests refused in one line.
import Engine
import Foundation
import Testing
import TestSupport
@testable import Runtime
@testable import TLCCommands

@Suite struct ExportTests {
    func captured(_ arguments: [String]) -> (code: Int32, out: String) {
        let capture = Output.Capture()
        let code = Output.$capture.withValue(capture) { TLC.run(arguments) }
        return (code, capture.text)
    }

    static func argmax(_ row: ArraySlice<Float>) -> Int { row.indices.max { row[$0] < row[$1] }! - row.startIndex }

    @Test func exportedModelsAreTheRunsModelsInOnnxruntime() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-export-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            tlc: 1
            name: lenet-export
            seed: 3
            data: {dataset: fashion-mnist, train_per_class: 100, validation: 0.1}
            normalization: {kind: standardize, per: channel}
            backbone: {arch: lenet5}
            training: {epochs: 2, batch_size: 32}
            compression:
              - quantize: {bits: 8, weights: per_channel, calibration_batches: 4}
            ensemble: {members: 2, method: mean_probs}

            """.write(toFile: dir + "/lenet.yaml", atomically: true, encoding: .utf8)
        let out = dir + "/Outputs"
        try #require(TLC.run(["run", dir + "/lenet.yaml", "--output", out]) == 0)
        for (variant, file) in [(nil, "float"), ("int8", "int8"), ("ensemble", "ensemble")] as [(String?, String)] {
            let made = captured(["export", "lenet-export@latest", "--format", "onnx", "--output", "\(dir)/\(file).onnx", "--root", out]
                                + (variant.map { ["--variant", $0] } ?? []))
            try #require(made.code == 0, "\(made.out)")
            #expect(made.out.contains("wrote \(dir)/\(file).onnx"), "\(made.out)")
        }
        #expect(captured(["export", "lenet-export@latest", "--no-normalization", "--output", "\(dir)/normalized.onnx", "--root", out]).code == 0)

        // tlc's own outputs on the test set, from exactly the inputs the run evaluates.
        let record = try RunStore(outputRoot: out).resolve("lenet-export@latest")
        let base = try Prediction.load(record), int8 = try Prediction.load(record, variant: "int8")
        let ensemble = try Prediction.ensemble(record, outputRoot: out)
        let test = try FashionMNIST.load().test
        let normalized = try base.normalization.apply(to: test)
        let x = Tensor(zeros: [test.count, 1, 28, 28]), xn = Tensor(zeros: [test.count, 1, 28, 28])
        x.pointer.update(from: test.features.map { ($0 * 255).rounded() }, count: x.count)
        xn.pointer.update(from: normalized.features, count: xn.count)
        let floatLogits = try base.model.scores(xn).values
        let int8Logits = try int8.model.scores(xn).values
        let ensembleProbabilities = try InferenceModel.ensemble(ensemble).probabilities(xn).values
        try RawFloats.write(x.values, to: dir + "/pixels.input")
        try RawFloats.write(xn.values, to: dir + "/normalized.input")

        let python = try pythonScript("""
            import json, numpy as np, onnx, onnxruntime as ort
            d = "\(dir)"
            pixels = np.fromfile(d + "/pixels.input", dtype=np.float32).reshape(-1, 1, 28, 28)
            normalized = np.fromfile(d + "/normalized.input", dtype=np.float32).reshape(-1, 1, 28, 28)
            options = ort.SessionOptions()
            options.intra_op_num_threads = 2
            info = {}
            for name, x in [("float", pixels), ("int8", pixels), ("ensemble", pixels), ("normalized", normalized)]:
                model = onnx.load(d + "/" + name + ".onnx")
                onnx.checker.check_model(model, full_check=True)
                s = ort.InferenceSession(d + "/" + name + ".onnx", options, providers=["CPUExecutionProvider"])
                s.run(None, {"input": x})[0].astype(np.float32).tofile(d + "/" + name + ".output")
                one = s.run(None, {"input": x[:1]})[0]
                info[name] = {"metadata": {p.key: p.value for p in model.metadata_props},
                              "inputs": [(i.name, [dim.dim_param or dim.dim_value for dim in i.type.tensor_type.shape.dim]) for i in model.graph.input],
                              "outputs": [o.name for o in model.graph.output], "batch_of_one": list(one.shape),
                              "ops": sorted({n.op_type for n in model.graph.node})}
            print(json.dumps(info))
            """, needs: [.onnx, .onnxruntime])
        try #require(python.status == 0, "\(python.output)")
        let info = try #require(try JSONSerialization.jsonObject(with: Data((python.output.split(separator: "\n").last ?? "").utf8)) as? [String: [String: Any]])

        // Float: the same logits.
        let float = try RawFloats.read(dir + "/float.output")
        try #require(float.count == floatLogits.count)
        let worst = zip(float, floatLogits).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-4, "float logits differ by up to \(worst)")
        let normalizedOut = try RawFloats.read(dir + "/normalized.output")
        #expect(zip(normalizedOut, floatLogits).map { abs($0 - $1) }.max()! <= 1e-4, "--no-normalization takes normalized inputs")

        // int8: the integer path's predictions and accuracy.
        let q = try RawFloats.read(dir + "/int8.output")
        try #require(q.count == int8Logits.count)
        var agree = 0, onnxCorrect = 0, tlcCorrect = 0
        for i in 0..<test.count {
            let a = Self.argmax(q[(i * 10)..<(i * 10 + 10)]), b = Self.argmax(int8Logits[(i * 10)..<(i * 10 + 10)])
            if a == b { agree += 1 }
            if a == test.labels[i] { onnxCorrect += 1 }
            if b == test.labels[i] { tlcCorrect += 1 }
        }
        let agreement = Double(agree) / Double(test.count)
        print("tlc export int8: onnxruntime agrees with tlc's integer path on \(agree) of \(test.count) test images; accuracy \(onnxCorrect) vs \(tlcCorrect)")
        #expect(agreement >= 0.999, "int8 predictions agree on \(agreement * 100) %")
        #expect(abs(onnxCorrect - tlcCorrect) <= test.count / 1000, "int8 accuracy \(onnxCorrect) vs tlc's \(tlcCorrect) of \(test.count)")
        #expect((info["int8"]?["ops"] as? [String] ?? []).contains("ConvInteger"), "\(info["int8"] ?? [:])")
        #expect((info["int8"]?["ops"] as? [String] ?? []).contains("MatMulInteger"))

        // Ensemble: one graph, tlc's combined probabilities.
        let e = try RawFloats.read(dir + "/ensemble.output")
        try #require(e.count == ensembleProbabilities.count)
        #expect(zip(e, ensembleProbabilities).map { abs($0 - $1) }.max()! <= 1e-5)
        #expect(info["ensemble"]?["outputs"] as? [String] == ["probabilities"])

        // Names, the dynamic batch and the run's metadata.
        let floatInfo = try #require(info["float"])
        #expect(floatInfo["outputs"] as? [String] == ["logits", "probabilities"])
        #expect("\(floatInfo["inputs"] ?? "")".contains("batch"), "\(floatInfo["inputs"] ?? "")")
        #expect(floatInfo["batch_of_one"] as? [Int] == [1, 10])
        let metadata = try #require(floatInfo["metadata"] as? [String: String])
        #expect(metadata["tlc.experiment"] == "lenet-export")
        #expect(metadata["tlc.run"] == record.id)
        #expect(metadata["tlc.classes"]?.contains("Ankle boot") == true)
        #expect(metadata["tlc.normalization"]?.hasPrefix("standardize shift=") == true)
        #expect(metadata["tlc.input"]?.contains("0-255") == true)
        #expect((info["int8"]?["metadata"] as? [String: String])?["tlc.variant"] == "int8")

        // Bad requests: one line, exit 2, nothing written.
        for (arguments, phrase) in [
            (["export", "lenet-export@latest", "--variant", "pruned", "--output", dir + "/x.onnx", "--root", out], "no variant 'pruned'"),
            (["export", "lenet-export@latest", "--format", "tflite", "--output", dir + "/x.onnx", "--root", out], "not a format"),
            (["export", "nothing@latest", "--output", dir + "/x.onnx", "--root", out], "nothing"),
            (["export", "lenet-export@latest", "--output", dir + "/missing/folder/x.onnx", "--root", out], "cannot write"),
        ] {
            let r = Shell.run(TLCBinary.path, arguments)
            #expect(r.status == 2, "\(arguments): \(r.err)")
            #expect(r.err.contains(phrase), "\(arguments): \(r.err)")
            #expect(!r.err.contains("Error Domain") && r.err.split(separator: "\n").count <= 3, "\(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/x.onnx"))
    }
}
