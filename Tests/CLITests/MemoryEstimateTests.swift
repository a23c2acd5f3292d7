// The plan's memory estimates against the real thing: the peak resident memory of
// `tlc run` (the built binary, one stage at a time) for zoo models, read from the
// kernel's accounting of the child process; and a model that cannot fit is refused
// before anything runs.
import Foundation
import Testing
import FrontEnd
import Planner
@testable import TLCCommands

@Suite struct MemoryEstimateTests {
    /// A 600-sample, 1×28×28, three-class csv data set and a spec over it.
    static func setUp(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-mem-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var csv = (0..<784).map { "x\($0)" }.joined(separator: ",") + ",label\n"
        var state: UInt64 = 12345
        for row in 0..<600 {
            var values: [String] = []
            values.reserveCapacity(785)
            for _ in 0..<784 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                values.append(String(Double(state >> 40) / Double(1 << 24)).prefix(4).description)
            }
            csv += values.joined(separator: ",") + ",\(row % 3)\n"
        }
        try csv.write(toFile: dir + "/img.csv", atomically: true, encoding: .utf8)
        try """
            tlc: 1
            name: mem
            data: {dataset: csv:img.csv, classes: [0, 1, 2], input_shape: [1, 28, 28]}
            backbone: {arch: mlp}
            training: {epochs: 1, batch_size: 128}

            """.write(toFile: dir + "/mem.yaml", atomically: true, encoding: .utf8)
        return dir
    }

    /// Runs the tlc binary; its exit status, stdout and stderr.
    static func capture(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TLCBinary.path)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    static func estimate(_ dir: String, _ overrides: [String]) throws -> Int {
        let loaded = try ExperimentLoader().load(path: dir + "/mem.yaml", overrides: overrides)
        return MemoryEstimate.peak(try PlanBuilder().plan(loaded))?.memory ?? 0
    }

    @Test(arguments: ["mlp", "lenet5", "cnn", "resnet-8", "alexnet-mini"])
    func estimateIsWithin30PercentOfThePeakResidentMemory(arch: String) throws {
        // 432 training, 48 validation and 120 test samples (data.validation 0.1, test_fraction 0.2).
        try Self.checkEstimate(["backbone.arch=\(arch)"])
    }

    /// Half the training split held out: training evaluates 240 validation samples after
    /// each epoch, at small training batches.
    @Test(arguments: ["cnn", "resnet-8", "alexnet-mini"])
    func estimateIsWithin30PercentWithALargeValidationSplit(arch: String) throws {
        try Self.checkEstimate(["backbone.arch=\(arch)", "data.validation=0.5", "training.batch_size=16"])
    }

    /// Runs the spec with `overrides` and compares the plan's peak estimate with the run's peak RSS.
    static func checkEstimate(_ overrides: [String]) throws {
        let dir = try Self.setUp(overrides[0].replacingOccurrences(of: "backbone.arch=", with: ""))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let estimated = try Self.estimate(dir, overrides)
        let r = try Self.capture(["run", dir + "/mem.yaml", "--output", dir + "/out", "--no-cache", "--jobs", "1"]
                                 + overrides.flatMap { ["--set", $0] })
        try #require(r.code == 0, "\(r.err)")
        // env.json's peak_rss_bytes: the process's own high-water mark (VmHWM).
        let runs = try FileManager.default.contentsOfDirectory(atPath: dir + "/out/mem").filter { !$0.hasPrefix(".") && $0 != "latest" }
        let env = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/mem/" + runs[0] + "/env.json"))) as? [String: Any]
        let measured = try #require(env?["peak_rss_bytes"] as? Int)
        let ratio = Double(estimated) / Double(measured)
        #expect(abs(ratio - 1) <= 0.3, "\(overrides.joined(separator: " ")): estimated \(MemoryEstimate.format(estimated)), measured \(MemoryEstimate.format(measured))")
    }

    @Test func aModelThatCannotFitIsRefusedBeforeAnythingRuns() throws {
        let dir = try Self.setUp("huge")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = dir + "/mem.yaml", out = dir + "/out"
        let huge = ["--set", "backbone.options={widths: [100000, 100000]}"]
        let captured = try Self.capture(["run", spec, "--output", out] + huge)
        #expect(!FileManager.default.fileExists(atPath: out + "/mem"), "no run folder, not even a .partial one")
        #expect(captured.code == 2)
        #expect(captured.err.contains("stage train:") && captured.err.contains("GB of memory, more than this machine's available memory"))
        // An explicit limit both ways; a size that is not one is a usage error.
        #expect(try Self.capture(["run", spec, "--output", out, "--max-memory", "1M"]).code == 2)
        #expect(try Self.capture(["run", spec, "--output", out, "--max-memory", "lots"]).code == 2)
        // validate and plan warn (the run may be meant for a bigger machine) and print the estimates.
        let plan = try Self.capture(["plan", spec] + huge)
        #expect(plan.code == 0)
        #expect(plan.err.contains("warning: stage train:"))
        #expect(plan.out.contains("estimated peak memory"))
    }
}
