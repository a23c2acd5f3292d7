// "Did you mean" where the right spelling lives elsewhere: a key in the wrong
// section, a sweep path, a misspelled `run:` name; `up_to` lists the layers.
import Foundation
import Testing
@testable import FrontEnd

@Suite struct DidYouMeanTests {
    func errors(_ files: [String: String], check name: String) throws -> [Diagnostic] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-dym-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (file, text) in files { try text.write(toFile: dir + "/" + file, atomically: true, encoding: .utf8) }
        do { _ = try ExperimentLoader().load(path: dir + "/" + name); return [] } catch { return error.diagnostics }
    }

    @Test func keysAndPathsThatBelongElsewhere() throws {
        let d = try errors(["x.yaml": "tlc: 1\nname: x\nlearning_rate: 0.1\ntraining: {batchsize: 3}\nsweep: {grid: {training.lr: [1e-3, 3e-3]}}\n"], check: "x.yaml")
        #expect(d.contains { $0.message == "unknown key 'learning_rate' in the experiment; did you mean 'optimizer.lr'?" && $0.location?.line == 3 })
        #expect(d.contains { $0.message.contains("unknown key 'batchsize' in training; did you mean 'batch_size'?") })
        #expect(d.contains { $0.message.contains("sweep path 'training.lr': 'training' has no field 'lr'; did you mean 'optimizer.lr'?") })
    }

    @Test func runNamesAndUpToLayers() throws {
        let d = try errors(["ux-pretrain.yaml": "tlc: 1\nname: ux-pretrain\n",
                            "y.yaml": "tlc: 1\nname: y\nbackbone: {arch: lenet5, weights: run:ux-pretrian, freeze: {up_to: conv3}}\n"],
                           check: "y.yaml")
        #expect(d.contains { $0.message.hasSuffix("no experiment 'ux-pretrian' found; did you mean 'run:ux-pretrain'?") })
        let upTo = try #require(d.first { $0.message.contains("up_to names no layer or block 'conv3'") })
        #expect(!upTo.message.contains("did you mean"))
        #expect(upTo.notes.contains { $0.contains("conv1, relu1, pool1, conv2") })
    }
}

@Suite struct HintTests {
    @Test func commaLabelsAndInheritedEnsemblesGetAHint() throws {
        let t = DidYouMeanTests()
        let flow = try t.errors(["z.yaml": "tlc: 1\nname: z\nensemble: {members: [run:other/case=a,seed=1, x]}\n"], check: "z.yaml")
        #expect(flow.contains { $0.message.contains("no experiment 'seed=1' found") && $0.notes.contains { $0.contains("quote it") } }, "\(flow)")
        let top = try t.errors(["w.yaml": "tlc: 1\nname: w\nensemble: {members: {top: 2}}\n"], check: "w.yaml")
        #expect(top.contains { $0.message.contains("but it has no sweep") && $0.notes.contains { $0.contains("ensemble: null") } })
    }
}
