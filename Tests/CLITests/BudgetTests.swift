// training.budget: points that differ only in their epochs under one budget continue
// each other's training — the longer run's stage reads the shorter one's model and
// training state and trains only the extra epochs — and the result is bitwise the
// run trained straight to the same epochs under the same budget.
import Foundation
import Testing
import Engine
import FrontEnd
import Jobs
import Planner
@testable import TLCCommands

@Suite struct BudgetTests {
    static let base = """
        tlc: 1
        name: NAME
        seed: 4
        data: {classes: [0, 1, 2], train_per_class: 60, test_per_class: 20, validation: 0.2}
        backbone: {arch: mlp, options: {widths: [24]}}
        optimizer: {kind: adam, lr: 3e-3}
        training: {epochs: 4, batch_size: 32, budget: 4, schedule: {kind: cosine}}

        """

    @Test func aLongerRunContinuesTheShorterOneAndEqualsTheStraightRun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-budget-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try (Self.base.replacingOccurrences(of: "NAME", with: "ladder") + "sweep: {grid: {training.epochs: [2, 4]}}\n")
            .write(toFile: dir + "/ladder.yaml", atomically: true, encoding: .utf8)
        try Self.base.replacingOccurrences(of: "NAME", with: "straight").write(toFile: dir + "/straight.yaml", atomically: true, encoding: .utf8)

        // The plan: the 4-epoch stage continues the 2-epoch one from epoch 3.
        let plan = try PlanBuilder().plan(try ExperimentLoader().load(path: dir + "/ladder.yaml"))
        let trains = plan.stages.filter { $0.kind == .train }
        try #require(trains.count == 2)
        guard case .train(let short) = trains[0].work, case .train(let long) = trains[1].work else { Issue.record("no train work"); return }
        #expect(short.firstEpoch == nil && long.firstEpoch == 3)
        #expect(trains[1].deps.first == trains[0].id)
        #expect(trains[1].flops == trains[0].flops, "only the two extra epochs are counted")

        let out = dir + "/Outputs"
        #expect(TLC.run(["run", dir + "/ladder.yaml", "--output", out]) == 0)
        #expect(TLC.run(["run", dir + "/straight.yaml", "--output", out]) == 0)
        let continued = try SafeTensors.read(out + "/ladder/latest/epochs=4/model.safetensors")
        let straight = try SafeTensors.read(out + "/straight/latest/model.safetensors")
        #expect(continued.tensors.map(\.name) == straight.tensors.map(\.name))
        var equal = true
        for ((_, a), (_, b)) in zip(continued.tensors, straight.tensors) where a.values.map(\.bitPattern) != b.values.map(\.bitPattern) { equal = false }
        #expect(equal, "the continued run's weights are the straight run's, bit for bit")
        // Its history has all four epochs.
        let history = try String(contentsOfFile: out + "/ladder/latest/epochs=4/history.jsonl", encoding: .utf8)
        #expect(history.split(separator: "\n").count == 4)
    }

    @Test func aBudgetBelowTheEpochsOrWithEarlyStoppingIsAnError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-budget-bad-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, training) in [("below", "{epochs: 5, budget: 3}"), ("stopping", "{epochs: 5, budget: 8, early_stopping: {patience: 2}}")] {
            try "tlc: 1\nname: \(name)\ndata: {classes: [0, 1], validation: 0.1}\ntraining: \(training)\n"
                .write(toFile: dir + "/\(name).yaml", atomically: true, encoding: .utf8)
            #expect(TLC.run(["validate", dir + "/\(name).yaml"]) == 2, "\(name)")
        }
    }
}
