// `tlc predict`: a run's model on new csv and npy samples, with the run's own
// normalization, checked against numpy computing the same network from the run's
// model.safetensors and its normalization metadata; the same model named by a
// checkpoint file or by its experiment file; and bad inputs refused in words.
import Foundation
import Testing
import TestSupport
import Runtime
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

    /// The model of a run, named by its checkpoint copied elsewhere (with its
    /// architecture.json beside it or given by --architecture) or by its experiment
    /// file, predicts exactly as the run does; what is missing is said in words.
    @Test func checkpointsAndExperimentFilesNameTheSameModel() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-predict-ckpt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/copy", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var csv = (0..<6).map { "x\($0)" }.joined(separator: ",") + ",label\n"
        for r in 0..<90 { csv += (0..<6).map { i in String(format: "%.2f", Double((r * 7 + i * 13) % 17) / 4 + (i % 3 == r % 3 ? 3 : 0)) }.joined(separator: ",") + ",\(["ant", "bee", "cow"][r % 3])\n" }
        try csv.write(toFile: dir + "/bugs.csv", atomically: true, encoding: .utf8)
        try """
            tlc: 1
            name: bugs
            data: {dataset: csv:bugs.csv, classes: [0, 1, 2], input_shape: [1, 2, 3]}
            normalization: {kind: standardize}
            backbone: {arch: mlp, options: {widths: [8]}}
            training: {epochs: 2, batch_size: 16}

            """.write(toFile: dir + "/bugs.yaml", atomically: true, encoding: .utf8)
        let out = dir + "/Outputs"
        func predicted(_ model: String, _ extra: [String] = []) throws -> (classes: [String], logits: [[Double]], object: [String: Any]) {
            let r = captured(["predict", model, dir + "/bugs.csv", "--json", "--logits", "--output", out] + extra)
            try #require(r.code == 0, "\(model): \(r.out)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
            return (object["classes"] as? [String] ?? [], (object["predictions"] as? [[String: Any]] ?? []).map { $0["logits"] as? [Double] ?? [] }, object)
        }
        // No run yet: the experiment file says how to make one.
        #expect(captured(["predict", dir + "/bugs.yaml", dir + "/bugs.csv", "--output", out]).code == 2)
        #expect(TLC.run(["run", dir + "/bugs.yaml", "--output", out]) == 0)
        let run = try predicted("bugs@latest")
        #expect(run.classes == ["ant", "bee", "cow"] && run.logits.count == 90)
        let spec = try predicted(dir + "/bugs.yaml")
        #expect(spec.logits == run.logits && spec.object["run"] as? String == run.object["run"] as? String)

        // The checkpoint alone: it needs its architecture.json, and names it.
        let runDir = out + "/bugs/" + (try FileManager.default.destinationOfSymbolicLink(atPath: out + "/bugs/latest"))
        try FileManager.default.copyItem(atPath: runDir + "/model.safetensors", toPath: dir + "/copy/bugs.safetensors")
        #expect(captured(["predict", dir + "/copy/bugs.safetensors", dir + "/bugs.csv"]).code == 2)
        #expect(throws: PredictionError.self) { try Prediction.load(checkpoint: dir + "/copy/bugs.safetensors") }
        do { _ = try Prediction.load(checkpoint: dir + "/copy/bugs.safetensors") } catch {
            #expect("\(error)".contains("architecture.json") && "\(error)".contains("--architecture"), "\(error)")
        }
        let given = try predicted(dir + "/copy/bugs.safetensors", ["--architecture", runDir + "/architecture.json"])
        #expect(given.logits == run.logits, "the same weights, normalization and network")
        #expect(given.classes == ["ant", "bee", "cow"], "class names from the checkpoint's metadata")
        #expect(given.object["checkpoint"] as? String == dir + "/copy/bugs.safetensors")
        try FileManager.default.copyItem(atPath: runDir + "/architecture.json", toPath: dir + "/copy/bugs.architecture.json")
        #expect(try predicted(dir + "/copy/bugs.safetensors").logits == run.logits)

        // Bad checkpoints, architectures and combinations: exit code 2, a sentence each.
        try "not safetensors".write(toFile: dir + "/copy/junk.safetensors", atomically: true, encoding: .utf8)
        try "{}".write(toFile: dir + "/copy/wrong.json", atomically: true, encoding: .utf8)
        for (args, words) in [([dir + "/copy/junk.safetensors", "--architecture", runDir + "/architecture.json"], "safetensors"),
                              ([dir + "/copy/missing.safetensors"], "no such checkpoint"),
                              ([dir + "/copy/bugs.safetensors", "--architecture", dir + "/copy/nothere.json"], "no such file"),
                              ([dir + "/copy/bugs.safetensors", "--architecture", dir + "/copy/wrong.json"], "not an architecture.json")] {
            #expect(captured(["predict"] + args + [dir + "/bugs.csv"]).code == 2, "\(args)")
            let architecture = args.count > 2 ? args[2] : nil
            do { _ = try Prediction.load(checkpoint: args[0], architecture: architecture); Issue.record("\(args) loaded") } catch {
                #expect("\(error)".contains(words), "\(args): \(error)")
            }
        }
        for args in [["bugs@latest", dir + "/bugs.csv", "--architecture", runDir + "/architecture.json"],   // a run has its own
                     [dir + "/copy/bugs.safetensors", dir + "/bugs.csv", "--variant", "int8"],                // a variant is a file
                     [dir + "/nothere.yaml", dir + "/bugs.csv"],
                     [dir + "/bugs.yaml/lr=1", dir + "/bugs.csv"]] {                                           // not a sweep
            #expect(captured(["predict"] + args + ["--output", out]).code == 2, "\(args)")
        }
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
        #expect(captured(["predict", dir + "/predsweep.yaml", dir + "/narrow.csv", "--output", out]).code == 2)   // a sweep
        let point = try #require(FileManager.default.contentsOfDirectory(atPath: out + "/predsweep/latest").first { $0.contains("=") })
        #expect(captured(["predict", dir + "/predsweep.yaml/nothere", dir + "/narrow.csv", "--output", out]).code == 2)
        let wide = (0..<784).map { "x\($0)" }.joined(separator: ",") + "\n" + Array(repeating: "0", count: 784).joined(separator: ",") + "\n"
        try wide.write(toFile: dir + "/wide.csv", atomically: true, encoding: .utf8)
        #expect(captured(["predict", dir + "/predsweep.yaml/\(point)", dir + "/wide.csv", "--output", out]).code == 0)
        for input in [dir + "/narrow.csv", dir + "/x.txt", dir + "/missing.npy"] {
            #expect(captured(["predict", "predsweep/\(point)", input, "--output", out]).code == 2, "\(input)")
        }
    }
}
