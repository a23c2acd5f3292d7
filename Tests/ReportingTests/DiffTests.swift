// `tlc diff` on the fixture runs, checked against golden files in
// Fixtures/golden (regenerate with TLC_UPDATE_GOLDEN=1 swift test --filter DiffTests
// and review the change): two runs that differ only in the learning rate show
// exactly that key and the metric deltas; a sweep compared with a baseline point;
// references that resolve and ones that do not; and the plan diff of two specs,
// one read through git.
import Foundation
import Testing
@testable import FrontEnd
@testable import Planner
import Jobs
@testable import Reporting
@testable import Runtime

func golden(_ name: String, _ actual: String) throws {
    let path = repositoryRoot + "/Tests/ReportingTests/Fixtures/golden/" + name
    if ProcessInfo.processInfo.environment["TLC_UPDATE_GOLDEN"] != nil {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try actual.write(toFile: path, atomically: true, encoding: .utf8)
    }
    let expected = try String(contentsOfFile: path, encoding: .utf8)
    #expect(actual == expected, "\(name) differs from its golden file; TLC_UPDATE_GOLDEN=1 rewrites it")
}

@Suite struct DiffTests {
    @Test func twoRunsThatDifferOnlyInTheLearningRate() throws {
        let out = try fixtureOutputs()
        let store = RunStore(outputRoot: out)
        let points = try DiffTargets.resolve(["small@1", "small@latest"], store: store)
        let diff = RunDiff(points)
        #expect(diff.config.map(\.path) == ["optimizer.lr"])
        #expect(diff.config[0].values == ["1e-3", "3e-3"])
        let acc = try #require(diff.metrics.first)
        #expect(acc.name == "test.accuracy" && acc.better(1) == true)
        #expect(diff.metrics.first { $0.name == "test.loss" }?.better(1) == true)      // loss went down
        #expect(diff.metrics.first { $0.name == "val.accuracy" }?.better(1) == false)  // validation accuracy went down
        // Parameter counts and wall-clock seconds are neither better nor worse: an arrow, no verdict.
        let seconds = try #require(diff.metrics.first { $0.name == "time.train_seconds" })
        #expect(try #require(seconds.delta(1)) > 0 && seconds.better(1) == nil && seconds.arrow(1) == "↑")
        #expect(RunDiff.higherIsBetter("model.params") == nil && RunDiff.higherIsBetter("variants.pruned.params") == nil)
        #expect(RunDiff.higherIsBetter("model.bytes") == false && RunDiff.higherIsBetter("latency.per_image_ms") == false)
        #expect(RunDiff.higherIsBetter("test.macro_f1") == true && RunDiff.higherIsBetter("variants.pruned.sparsity") == true)
        #expect(diff.stages.filter { $0.status == "shared" }.map(\.kind) == ["data.load", "data.normalize", "model.init"])
        #expect(diff.stages.first { $0.kind == "train" }?.status == "differs")
        try golden("diff-lr.txt", diff.text(color: false))
        try golden("diff-lr.md", try diff.markdown())
        try golden("diff-lr.json", diff.json.prettyJSON() + "\n")
        #expect(diff.text(color: true).contains("\u{1B}[32m"))
        #expect(!diff.text(color: false).contains("\u{1B}"))
    }

    @Test func aSweepComparedWithABaselinePoint() throws {
        let out = try fixtureOutputs()
        let store = RunStore(outputRoot: out)
        let points = try DiffTargets.resolve(["smallsweep@latest"], store: store, baseline: "lr=1e-3,kind=adam")
        #expect(points.count == 8 && points[0].label == "lr=1e-3,kind=adam")
        let diff = RunDiff(points)
        #expect(diff.runs[0] == "lr=1e-3,kind=adam")
        // The kind brings its own resolved defaults (momentum for sgd, betas for adam).
        #expect(Set(diff.config.map(\.path)).isSuperset(of: ["optimizer.lr", "optimizer.kind"]))
        #expect(diff.config.allSatisfy { $0.path.hasPrefix("optimizer.") })
        try golden("diff-sweep.md", try diff.markdown())
        // Points by label: REF/LABEL, and a bare label after a sweep.
        let two = try DiffTargets.resolve(["smallsweep@latest/lr=0.01,kind=sgd", "lr=3e-4,kind=sgd"], store: store)
        #expect(two.map(\.label) == ["lr=0.01,kind=sgd", "lr=3e-4,kind=sgd"])
        #expect(RunDiff(two).config.map(\.path) == ["optimizer.lr"])
        // A run against a sweep point.
        let mixed = try DiffTargets.resolve([out + "/" + runA, out + "/" + sweepRun + "/lr=1e-3,kind=adam"], store: store)
        #expect(mixed.count == 2)
    }

    /// A later run of the fixture sweep (smallsweep@latest): seed 8 instead of 7, one
    /// point better and one worse on test.accuracy, `lr=3e-4,kind=sgd` gone and
    /// `lr=0.1,kind=adam` new. Returns its directory.
    func laterSweep(_ out: String) throws -> String {
        let fm = FileManager.default
        let a = out + "/" + sweepRun, b = out + "/smallsweep/20261130-010200-eeee"
        try fm.copyItem(atPath: a, toPath: b)
        func edit(_ file: String, _ change: (inout [String: Any]) -> Void) throws {
            var o = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: b + "/" + file))) as? [String: Any])
            change(&o)
            try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]).write(to: URL(fileURLWithPath: b + "/" + file))
        }
        try fm.removeItem(atPath: b + "/lr=3e-4,kind=sgd")
        try fm.copyItem(atPath: b + "/lr=0.01,kind=adam", toPath: b + "/lr=0.1,kind=adam")
        for point in try fm.contentsOfDirectory(atPath: b) where !point.hasSuffix(".json") {
            let resolved = b + "/" + point + "/resolved.yaml"
            try String(contentsOfFile: resolved, encoding: .utf8).replacingOccurrences(of: "\nseed: 7\n", with: "\nseed: 8\n")
                .write(toFile: resolved, atomically: true, encoding: .utf8)
        }
        try edit("lr=3e-3,kind=adam/metrics.json") { $0["test.accuracy"] = 0.75 }       // 73.20% → 75.00%
        try edit("lr=1e-3,kind=sgd/metrics.json") { $0["test.accuracy"] = 0.45 }        // 47.20% → 45.00%
        try edit("lr=0.1,kind=adam/metrics.json") { $0["test.accuracy"] = 0.5 }
        func renamed(_ list: Any?) -> [[String: Any]] {
            var items = (list as? [[String: Any]] ?? []).filter { $0["label"] as? String != "lr=3e-4,kind=sgd" }
            if var copy = items.first(where: { $0["label"] as? String == "lr=0.01,kind=adam" }) {
                copy["label"] = "lr=0.1,kind=adam"
                if copy["folder"] != nil { copy["folder"] = "lr=0.1,kind=adam" }
                items.append(copy)
            }
            return items
        }
        try edit("plan.json") { $0["points"] = renamed($0["points"]) }
        try edit("leaderboard.json") { $0["points"] = renamed($0["points"]) }
        return b
    }

    @Test func twoSweepsPointByPoint() throws {
        let out = try fixtureOutputs()
        let later = try laterSweep(out)
        let store = RunStore(outputRoot: out)
        let pair = try #require(try DiffTargets.sweepPair(["smallsweep@1", "smallsweep@latest"], store: store, baseline: nil))
        #expect(pair.a.run.id == "20261129-010200-cccc" && pair.b.run.id == "20261130-010200-eeee")
        let diff = SweepDiff(a: pair.a.sweep, runA: pair.a.run, b: pair.b.sweep, runB: pair.b.run)
        // A's grid order, then the point only B has; every label once.
        #expect(diff.rows.map(\.label) == ["lr=0.01,kind=adam", "lr=0.01,kind=sgd", "lr=3e-3,kind=adam", "lr=3e-3,kind=sgd",
                                          "lr=1e-3,kind=adam", "lr=1e-3,kind=sgd", "lr=3e-4,kind=adam", "lr=3e-4,kind=sgd",
                                          "lr=0.1,kind=adam"])
        func row(_ label: String) throws -> SweepDiff.Row { try #require(diff.rows.first { $0.label == label }) }
        #expect(try row("lr=3e-4,kind=sgd").status == "only in A" && row("lr=0.1,kind=adam").status == "only in B")
        #expect(try row("lr=0.01,kind=sgd").status == "both")
        let up = try row("lr=3e-3,kind=adam").metrics[0], down = try row("lr=1e-3,kind=sgd").metrics[0]
        #expect(up.name == "test.accuracy" && up.values == [0.732, 0.75] && up.delta(1) == 0.75 - 0.732 && up.better(1) == true)
        #expect(down.values == [0.472, 0.45] && down.better(1) == false)
        #expect(try row("lr=3e-4,kind=sgd").metrics[0].values == [0.266, nil])
        // Seconds and counts get no verdict.
        #expect(try row("lr=3e-3,kind=adam").metrics.filter { $0.name == "time.train_seconds" || $0.name.hasSuffix("params") }
            .allSatisfy { $0.higherIsBetter == nil && $0.better(1) == nil })
        #expect(diff.columns.prefix(2) == ["test.accuracy", "test.loss"])
        #expect(diff.config == [SweepDiff.ConfigChange(path: "seed", values: ["7", "8"], points: 7)])
        #expect(diff.summary == SweepDiff.Summary(compared: 7, better: 1, worse: 1, equal: 5, onlyA: 1, onlyB: 1))

        let text = diff.text(color: false)
        #expect(text.contains("20261129-010200-cccc") && text.contains("20261130-010200-eeee"))
        #expect(text.contains("  lr=3e-3,kind=adam  both       73.20%  75.00%  +1.80 pp ↑ better"), "\(text)")
        #expect(text.contains("−2.20 pp ↓ worse") && !text.contains("\u{1B}"))
        #expect(diff.text(color: true).contains("\u{1B}[31m−2.20 pp ↓ worse"))
        try golden("diff-sweeps.txt", text)
        try golden("diff-sweeps.md", try diff.markdown())
        try golden("diff-sweeps.json", diff.json.prettyJSON().replacingOccurrences(of: out, with: "OUT") + "\n")
        // The JSON says the same in numbers.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(diff.json.prettyJSON().utf8)) as? [String: Any])
        let points = try #require(json["points"] as? [[String: Any]])
        let first = try #require(points.first { $0["label"] as? String == "lr=3e-3,kind=adam" }?["metrics"] as? [[String: Any]])
        #expect(abs(try #require(first[0]["delta"] as? Double) - (0.75 - 0.732)) < 1e-12 && first[0]["better"] as? Bool == true)
        #expect((json["sweeps"] as? [[String: Any]])?.map { $0["run_id"] as? String } == ["20261129-010200-cccc", "20261130-010200-eeee"])
        #expect(later.hasSuffix("eeee"))
    }

    @Test func twoSweepsNeedTwoSweeps() throws {
        let out = try fixtureOutputs()
        _ = try laterSweep(out)
        let store = RunStore(outputRoot: out)
        func message(_ refs: [String]) -> String {
            do { _ = try DiffTargets.sweepPair(refs, store: store, baseline: nil); return "" } catch { return error.description }
        }
        #expect(message(["smallsweep@latest", "small@latest"]).contains("is a sweep (8 points) but 'small@latest' is one run"))
        #expect(message(["small@latest", "smallsweep@latest"]).contains("give two sweeps"))
        #expect(message(["smallsweep@latest", "nothere"]).contains("no run 'nothere'"))
        // Not a pair of sweeps: the usual diff takes them (two runs; a sweep and its point's label; --baseline).
        #expect(try DiffTargets.sweepPair(["small@1", "small@latest"], store: store, baseline: nil) == nil)
        #expect(try DiffTargets.sweepPair(["smallsweep@latest", "lr=0.01,kind=sgd"], store: store, baseline: nil) == nil)
        #expect(try DiffTargets.sweepPair(["smallsweep@1", "smallsweep@latest"], store: store, baseline: "lr=0.01,kind=sgd") == nil)
        #expect(try DiffTargets.resolve(["smallsweep@1", "smallsweep@latest"], store: store, baseline: "lr=0.01,kind=sgd").count == 2)
    }

    @Test func badReferencesAreErrorsThatSayWhatExists() throws {
        let out = try fixtureOutputs()
        let store = RunStore(outputRoot: out)
        func message(_ refs: [String], baseline: String? = nil) -> String {
            do { _ = try DiffTargets.resolve(refs, store: store, baseline: baseline); return "" } catch { return error.description }
        }
        #expect(message(["small@latest"]).contains("nothing to compare"))
        #expect(message(["smal@latest", "small@0"]).contains("Did you mean 'small@latest'"))
        #expect(message(["small@9", "small@0"]).contains("small has 2 succeeded runs"))
        #expect(message(["smallsweep@latest", "small@0"]).contains("is a sweep"))
        #expect(message(["smallsweep@latest/nope", "small@0"]).contains("has no point 'nope'"))
        #expect(message(["smallsweep@latest"], baseline: "nope").contains("no succeeded point 'nope'"))
        #expect(message([]).contains("give two or more"))
    }

    @Test func configIsFlattenedToDottedPaths() {
        let v = SpecValue.object([("optimizer", .object([("lr", .double(1e-3)), ("betas", .list([.double(0.9), .double(0.999)]))])),
                                  ("head", .object([("layers", .list([.object([("dense", .int(64))]), .string("relu")]))])),
                                  ("groups", .map([]))])
        let flat = RunDiff.flatten(v)
        #expect(flat.map(\.0) == ["optimizer.lr", "optimizer.betas", "head.layers.0.dense", "head.layers.1", "groups"])
        #expect(flat.map(\.1) == ["1e-3", "[0.9,0.999]", "64", "relu", "{}"])
    }

    @Test func aPlanDiffSaysWhatWouldRunAndWhatIsCached() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-plandiff-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/Experiments", withIntermediateDirectories: true)
        let spec = """
            tlc: 1
            name: pd
            data: {classes: [0, 1], train_per_class: 40, test_per_class: 20}
            backbone: {arch: mlp, options: {widths: [8]}}
            optimizer: {lr: 1e-3}
            training: {epochs: 1, batch_size: 32}

            """
        let file = dir + "/Experiments/pd.yaml"
        try spec.write(toFile: file, atomically: true, encoding: .utf8)
        func sh(_ command: String) throws {
            _ = try SpecSource.run("/bin/sh", ["-c", command], in: dir)
        }
        try sh("git init -q . && git -c user.email=t@t -c user.name=t add -A && git -c user.email=t@t -c user.name=t commit -qm one")
        try spec.replacingOccurrences(of: "lr: 1e-3", with: "lr: 3e-4").write(toFile: file, atomically: true, encoding: .utf8)

        // REV:path from inside the repository.
        let cwd = FileManager.default.currentDirectoryPath
        try #require(FileManager.default.changeCurrentDirectoryPath(dir))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(cwd) }
        let scratch = dir + "/.scratch"
        let oldFile = try SpecSource.materialize("HEAD:Experiments/pd.yaml", scratch: scratch)
        #expect(try String(contentsOfFile: oldFile, encoding: .utf8).contains("lr: 1e-3"))
        #expect(throws: ReportError.self) { try SpecSource.materialize("HEAD:Experiments/none.yaml", scratch: scratch + "2") }
        #expect(throws: ReportError.self) { try SpecSource.materialize("nosuchrev:Experiments/pd.yaml", scratch: scratch + "3") }
        #expect(throws: ReportError.self) { try SpecSource.materialize("missing.yaml", scratch: scratch + "4") }

        let old = try ExperimentLoader().load(path: oldFile), new = try ExperimentLoader().load(path: file)
        let oldPlan = try PlanBuilder().plan(old), newPlan = try PlanBuilder().plan(new)
        // Pretend the data stages were computed before: they are in the cache.
        let cache = StageCache(root: dir + "/Outputs/.cache")
        for s in newPlan.stages where s.kind == .dataLoad {
            try FileManager.default.createDirectory(atPath: cache.entry(s.hash), withIntermediateDirectories: true)
            try "{}".write(toFile: cache.entry(s.hash) + "/manifest.json", atomically: true, encoding: .utf8)
        }
        let diff = PlanDiff(old: ("HEAD:Experiments/pd.yaml", old, oldPlan), new: ("Experiments/pd.yaml", new, newPlan), cache: cache)
        #expect(diff.config.map(\.path) == ["optimizer.lr"] && diff.config[0].values == ["1e-3", "3e-4"])
        #expect(diff.stages.first { $0.kind == "data.load" }?.action == "cached")
        #expect(diff.stages.first { $0.kind == "data.load" }?.change == "unchanged")
        #expect(diff.stages.first { $0.kind == "train" }?.change == "changed")
        #expect(diff.stages.first { $0.kind == "train" }?.action == "would run")
        #expect(diff.text(color: false).contains("optimizer.lr  1e-3  →  3e-4"))
        #expect(diff.markdown().contains("| `optimizer.lr` | 1e-3 | 3e-4 |"))
    }

    @Test func aPlanDiffLabelsStagesByPointAndCountsAsPlanDoes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-plandiff2-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/s.yaml"
        try "tlc: 1\nname: s\ndata: {classes: [0, 1], train_per_class: 40}\nbackbone: {arch: mlp}\nsweep: {grid: {optimizer.lr: [1e-3, 3e-3]}}\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let loaded = try ExperimentLoader().load(path: file)
        let plan = try PlanBuilder().plan(loaded)
        let diff = PlanDiff(old: ("a", loaded, plan), new: ("b", loaded, plan), cache: nil)
        #expect(diff.stages.first { $0.kind == "data.load" }?.points == "all points")
        #expect(Set(diff.stages.filter { $0.kind == "train" }.map(\.points)) == ["lr=1e-3", "lr=3e-3"])
        #expect(diff.reportStages == 2 && diff.stages.count + diff.reportStages == plan.stages.count)
        #expect(diff.text(color: false).contains("\(plan.stages.count) as `tlc plan` counts"))
    }
}

@Suite struct DiffNoiseTests {
    @Test func emptyAndAbsentAreNotAChange() {
        func point(_ resolved: SpecValue) -> PointData {
            PointData(dir: "/x", experiment: "e", label: "", description: nil, metrics: ["test.accuracy": 0.5], variants: [], history: [],
                      evaluations: [], resolved: resolved, stages: [], target: "test.accuracy")
        }
        let a = point(.map([SpecEntry("optimizer", .map([SpecEntry("lr", .double(1e-3)), SpecEntry("groups", .map([]))]))]))
        let b = point(.map([SpecEntry("optimizer", .map([SpecEntry("lr", .double(3e-4))]))]))
        let diff = RunDiff([a, b])
        #expect(diff.config.map(\.path) == ["optimizer.lr"], "groups {} → (absent) is no change")
        // A checkpoint 8 bytes smaller is not better; a quarter of the size is.
        let bytes = RunDiff.MetricRow(name: "model.bytes", values: [1000, 992, 250], higherIsBetter: false)
        #expect(bytes.better(1) == nil && bytes.arrow(1) == "↓" && bytes.better(2) == true)
    }
}
