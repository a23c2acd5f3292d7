// The command line's side of run provenance on a small real run: `tlc run` records
// its argv and overrides and says when every stage came from the cache; `tlc ls`
// and `tlc show` display both.
import Foundation
import Testing
@testable import Runtime
@testable import TLCCommands

@Suite(.serialized) struct ProvenanceCommandsTests {
    func json(_ path: String) throws -> [String: Any] {
        let data = try #require(FileManager.default.contents(atPath: path))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func runRecordsItsCommandAndListsShowIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-cli-prov-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/clitiny.yaml", out = dir + "/Outputs"
        try RunCommandsTests.small.write(toFile: file, atomically: true, encoding: .utf8)
        let argv = ["run", file, "--output", out, "--set", "optimizer.lr=3e-3"]
        #expect(TLC.run(argv) == 0)
        #expect(TLC.run(argv) == 0)
        let store = RunStore(outputRoot: out)
        let runs = store.runs(of: "clitiny")
        #expect(runs.count == 2)
        let env = try json(runs[0].path + "/env.json")
        #expect(env["command"] as? [String] == ["tlc"] + argv)
        #expect(env["overrides"] as? [String] == ["optimizer.lr=3e-3"])
        #expect(runs.map(\.cached) == [true, false])

        let rows = ListRuns.rows(runs)
        #expect(rows[0].contains("OVERRIDES"))
        #expect(rows[1][2] == "succeeded (cached)" && rows[2][2] == "succeeded")
        #expect(rows[1][5] == "optimizer.lr=3e-3")
        #expect(ListRuns.overrides([]) == "-")
        #expect(ListRuns.overrides(["a=1", "b=2", "c=3"]) == "a=1 +2")
        #expect(ListRuns.overrides([String(repeating: "x", count: 40) + "=1"]).count == 32)

        let shown = ShowRun.text(runs[0])
        #expect(shown.contains("status     succeeded (every stage from the cache)"))
        #expect(shown.contains("command    tlc run \(file) --output \(out) --set optimizer.lr=3e-3"))
        #expect(shown.contains("overrides  optimizer.lr=3e-3"))
        #expect(shown.contains("seed  3"))

        let cached = RunResult(experiment: "e", runDir: "/x", status: "succeeded",
                               points: [PointResult(label: "", runDir: "/x", status: "succeeded", metrics: ["test.accuracy": 0.5], error: nil)],
                               isSweep: false, cachedStages: 5)
        #expect(Run.summary(cached) == "succeeded (all 5 stages from the cache): test accuracy 50.00%  →  /x")
        var computed = cached
        computed.cachedStages = nil
        computed.isSweep = true
        #expect(Run.summary(computed) == "succeeded: /x")
        // A sweep's line names its best point and the target's value.
        computed.points.append(PointResult(label: "lr=3e-3", runDir: "/x/lr=3e-3", status: "succeeded", metrics: ["test.accuracy": 0.75], error: nil))
        computed.points[0].label = "lr=1e-3"
        #expect(Run.summary(computed, target: "test.accuracy") == "succeeded: best of 2 points lr=3e-3 (test.accuracy 75.00%)  →  /x")
    }
}
