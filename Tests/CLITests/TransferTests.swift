// Transfer learning end to end: a backbone exported from PyTorch (names and layouts
// of its state_dict, written by Python's safetensors and numpy) loads by name, stays
// bit-for-bit unchanged when frozen (batch norm included), and every way a file can
// fail to match is a located error at validate time. Fine-tuning with gradual
// unfreezing, L2-SP and EWC runs through `tlc run` and reports the source task.
import Foundation
import Testing
import Engine
import FrontEnd
import ModelZoo
import TestSupport
@testable import TLCCommands

@Suite(.serialized) struct TransferTests {
    static let options = "{blocks: [[4]], fc: [8]}"

    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-transfer-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The backbone tensors of the small vgg the tests use, as PyTorch would name them.
    func expectedTensors() throws -> [StateTensor] {
        try Zoo.architecture("vgg", options: ["blocks": .list([.list([.int(4)])]), "fc": .list([.int(8)])],
                             classes: 2).analyze().stateTensors(backboneOnly: true)
    }

    /// Writes `path` from Python: every expected tensor (float32, seeded), then `edits`
    /// (Python statements over the dict `t`), plus what PyTorch adds (num_batches_tracked, a classifier).
    func writeCheckpoint(_ path: String, edits: String = "") throws {
        let spec = try expectedTensors().map { "(\"\($0.name)\", \($0.shape))" }.joined(separator: ", ")
        let script = """
            import numpy as np
            from safetensors.numpy import save_file
            rng = np.random.default_rng(0)
            t = {}
            for name, shape in [\(spec)]:
                t[name] = rng.standard_normal(shape).astype(np.float32) * 0.3
                if name.endswith("running_var"): t[name] = np.abs(t[name]) + 0.5
            t["block1.bn1.num_batches_tracked"] = np.array(937, dtype=np.int64)
            t["classifier.weight"] = np.zeros((3, 8), dtype=np.float32)
            \(edits)
            save_file(t, "\(path)", metadata={"format": "pt"})
            print("written")
            """
        let r = try pythonWithSafetensors(script)
        try #require(r.status == 0, "python: \(r.output)")
    }

    func spec(weights: String, name: String = "fromtorch", extra: String = "") -> String {
        """
        tlc: 1
        name: \(name)
        seed: 5
        data: {classes: [0, 1], train_per_class: 60, test_per_class: 30}
        backbone:
          arch: vgg
          options: \(Self.options)
          weights: \(weights)
          freeze: all
        training: {epochs: 1, batch_size: 16}
        \(extra)
        """
    }

    @Test func pytorchCheckpointLoadsByNameAndFrozenBackboneStaysBitwiseEqual() throws {
        let dir = try scratch()
        try writeCheckpoint(dir + "/pretrained.safetensors")
        let file = dir + "/fromtorch.yaml", out = dir + "/Outputs"
        try spec(weights: "file:pretrained.safetensors").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(TLC.run(["validate", file]) == 0)
        #expect(TLC.run(["run", file, "--output", out]) == 0)
        let runDir = out + "/fromtorch/" + (try FileManager.default.destinationOfSymbolicLink(atPath: out + "/fromtorch/latest"))
        // Python compares our checkpoint with its own file: the frozen backbone, batch-norm
        // running statistics included, is unchanged bit for bit.
        let names = try expectedTensors().map { "\"\($0.name)\"" }.joined(separator: ", ")
        let check = try pythonWithSafetensors("""
            import numpy as np
            from safetensors.numpy import load_file
            ours = load_file("\(runDir)/model.safetensors"); theirs = load_file("\(dir)/pretrained.safetensors")
            bad = [n for n in [\(names)] if n not in ours or ours[n].dtype != np.float32 or not np.array_equal(ours[n], theirs[n])]
            print("OK" if not bad else "DIFFER " + ",".join(bad))
            """)
        #expect(check.output.contains("OK"), "\(check.output)")
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runDir + "/metrics.json"))) as! [String: Double]
        #expect(metrics["model.frozen_params"]! > 0 && metrics["model.trainable_params"]! < metrics["model.params"]!)
        #expect(metrics["time.features_seconds"] != nil, "a frozen backbone's features are computed once")
    }

    @Test func aFrozenPrefixRunsOnceAndTheRestTrainsOnItsOutputs() throws {
        let dir = try scratch()
        try writeCheckpoint(dir + "/pretrained.safetensors")
        let file = dir + "/prefix.yaml", out = dir + "/Outputs"
        try spec(weights: "file:pretrained.safetensors", name: "prefix").replacingOccurrences(of: "freeze: all", with: "freeze: {up_to: block1}")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let (_, plan) = try SpecOptions.parse([]).plan(file)
        let features = try #require(plan.stages.first { $0.kind == .features })
        #expect(features.summary.contains("up to flatten"), "the cut takes the parameter-free flatten too: \(features.summary)")
        #expect(TLC.run(["run", file, "--output", out]) == 0)
        let runDir = out + "/prefix/" + (try FileManager.default.destinationOfSymbolicLink(atPath: out + "/prefix/latest"))
        let check = try pythonWithSafetensors("""
            import numpy as np
            from safetensors.numpy import load_file
            ours = load_file("\(runDir)/model.safetensors"); theirs = load_file("\(dir)/pretrained.safetensors")
            frozen = [n for n in theirs if n.startswith("block1.") and not n.endswith("num_batches_tracked")]
            same = all(np.array_equal(ours[n], theirs[n]) for n in frozen)
            moved = not np.array_equal(ours["fc1.weight"], theirs["fc1.weight"])
            print("OK" if same and moved and len(frozen) == 6 else "BAD", len(frozen), same, moved)
            """)
        #expect(check.output.contains("OK"), "\(check.output)")
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runDir + "/metrics.json"))) as! [String: Double]
        #expect(metrics["time.features_seconds"] != nil)
        // The same training without the cached prefix (an unfreeze step turns the cache off;
        // the head it names was never frozen): the same model, up to rounding.
        let plain = dir + "/plain.yaml"
        try spec(weights: "file:pretrained.safetensors", name: "plain").replacingOccurrences(of: "freeze: all", with: "freeze: {up_to: block1}")
            .replacingOccurrences(of: "training: {epochs: 1, batch_size: 16}", with: "training: {epochs: 1, batch_size: 16, unfreeze: [{epoch: 1, layers: [head]}]}")
            .write(toFile: plain, atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", plain, "--output", out]) == 0)
        let plainDir = out + "/plain/" + (try FileManager.default.destinationOfSymbolicLink(atPath: out + "/plain/latest"))
        let other = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: plainDir + "/metrics.json"))) as! [String: Double]
        #expect(other["time.features_seconds"] == nil)
        #expect(abs(other["test.loss"]! - metrics["test.loss"]!) < 1e-4 && abs(other["train.loss"]! - metrics["train.loss"]!) < 1e-4, "\(other) vs \(metrics)")
    }

    /// The diagnostics `tlc validate` gives for `file` (empty when it loads).
    func diagnostics(_ file: String) -> [Diagnostic] {
        do { _ = try ExperimentLoader().load(path: file); return [] } catch { return error.diagnostics }
    }

    @Test func mismatchedCheckpointsAreLocatedErrors() throws {
        let dir = try scratch()
        try writeCheckpoint(dir + "/bad.safetensors", edits: """
            t["block1.conv1.weight"] = np.zeros((4, 1, 5, 5), dtype=np.float32)
            del t["fc1.bias"]
            t["block1.bn1.running_var"] = np.ones(4, dtype=np.int32)
            """)
        let file = dir + "/bad.yaml"
        try spec(weights: "file:bad.safetensors").write(toFile: file, atomically: true, encoding: .utf8)
        let found = diagnostics(file)
        let error = try #require(found.first { $0.message.contains("does not match the vgg backbone") }, "\(found)")
        #expect(error.location?.line == 8 && error.location?.column == 12, "at backbone.weights: \(String(describing: error.location))")
        #expect(error.message.contains("3 problems"))
        let notes = error.notes.joined(separator: "\n")
        #expect(notes.contains("missing 'fc1.bias' [8]"))
        #expect(notes.contains("'block1.conv1.weight' is [4, 1, 5, 5] in the file but vgg needs [4, 1, 3, 3]"))
        #expect(notes.contains("'block1.bn1.running_var' is I32"))
        #expect(notes.contains("classifier.weight"), "unused tensors are named")
        #expect(TLC.run(["validate", file]) == 2)

        // Truncated: the header promises more data than the file holds.
        try writeCheckpoint(dir + "/good.safetensors")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/good.safetensors"))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: dir + "/cut.safetensors"))
        try spec(weights: "file:cut.safetensors").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(diagnostics(file).contains { $0.message.contains("truncated") && $0.location?.line == 8 })
        // Not a safetensors file at all.
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: dir + "/text.safetensors"))
        try spec(weights: "file:text.safetensors").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(diagnostics(file).contains { $0.message.contains("not a safetensors file") })
        // Missing file; and EWC, which needs a source task's data, with a file.
        try spec(weights: "file:nothere.safetensors", extra: "").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(diagnostics(file).contains { $0.message.contains("does not exist") })
        try spec(weights: "file:good.safetensors", extra: "training: {epochs: 1, regularization: {ewc: 10}}")
            .replacingOccurrences(of: "training: {epochs: 1, batch_size: 16}\n", with: "")
            .write(toFile: file, atomically: true, encoding: .utf8)
        #expect(diagnostics(file).contains { $0.message.contains("EWC estimates the Fisher information") })
    }

    @Test func fineTuningWithUnfreezingL2SPAndEWCReportsTheSourceTask() throws {
        let dir = try scratch(), out = dir + "/Outputs"
        try """
            tlc: 1
            name: src
            seed: 2
            data: {classes: [0, 1, 2], train_per_class: 60, test_per_class: 30}
            backbone: {arch: vgg, options: \(Self.options)}
            training: {epochs: 2, batch_size: 16}

            """.write(toFile: dir + "/src.yaml", atomically: true, encoding: .utf8)
        let target = dir + "/tgt.yaml"
        try """
            tlc: 1
            name: tgt
            seed: 3
            data: {classes: [5, 7], train_per_class: 40, test_per_class: 30, validation: 0.2}
            backbone: {arch: vgg, options: \(Self.options), weights: run:src, freeze: {up_to: block1}}
            head: {layers: [{dense: 8}, relu]}
            optimizer: {lr: 1e-3, groups: {backbone: {lr: 1e-4}}}
            training:
              epochs: 3
              batch_size: 16
              unfreeze: [{epoch: 2, layers: [block1]}]
              regularization: {l2sp: 0.01, ewc: 5, fisher_samples: 40}

            """.write(toFile: target, atomically: true, encoding: .utf8)
        #expect(TLC.run(["validate", target]) == 0)
        let (loaded, plan) = try SpecOptions.parse([]).plan(target)
        #expect(loaded.name == "tgt")
        let kinds = plan.stages.map(\.kind)
        #expect(kinds.contains(.fisher) && !kinds.contains(.features))
        #expect(plan.stages.filter { $0.experiment == "src" }.contains { $0.kind == .train }, "the source trains as part of the plan")

        #expect(TLC.run(["run", target, "--output", out]) == 0)
        let runDir = out + "/tgt/" + (try FileManager.default.destinationOfSymbolicLink(atPath: out + "/tgt/latest"))
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runDir + "/metrics.json"))) as! [String: Double]
        let before = try #require(metrics["source.accuracy_before"]), after = try #require(metrics["source.accuracy_after"])
        #expect(before > 0.34 && after >= 0 && abs(metrics["source.forgetting"]! - (before - after)) < 1e-12)
        let history = try String(contentsOfFile: runDir + "/history.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let trainable = history.compactMap { $0["trainable_params"] as? Int }
        #expect(trainable.count == 3 && trainable[1] > trainable[0] && trainable[2] == trainable[1], "block1 unfreezes at epoch 2: \(trainable)")
        #expect(history.allSatisfy { ($0["penalty"] as? Double).map { $0 >= 0 } ?? false })
        let report = try String(contentsOfFile: runDir + "/report.md", encoding: .utf8)
        #expect(report.contains("## Transfer") && report.contains("source task: test accuracy before fine-tuning"))

        // Again: everything comes from the cache, with the same metrics.
        #expect(TLC.run(["run", target, "--output", out]) == 0)
        let again = out + "/tgt/" + (try FileManager.default.destinationOfSymbolicLink(atPath: out + "/tgt/latest"))
        #expect(again != runDir)
        let log = try String(contentsOfFile: again + "/log.txt", encoding: .utf8)
        #expect(log.contains("0 ran"), "\(log.split(separator: "\n").filter { $0.hasPrefix("stages:") })")
        let metrics2 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: again + "/metrics.json"))) as! [String: Double]
        #expect(metrics2.filter { !$0.key.hasPrefix("time.") && !$0.key.hasPrefix("latency.") }
                == metrics.filter { !$0.key.hasPrefix("time.") && !$0.key.hasPrefix("latency.") })
    }
}

@Suite struct ZooDocsTests {
    @Test func pytorchDocsListTheZoosTensors() throws {
        let doc = try String(contentsOfFile: Repo.root + "/docs/pytorch.md", encoding: .utf8)
        let begin = try #require(doc.range(of: "<!-- BEGIN tlc zoo --all-tensors -->\n"))
        let end = try #require(doc.range(of: "<!-- END tlc zoo --all-tensors -->"))
        let generated = ZooCommand.tensorTables(input: nil, classes: 10)
        #expect(String(doc[begin.upperBound..<end.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines)
                == generated.trimmingCharacters(in: .whitespacesAndNewlines),
                "docs/pytorch.md is out of date: regenerate its section with tlc zoo --all-tensors")
        #expect(TLC.run(["zoo"]) == 0 && TLC.run(["zoo", "resnet-8", "--format", "json"]) == 0)
        #expect(TLC.run(["zoo", "resnet-9"]) == 2 && TLC.run(["zoo", "--input", "1x0x3"]) == 2)
    }
}
