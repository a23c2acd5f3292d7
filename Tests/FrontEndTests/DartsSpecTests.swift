// `search: {method: darts}`: the cell space becomes the experiment's darts_supernet
// backbone and its one point trains it for max_epochs with alpha's optimizer; bad
// spaces (unknown operations, operations that do not fit the feature maps after the
// reductions, a sweep, a test metric, a backbone of its own) are located errors with
// the fix, and darts_cell_net's genotype is checked like any zoo option.
import Foundation
import Testing
@testable import FrontEnd
import ModelZoo

@Suite struct DartsSpecTests {
    /// Loads `text` (the search section's lines appended) from a file of its own.
    func load(_ text: String) throws -> Result<LoadedExperiment, DiagnosticError> {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-darts-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try text.write(toFile: dir + "/d.yaml", atomically: true, encoding: .utf8)
        do { return .success(try ExperimentLoader().load(path: dir + "/d.yaml")) } catch { return .failure(error) }
    }

    static let head = "tlc: 1\nname: d\nseed: 3\ndata: {classes: [0, 1], validation: 0.5}\ntraining: {epochs: 7, batch_size: 32}\n"

    @Test func theCellSpaceBecomesTheSupernetBackbone() throws {
        let loaded = try load(Self.head + """
            search:
              method: darts
              max_epochs: 2
              operations: [conv_3x3, sep_conv_3x3, max_pool_3x3, identity, zero]
              nodes: 2
              cells: 2
              channels: 4
              alpha_lr: 1e-3

            """).get()
        let search = try #require(loaded.search)
        #expect(search.method == .darts && search.darts?.nodes == 2 && search.darts?.alphaLearningRate == 1e-3)
        #expect(loaded.points.count == 1)
        let point = loaded.points[0].spec
        #expect(point.backbone.arch == "darts_supernet")
        #expect(point.backbone.options["operations"] == .list(["conv_3x3", "sep_conv_3x3", "max_pool_3x3", "identity", "zero"].map(OptionValue.string)))
        #expect(point.training.epochs == 2, "the point trains the supernet for max_epochs")
        #expect(point.training.architectureSearch == ArchitectureSearchSpec(learningRate: 1e-3, weightDecay: 1e-3))
        #expect(loaded.base.training.epochs == 7, "the derived network retrains for the experiment's own epochs")
        // The supernet: 2 cells of 2 nodes (1 + 2 mixed edges of 5 operations), one shared alpha.
        let arch = try Zoo.architecture("darts_supernet", options: point.backbone.options, classes: 2).analyze()
        #expect(arch.layers.filter { $0.kind == "darts_cell" }.count == 2)
        #expect(arch.layer("alpha")?.stateTensors.first?.shape == [3, 5])
    }

    @Test func badDartsSearchesAreLocatedErrorsWithTheFix() throws {
        // (search lines, extra top-level lines, expected message, expected line of the error)
        let cases: [(String, String, String, Int)] = [
            ("{method: darts, max_epochs: 2, operations: [conv3x3, identity]}", "", "did you mean 'conv_3x3'", 6),
            ("{method: darts, max_epochs: 2, operations: [zero, identity]}", "", "at least two operations other than zero", 6),
            // 28 → 14 → 7 → 3: the third cell is too small for a 5×5 convolution.
            ("{method: darts, max_epochs: 2, operations: [conv_5x5, identity], cells: 3, reductions: [0, 1, 2]}", "",
             "cell 3 runs at 3×3 after 3 reductions of the 28×28 input, too small for conv_5x5", 6),
            ("{method: darts, max_epochs: 2, reductions: [0, 9]}", "", "expected distinct positions from 0", 6),
            ("{method: darts, max_epochs: 2, metric: test.accuracy}", "", "would choose configurations on the test set", 6),
            ("{method: darts, max_epochs: 2}", "sweep: {grid: {optimizer.lr: [1e-3, 2e-3]}}\n", "darts searches a cell space by gradient descent, not a sweep", 6),
            ("{method: darts, max_epochs: 2}", "backbone: {arch: mlp}\n", "remove backbone", 6),
            ("{method: darts, max_epochs: 2, models: 4}", "", "search.models is not a setting of darts", 6),
            ("{method: darts, max_epochs: 2, alpha_lr: 0}", "", "search.alpha_lr must be in (0, 1]", 6),
            ("{method: hyperband, eta: 3, max_epochs: 9, alpha_lr: 1e-3}", "sweep: {grid: {optimizer.lr: [1e-3, 2e-3]}}\n", "search.alpha_lr is a setting of darts, not of hyperband", 6),
        ]
        for (search, extra, expected, line) in cases {
            guard case .failure(let e) = try load(Self.head + extra + "search: " + search + "\n") else {
                Issue.record("\(search) \(extra) loaded"); continue
            }
            let hit = e.diagnostics.first { $0.message.contains(expected) }
            #expect(hit != nil, "\(search): \(e.diagnostics.map(\.description))")
            if let hit, !expected.contains("sweep") && !expected.contains("backbone") { #expect(hit.location?.line == line + (extra.isEmpty ? 0 : 1), "\(hit)") }
        }
        // The misfit names the reductions to keep.
        guard case .failure(let e) = try load(Self.head + "search: {method: darts, max_epochs: 2, operations: [conv_5x5, identity], cells: 3, reductions: [0, 1, 2]}\n") else { return }
        #expect(e.diagnostics.contains { $0.message.contains("remove a reduction (reductions: [0, 1])") })
    }

    @Test func derivedNetworksGenotypeIsChecked() throws {
        let base = "tlc: 1\nname: n\ndata: {classes: [0, 1]}\nbackbone:\n  arch: darts_cell_net\n  options:\n    genotype: GENOTYPE\n"
        let good = try load(base.replacingOccurrences(of: "GENOTYPE", with: "[[sep_conv_3x3@0], [conv_5x5@1, identity@0]]")).get()
        let arch = try Zoo.architecture("darts_cell_net", options: good.base.backbone.options, classes: 2).analyze()
        #expect(arch.layer("cell2.node2.in1.conv_5x5.conv")?.stateTensors.first?.shape == [16, 16, 5, 5])
        #expect(arch.layer("alpha") == nil, "a derived network has no architecture weights")
        for (genotype, expected) in [("[[sep_conv_3x3@1]]", "must come from 0 (the cell's input) to 0"),
                                     ("[[conv3x3@0]]", "did you mean 'conv_3x3'"),
                                     ("[[conv_3x3]]", "is not op@input"),
                                     ("[[zero@0]]", "a zero edge adds nothing")] {
            guard case .failure(let e) = try load(base.replacingOccurrences(of: "GENOTYPE", with: genotype)) else { Issue.record("\(genotype) loaded"); continue }
            let hit = e.diagnostics.first { $0.message.contains(expected) }
            #expect(hit?.location?.line == 7, "\(genotype): \(e.diagnostics.map(\.description))")
        }
        // int8 inference runs sequential networks only: refused at validate time, at the step.
        let quantized = base.replacingOccurrences(of: "GENOTYPE", with: "[[sep_conv_3x3@0]]") + "compression: [{prune: {sparsity: 0.5}}, {quantize: {bits: 8}}]\n"
        guard case .failure(let e) = try load(quantized) else { Issue.record("quantizing a DARTS cell validated"); return }
        #expect(e.diagnostics.count == 1 && e.diagnostics[0].message.contains("has a branching block 'cell1'") && e.diagnostics[0].location?.line == 8,
                "\(e.diagnostics.map(\.description))")
    }
}
