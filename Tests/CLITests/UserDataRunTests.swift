// A user's own data through `tlc run`: a CSV file with a held-out stratified test
// split, and an npy folder (written by numpy) with a separate test set. Editing a
// data file changes the plan's hashes.
import Foundation
import Testing
import FrontEnd
import Planner
import Jobs
import TestSupport
@testable import TLCCommands

@Suite(.serialized) struct UserDataRunTests {
    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-userdata-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Three separable classes named by strings, 4 features each.
    func writeCSV(_ path: String, rows: Int, seed: UInt64) throws {
        var state = seed
        func uniform() -> Double { state = state &* 6364136223846793005 &+ 1442695040888963407; return Double(state >> 11) / Double(1 << 53) }
        var text = "f1,f2,label,f3,f4\n"
        let names = ["circle", "square", "star"]
        for i in 0..<rows {
            let c = i % 3
            let v = (0..<4).map { j in (j == c ? 3.0 : 0.0) + uniform() - 0.5 }
            text += "\(v[0]),\(v[1]),\(names[c]),\(v[2]),\(v[3])\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func metrics(_ out: String, _ name: String) throws -> [String: Double] {
        let dir = out + "/\(name)/" + (try FileManager.default.destinationOfSymbolicLink(atPath: out + "/\(name)/latest"))
        return try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/metrics.json"))) as! [String: Double]
    }

    @Test func csvDataTrainsWithAHeldOutTestSplit() throws {
        let dir = try scratch(), out = dir + "/Outputs"
        try writeCSV(dir + "/shapes.csv", rows: 300, seed: 1)
        let file = dir + "/shapes.yaml"
        try """
            tlc: 1
            name: shapes
            seed: 4
            data: {dataset: csv:shapes.csv, classes: [0, 1, 2], input_shape: [4, 1, 1], test_fraction: 0.25}
            backbone: {arch: mlp, options: {widths: [16]}}
            optimizer: {lr: 1e-2}
            training: {epochs: 8, batch_size: 16}

            """.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", file, "--output", out]) == 0)
        let m = try metrics(out, "shapes")
        #expect(m["test.accuracy"]! > 0.9, "\(m)")
        // The csv's class names reach the evaluation (and so the reports).
        let run = out + "/shapes/" + (try FileManager.default.destinationOfSymbolicLink(atPath: out + "/shapes/latest"))
        let evaluation = try String(contentsOfFile: run + "/evaluation.json", encoding: .utf8)
        #expect(evaluation.contains("\"circle\"") && evaluation.contains("\"star\"") && !evaluation.contains("class 0"), "\(evaluation)")
        // 300 rows: 75 held out for testing (stratified), the rest trains (minus validation).
        let loaded = try ExperimentLoader().load(path: file)
        let plan = try PlanBuilder().plan(loaded)
        let load = try #require(plan.stages.first { $0.kind == .dataLoad })
        // The file's contents are hashed: editing it changes the stage.
        try writeCSV(dir + "/shapes.csv", rows: 300, seed: 2)
        let again = try PlanBuilder().plan(try ExperimentLoader().load(path: file))
        #expect(again.stages.first { $0.kind == .dataLoad }!.hash != load.hash)
        #expect(TLC.run(["run", file, "--output", out]) == 0)
    }

    @Test func npyFolderWithASeparateTestSet() throws {
        let dir = try scratch(), out = dir + "/Outputs"
        let made = try pythonWithSafetensors("""
            import numpy as np, os
            rng = np.random.default_rng(3)
            for folder, n in [("train", 240), ("test", 90)]:
                os.makedirs("\(dir)/" + folder, exist_ok=True)
                y = np.arange(n) % 3
                x = rng.normal(0, 0.3, (n, 1, 4, 4)).astype(np.float32)
                for i in range(n): x[i, 0, y[i], :] += 2.0
                np.save("\(dir)/" + folder + "/x.npy", x); np.save("\(dir)/" + folder + "/y.npy", y.astype(np.int64))
            print("ok")
            """)
        try #require(made.status == 0, "\(made.output)")
        let file = dir + "/rows.yaml"
        try """
            tlc: 1
            name: rows
            data: {dataset: npy:train, test_dataset: npy:test, classes: [0, 1, 2], input_shape: [1, 4, 4]}
            backbone: {arch: mlp, options: {widths: [16]}}
            optimizer: {lr: 1e-2}
            training: {epochs: 6, batch_size: 16}

            """.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", file, "--output", out]) == 0)
        #expect(try metrics(out, "rows")["test.accuracy"]! > 0.9)

        // Located errors: a folder without y.npy; test_fraction with a test set; test options on fashion-mnist.
        try FileManager.default.removeItem(atPath: dir + "/test/y.npy")
        do { _ = try ExperimentLoader().load(path: file); Issue.record("expected an error") } catch {
            #expect(error.diagnostics.contains { $0.message.contains("has no y.npy") && $0.location?.line == 3 })
        }
        try "tlc: 1\nname: f\ndata: {test_fraction: 0.3}\n".write(toFile: dir + "/f.yaml", atomically: true, encoding: .utf8)
        do { _ = try ExperimentLoader().load(path: dir + "/f.yaml"); Issue.record("expected an error") } catch {
            #expect(error.diagnostics.contains { $0.message.contains("fashion-mnist has its own test split") })
        }
    }
}
