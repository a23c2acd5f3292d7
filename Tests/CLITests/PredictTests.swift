// `tlc predict`: a run's model on new csv and npy samples, with the run's own
// normalization, checked against numpy computing the same network from the run's
// model.safetensors and its normalization metadata; and bad inputs refused in words.
import Foundation
import Testing
import TestSupport
@testable import TLCCommands

@Suite struct PredictTests {
    func captured(_ arguments: [String]) -> (code: Int32, out: String) {
        let capture = Output.Capture()
        let code = Output.$capture.withValue(capture) { TLC.run(arguments) }
        return (code, capture.text)
    }

    @Test func predictionsAreTheModelsOwnComputedByNumpy() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-predict-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var csv = (0..<12).map { "x\($0)" }.joined(separator: ",") + ",label\n"
        var state: UInt64 = 7
        func next() -> Double { state = state &* 6364136223846793005 &+ 1442695040888963407; return Double(state >> 11) / Double(1 << 53) }
        for r in 0..<150 {
            let c = r % 3
            csv += (0..<12).map { i in String(format: "%.3f", next() * 4 + (i % 3 == c ? 3.0 : 0.0) + 10) }.joined(separator: ",") + ",\(["cat", "dog", "owl"][c])\n"
        }
        try csv.write(toFile: dir + "/animals.csv", atomically: true, encoding: .utf8)
        try """
            tlc: 1
            name: animals
            data: {dataset: csv:animals.csv, classes: [0, 1, 2], input_shape: [3, 2, 2]}
            normalization: {kind: standardize, per: channel}
            backbone: {arch: mlp, options: {widths: [10]}}
            training: {epochs: 3, batch_size: 16}

            """.write(toFile: dir + "/animals.yaml", atomically: true, encoding: .utf8)
        let out = dir + "/Outputs"
        #expect(TLC.run(["run", dir + "/animals.yaml", "--output", out]) == 0)
        // New samples: the csv's first rows without labels, and an npy array of them.
        let rows = csv.split(separator: "\n").dropFirst().prefix(20).map { $0.split(separator: ",").dropLast().joined(separator: ",") }
        try ((0..<12).map { "x\($0)" }.joined(separator: ",") + "\n" + rows.joined(separator: "\n") + "\n")
            .write(toFile: dir + "/new.csv", atomically: true, encoding: .utf8)
        let made = try pythonWithSafetensors("""
        import numpy as np
        rows = np.loadtxt("\(dir)/new.csv", delimiter=",", skiprows=1, dtype=np.float32)
        np.save("\(dir)/new.npy", rows.reshape(-1, 3, 2, 2))
        """)
        try #require(made.status == 0, "\(made.output)")
        let predicted = captured(["predict", "animals@latest", dir + "/new.csv", dir + "/new.npy", "--json", "--logits", "--top", "2", "--output", out])
        try #require(predicted.code == 0, "\(predicted.out)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(predicted.out.utf8)) as? [String: Any])
        #expect(object["classes"] as? [String] == ["cat", "dog", "owl"])
        let predictions = try #require(object["predictions"] as? [[String: Any]])
        #expect(predictions.count == 40)
        let logits = predictions.map { ($0["logits"] as? [Double]) ?? [] }
        #expect(logits.prefix(20).elementsEqual(logits.suffix(20)), "csv and npy inputs give the same logits")
        for p in predictions {
            let top = p["top"] as? [[String: Any]] ?? []
            #expect(top.count == 2)
            let l = p["logits"] as? [Double] ?? []
            #expect(top.first?["index"] as? Int == l.indices.max { l[$0] < l[$1] }, "the top class is the largest logit")
        }
        // numpy computes the run's network from its checkpoint and normalization metadata.
        let run = out + "/animals/latest"
        try JSONSerialization.data(withJSONObject: logits).write(to: URL(fileURLWithPath: dir + "/tlc.json"))
        let check = try pythonWithSafetensors("""
        import json, re, numpy as np
        from safetensors import safe_open
        from safetensors.numpy import load_file
        w = load_file("\(run)/model.safetensors")
        with safe_open("\(run)/model.safetensors", "np") as f:
            meta = f.metadata()
        kind, rest = meta["tlc.normalization"].split(" ", 1)
        shift = np.array(json.loads(re.search(r"shift=(\\[[^\\]]*\\])", rest).group(1)), np.float64)
        scale = np.array(json.loads(re.search(r"scale=(\\[[^\\]]*\\])", rest).group(1)), np.float64)
        x = np.loadtxt("\(dir)/new.csv", delimiter=",", skiprows=1).reshape(-1, 3, 4)
        x = ((x - shift[None, :, None]) / scale[None, :, None]).reshape(-1, 12)
        h = np.maximum(x @ w["fc1.weight"].T.astype(np.float64) + w["fc1.bias"], 0)
        ref = h @ w["head.output.weight"].T.astype(np.float64) + w["head.output.bias"]
        got = np.array(json.load(open("\(dir)/tlc.json")))[:20]
        err = np.abs(got - ref).max()
        assert err < 1e-4, err
        print("max abs difference", err)
        """)
        #expect(check.status == 0 && check.output.contains("max abs difference"), "\(check.output)")
    }

    @Test func variantsPredictToo() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-predict-var-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var csv = (0..<8).map { "x\($0)" }.joined(separator: ",") + ",label\n"
        for r in 0..<120 { csv += (0..<8).map { i in String(format: "%.2f", Double((r * 7 + i * 13) % 17) / 4 + (i % 2 == r % 2 ? 2 : 0)) }.joined(separator: ",") + ",\(r % 2)\n" }
        try csv.write(toFile: dir + "/d.csv", atomically: true, encoding: .utf8)
        for (name, steps) in [("deep", "[{prune: {sparsity: 0.7}}, {share: {bits: 3}}, {encode: {}}]"), ("eight", "[{quantize: {calibration_batches: 2}}]")] {
            try """
                tlc: 1
                name: \(name)
                data: {dataset: csv:d.csv, classes: [0, 1], input_shape: [2, 2, 2]}
                backbone: {arch: mlp, options: {widths: [16]}}
                training: {epochs: 2, batch_size: 16}
                compression: \(steps)

                """.write(toFile: dir + "/\(name).yaml", atomically: true, encoding: .utf8)
            #expect(TLC.run(["run", dir + "/\(name).yaml", "--output", dir + "/Outputs"]) == 0)
        }
        func logits(_ run: String, _ variant: String?) throws -> [[Double]] {
            let r = captured(["predict", run, dir + "/d.csv", "--json", "--logits", "--output", dir + "/Outputs"] + (variant.map { ["--variant", $0] } ?? []))
            try #require(r.code == 0, "\(run) \(variant ?? "baseline"): \(r.out)")
            let o = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
            return (o?["predictions"] as? [[String: Any]] ?? []).map { $0["logits"] as? [Double] ?? [] }
        }
        // The Deep Compression file decodes to the shared model exactly.
        let shared = try logits("deep@latest", "shared"), compressed = try logits("deep@latest", "compressed")
        #expect(shared.count == 120 && shared == compressed)
        #expect(try logits("deep@latest", nil) != shared, "the baseline is another model")
        // The int8 model predicts through its integer path, close to the float one.
        let float = try logits("eight@latest", nil), int8 = try logits("eight@latest", "int8")
        let agree = zip(float, int8).filter { a, b in a.indices.max { a[$0] < a[$1] } == b.indices.max { b[$0] < b[$1] } }.count
        #expect(int8.count == 120 && agree >= 110, "\(agree) of 120 agree")
        #expect(captured(["predict", "deep@latest", dir + "/d.csv", "--variant", "int8", "--output", dir + "/Outputs"]).code == 2)
    }

    @Test func imagesGoThroughTheRunsOwnPreprocessingAsTorchvisionDoes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-predict-img-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let made = try pythonScript("import sys; sys.argv = ['', '\(dir)']\n" + ImageFolderRunTests.writer, needs: [.pillow])
        try #require(made.status == 0, "\(made.output)")
        try """
            tlc: 1
            name: pics
            seed: 3
            data: {dataset: folder:photos, image_size: 12, resize: 14, test_fraction: 0.25}
            normalization: {kind: imagenet}
            backbone: {arch: mlp, options: {widths: [16]}}
            training: {epochs: 2, batch_size: 8}

            """.write(toFile: dir + "/pics.yaml", atomically: true, encoding: .utf8)
        let out = dir + "/Outputs"
        #expect(TLC.run(["run", dir + "/pics.yaml", "--output", out]) == 0)
        // A folder of images: every readable one is predicted; a broken one stops the command in words.
        let r = captured(["predict", "pics@latest", dir + "/photos/cat", dir + "/photos/emu/00.jpg", "--json", "--logits", "--output", out])
        try #require(r.code == 0, "\(r.out)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let predictions = try #require(object["predictions"] as? [[String: Any]])
        #expect(object["classes"] as? [String] == ["cat", "dog", "emu"])
        #expect(predictions.count == 13)   // 12 images of cat (notes.txt is not an image) and one emu
        #expect(captured(["predict", "pics@latest", dir + "/photos/dog/broken.jpg", "--output", out]).code == 2)
        // PIL and torchvision's transforms, then numpy's forward pass, give the same logits.
        try JSONSerialization.data(withJSONObject: predictions.map { ["input": $0["input"]!, "logits": $0["logits"]!] })
            .write(to: URL(fileURLWithPath: dir + "/tlc.json"))
        let check = try pythonScript("""
        import json, numpy as np, torch
        from PIL import Image
        from torchvision import transforms as T
        from safetensors.numpy import load_file
        w = load_file("\(out)/pics/latest/model.safetensors")
        prep = T.Compose([T.Resize(14), T.CenterCrop(12), T.ToTensor(),
                          T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
        worst = 0.0
        for p in json.load(open("\(dir)/tlc.json")):
            x = prep(Image.open(p["input"]).convert("RGB")).numpy().astype(np.float64).reshape(-1)
            h = np.maximum(w["fc1.weight"].astype(np.float64) @ x + w["fc1.bias"], 0)
            ref = w["head.output.weight"].astype(np.float64) @ h + w["head.output.bias"]
            worst = max(worst, float(np.abs(np.array(p["logits"]) - ref).max()))
        assert worst < 1e-4, worst
        print("max abs difference", worst)
        """, needs: [.torch, .torchvision, .pillow])
        #expect(check.status == 0 && check.output.contains("max abs difference"), "\(check.output)")
    }

    @Test func badInputsAreRefusedInWords() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-predict-bad-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/Outputs"
        try TestSpecs.tinySweep(name: "predsweep").write(toFile: dir + "/predsweep.yaml", atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", dir + "/predsweep.yaml", "--output", out]) == 0)
        try "a,b\n1,2\n".write(toFile: dir + "/narrow.csv", atomically: true, encoding: .utf8)
        try "nothing".write(toFile: dir + "/x.txt", atomically: true, encoding: .utf8)
        for args in [["predsweep@latest", dir + "/narrow.csv"],       // a sweep, not a model
                     ["nothere@latest", dir + "/narrow.csv"]] {        // no such run
            #expect(captured(["predict"] + args + ["--output", out]).code == 2, "\(args)")
        }
        let point = try #require(FileManager.default.contentsOfDirectory(atPath: out + "/predsweep/latest").first { $0.contains("=") })
        for input in [dir + "/narrow.csv", dir + "/x.txt", dir + "/missing.npy"] {
            #expect(captured(["predict", "predsweep/\(point)", input, "--output", out]).code == 2, "\(input)")
        }
    }
}
