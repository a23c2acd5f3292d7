// Sweep points as artifacts: `run:NAME/LABEL` and `run:NAME/best` name one point of
// another experiment's sweep for pretrained weights and ensemble members; the point's
// stages hash as in the sweep's run, so nothing is trained again.
import Foundation
import Testing
import TestSupport
@testable import TLCCommands

@Suite(.serialized) struct PointReferenceTests {
    @Test func weightsAndMembersFromSweepPoints() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-pointref-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let out = dir + "/Outputs"
        try TestSpecs.tinySweep(name: "src").write(toFile: dir + "/src.yaml", atomically: true, encoding: .utf8)
        // Before the sweep ran, `best` is unknown: a clear error, exit 2.
        try """
            tlc: 1
            name: dst
            data: {classes: [2, 3], train_per_class: 40, test_per_class: 20}
            backbone: {arch: mlp, options: {widths: [8]}, weights: run:src/best, freeze: all}
            training: {epochs: 1, batch_size: 32}

            """.write(toFile: dir + "/dst.yaml", atomically: true, encoding: .utf8)
        // `plan` and `validate` plan with the first point in its place (a warning); `run` refuses.
        #expect(TLC.run(["plan", dir + "/dst.yaml", "--output", out]) == 0)
        #expect(TLC.run(["validate", dir + "/dst.yaml"]) == 0)
        #expect(TLC.run(["run", dir + "/dst.yaml", "--output", out]) == 2)
        #expect(TLC.run(["run", dir + "/src.yaml", "--output", out]) == 0)

        // The best point's weights: its stages come from the cache (no source training).
        #expect(TLC.run(["run", dir + "/dst.yaml", "--output", out]) == 0)
        let dstLog = try String(contentsOfFile: out + "/dst/latest/log.txt", encoding: .utf8)
        #expect(dstLog.components(separatedBy: "epoch 1/1").count - 1 == 1, "only dst trains: \(dstLog)")
        #expect(dstLog.contains("backbone tensors from run:src/lr="), "\(dstLog)")

        // Two named points as ensemble members, on the sweep's own data: nothing trains.
        try """
            tlc: 1
            name: duo
            seed: 5
            data: {classes: [0, 1], train_per_class: 40, test_per_class: 20}
            backbone: {arch: mlp, options: {widths: [8]}}
            training: {epochs: 1, batch_size: 32}
            ensemble: {members: ["run:src/lr=1e-3,batch_size=16", "run:src/lr=3e-3,batch_size=32"]}

            """.write(toFile: dir + "/duo.yaml", atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", dir + "/duo.yaml", "--output", out]) == 0)
        let duoLog = try String(contentsOfFile: out + "/duo/latest/log.txt", encoding: .utf8)
        #expect(duoLog.contains("members' test accuracy"))
        // The members come from the cache, and so does duo's own baseline: it is the
        // same work as the sweep's point lr=1e-3,batch_size=32.
        #expect(!duoLog.contains("epoch 1/1"), "\(duoLog)")

        // Compress the best point by reference: its model (from the cache) is this run's baseline.
        try "tlc: 1\nname: slim\nmodel: run:src/best\ncompression:\n  - prune: {sparsity: 0.5, finetune_epochs: 1}\n"
            .write(toFile: dir + "/slim.yaml", atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", dir + "/slim.yaml", "--output", out]) == 0)
        let slimLog = try String(contentsOfFile: out + "/slim/latest/log.txt", encoding: .utf8)
        #expect(slimLog.contains("fine-tune 1/1 epoch 1/1") && slimLog.components(separatedBy: "epoch 1/1").count - 1 == 1, "only the fine-tuning trains: \(slimLog)")
        let slimMetrics = try String(contentsOfFile: out + "/slim/latest/metrics.json", encoding: .utf8)
        #expect(slimMetrics.contains("\"pruned\""))
        let resolved = try String(contentsOfFile: out + "/slim/latest/resolved.yaml", encoding: .utf8)
        #expect(resolved.contains("name: slim\n") && resolved.contains("train_per_class: 40") && !resolved.contains("model:"), "\(resolved)")
        // `tlc show` lists the variants, and names a sweep point as NAME/LABEL.
        let shown = Output.Capture()
        #expect(Output.$capture.withValue(shown) { TLC.run(["show", "slim@latest", "--output", out]) } == 0)
        #expect(shown.text.contains("variants (size and latency as variant ÷ baseline)") && shown.text.contains("pruned"), "\(shown.text)")
        let point = Output.Capture()
        #expect(Output.$capture.withValue(point) { TLC.run(["show", "src/lr=1e-3,batch_size=16", "--output", out]) } == 0)
        #expect(point.text.contains("/lr=1e-3,batch_size=16"))
        #expect(TLC.run(["show", "src/lr=1e-3,batch_size=99", "--output", out]) == 2)
        // A newer sweep run with --set is not the file's sweep: `best` still comes from the
        // run made from the file, so slim's plan is unchanged (everything from the cache).
        #expect(TLC.run(["run", dir + "/src.yaml", "--output", out, "--set", "seed=6"]) == 0)
        #expect(TLC.run(["run", dir + "/slim.yaml", "--output", out]) == 0)
        #expect(try String(contentsOfFile: out + "/slim/latest/log.txt", encoding: .utf8).contains("stages: 0 ran"))
        // What the model brings cannot be set again next to it.
        try "tlc: 1\nname: slim2\nmodel: run:src/best\ntraining: {epochs: 3}\n".write(toFile: dir + "/slim2.yaml", atomically: true, encoding: .utf8)
        #expect(TLC.run(["validate", dir + "/slim2.yaml"]) == 2)

        // A label that names no point: exit 2 (the message suggests the closest label).
        try String(contentsOfFile: dir + "/duo.yaml", encoding: .utf8)
            .replacingOccurrences(of: "lr=3e-3,batch_size=32", with: "lr=3e-3,batch_size=31")
            .write(toFile: dir + "/duo.yaml", atomically: true, encoding: .utf8)
        #expect(TLC.run(["plan", dir + "/duo.yaml", "--output", out]) == 2)
        #expect(TLC.run(["validate", dir + "/duo.yaml"]) == 2, "validate refuses what plan refuses")
    }
}
