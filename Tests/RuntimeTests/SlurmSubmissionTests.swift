// How a plan becomes Slurm jobs, without Slurm: shared stages are single jobs,
// the points one array, dependencies follow the DAG, cached and in-flight stages
// are left out; executor profiles are read with located errors.
import Foundation
import FrontEnd
import Planner
import Jobs
import Testing
import TestSupport
@testable import Runtime

@Suite struct SlurmSubmissionTests {
    static let sweep = TestSpecs.tinySweep(name: "subsweep")

    func write(_ text: String, _ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-sub-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        return dir + "/" + name
    }

    func plan() throws -> Plan { try PlanBuilder().plan(try ExperimentLoader().load(path: try write(Self.sweep, "s.yaml"))) }

    @Test func sharedStagesAreJobsAndPointsAnArray() throws {
        let plan = try plan()
        let jobs = SlurmSubmissionPlanner.jobs(for: plan, isComplete: { _ in false })
        let shared = plan.stages.filter { $0.points.count > 1 && $0.kind != .report }
        #expect(!shared.isEmpty)
        #expect(jobs.filter { $0.role == .shared }.count == shared.count)
        let array = try #require(jobs.last)
        #expect(array.role == .points && array.tasks.count == 4)
        #expect(Set(array.labels) == Set(plan.points.map(\.label)))
        // Each task runs its point's train and evaluate stages, in that order.
        for (i, task) in array.tasks.enumerated() {
            let kinds = task.compactMap { h in plan.stages.first { $0.hash == h }?.kind }
            #expect(kinds == [.train, .evaluate], "task \(i)")
        }
        // Dependencies point backwards and cover every shared stage the tasks read.
        for (i, job) in jobs.enumerated() { #expect(job.after.allSatisfy { $0 < i }) }
        #expect(!array.after.isEmpty)
        // No report stage is ever submitted.
        let submitted = Set(jobs.flatMap { $0.tasks.flatMap { $0 } })
        #expect(plan.stages.filter { $0.kind == .report }.allSatisfy { !submitted.contains($0.hash) })
    }

    @Test func aSingleRunIsOneTaskRunningEveryStage() throws {
        let file = try write("tlc: 1\nname: one\ndata: {classes: [0, 1], train_per_class: 40, test_per_class: 20}\nbackbone: {arch: mlp, options: {widths: [8]}}\n", "one.yaml")
        let plan = try PlanBuilder().plan(try ExperimentLoader().load(path: file))
        let jobs = SlurmSubmissionPlanner.jobs(for: plan, isComplete: { _ in false })
        #expect(jobs.count == 1 && jobs[0].tasks.count == 1)
        #expect(jobs[0].tasks[0] == plan.stages.filter { $0.kind != .report }.map(\.hash))
    }

    @Test func cachedAndInFlightStagesAreNotSubmitted() throws {
        let plan = try plan()
        #expect(SlurmSubmissionPlanner.jobs(for: plan, isComplete: { _ in true }).isEmpty)
        // Shared stages cached: only the array, waiting for nothing.
        let onlyPoints = SlurmSubmissionPlanner.jobs(for: plan, isComplete: { $0.points.count > 1 })
        #expect(onlyPoints.count == 1 && onlyPoints[0].after.isEmpty && onlyPoints[0].afterInFlight.isEmpty)
        // One point's stages in flight in job 41_2: three tasks, no new shared job; shared in flight in 40.
        let point = plan.points[2]
        var inFlight: [String: String] = [:]
        for s in plan.stages where s.points == [point.id] && s.kind != .report { inFlight[s.hash] = "41_2" }
        for s in plan.stages where s.points.count > 1 { inFlight[s.hash] = "40" }
        let rest = SlurmSubmissionPlanner.jobs(for: plan, isComplete: { _ in false }, inFlight: inFlight)
        #expect(rest.count == 1 && rest[0].tasks.count == 3 && !rest[0].labels.contains(point.label))
        #expect(rest[0].afterInFlight == ["40"])
    }

    @Test func scriptsCarryTheSettingsAndNotTheHashes() throws {
        let plan = try plan()
        var settings = SlurmSettings()
        settings.partition = "gpu"
        settings.time = "1:00:00"
        settings.cpusPerTask = 4
        settings.mem = "4G"
        settings.sbatchOptions = ["--account=lab"]
        let jobs = SlurmSubmissionPlanner.jobs(for: plan, isComplete: { _ in false })
        let script = SlurmSubmissionPlanner.script(for: jobs.last!, experiment: "subsweep", submissionFile: "/o/.slurm/s/1/submission.json",
                                                   logDir: "/o/logs", workDir: "/w", settings: settings, tlc: "/opt/tlc")
        for line in ["#SBATCH --partition=gpu", "#SBATCH --time=1:00:00", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=4G",
                     "#SBATCH --account=lab", "#SBATCH --array=0-3", "exec /opt/tlc exec-stage /o/.slurm/s/1/submission.json $stages"] {
            #expect(script.contains(line), "\(line)")
        }
        // Executor settings never reach the planner: the plan is the same whatever they are.
        #expect(try self.plan().stages.map(\.hash) == plan.stages.map(\.hash))
    }

    @Test func profilesAreReadWithLocatedErrors() throws {
        let good = try write("executor: slurm\npartition: debug\ntime: \"2:00:00\"\ncpus_per_task: 2\nmem: 4G\nsbatch: [\"--qos=short\"]\n", "ok.yaml")
        let s = try SlurmSettings.load(profile: good)
        #expect(s.partition == "debug" && s.time == "2:00:00" && s.cpusPerTask == 2 && s.mem == "4G" && s.sbatchOptions == ["--qos=short"])
        var cli = SlurmSettings()
        cli.partition = "long"
        #expect(s.overridden(by: cli).partition == "long")

        let bad = try write("partition: debug\ncpu_per_task: 4\ntime: soon\nsbatch: [\"--array=1-2\"]\n", "bad.yaml")
        do {
            _ = try SlurmSettings.load(profile: bad)
            Issue.record("a bad profile was accepted")
        } catch {
            let text = error.diagnostics.map(\.description)
            #expect(text.contains { $0.contains("bad.yaml:2:1") && $0.contains("did you mean 'cpus_per_task'") }, "\(text)")
            #expect(text.contains { $0.contains("bad.yaml:3:7") && $0.contains("'time'") }, "\(text)")
            #expect(text.contains { $0.contains("--array") }, "\(text)")
        }
    }

    @Test func squeueArrayRangesExpand() {
        #expect(SlurmClient.expand("13_[0-2,5%4]") == ["13_0", "13_1", "13_2", "13_5"])
        #expect(SlurmClient.expand("12") == ["12"])
        #expect(SlurmClient.expand("13_4") == ["13_4"])
    }
}

/// The hook a remote executor uses, with a stand-in executor: its failures fail the
/// points, and a run cancelled before any stage starts ends at once (the scheduler
/// used to wait forever for ready stages it was not allowed to start).
@Suite struct RemoteHookTests {
    struct Refusing: RemoteExecutor {
        func execute(_ plan: Plan, cache: StageCache, log: @escaping @Sendable (String) -> Void) -> [String: String] {
            var out: [String: String] = [:]
            for s in plan.stages where s.kind != .report { out[s.id] = "Slurm job 7 FAILED, log /x/7.out" }
            return out
        }
    }

    func setUp() throws -> (Plan, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-hook-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "tlc: 1\nname: hook\ndata: {classes: [0, 1], train_per_class: 40, test_per_class: 20}\nbackbone: {arch: mlp, options: {widths: [8]}}\ntraining: {epochs: 1}\n"
            .write(toFile: dir + "/h.yaml", atomically: true, encoding: .utf8)
        let loaded = try ExperimentLoader().load(path: dir + "/h.yaml")
        return (try PlanBuilder().plan(loaded), dir)
    }

    @Test func remoteFailuresFailThePoint() throws {
        let (plan, dir) = try setUp()
        var options = RunOptions(outputRoot: dir + "/Outputs")
        options.remote = Refusing()
        let result = try LocalRunner.run(plan, options: options) { _ in }
        #expect(result.status == "failed")
        #expect(result.points.first?.error?.contains("Slurm job 7 FAILED") == true)
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/Outputs/.cache")) ?? []).filter { !$0.hasPrefix(".") }
        #expect(entries.isEmpty, "nothing ran locally: \(entries)")
    }

    @Test func cancelledBeforeStartingEndsAtOnce() throws {
        let (plan, dir) = try setUp()
        let cancellation = Cancellation()
        cancellation.cancel()
        let result = try LocalRunner.run(plan, options: RunOptions(outputRoot: dir + "/Outputs", cancellation: cancellation)) { _ in }
        #expect(result.status == "cancelled")
    }
}
