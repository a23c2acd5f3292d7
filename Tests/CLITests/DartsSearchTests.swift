// `search: {method: darts}` end to end through `tlc run`: the search network trains
// (weights on the training split, alpha on the validation split), its run directory
// holds the alphas, the genotype and derived.yaml, and `tlc run derived.yaml` trains
// the derived cell from scratch as an ordinary experiment. A rerun takes the search
// from the cache and derives the same cell; bad cell spaces exit with code 2.
import Foundation
import Testing
@testable import TLCCommands

@Suite struct DartsSearchTests {
    static let spec = """
        tlc: 1
        name: darts-tiny
        seed: 4
        data: {classes: [0, 1, 2], train_per_class: 32, test_per_class: 10, validation: 0.5}
        optimizer: {kind: adam, lr: 3e-3}
        training: {epochs: 1, batch_size: 16}
        search:
          method: darts
          max_epochs: 2
          operations: [conv_3x3, sep_conv_3x3, max_pool_3x3, identity, zero]
          nodes: 3
          cells: 1
          channels: 4
          alpha_lr: 3e-2

        """

    static func json(_ path: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    @Test func searchDerivesACellThatTrainsAsAnOrdinaryExperiment() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-darts-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.spec.write(toFile: dir + "/darts.yaml", atomically: true, encoding: .utf8)
        let out = dir + "/Outputs"
        #expect(TLC.run(["plan", dir + "/darts.yaml"]) == 0)
        try #require(TLC.run(["run", dir + "/darts.yaml", "--output", out]) == 0)
        let run = try FileManager.default.destinationOfSymbolicLink(atPath: out + "/darts-tiny/latest")
        let runDir = run.hasPrefix("/") ? run : out + "/darts-tiny/" + run
        let summary = try Self.json(runDir + "/search.json")
        #expect(summary["method"] as? String == "darts" && summary["epochs_trained"] as? Int == 2)
        #expect((summary["train_flops_by_this_process"] as? Double ?? 0) > 0)

        // Alphas: 1 + 2 + 3 edges, a softmax over the 5 operations each.
        let alphas = try #require(summary["alphas"] as? [[String: Any]])
        #expect(alphas.count == 6)
        for a in alphas {
            let softmax = try #require(a["softmax"] as? [String: Double])
            #expect(Set(softmax.keys) == ["conv_3x3", "sep_conv_3x3", "max_pool_3x3", "identity", "zero"])
            #expect(abs(softmax.values.reduce(0, +) - 1) < 1e-5)
        }
        // The genotype: per edge its strongest operation other than zero, per node the two strongest edges.
        let genotype = try #require(summary["genotype"] as? [[String]])
        #expect(genotype.map(\.count) == [1, 2, 2])
        func best(_ a: [String: Any]) -> (op: String, weight: Double) {
            (a["softmax"] as! [String: Double]).filter { $0.key != "zero" }.max { $0.value < $1.value }.map { ($0.key, $0.value) }!
        }
        for (j, edges) in genotype.enumerated() {
            let incoming = alphas.filter { $0["node"] as? Int == j + 1 }
            let strongest = incoming.sorted { best($0).weight > best($1).weight }.prefix(2)
            #expect(Set(edges) == Set(strongest.map { "\(best($0).op)@\($0["from"] as! Int)" }), "node \(j + 1): \(edges)")
            #expect(!edges.contains { $0.hasPrefix("zero") })
        }

        // The report's alpha table: every edge, the kept operations in bold.
        let report = try String(contentsOfFile: runDir + "/report.md", encoding: .utf8)
        #expect(report.contains("## DARTS: the learned cell"))
        #expect(report.components(separatedBy: "**0.").count - 1 == 5, "5 kept edges in bold")
        #expect(try String(contentsOfFile: runDir + "/report.html", encoding: .utf8).contains("id=\"darts-alphas\""))

        // derived.yaml is an ordinary experiment: darts_cell_net with that genotype, trained from scratch.
        let derived = try String(contentsOfFile: runDir + "/derived.yaml", encoding: .utf8)
        #expect(derived.contains("arch: \"darts_cell_net\"") || derived.contains("arch: darts_cell_net"))
        #expect(!derived.contains("search:"))
        try #require(TLC.run(["run", runDir + "/derived.yaml", "--output", out]) == 0)
        let metrics = try Self.json(out + "/darts-tiny-derived/latest/metrics.json")
        #expect(metrics.description.contains("test.accuracy"))
        let model = try String(contentsOfFile: out + "/darts-tiny-derived/latest/resolved.yaml", encoding: .utf8)
        #expect(model.contains("darts_cell_net"))

        // A rerun: the search stage comes from the cache, the same cell is derived.
        try #require(TLC.run(["run", dir + "/darts.yaml", "--output", out]) == 0)
        let again = try Self.json(out + "/darts-tiny/latest/search.json")
        #expect(again["genotype"] as? [[String]] == genotype)
        #expect(again["train_flops_by_this_process"] as? Double == 0, "the search network came from the cache")
    }

    @Test func badCellSpacesExitWithTwo() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-darts-bad-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (i, bad) in ["operations: [conv_3x3, conv_7x7]", "operations: [conv_5x5, identity]\n  cells: 3\n  reductions: [0, 1, 2]"].enumerated() {
            let text = Self.spec.replacingOccurrences(of: "operations: [conv_3x3, sep_conv_3x3, max_pool_3x3, identity, zero]", with: bad)
            try text.write(toFile: dir + "/bad\(i).yaml", atomically: true, encoding: .utf8)
            #expect(TLC.run(["validate", dir + "/bad\(i).yaml"]) == 2)
            #expect(TLC.run(["run", dir + "/bad\(i).yaml", "--output", dir + "/Outputs"]) == 2)
        }
    }
}
