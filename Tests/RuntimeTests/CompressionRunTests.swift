// End-to-end `tlc run` of compression and ensembles on a small slice of
// Fashion-MNIST: every variant in metrics.json and compression.md, int8 checkpoints
// that are smaller, seed members with their own seeds, ensembles of other
// experiments whose members come from the cache, nothing retrained on a rerun.
import Foundation
import Testing
@testable import FrontEnd
@testable import Planner
import Jobs
@testable import Runtime

@Suite(.serialized) struct CompressionRunTests {
    func temp() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-compress-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Runs `yaml` (written as `name`) and returns the result and the log lines.
    func run(_ yaml: String, name: String = "e.yaml", in dir: String) throws -> (RunResult, [String]) {
        let file = (dir as NSString).appendingPathComponent(name)
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let loaded = try ExperimentLoader().load(path: file)
        let plan = try PlanBuilder().plan(loaded)
        let lines = LockedLines()
        let r = try LocalRunner.run(plan, options: RunOptions(outputRoot: dir + "/Outputs", jobs: 1)) { lines.append($0) }
        return (r, lines.all)
    }

    final class LockedLines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    }

    static let data = "data: {classes: [0, 1, 7], train_per_class: 100, test_per_class: 50, validation: 0.2}\n"

    static let compressed = """
        tlc: 1
        name: squeeze
        seed: 5
        \(data)backbone: {arch: mlp, options: {widths: [64]}}
        training: {epochs: 2, batch_size: 32}
        compression:
          - prune: {sparsity: 0.8, steps: 2, finetune_epochs: 1}
          - quantize: {calibration_batches: 2, qat_epochs: 1}
          - distill: {teacher: self, student: {arch: mlp, options: {widths: [16]}}, epochs: 2}
        ensemble: {members: 3, method: weighted}

        """

    func variants(_ runDir: String) throws -> [String: [String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: runDir + "/metrics.json"))
        let obj = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try #require(obj["variants"] as? [String: [String: Any]])
    }

    @Test func compressionStepsAndASeedEnsembleRunAndCache() throws {
        let dir = try temp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (r, log) = try run(Self.compressed, in: dir)
        #expect(r.status == "succeeded", "\(r.points.first?.error ?? "")")
        let v = try variants(r.runDir)
        #expect(Set(v.keys) == ["baseline", "pruned", "int8", "distilled", "ensemble"])
        let pruned = try #require(v["pruned"]), int8 = try #require(v["int8"]), base = try #require(v["baseline"])
        #expect(abs((pruned["sparsity"] as! Double) - 0.8) < 0.01)
        // The int8 model keeps the pruned zeros and is about a quarter of the float file.
        #expect((int8["sparsity"] as! Double) >= 0.79)
        #expect(Double(int8["bytes"] as! Int) * 3.5 < Double(base["bytes"] as! Int))
        for name in ["pruned", "int8", "distilled"] {
            #expect(FileManager.default.fileExists(atPath: r.runDir + "/variants/\(name).safetensors"), "\(name)")
            #expect((v[name]?["test.accuracy"] as? Double ?? 0) > 0.6, "\(name)")
        }
        #expect(((v["ensemble"]?["vs_baseline"] as? [String: Any])?["params_ratio"] as? Double) == 3)
        // compression.json: the pruned model's zeros per layer and the ensemble's members.
        let details = try String(contentsOfFile: r.runDir + "/compression.json", encoding: .utf8)
        #expect(details.contains("\"zero_fraction\"") && details.contains("seed member 3"))
        #expect(!FileManager.default.fileExists(atPath: r.runDir + "/compression.md"), "the runtime writes JSON only")
        // Latency: every model measured together after the run, median and range, and how.
        let latency = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: r.runDir + "/latency.json"))) as? [String: Any])
        #expect((latency["method"] as? String)?.contains("interleaved") == true && latency["rounds"] as? Int == 9)
        let timed = try #require(latency["models"] as? [String: [String: Double]])
        #expect(Set(timed.keys) == ["baseline", "pruned", "int8", "distilled", "ensemble"])
        for (name, t) in timed {
            #expect(t["per_batch_ms.min"]! <= t["per_batch_ms.median"]! && t["per_batch_ms.median"]! <= t["per_batch_ms.max"]!, "\(name)")
        }
        let top = try #require(r.points.first?.metrics)
        #expect(abs(top["latency.per_batch_ms"]! - timed["baseline"]!["per_batch_ms.median"]!) < 1e-9)
        let latencyRatio = try #require((int8["vs_baseline"] as? [String: Any])?["latency_ratio"] as? Double)
        #expect(abs(latencyRatio - timed["int8"]!["per_batch_ms.median"]! / timed["baseline"]!["per_batch_ms.median"]!) < 1e-9)
        // Size reads the same way as latency: the variant ÷ the baseline.
        let bytesRatio = try #require((int8["vs_baseline"] as? [String: Any])?["bytes_ratio"] as? Double)
        #expect(bytesRatio < 0.3)
        // Seed members really differ (their own seeds), and the weights were fit.
        #expect(log.contains { $0.contains("weights fit on") })
        #expect(log.filter { $0.hasPrefix("[train]") }.count == 3)
        // QAT ran (after pruning: its zeros survived, see the int8 sparsity) and the int8 model took its ranges.
        #expect(log.contains { $0.contains("QAT epoch 1/1") } && log.contains { $0.contains("activation ranges from quantization-aware training") })
        let accs = try #require(log.first { $0.contains("members' test accuracy") })
        #expect(Set(accs.split(separator: ":")[1].split(separator: ",")).count > 1, "\(accs)")
        // A second run computes nothing.
        let (again, log2) = try run(Self.compressed, in: dir)
        #expect(again.status == "succeeded")
        #expect(log2.contains { $0.hasPrefix("stages: 0 ran") }, "\(log2.filter { $0.hasPrefix("stages") })")
        // Nothing was computed, but latency was measured again (it is never taken from the cache).
        #expect(FileManager.default.fileExists(atPath: again.runDir + "/latency.json"))
        let v2 = try variants(again.runDir)
        for name in v.keys { #expect(v2[name]?["test.accuracy"] as? Double == v[name]?["test.accuracy"] as? Double, "\(name)") }
        #expect(try Data(contentsOf: URL(fileURLWithPath: r.runDir + "/variants/int8.safetensors"))
                == Data(contentsOf: URL(fileURLWithPath: again.runDir + "/variants/int8.safetensors")))
        // Determinism: computed again from nothing, every variant is bitwise the same.
        let other = try temp()
        defer { try? FileManager.default.removeItem(atPath: other) }
        let (fresh, _) = try run(Self.compressed, in: other)
        let v3 = try variants(fresh.runDir)
        for name in v.keys { #expect(v3[name]?["test.accuracy"] as? Double == v[name]?["test.accuracy"] as? Double, "\(name)") }
        for name in ["pruned", "int8", "distilled"] {
            #expect(try Data(contentsOf: URL(fileURLWithPath: r.runDir + "/variants/\(name).safetensors"))
                    == Data(contentsOf: URL(fileURLWithPath: fresh.runDir + "/variants/\(name).safetensors")), "\(name)")
        }
        // verify re-runs the recorded plan and checks every variant's checkpoint too.
        let record = try RunStore(outputRoot: other + "/Outputs").resolve(fresh.runDir)
        let ok = try Verify.verify(record, scratch: try temp()) { _ in }
        #expect(ok.passed && ok.comparedModels == 4, "\(ok.differences)")
        let int8File = fresh.runDir + "/variants/int8.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: int8File))
        bytes[bytes.count - 1] ^= 1
        try bytes.write(to: URL(fileURLWithPath: int8File))
        let bad = try Verify.verify(record, scratch: try temp()) { _ in }
        #expect(bad.differences.count == 1 && bad.differences[0].hasPrefix("variants/int8.safetensors: bytes differ"), "\(bad.differences)")
    }

    @Test func anEnsembleOfOtherExperimentsTakesItsMembersFromTheCache() throws {
        let dir = try temp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, width) in [("member-a", 32), ("member-b", 48)] {
            let spec = "tlc: 1\nname: \(name)\nseed: 3\n\(Self.data)backbone: {arch: mlp, options: {widths: [\(width)]}}\ntraining: {epochs: 2, batch_size: 32}\n"
            let (r, _) = try run(spec, name: name + ".yaml", in: dir)
            #expect(r.status == "succeeded")
        }
        // Same data and model as member-a, so its own baseline is cached too.
        let ensemble = """
            tlc: 1
            name: duo
            seed: 3
            \(Self.data)backbone: {arch: mlp, options: {widths: [32]}}
            training: {epochs: 2, batch_size: 32}
            ensemble: {members: [member-a, "run:member-b"], method: mean_probs}

            """
        let (r, log) = try run(ensemble, name: "duo.yaml", in: dir)
        #expect(r.status == "succeeded", "\(r.points.first?.error ?? "")")
        #expect(!log.contains { $0.contains(" epoch ") }, "something was trained: \(log.filter { $0.contains(" epoch ") })")
        let v = try variants(r.runDir)
        let ens = try #require(v["ensemble"]?["test.accuracy"] as? Double)
        #expect(ens > 0.6)
        let details = try String(contentsOfFile: r.runDir + "/compression.json", encoding: .utf8)
        #expect(details.contains("\"mean_probs\"") && details.contains("\"member-a\"") && details.contains("\"run:member-b\""))
    }

    /// A sweep, then ensembles over its points (named by label, and the top 2 by the
    /// target): the members are the sweep's trained models, taken from the cache.
    @Test func ensemblesOfSweepPointsTakeTheirMembersFromTheCache() throws {
        let dir = try temp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sweep = """
            tlc: 1
            name: lrs
            seed: 3
            \(Self.data)backbone: {arch: mlp, options: {widths: [32]}}
            training: {epochs: 2, batch_size: 32}
            sweep:
              grid:
                optimizer.lr: [0.01, 0.003, 0.0003]

            """
        let (first, firstLog) = try run(sweep, name: "lrs.yaml", in: dir)
        #expect(first.status == "succeeded", "\(first.points.map { $0.error ?? "" })")
        #expect(first.points.map(\.label) == ["lr=0.01", "lr=3e-3", "lr=3e-4"])
        #expect(firstLog.filter { $0.hasPrefix("[train]") }.count == 3)
        let accuracy = Dictionary(uniqueKeysWithValues: first.points.map { ($0.label, try! #require($0.metrics["test.accuracy"])) })
        // {top: 2} ranks by report.target, val.accuracy by default (ties: the sweep's order), never on the test set.
        let validation = first.points.enumerated().map { (label: $0.element.label, value: $0.element.metrics["val.accuracy"]!, index: $0.offset) }
        let topTwo = validation.sorted { ($0.value, -$0.index) > ($1.value, -$1.index) }.prefix(2).map(\.label)

        for (members, expected) in [("[\"point:lr=0.01\", \"point:lr=3e-4\"]", ["lr=0.01", "lr=3e-4"]),
                                    ("{top: 2}", topTwo)] {
            let (r, log) = try run(sweep + "ensemble: {members: \(members), method: mean_probs}\n", name: "lrs.yaml", in: dir)
            #expect(r.status == "succeeded", "\(members): \(r.points.map { $0.error ?? "" })")
            // Nothing was trained again: every train stage came from the cache, only the
            // ensemble (with its evaluation and the reports) ran.
            #expect(!log.contains { $0.contains(" epoch ") }, "\(members): trained again: \(log.filter { $0.contains(" epoch ") })")
            let trains = log.indices.filter { log[$0].hasPrefix("[train]") }
            #expect(trains.count == 3 && trains.allSatisfy { log[$0 + 1].contains("cached") }, "\(members)")
            #expect(log.contains { $0.hasPrefix("[ensemble]") })
            // The ensemble's members are the named (or best) points, each with its own test accuracy.
            let line = try #require(log.first { $0.contains("members' test accuracy") })
            let shown = line.split(separator: ":")[1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(shown.count == 2, "\(line)")
            for (text, label) in zip(shown, expected) {
                #expect(text == String(format: "%.2f%%", accuracy[label]! * 100), "\(members): \(line) vs \(label) \(accuracy[label]!)")
            }
            // The ensemble belongs to the sweep: no point lists it as its variant (its
            // baseline was scored on that point's test set, not the ensemble's) …
            for p in r.points {
                #expect(!FileManager.default.fileExists(atPath: p.runDir + "/compression.json"), "\(p.label)")
                let metrics = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: p.runDir + "/metrics.json"))) as? [String: Any])
                #expect(metrics["variants"] == nil, "\(p.label)")
            }
            // … it is the sweep's own leaderboard row, next to its members (by label) on the same test set.
            let board = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: r.runDir + "/leaderboard.json"))) as? [String: Any])
            let row = try #require((board["ensembles"] as? [[String: Any]])?.first)
            #expect(row["status"] as? String == "succeeded")
            let rowMembers = try #require(row["members"] as? [[String: Any]])
            #expect(rowMembers.map { $0["label"] as? String ?? "" } == expected, "\(members)")
            // (JSONSerialization on Linux may read a double one ulp off what was written.)
            for m in rowMembers { #expect(abs((m["test.accuracy"] as? Double ?? 0) - accuracy[m["label"] as! String]!) < 1e-12, "\(m)") }
            let ens = try #require((row["metrics"] as? [String: Any])?["test.accuracy"] as? Double)
            #expect(ens > 0.6)
            let best = try #require(row["best_member"] as? [String: Any])
            let delta = try #require((row["vs_best_member"] as? [String: Any])?["test.accuracy_delta"] as? Double)
            #expect(abs(delta - (ens - (best["test.accuracy"] as! Double))) < 1e-12)
        }
    }
}
