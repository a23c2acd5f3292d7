// `tlc exec-stage` — what each Slurm job runs — works from the recorded plan
// alone: the experiment file is deleted before the stages run, and a plan that
// does not fit (an unknown stage, an edited plan.json) exits with 2.
import Foundation
import Testing
import FrontEnd
import Jobs
import Planner
import Runtime
import TestSupport
@testable import TLCCommands

@Suite(.serialized) struct ExecStageTests {
    @Test func stagesRunFromTheRecordedPlanWithTheSpecDeleted() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-exec-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/s.yaml"
        try TestSpecs.tinySweep(name: "execsweep").write(toFile: file, atomically: true, encoding: .utf8)
        let plan = try PlanBuilder().plan(try ExperimentLoader().load(path: file, overrides: ["training.epochs=1"]))
        let planFile = dir + "/plan.json"
        try plan.encoded().write(to: URL(fileURLWithPath: planFile))
        try FileManager.default.removeItem(atPath: file)

        let work = plan.stages.filter { $0.kind != .report }
        #expect(TLC.run(["exec-stage", planFile] + work.map { String($0.hash.prefix(12)) } + ["--output", dir + "/Outputs"]) == 0)
        let cache = StageCache(root: dir + "/Outputs/.cache")
        #expect(work.allSatisfy { cache.isComplete($0.hash) })
        // The run directory then comes wholly from the cache.
        let run = try LocalRunner.run(try Plan.read(planFile), options: RunOptions(outputRoot: dir + "/Outputs")) { _ in }
        #expect(run.status == "succeeded" && run.points.count == 4)
        #expect(try String(contentsOfFile: run.runDir + "/log.txt", encoding: .utf8).contains("stages: 0 ran"))

        // A stage the plan does not have, and a plan whose work was edited: exit code 2.
        #expect(TLC.run(["exec-stage", planFile, "0123456789abcdef", "--output", dir + "/Outputs"]) == 2)
        var text = try String(contentsOfFile: planFile, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"batchSize\" : 16", with: "\"batchSize\" : 17")
        try text.write(toFile: planFile, atomically: true, encoding: .utf8)
        #expect(TLC.run(["exec-stage", planFile, String(work[0].hash.prefix(12)), "--output", dir + "/Outputs"]) == 2)
    }
}
