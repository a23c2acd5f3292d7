// Tools around finished runs, on small real Fashion-MNIST runs: env.json, sweep
// leaderboards, listing and resolving runs, cache garbage collection, and
// verify (passes on a fresh run, names the altered file otherwise).
import Foundation
import Testing
@testable import FrontEnd
@testable import Planner
import Jobs
@testable import Runtime
import Engine

@Suite(.serialized) struct RunToolsTests {
    func temp() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-tools-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func run(_ yaml: String, name: String = "e.yaml", in dir: String, overrides: [String] = []) throws -> RunResult {
        let file = (dir as NSString).appendingPathComponent(name)
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let loaded = try ExperimentLoader().load(path: file, overrides: overrides)
        let plan = try PlanBuilder().plan(loaded)
        return try LocalRunner.run(plan, options: RunOptions(outputRoot: dir + "/Outputs")) { _ in }
    }

    static let small = """
        tlc: 1
        name: tiny
        seed: 5
        data: {classes: [0, 1, 7], train_per_class: 60, test_per_class: 30, validation: 0.1}
        backbone: {arch: mlp, options: {widths: [16]}}
        training: {epochs: 1, batch_size: 32}

        """

    @discardableResult
    func git(_ args: [String], in dir: String) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"] + args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    func json(_ path: String) throws -> [String: Any] {
        let data = try #require(FileManager.default.contents(atPath: path))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    // MARK: env.json

    @Test func envJSONHasEveryField() throws {
        let dir = try temp()
        try Self.small.write(toFile: dir + "/e.yaml", atomically: true, encoding: .utf8)
        let inGit = (try? git(["init", "-q"], in: dir)) == 0
        if inGit {
            try git(["add", "e.yaml"], in: dir)
            try git(["commit", "-q", "-m", "spec"], in: dir)
        }
        let r = try run(Self.small, in: dir)
        let env = try json(r.runDir + "/env.json")
        for key in ["tlc_version", "spec_file", "git", "blas", "cpu", "os", "seed", "started", "ended",
                    "wall_seconds", "cpu_seconds", "peak_rss_bytes"] {
            #expect(env[key] != nil, "\(key)")
        }
        #expect(env["seed"] as? Int == 5)
        #expect((env["wall_seconds"] as? Double ?? 0) > 0)
        #expect((env["cpu_seconds"] as? Double ?? 0) > 0)
        #expect((env["peak_rss_bytes"] as? Int ?? 0) > 1_000_000)
        let blas = try #require(env["blas"] as? [String: Any])
        #expect((blas["config"] as? String ?? "").contains("OpenBLAS"))
        #expect((blas["threads"] as? Int ?? 0) >= 1)
        let os = try #require(env["os"] as? [String: Any])
        #expect(os["name"] is String && os["kernel"] is String)
        let started = try #require(env["started"] as? String)
        #expect(started.hasSuffix("Z") && ISO8601DateFormatter().date(from: started) != nil)
        let g = try #require(env["git"] as? [String: Any])
        if inGit {
            #expect((g["commit"] as? String)?.count == 40)
            #expect(g["dirty"] as? Bool == false)
            try (Self.small + "# edited\n").write(toFile: dir + "/e.yaml", atomically: true, encoding: .utf8)
            #expect(RunEnvironment.gitState(of: dir + "/e.yaml")?.dirty == true)
        } else {
            #expect(g["commit"] is NSNull)
        }
        // Outside any repository there is no commit.
        #expect(RunEnvironment.gitState(of: try temp() + "/x.yaml") == nil)
    }

    // MARK: leaderboard

    @Test func leaderboardRanksByTheTargetAndPutsFailuresLast() {
        func p(_ label: String, _ acc: Double?, loss: Double = 1) -> PointResult {
            PointResult(label: label, runDir: "/x/" + label, status: acc == nil ? "failed" : "succeeded",
                        metrics: acc.map { ["test.accuracy": $0, "test.loss": loss] } ?? [:], error: acc == nil ? "diverged at epoch 2" : nil)
        }
        let points = [p("a", 0.7, loss: 0.5), p("b", nil), p("c", 0.9, loss: 0.9), p("d", 0.8, loss: 0.2)]
        let byAccuracy = Leaderboard(points: points, target: "test.accuracy")
        #expect(byAccuracy.rows.map(\.label) == ["c", "d", "a", "b"])
        #expect(byAccuracy.rows.map(\.rank) == [1, 2, 3, nil])
        let byLoss = Leaderboard(points: points, target: "test.loss")
        #expect(!byLoss.higherIsBetter)
        #expect(byLoss.rows.map(\.label) == ["d", "a", "c", "b"])
        let json = byAccuracy.json.canonicalJSON
        #expect(json.contains(#""error":"diverged at epoch 2""#) && json.contains(#""rank":1"#))
    }

    @Test func seedRepeatsAreAveragedPerGroup() throws {
        func p(_ label: String, _ acc: Double, seconds: Double) -> PointResult {
            PointResult(label: label, runDir: "/x/" + label, status: "succeeded",
                        metrics: ["test.accuracy": acc, "time.train_seconds": seconds, "time.features_seconds": 1], error: nil)
        }
        let points = [p("case=a,seed=1", 0.70, seconds: 10), p("case=a,seed=2", 0.80, seconds: 20),
                      p("case=b,seed=1", 0.90, seconds: 1), p("case=b,seed=2", 0.92, seconds: 3), p("case=c,seed=1", 0.5, seconds: 1)]
        let board = Leaderboard(points: points, target: "test.accuracy")
        #expect(board.groups.map(\.label) == ["case=b", "case=a"], "groups of one are not summarised")
        #expect(abs(board.groups[1].mean["test.accuracy"]! - 0.75) < 1e-12)
        #expect(abs(board.groups[1].std["test.accuracy"]! - (0.005).squareRoot()) < 1e-12)
        #expect(board.groups[0].mean["time.train_seconds"] == 2)
        #expect(board.columnNames.contains("time.features_seconds"))
        let json = board.json.canonicalJSON
        #expect(json.contains(#""seed_groups":[{"ci95""#) && json.contains(#""label":"case=b","mean""#))
        // case=b and case=a share seeds 1 and 2: compared seed by seed; two seeds can never give p < 0.05.
        let cmp = try #require(board.comparisons.first)
        #expect(cmp.better == "case=b" && cmp.other == "case=a" && cmp.result.seeds == 2)
        #expect(abs(cmp.result.meanDifference - 0.16) < 1e-12 && cmp.result.pValue == 0.5 && !cmp.isSignificant)
        #expect(board.groups[1].ci95["test.accuracy"] != nil)
        #expect(Leaderboard.withoutSeed("lr=1e-3,seed=12") == "lr=1e-3" && Leaderboard.withoutSeed("lr=1e-3") == nil)
    }

    @Test func aSweepWritesItsLeaderboard() throws {
        let r = try run(Self.small + "report: {target: test.loss}\nsweep:\n  grid:\n    optimizer.lr: [1e-4, 3e-3]\n", in: try temp())
        let board = try json(r.runDir + "/leaderboard.json")
        #expect(board["target"] as? String == "test.loss")
        let rows = try #require(board["points"] as? [[String: Any]])
        #expect(rows.count == 2)
        let losses = rows.compactMap { ($0["metrics"] as? [String: Any])?["test.loss"] as? Double }
        #expect(losses.count == 2 && losses[0] <= losses[1])
        #expect(FileManager.default.fileExists(atPath: r.runDir + "/leaderboard.json"))
        #expect(!FileManager.default.fileExists(atPath: r.runDir + "/leaderboard.md"), "the runtime writes JSON only")
        #expect(FileManager.default.fileExists(atPath: r.runDir + "/env.json"))
        // The store reads the sweep back: points, their metrics, the target.
        let record = try RunStore(outputRoot: "/nonexistent").resolve(r.runDir)
        #expect(record.isSweep && record.points.count == 2 && record.target == "test.loss")
        #expect(record.bestTarget == losses[0])
        // A point's folder resolves to that point alone.
        let point = try RunStore(outputRoot: "/nonexistent").resolve(r.points[1].runDir)
        #expect(point.points.count == 1 && point.points[0].label == r.points[1].label && !point.isSweep)
        // With the sweep gone from the original file, verify re-runs the recorded plan,
        // still gets the same bytes, and says the spec no longer plans those stages.
        let file = ((r.runDir as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent + "/../e.yaml"
        try Self.small.write(toFile: file, atomically: true, encoding: .utf8)
        let verified = try Verify.verify(record, scratch: try temp()) { _ in }
        #expect(verified.source.hasPrefix("the recorded plan ") && verified.source.hasSuffix("/plan.json"))
        #expect(verified.passed, "\(verified.differences)")
        #expect(verified.comparedModels == 2)
        #expect(verified.notes.contains { $0.contains("changed since the run") && $0.contains("no longer match") }, "\(verified.notes)")
        // One point of the sweep alone, with the experiment file deleted.
        try FileManager.default.removeItem(atPath: file)
        let one = try Verify.verify(point, scratch: try temp()) { _ in }
        #expect(one.passed, "\(one.differences)")
        #expect(one.comparedModels == 1 && one.rerunDirs.count == 1)
        #expect(one.notes.contains { $0.contains("is gone") })
    }

    // MARK: listing and resolving

    @Test func runsResolveByPathIdAndNameAtN() throws {
        let dir = try temp()
        let first = try run(Self.small, in: dir)
        let second = try run(Self.small, in: dir, overrides: ["optimizer.lr=3e-3"])
        let store = RunStore(outputRoot: dir + "/Outputs")
        #expect(store.experiments() == ["tiny"])
        let runs = store.runs(of: "tiny")
        #expect(runs.map(\.path) == [second.runDir, first.runDir])
        #expect(runs.allSatisfy { $0.status == "succeeded" && $0.points.first?.metrics["test.accuracy"] != nil })
        #expect(try store.resolve("tiny@latest").path == second.runDir)
        #expect(try store.resolve("tiny@0").path == second.runDir)
        #expect(try store.resolve("tiny@1").path == first.runDir)
        #expect(try store.resolve(first.runDir).path == first.runDir)
        #expect(try store.resolve((first.runDir as NSString).lastPathComponent).path == first.runDir)
        #expect(try store.resolve("tiny@0").specFile == dir + "/e.yaml")
        func message(_ ref: String) -> String {
            do { _ = try store.resolve(ref); return "" } catch { return error.description }
        }
        #expect(message("tiny@2").contains("tiny has 2 succeeded runs"))
        #expect(message("tiny@-1").contains("after '@'"))
        #expect(message("tiny@yesterday").contains("after '@'"))
        #expect(message("tinyy@latest").contains("Did you mean 'tiny@latest'?"))
        #expect(message("20200101-000000-beef").contains("no run '20200101-000000-beef'"))
        #expect(message(dir).contains("is not a run directory"))
        #expect(message("latest").contains("no run 'latest'"))

        // A failed run (newest, made by hand from the first): listed first, named by
        // id, skipped by NAME@N, its error read from log.txt.
        let failedID = "29991231-235959-dead"
        let failedDir = dir + "/Outputs/tiny/\(failedID).failed"
        try FileManager.default.copyItem(atPath: first.runDir, toPath: failedDir)
        try FileManager.default.removeItem(atPath: failedDir + "/metrics.json")
        try "tlc run tiny\nerror: stage train:x failed: diverged\n".write(toFile: failedDir + "/log.txt", atomically: true, encoding: .utf8)
        let failed = try store.resolve(failedID)
        #expect(failed.status == "failed" && failed.path == failedDir && failed.id == failedID)
        #expect(failed.error == "error: stage train:x failed: diverged")
        #expect(store.runs(of: "tiny").map(\.path) == [failedDir, second.runDir, first.runDir])
        #expect(try store.resolve("tiny@1").path == first.runDir)
    }

    // MARK: gc

    @Test func gcRemovesOnlyUnreferencedEntries() throws {
        let dir = try temp()
        let kept = try run(Self.small, in: dir)
        let dropped = try run(Self.small, in: dir, overrides: ["optimizer.lr=3e-3"])
        let cache = dir + "/Outputs/.cache"
        let fm = FileManager.default
        func entries() throws -> Set<String> { Set(try fm.contentsOfDirectory(atPath: cache).filter { !$0.hasPrefix(".") }) }
        let keptHashes = Set(try RunStore(outputRoot: dir + "/Outputs").read(kept.runDir).stageHashes)
        let before = try entries()
        #expect(before.count == 7)      // 5 stages, then a new train and evaluate for the other lr
        try fm.removeItem(atPath: dropped.runDir)
        // A temporary folder of a writer that is gone, and one of a live writer (this process).
        try fm.createDirectory(atPath: cache + "/.tmp-abcd-2147483000-1", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: cache + "/.tmp-abcd-\(getpid())-1", withIntermediateDirectories: true)

        let store = RunStore(outputRoot: dir + "/Outputs")
        // An unfinished run (its plan not written yet) protects entries newer than it.
        let partial = dir + "/Outputs/tiny/.20200101-000000-0000.partial"
        try fm.createDirectory(atPath: partial, withIntermediateDirectories: true)
        try fm.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: partial)
        let guarded = try store.collectGarbage(dryRun: false)
        #expect(guarded.removed.map(\.reason) == ["leftover temporary folder"])
        #expect(guarded.kept.count == 2 && guarded.kept.allSatisfy { $0.contains("newer than an unfinished run") })
        #expect(try entries() == before)
        try fm.removeItem(atPath: partial)
        try fm.createDirectory(atPath: cache + "/.tmp-abcd-2147483000-1", withIntermediateDirectories: true)

        let dry = try store.collectGarbage(dryRun: true)
        #expect(dry.removed.count == 3 && dry.bytes > 0)
        #expect(try entries() == before)
        #expect(fm.fileExists(atPath: cache + "/.tmp-abcd-2147483000-1"))

        let done = try store.collectGarbage(dryRun: false)
        #expect(done.removed.map(\.path).sorted() == dry.removed.map(\.path).sorted())
        #expect(try entries() == before.intersection(keptHashes))
        #expect(try entries().count == 5)
        #expect(!fm.fileExists(atPath: cache + "/.tmp-abcd-2147483000-1"))
        #expect(fm.fileExists(atPath: cache + "/.tmp-abcd-\(getpid())-1"))
        // The remaining run still comes entirely from the cache.
        let again = try run(Self.small, in: dir)
        #expect(try String(contentsOfFile: again.runDir + "/log.txt", encoding: .utf8).contains("stages: 0 ran, 5 from the cache"))
        #expect(try store.collectGarbage(dryRun: false).removed.count == 0)
    }

    // MARK: verify

    @Test func verifyPassesOnAFreshRunAndNamesAnAlteredModel() throws {
        let dir = try temp()
        let r = try run(Self.small, in: dir)
        let store = RunStore(outputRoot: dir + "/Outputs")
        let record = try store.resolve("tiny@latest")
        let ok = try Verify.verify(record, scratch: try temp()) { _ in }
        #expect(ok.passed, "\(ok.differences)")
        #expect(ok.source.hasPrefix("the recorded plan "))
        #expect(ok.notes.isEmpty, "\(ok.notes)")
        #expect(ok.comparedMetrics >= 8 && ok.comparedModels == 1)

        // Flip one byte of the stored model.
        let model = r.runDir + "/model.safetensors"
        var bytes = try #require(FileManager.default.contents(atPath: model))
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: model))
        let bad = try Verify.verify(record, scratch: try temp()) { _ in }
        #expect(!bad.passed)
        #expect(bad.differences.count == 1)
        #expect(bad.differences.first?.hasPrefix("model.safetensors: bytes differ") == true)

        // An edited original file no longer matches: verify still re-runs what was
        // recorded, says which stages the file no longer plans, and names a changed metric.
        try (Self.small.replacingOccurrences(of: "seed: 5", with: "seed: 6")).write(toFile: dir + "/e.yaml", atomically: true, encoding: .utf8)
        try Data(#"{"test.accuracy": 0.5, "time.train_seconds": 1}"#.utf8).write(to: URL(fileURLWithPath: r.runDir + "/metrics.json"))
        let edited = try Verify.verify(try store.read(r.runDir), scratch: try temp()) { _ in }
        #expect(edited.source.hasPrefix("the recorded plan "))
        #expect(edited.notes.contains { $0.contains("changed since the run") })
        #expect(edited.differences.contains { $0.hasPrefix("metrics.json: test.accuracy: 0.5 originally") })
        #expect(edited.differences.contains { $0 == "metrics.json: test.loss appears only in the rerun" })
        #expect(!edited.differences.contains { $0.contains("time.") })

        // A run recorded on another OpenBLAS core: verify says results are bitwise only per core.
        let envPath = r.runDir + "/env.json"
        let env = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: envPath))) as? [String: Any])
        let blas = try #require(env["blas"] as? [String: Any])
        #expect(blas["core"] as? String == KernelSet.blasCore)
        // The core OpenBLAS detected by itself is recorded when tlc replaced it, null otherwise.
        #expect(blas["detected_core"] as? String == KernelSet.blasCoreDetected)
        #expect(blas.keys.contains("detected_core"))
        #expect((env["kernels"] as? [String: Any])?["float"] as? String == KernelSet.float)
        #expect(Verify.kernelChanges(try store.read(r.runDir)).isEmpty)
        let other = KernelSet.blasCore == "Prescott" ? "Haswell" : "Prescott"
        var moved = env
        moved["blas"] = blas.merging(["core": other]) { $1 }
        try JSONSerialization.data(withJSONObject: moved).write(to: URL(fileURLWithPath: envPath))
        let notes = Verify.kernelChanges(try store.read(r.runDir))
        #expect(notes.count == 1 && notes[0].contains("OpenBLAS's \(other) kernels") && notes[0].contains("OPENBLAS_CORETYPE=\(other)"), "\(notes)")
        // A run whose 1×1 convolutions ran on the other kernels.
        #expect((env["kernels"] as? [String: Any])?["pointwise"] as? String == KernelSet.pointwise)
        let otherPointwise = KernelSet.pointwise == "OpenBLAS" ? "CDirectConv" : "OpenBLAS"
        moved["kernels"] = (env["kernels"] as? [String: Any] ?? [:]).merging(["pointwise": otherPointwise]) { $1 }
        try JSONSerialization.data(withJSONObject: moved).write(to: URL(fileURLWithPath: envPath))
        let both = Verify.kernelChanges(try store.read(r.runDir))
        #expect(both.count == 2 && both[1].contains("1×1 convolutions ran on \(otherPointwise)"), "\(both)")
    }

    @Test func differencesOfAccuraciesReadInPercentagePoints() {
        // Forgetting is before − after, signed, in pp wherever it is shown.
        #expect(Leaderboard.format(0.015, metric: "source.forgetting") == "+1.50 pp")
        #expect(Leaderboard.format(-0.0096, metric: "test.accuracy_delta") == "-0.96 pp")
        #expect(Leaderboard.format(0.8845, metric: "test.accuracy") == "88.45%")
    }
}
