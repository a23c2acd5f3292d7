// What a run records about how it came about (RunProvenance): the command line and
// overrides in env.json and as log.txt's first lines, a sweep's seeds point by
// point, `cached` for a rerun that computed nothing.
import Foundation
import Testing
@testable import FrontEnd
@testable import Planner
import Jobs
@testable import Runtime

@Suite(.serialized) struct RunProvenanceTests {
    func temp() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-provenance-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func run(_ yaml: String, in dir: String, overrides: [String] = [], commandLine: [String]? = nil,
             useCache: Bool = true) throws -> RunResult {
        let file = (dir as NSString).appendingPathComponent("e.yaml")
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let plan = try PlanBuilder().plan(try ExperimentLoader().load(path: file, overrides: overrides))
        var options = RunOptions(outputRoot: dir + "/Outputs", useCache: useCache)
        options.commandLine = commandLine
        return try LocalRunner.run(plan, options: options) { _ in }
    }

    func json(_ path: String) throws -> [String: Any] {
        let data = try #require(FileManager.default.contents(atPath: path))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func logLines(_ runDir: String) throws -> [String] {
        try String(contentsOfFile: runDir + "/log.txt", encoding: .utf8).split(separator: "\n").map(String.init)
    }

    static let small = RunToolsTests.small

    @Test func commandOverridesAndCachedAreRecorded() throws {
        let dir = try temp()
        let argv = ["tlc", "run", "e.yaml", "--set", "optimizer.lr=3e-3", "--set", "training.label_smoothing=0.1"]
        let overrides = ["optimizer.lr=3e-3", "training.label_smoothing=0.1"]
        let first = try run(Self.small, in: dir, overrides: overrides, commandLine: argv)
        let env = try json(first.runDir + "/env.json")
        #expect(env["command"] as? [String] == argv)
        #expect(env["overrides"] as? [String] == overrides)
        #expect(env["base_seed"] as? Int == 5 && env["seed"] as? Int == 5 && env["seeds"] == nil)
        #expect(env["cached"] as? Bool == false)
        #expect(first.cachedStages == nil)
        let lines = try logLines(first.runDir)
        #expect(lines[0] == "command: tlc run e.yaml --set optimizer.lr=3e-3 --set training.label_smoothing=0.1")
        #expect(lines[1] == "overrides: optimizer.lr=3e-3 training.label_smoothing=0.1")
        #expect(lines[2].hasPrefix("tlc 0.1.0 run tiny"))

        // The same again: every stage from the cache, and it says so everywhere.
        let again = try run(Self.small, in: dir, overrides: overrides, commandLine: argv)
        #expect(try logLines(again.runDir).contains { $0.hasPrefix("stages: 0 ran, 5 from the cache") })
        #expect(again.cachedStages == 5)
        #expect(try json(again.runDir + "/env.json")["cached"] as? Bool == true)
        #expect(again.json.contains(#""cached": true"#))

        let store = RunStore(outputRoot: dir + "/Outputs")
        let records = store.runs(of: "tiny")
        #expect(records.map(\.path) == [again.runDir, first.runDir])
        #expect(records.map(\.cached) == [true, false])
        #expect(records.allSatisfy { $0.overrides == overrides && $0.command == argv })

        // Without the cache nothing comes from it; a run started through the library has no command line.
        let fresh = try run(Self.small, in: dir, useCache: false)
        #expect(fresh.cachedStages == nil)
        let freshEnv = try json(fresh.runDir + "/env.json")
        #expect(freshEnv["cached"] as? Bool == false && freshEnv["command"] is NSNull)
        #expect((freshEnv["overrides"] as? [Any])?.isEmpty == true)
        let freshLines = try logLines(fresh.runDir)
        #expect(freshLines[0].hasPrefix("command: (none:") && freshLines[1] == "overrides: none")
        #expect(try store.read(fresh.runDir).command == nil)
    }

    @Test func aSweepRecordsTheSeedsItsPointsUsed() throws {
        let dir = try temp()
        let r = try run(Self.small + "sweep:\n  grid:\n    seed: [1, 2]\n    seeds.init: [9]\n", in: dir)
        let env = try json(r.runDir + "/env.json")
        #expect(env["seed"] == nil, "a sweep claims no single seed")
        #expect(env["base_seed"] as? Int == 5)
        let seeds = try #require(env["seeds"] as? [[String: Any]])
        #expect(seeds.compactMap { $0["seed"] as? Int } == [1, 2])
        #expect(seeds.compactMap { $0["point"] as? String } == r.points.map(\.label))
        #expect(seeds.allSatisfy { ($0["streams"] as? [String: Int]) == ["init": 9] })
    }

    @Test func commandLinesAreQuotedForAShell() {
        #expect(RunProvenance.shellLine(["tlc", "run", "a.yaml", "--set", "optimizer.lr=3e-4"]) == "tlc run a.yaml --set optimizer.lr=3e-4")
        #expect(RunProvenance.shellWord("my spec.yaml") == "'my spec.yaml'")
        #expect(RunProvenance.shellWord("it's") == #"'it'\''s'"#)
        #expect(RunProvenance.shellWord("") == "''")
        #expect(RunProvenance.shellWord("data.classes=[0,1]") == "'data.classes=[0,1]'")
    }
}
