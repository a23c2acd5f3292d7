// Small real end-to-end runs on Fashion-MNIST: a run directory with every file,
// metrics that make sense, bitwise-equal models from equal specs, a pretrained
// backbone handed from one experiment to another, and failures that keep logs.
import Foundation
import Testing
@testable import FrontEnd
@testable import Planner
import Jobs
@testable import Runtime

@Suite(.serialized) struct LocalRunnerTests {
    func temp() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-run-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func run(_ yaml: String, name: String = "e.yaml", in dir: String, overrides: [String] = [],
             options: RunOptions? = nil) throws -> RunResult {
        let file = (dir as NSString).appendingPathComponent(name)
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let loaded = try ExperimentLoader().load(path: file, overrides: overrides)
        let plan = try PlanBuilder().plan(loaded)
        return try LocalRunner.run(plan, options: options ?? RunOptions(outputRoot: dir + "/Outputs")) { _ in }
    }

    static let small = """
        tlc: 1
        name: tiny
        seed: 5
        data: {classes: [0, 1, 7], train_per_class: 120, test_per_class: 60, validation: 0.1}
        backbone: {arch: mlp, options: {widths: [32]}}
        training: {epochs: 2, batch_size: 32}

        """

    @Test func aRunWritesAFinishedDirectory() throws {
        let dir = try temp()
        let r = try run(Self.small, in: dir)
        #expect(r.status == "succeeded")
        for f in ["spec.yaml", "resolved.yaml", "plan.json", "metrics.json", "history.jsonl", "model.safetensors", "evaluation.json", "log.txt"] {
            #expect(FileManager.default.fileExists(atPath: r.runDir + "/" + f), "\(f)")
        }
        let m = try #require(r.points.first?.metrics)
        #expect(m["test.accuracy"]! > 0.6)       // three easy classes, far above chance (1/3)
        #expect(m["model.params"] == Double(784 * 32 + 32 + 32 * 3 + 3))
        #expect(m["val.accuracy"] != nil && m["train.loss"] != nil && m["time.train_seconds"]! > 0)
        #expect(m["test.top5"] == nil, "top-5 of three classes says nothing")
        let history = try String(contentsOfFile: r.runDir + "/history.jsonl", encoding: .utf8)
        #expect(history.split(separator: "\n").count == 2)
        let latest = try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/Outputs/tiny/latest")
        #expect(r.runDir.hasSuffix(latest))
        // resolved.yaml is a valid spec that gives the same plan.
        let resolved = try ExperimentLoader().load(path: r.runDir + "/resolved.yaml")
        #expect(resolved.base == (try ExperimentLoader().load(path: dir + "/e.yaml")).base)
    }

    /// Records the reporter calls (the Reporting module's writer is tested there).
    final class RecordingReporter: RunReporter, @unchecked Sendable {
        var calls: [String] = []
        func writePointReport(pointDir: String) throws {
            #expect(FileManager.default.fileExists(atPath: pointDir + "/metrics.json"))
            #expect(FileManager.default.fileExists(atPath: pointDir + "/resolved.yaml"))
            calls.append("point " + pointDir)
            try "report".write(toFile: pointDir + "/report.md", atomically: true, encoding: .utf8)
        }
        func writeSweepReport(sweepDir: String) throws {
            #expect(FileManager.default.fileExists(atPath: sweepDir + "/leaderboard.json"))
            calls.append("sweep " + sweepDir)
        }
    }

    @Test func theReporterWritesIntoTheUnpublishedFolder() throws {
        let dir = try temp()
        let reporter = RecordingReporter()
        let r = try run(Self.small, in: dir, options: RunOptions(outputRoot: dir + "/Outputs", reporter: reporter))
        #expect(reporter.calls.count == 1 && reporter.calls[0].hasSuffix(".partial"))
        #expect(try String(contentsOfFile: r.runDir + "/report.md", encoding: .utf8) == "report")
        let evaluation = try String(contentsOfFile: r.runDir + "/evaluation.json", encoding: .utf8)
        #expect(evaluation.contains("\"classes\"") && evaluation.contains("\"T-shirt/top\"") && evaluation.contains("\"confusion\""))
        let sweep = try run(Self.small + "sweep: {grid: {optimizer.lr: [1e-3, 3e-3]}}\n", name: "s.yaml", in: dir,
                            options: RunOptions(outputRoot: dir + "/Outputs2", reporter: reporter))
        #expect(sweep.status == "succeeded")
        #expect(reporter.calls.count == 4 && reporter.calls[3].hasPrefix("sweep "))
    }

    @Test func sameSpecSameSeedSameModelBytes() throws {
        let a = try run(Self.small, in: try temp()), b = try run(Self.small, in: try temp())
        let ma = try Data(contentsOf: URL(fileURLWithPath: a.runDir + "/model.safetensors"))
        let mb = try Data(contentsOf: URL(fileURLWithPath: b.runDir + "/model.safetensors"))
        #expect(ma == mb)
        #expect(a.points[0].metrics["test.accuracy"] == b.points[0].metrics["test.accuracy"])
        let c = try run(Self.small, in: try temp(), overrides: ["seed=6"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: c.runDir + "/model.safetensors")) != ma)
    }

    /// `target.yaml` on a frozen backbone from `source.yaml` (small), both written to `dir`.
    static let transferTarget = """
        tlc: 1
        name: target
        data: {classes: [2, 4], train_per_class: 60, test_per_class: 40}
        backbone: {arch: mlp, options: {widths: [32]}, weights: run:source, freeze: all}
        head: {layers: [{dense: 16}, relu]}
        training: {epochs: 1, batch_size: 32}

        """

    func writeSource(in dir: String) throws {
        try Self.small.replacingOccurrences(of: "name: tiny", with: "name: source")
            .write(toFile: dir + "/source.yaml", atomically: true, encoding: .utf8)
    }

    @Test func aPretrainedBackboneTransfers() throws {
        let dir = try temp()
        try writeSource(in: dir)
        let target = Self.transferTarget
        let r = try run(target, name: "target.yaml", in: dir)
        #expect(r.status == "succeeded")
        let m = try #require(r.points.first?.metrics)
        #expect(m["model.trainable_params"] == Double(32 * 16 + 16 + 16 * 2 + 2))
        let log = try String(contentsOfFile: r.runDir + "/log.txt", encoding: .utf8)
        #expect(log.contains("loaded 2 backbone tensors from run:source"))
        // The source was trained on the way: it has a run directory of its own.
        #expect(log.contains("source was trained on the way: its run directory is"))
        let sourceRuns = { (try? FileManager.default.contentsOfDirectory(atPath: dir + "/Outputs/source").filter { $0.hasPrefix("2") }) ?? [] }
        #expect(sourceRuns().count == 1)
        let sourceLatest = dir + "/Outputs/source/latest"
        #expect(FileManager.default.fileExists(atPath: sourceLatest + "/metrics.json") && FileManager.default.fileExists(atPath: sourceLatest + "/model.safetensors"))
        #expect(try String(contentsOfFile: sourceLatest + "/log.txt", encoding: .utf8).contains("trained on the way by a run of target"))
        // A second run trains nothing, so it writes no second source run.
        _ = try run(target, name: "target.yaml", in: dir)
        #expect(sourceRuns().count == 1)
    }

    /// The recorded plan is all a run needs: with every experiment file deleted, the
    /// decoded plan.json (no spec in it) runs, without the cache, to the same bytes.
    @Test func theRecordedPlanRunsWithTheSpecsGone() throws {
        let dir = try temp()
        try writeSource(in: dir)
        let target = Self.transferTarget + "compression:\n  - quantize: {bits: 8, calibration_batches: 2}\n"
        let first = try run(target, name: "target.yaml", in: dir)
        #expect(first.status == "succeeded")
        for f in ["source.yaml", "target.yaml"] { try FileManager.default.removeItem(atPath: dir + "/" + f) }
        let recorded = try Plan.read(first.runDir + "/plan.json")
        let again = try LocalRunner.run(recorded, options: RunOptions(outputRoot: try temp() + "/Outputs", useCache: false)) { _ in }
        #expect(again.status == "succeeded", "\(again.points.first?.error ?? "")")
        for file in ["model.safetensors", "variants/int8.safetensors", "resolved.yaml", "spec.yaml"] {
            #expect(FileManager.default.contents(atPath: first.runDir + "/" + file) == FileManager.default.contents(atPath: again.runDir + "/" + file), "\(file)")
        }
        #expect(again.points[0].metrics["test.accuracy"] == first.points[0].metrics["test.accuracy"])
    }

    @Test func sweepPointsGetTheirOwnDirectories() throws {
        let r = try run(Self.small + "sweep:\n  grid:\n    optimizer.lr: [1e-3, 3e-3]\n", in: try temp())
        #expect(r.isSweep && r.points.count == 2)
        #expect(r.points.allSatisfy { $0.status == "succeeded" && FileManager.default.fileExists(atPath: $0.runDir + "/metrics.json") })
        #expect(Set(r.points.map(\.runDir)).count == 2)
        let log = try String(contentsOfFile: r.runDir + "/log.txt", encoding: .utf8)
        #expect(log.components(separatedBy: "[data.load]").count == 2)    // data loaded once for both points
    }

    @Test func aDivergingRunFailsAndKeepsItsLog() throws {
        let r = try run(Self.small, in: try temp(), overrides: ["optimizer.kind=sgd", "optimizer.lr=10", "optimizer.momentum=0.99", "training.epochs=8"])
        if r.status == "failed" {
            #expect(r.runDir.hasSuffix(".failed"))
            let log = try String(contentsOfFile: r.runDir + "/log.txt", encoding: .utf8)
            #expect(log.contains("diverged") && log.contains("learning rate"))
            #expect(!FileManager.default.fileExists(atPath: r.runDir + "/metrics.json"))
        } else {
            // SGD at lr 10 did not diverge on this data: the test then proves nothing, so say so.
            Issue.record("expected lr=10 with momentum 0.99 to diverge")
        }
    }

    @Test func aRerunComesFromTheCacheBitForBit() throws {
        let dir = try temp()
        let first = try run(Self.small, in: dir)
        let second = try run(Self.small, in: dir)
        let log = try String(contentsOfFile: second.runDir + "/log.txt", encoding: .utf8)
        #expect(log.contains("stages: 0 ran, 5 from the cache"))
        // Every result is the cached one; latency is measured again (a measurement, not a result).
        #expect(first.points[0].metrics.filter { !Verify.isTiming($0.key) } == second.points[0].metrics.filter { !Verify.isTiming($0.key) })
        #expect(first.points[0].metrics["time.train_seconds"] == second.points[0].metrics["time.train_seconds"])
        #expect(second.points[0].metrics["latency.per_batch_ms"] != nil)
        #expect(FileManager.default.contents(atPath: first.runDir + "/model.safetensors")
                == FileManager.default.contents(atPath: second.runDir + "/model.safetensors"))
        // A changed learning rate reuses data, normalization and the initial model.
        let third = try run(Self.small, in: dir, overrides: ["optimizer.lr=3e-3"])
        let log3 = try String(contentsOfFile: third.runDir + "/log.txt", encoding: .utf8)
        #expect(log3.contains("stages: 2 ran, 3 from the cache"))
        // --force reruns everything and gets the same bytes; --no-cache writes nothing.
        let forced = try run(Self.small, in: dir, options: RunOptions(outputRoot: dir + "/Outputs", force: true))
        #expect(try String(contentsOfFile: forced.runDir + "/log.txt", encoding: .utf8).contains("stages: 5 ran, 0 from the cache"))
        #expect(FileManager.default.contents(atPath: forced.runDir + "/model.safetensors")
                == FileManager.default.contents(atPath: first.runDir + "/model.safetensors"))
        let other = try temp()
        _ = try run(Self.small, in: other, options: RunOptions(outputRoot: other + "/Outputs", useCache: false))
        #expect(!FileManager.default.fileExists(atPath: other + "/Outputs/.cache"))
    }

    @Test func aDamagedCacheEntryIsRecomputedNotTrusted() throws {
        let dir = try temp()
        let first = try run(Self.small, in: dir)
        // Damage the trained model's history in the cache; the rerun must notice,
        // recompute that stage and end with the same bytes.
        let cache = dir + "/Outputs/.cache"
        for entry in try FileManager.default.contentsOfDirectory(atPath: cache) where !entry.hasPrefix(".") {
            let history = cache + "/" + entry + "/history.jsonl"
            if FileManager.default.fileExists(atPath: history) {
                try Data("{not json".utf8).write(to: URL(fileURLWithPath: history))
            }
        }
        let second = try run(Self.small, in: dir)
        #expect(second.status == "succeeded")
        let log = try String(contentsOfFile: second.runDir + "/log.txt", encoding: .utf8)
        #expect(log.contains("is damaged (history.jsonl size mismatch)") && log.contains("recomputing"), "\(log)")
        #expect(FileManager.default.contents(atPath: first.runDir + "/model.safetensors")
                == FileManager.default.contents(atPath: second.runDir + "/model.safetensors"))
    }
}

@Suite struct SweepLogTests {
    @Test func parallelStagesLogTheirPointLabel() throws {
        let runner = LocalRunnerTests()
        let dir = try runner.temp()
        let r = try runner.run(LocalRunnerTests.small + "sweep:\n  grid:\n    optimizer.lr: [1e-3, 3e-3]\n", in: dir,
                               options: RunOptions(outputRoot: dir + "/Outputs", jobs: 2))
        let log = try String(contentsOfFile: r.runDir + "/log.txt", encoding: .utf8).split(separator: "\n")
        // Every epoch line says which point it belongs to; shared stages carry no label.
        let epochs = log.filter { $0.contains(" epoch ") }
        #expect(epochs.count == 4 && epochs.allSatisfy { $0.contains("[lr=1e-3] epoch") || $0.contains("[lr=3e-3] epoch") }, "\(epochs)")
        #expect(log.contains { $0.hasPrefix("[train] [lr=3e-3] ") })
        #expect(log.contains { $0.hasPrefix("[data.load] load") })
    }
}

@Suite struct PointFolderTests {
    @Test func pointsWhoseLabelsLookAlikeGetTheirOwnFolders() throws {
        let runner = LocalRunnerTests()
        let dir = try runner.temp()
        let r = try runner.run(LocalRunnerTests.small + "sweep: {grid: {description: [\"a/b\", \"a_b\", \"a?b\", \"..\"]}}\n", in: dir)
        #expect(r.status == "succeeded" && r.points.count == 4)
        #expect(Set(r.points.map(\.runDir)).count == 4, "\(r.points.map(\.runDir))")
        for p in r.points {
            #expect(FileManager.default.fileExists(atPath: p.runDir + "/metrics.json"), "\(p.runDir)")
            #expect(!(p.runDir as NSString).lastPathComponent.hasPrefix("."), "a hidden folder: \(p.runDir)")
        }
        // Read back: four points, each from its own folder.
        let record = try RunStore(outputRoot: dir + "/Outputs").resolve(r.runDir)
        #expect(record.points.count == 4 && Set(record.points.map(\.path)).count == 4 && record.points.allSatisfy { $0.status == "succeeded" })
        let names = LocalRunner.pointFolders([("aaaaaaaaaaaaaaaa", "a/b"), ("bbbbbbbbbbbbbbbb", "a_b"), ("cccccccccccccccc", "x")])
        #expect(names == ["a_b-aaaaaaaaaaaa", "a_b-bbbbbbbbbbbb", "x"])
    }
}

@Suite struct SymlinkWeightsTests {
    @Test func weightsBehindASymlinkLoad() throws {
        let runner = LocalRunnerTests()
        let dir = try runner.temp()
        let source = try runner.run(LocalRunnerTests.small, in: dir)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.safetensors", withDestinationPath: source.runDir + "/model.safetensors")
        let target = LocalRunnerTests.small.replacingOccurrences(of: "name: tiny", with: "name: linked")
            .replacingOccurrences(of: "backbone: {arch: mlp, options: {widths: [32]}}", with: "backbone: {arch: mlp, options: {widths: [32]}, weights: file:link.safetensors}")
        let r = try runner.run(target, name: "linked.yaml", in: dir)
        #expect(r.status == "succeeded", "\(r.points.first?.error ?? "")")
        #expect(try String(contentsOfFile: r.runDir + "/log.txt", encoding: .utf8).contains("backbone tensors from"))
    }
}
