// A cache that checks what it reads: every file of an entry has its SHA-256 in the
// manifest; an entry edited by hand (even keeping its size), a flipped bit, a NaN in
// a JSON file or a manifest that does not decode is damaged: reported, moved aside,
// recomputed and replaced — the run's results are the true ones, and it never fails.
import Foundation
import Testing
@testable import FrontEnd
@testable import Planner
import Jobs
@testable import Runtime

@Suite(.serialized) struct CacheTrustTests {
    let runner = LocalRunnerTests()

    func setUp() throws -> (dir: String, first: RunResult, plan: Plan) {
        let dir = try runner.temp()
        let first = try runner.run(LocalRunnerTests.small, in: dir)
        let plan = try Plan.read(first.runDir + "/plan.json")
        return (dir, first, plan)
    }

    func entry(_ plan: Plan, _ kind: Stage.Kind, in dir: String) -> String {
        dir + "/Outputs/.cache/" + plan.stages.first { $0.kind == kind }!.hash
    }

    func rerun(_ dir: String) throws -> (RunResult, String) {
        let r = try runner.run(LocalRunnerTests.small, in: dir)
        return (r, try String(contentsOfFile: r.runDir + "/log.txt", encoding: .utf8))
    }

    @Test func anEditedEvaluationKeepingItsSizeIsRecomputed() throws {
        let (dir, first, plan) = try setUp()
        let file = entry(plan, .evaluate, in: dir) + "/evaluation.json"
        let text = try String(contentsOfFile: file, encoding: .utf8)
        // One digit of the accuracy changed, the size kept.
        let edited = try #require(text.range(of: #""accuracy":0\.\d"#, options: .regularExpression).map { r -> String in
            var t = text
            let digit = t.index(before: r.upperBound)
            t.replaceSubrange(digit...digit, with: t[digit] == "1" ? "2" : "1")
            return t
        })
        #expect(edited.utf8.count == text.utf8.count && edited != text)
        try edited.write(toFile: file, atomically: true, encoding: .utf8)
        let (r, log) = try rerun(dir)
        #expect(r.status == "succeeded")
        #expect(log.contains("is damaged (evaluation.json digest mismatch); recomputing"), "\(log)")
        #expect(r.points[0].metrics["test.accuracy"] == first.points[0].metrics["test.accuracy"])
        // Replaced: the next run takes it from the cache again, silently.
        let (_, again) = try rerun(dir)
        #expect(!again.contains("damaged") && again.contains("stages: 0 ran"))
    }

    @Test func aFlippedBitInTheWeightsIsRecomputed() throws {
        let (dir, first, plan) = try setUp()
        let file = entry(plan, .train, in: dir) + "/model.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        bytes[bytes.count / 2] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: file))
        let (r, log) = try rerun(dir)
        #expect(log.contains("model.safetensors digest mismatch"), "\(log)")
        #expect(FileManager.default.contents(atPath: r.runDir + "/model.safetensors") == FileManager.default.contents(atPath: first.runDir + "/model.safetensors"))
    }

    @Test func aNaNOrAGarbledManifestNeverFailsARun() throws {
        let (dir, first, plan) = try setUp()
        let norm = entry(plan, .dataNormalize, in: dir)
        try #"{"kind":"standardize","scale":[NaN],"shift":[0]}"#.write(toFile: norm + "/normalization.json", atomically: true, encoding: .utf8)
        // (model.init is not read when train is cached; train is.)
        try "{garbage".write(toFile: entry(plan, .train, in: dir) + "/manifest.json", atomically: true, encoding: .utf8)
        let (r, log) = try rerun(dir)
        #expect(r.status == "succeeded", "\(log)")
        #expect(log.contains("normalization.json") && log.contains("manifest.json does not decode"), "\(log)")
        #expect(r.points[0].metrics["test.accuracy"] == first.points[0].metrics["test.accuracy"])
        #expect(FileManager.default.contents(atPath: r.runDir + "/model.safetensors") == FileManager.default.contents(atPath: first.runDir + "/model.safetensors"))
    }
}
