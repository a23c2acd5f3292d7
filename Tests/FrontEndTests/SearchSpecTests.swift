// The `search` section: its schedule (successive halving's rungs, Hyperband's
// brackets as Li et al. tabulate them) and every bad setting refused at validate
// time with its location and the fix.
import Foundation
import Testing
import ModelZoo
@testable import FrontEnd

@Suite struct SearchSpecTests {
    @Test func hyperbandBracketsAreLiEtAlsTable() throws {
        // eta 3 over 1…27 epochs: Li et al. 2017's table (R = 27).
        let spec = SearchSpec(method: .hyperband, eta: 3, minEpochs: 1, maxEpochs: 27)
        let schedule = try SearchSchedule.make(spec, configurations: 60).get()
        let table = schedule.brackets.map { $0.rungs.map { [$0.configurations, $0.epochs] } }
        #expect(table == [[[27, 1], [9, 3], [3, 9], [1, 27]], [[12, 3], [4, 9], [1, 27]], [[6, 9], [2, 27]], [[4, 27]]])
        #expect(schedule.brackets.map(\.configurations.count) == [27, 12, 6, 4])
        #expect(schedule.brackets[1].configurations.first == 27, "each bracket its own configurations")
        #expect(schedule.configurationsNeeded == 49)
        // Epochs: each rung trains only beyond the previous one.
        #expect(schedule.scheduledEpochs == (27 + 9 * 2 + 3 * 6 + 18) + (12 * 3 + 4 * 6 + 18) + (6 * 9 + 2 * 18) + 4 * 27)
    }

    @Test func successiveHalvingRungs() throws {
        let spec = SearchSpec(method: .successiveHalving, eta: 2, minEpochs: 1, maxEpochs: 6)
        let schedule = try SearchSchedule.make(spec, configurations: 9).get()
        #expect(schedule.brackets.count == 1)
        #expect(schedule.brackets[0].rungs.map { [$0.configurations, $0.epochs] } == [[9, 1], [4, 2], [2, 6]])
        guard case .failure(let e) = SearchSchedule.make(spec, configurations: 3) else { Issue.record("3 configurations for 3 rungs of eta 2"); return }
        #expect(e.message.contains("needs at least 4 configurations"))
    }

    func errors(_ search: String, sweep: String = "sweep: {grid: {optimizer.lr: [1e-3, 2e-3, 3e-3, 4e-3]}}",
                training: String = "{epochs: 2}", validation: Double = 0.1) throws -> [Diagnostic] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-search-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = "tlc: 1\nname: s\ndata: {classes: [0, 1], validation: \(validation)}\ntraining: \(training)\n\(sweep)\nsearch: \(search)\n"
        try text.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        do { _ = try ExperimentLoader().load(path: dir + "/s.yaml"); return [] } catch { return error.diagnostics }
    }

    @Test func gridSpaces() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-space-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "tlc: 1\nname: g\nsweep: {grid: {optimizer.lr: [1e-3, 2e-3, 3e-3], training.batch_size: [32, 64]}}\n"
            .write(toFile: dir + "/g.yaml", atomically: true, encoding: .utf8)
        let loaded = try ExperimentLoader().load(path: dir + "/g.yaml")
        let space = try SearchSpace.make(loaded.points).get()
        #expect(space.paths == ["optimizer.lr", "training.batch_size"])
        #expect(space.values["optimizer.lr"]?.count == 3 && space.values["training.batch_size"]?.count == 2)
        for (i, choice) in space.choices.enumerated() { #expect(space.configuration(choice) == i) }
        #expect(space.isGrid && space.neighbours(of: 0).count == 2 + 1, "one value changed: 2 other rates, 1 other batch size")

        // A random sweep is a space too: not a grid; a configuration's neighbours are its nearest ones.
        try "tlc: 1\nname: g\nsweep: {random: {trials: 6, seed: 2, params: {optimizer.lr: {choice: [1e-3, 2e-3]}, training.batch_size: {choice: [16, 32, 64]}}}}\n"
            .write(toFile: dir + "/r.yaml", atomically: true, encoding: .utf8)
        let random = try ExperimentLoader().load(path: dir + "/r.yaml")
        let r = try SearchSpace.make(random.points).get()
        #expect(!r.isGrid && r.distinct.count <= 6)
        for c in r.distinct {
            let near = r.neighbours(of: c)
            let nearest = r.distinct.filter { r.distance($0, c) > 0 }.map { r.distance($0, c) }.min()
            #expect(!near.isEmpty && near.allSatisfy { r.distance($0, c) == nearest && !r.change(from: c, to: $0).isEmpty })
        }
        // cases: each case is a value of the path `case`.
        try "tlc: 1\nname: g\nsweep: {cases: {small: {optimizer.lr: 1e-3}, large: {optimizer.lr: 1e-2}, batch: {training.batch_size: 16}}}\n"
            .write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let cases = try SearchSpace.make(try ExperimentLoader().load(path: dir + "/c.yaml").points).get()
        #expect(cases.paths == ["case"] && cases.distinct.count == 3 && cases.isGrid && cases.neighbours(of: 0).count == 2)
    }

    @Test func badSearchesAreLocatedErrorsWithTheFix() throws {
        #expect(try errors("{method: successive_halving, eta: 2, max_epochs: 4}").isEmpty)
        #expect(try errors("{method: evolution, models: 6, population: 3, sample: 2, max_epochs: 2}").isEmpty)
        #expect(try errors("{method: reinforce, models: 6, max_epochs: 2}").isEmpty)
        let cases: [(String, String, String, Double, String)] = [
            ("{method: successive_halving, eta: 1, max_epochs: 4}", "", "{epochs: 2}", 0.1, "search.eta must be at least 2"),
            ("{method: successive_halving, eta: 2, min_epochs: 3, max_epochs: 4}", "", "{epochs: 2}", 0.1, "give no rung to promote to"),
            ("{method: successive_halving, eta: 2, max_epochs: 4, metric: test.accuracy}", "", "{epochs: 2}", 0.1, "would choose configurations on the test set"),
            ("{method: successive_halving, eta: 2, max_epochs: 4, metric: val.f1}", "", "{epochs: 2}", 0.1, "is not a metric a training produces"),
            ("{method: hyperbnd, max_epochs: 4}", "", "{epochs: 2}", 0.1, "did you mean 'hyperband'"),
            ("{method: hyperband, eta: 2, max_epochs: 8}", "", "{epochs: 2}", 0.1, "hyperband with eta 2 from 1 to 8 epochs runs 4 brackets"),
            ("{method: successive_halving, eta: 2, max_epochs: 8}", "", "{epochs: 2}", 0.1, "needs at least 8 configurations"),
            ("{method: successive_halving, eta: 2, max_epochs: 4}", "none", "{epochs: 2}", 0.1, "search needs a sweep"),
            ("{method: successive_halving, eta: 2, max_epochs: 4}", "", "{epochs: 2, early_stopping: {patience: 2}}", 0.1, "must train plainly"),
            ("{method: successive_halving, eta: 2, max_epochs: 4}", "", "{epochs: 2}", 0.0, "needs a validation split"),
            ("{eta: 2, max_epochs: 4}", "", "{epochs: 2}", 0.1, "search needs a method"),
            ("{method: hyperband, eta: 3, max_epochs: 9, budget: 3}", "", "{epochs: 2}", 0.1, "unknown key 'budget'"),
            ("{method: evolution, max_epochs: 2}", "", "{epochs: 2}", 0.1, "needs models"),
            ("{method: evolution, models: 8, population: 12, max_epochs: 2}", "", "{epochs: 2}", 0.1, "larger than the budget of 8 models"),
            ("{method: evolution, models: 8, population: 4, sample: 5, max_epochs: 2}", "", "{epochs: 2}", 0.1, "search.sample must be between 1 and the population"),
            ("{method: evolution, models: 8, population: 4, eta: 3, max_epochs: 2}", "", "{epochs: 2}", 0.1, "search.eta is not a setting of evolution"),
            ("{method: evolution, models: 8, population: 4, max_epochs: 2}", "sweep: {grid: {optimizer.lr: [1e-3, 2e-3], seed: [1]}}", "{epochs: 2}", 0.1,
             "'seed' has only one value"),
            ("{method: reinforce, models: 8, max_epochs: 2}", "sweep: {zip: {optimizer.lr: [1e-3, 1e-3], seed: [1, 1]}}", "{epochs: 2}", 0.1,
             "needs at least two different configurations; the sweep has 1"),
            ("{method: reinforce, models: 8, population: 4, max_epochs: 2}", "", "{epochs: 2}", 0.1, "search.population is not a setting of reinforce"),
            ("{method: reinforce, models: 8, learning_rate: 0, max_epochs: 2}", "", "{epochs: 2}", 0.1, "search.learning_rate must be in (0, 10]"),
        ]
        for (search, sweep, training, validation, phrase) in cases {
            let d = try errors(search, sweep: sweep == "none" ? "" : sweep.isEmpty ? "sweep: {grid: {optimizer.lr: [1e-3, 2e-3, 3e-3, 4e-3]}}" : sweep,
                               training: training, validation: validation)
            let hit = d.first { $0.message.contains(phrase) }
            #expect(hit != nil, "\(search): \(d.map(\.message))")
            #expect(hit?.location?.line ?? 0 >= 4, "\(search): located in the file (\(String(describing: hit?.location)))")
        }
    }

    func load(_ text: String) throws -> Result<LoadedExperiment, DiagnosticError> {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-reject-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try text.write(toFile: dir + "/r.yaml", atomically: true, encoding: .utf8)
        do { return .success(try ExperimentLoader().load(path: dir + "/r.yaml")) } catch { return .failure(error) }
    }

    /// A search or a random sweep rejects each configuration that does not fit (five
    /// 2×2 poolings of a 28×28 input) with the reason, and keeps the valid ones; only
    /// when none is valid is it an error (located at the sweep). A value wrong by
    /// itself is still an error, and so is an invalid point of a grid without a search.
    @Test func invalidConfigurationsAreRejectedOneByOne() throws {
        let head = "tlc: 1\nname: r\ndata: {classes: [0, 1], validation: 0.1}\nbackbone: {arch: vgg, options: {blocks: [[8]], fc: [16]}}\n"
        let blocks = "{choice: [[[8]], [[8], [8], [8], [8], [8]], [[8], [8]], [[4], [4], [4], [4], [4], [4]]]}"
        // A random sweep with a search: 12 draws, the 5- and 6-block ones rejected.
        let searched = try load(head + "sweep: {random: {trials: 12, seed: 3, params: {backbone.options.blocks: \(blocks), optimizer.lr: {loguniform: [1e-4, 1e-2]}}}}\n"
                                + "search: {method: asha, eta: 2, max_epochs: 2}\n").get()
        #expect(!searched.rejected.isEmpty && searched.points.count + searched.rejected.count == 12)
        #expect(searched.points.allSatisfy { ($0.spec.backbone.options["blocks"]?.description.components(separatedBy: "[").count ?? 0) <= 4 },
                "only the 1- and 2-block networks remain: \(searched.points.map(\.label))")
        for r in searched.rejected {
            #expect(r.label.contains("blocks=") && r.reasons.contains { $0.contains("the network does not fit") && $0.contains("too small") }, "\(r)")
            #expect(r.description.hasPrefix("rejected: "))
        }
        let warning = searched.warnings.first { $0.message.contains("configurations of the sweep are invalid and rejected") }
        #expect(warning?.location?.line == 5, "\(searched.warnings)")
        // A random sweep alone does the same.
        let random = try load(head + "sweep: {random: {trials: 12, seed: 3, params: {backbone.options.blocks: \(blocks), optimizer.lr: {loguniform: [1e-4, 1e-2]}}}}\n").get()
        #expect(random.rejected.map(\.label) == searched.rejected.map(\.label))
        // Nothing valid left: a located error with the first reason and the fix.
        let none = try load(head + "sweep: {random: {trials: 4, params: {backbone.options.blocks: {choice: [[[8], [8], [8], [8], [8]]]}}}}\nsearch: {method: asha, eta: 2, max_epochs: 2}\n")
        guard case .failure(let e) = none else { Issue.record("no valid configuration must be an error"); return }
        let all = e.diagnostics.first { $0.message.contains("every one of the 4 configurations of the sweep is invalid") }
        #expect(all?.location?.line == 5 && all?.message.contains("too small") == true && all?.notes.isEmpty == false, "\(e.diagnostics)")
        // Too few valid configurations for the rungs: the schedule's error counts the rejected ones.
        let few = try load(head + "sweep: {grid: {backbone.options.blocks: [[[8]], [[8], [8], [8], [8], [8]], [[4], [4], [4], [4], [4], [4]]]}}\nsearch: {method: successive_halving, eta: 2, max_epochs: 2}\n")
        guard case .failure(let f) = few else { Issue.record("1 valid configuration for 2 rungs"); return }
        #expect(f.diagnostics.contains { $0.message.contains("the sweep has 1 valid ones (2 more were rejected as invalid)") }, "\(f.diagnostics)")
        // A drawn value wrong by itself is the spec's error, not a rejection.
        let wrong = try load(head + "sweep: {random: {trials: 6, params: {training.batch_size: {choice: [0, 32]}}}}\nsearch: {method: asha, eta: 2, max_epochs: 2}\n")
        guard case .failure(let w) = wrong else { Issue.record("batch_size 0 must be an error"); return }
        #expect(w.diagnostics.contains { $0.message.contains("batch_size") }, "\(w.diagnostics)")
        // A grid without a search: every point was asked for, so an invalid one is an error.
        let grid = try load(head + "sweep: {grid: {backbone.options.blocks: [[[8]], [[8], [8], [8], [8], [8]]]}}\n")
        guard case .failure(let g) = grid else { Issue.record("a grid's invalid point is an error"); return }
        #expect(g.diagnostics.contains { $0.message.contains("the network does not fit") })
    }

    @Test func ashaSettingsAndSchedule() throws {
        #expect(try errors("{method: asha, eta: 2, max_epochs: 4}").isEmpty)
        #expect(try errors("{method: asha, eta: 2, min_epochs: 1, max_epochs: 4, seed: 3}").isEmpty)
        let cases: [(String, String)] = [
            ("{method: asha, eta: 2, max_epochs: 8}", "asha with eta 2 over 4 rungs needs at least 8 configurations"),
            ("{method: asha, eta: 1, max_epochs: 4}", "search.eta must be at least 2"),
            ("{method: asha, eta: 2, min_epochs: 3, max_epochs: 4}", "give no rung to promote to"),
            ("{method: asha, eta: 2, max_epochs: 4, models: 5}", "search.models is not a setting of asha"),
            ("{method: asha, eta: 2, max_epochs: 4, population: 5}", "search.population is not a setting of asha"),
            ("{method: ashaa, max_epochs: 4}", "did you mean 'asha'"),
        ]
        for (search, phrase) in cases {
            let d = try errors(search)
            let hit = d.first { $0.message.contains(phrase) }
            #expect(hit != nil, "\(search): \(d.map(\.message))")
            #expect(hit?.location?.line ?? 0 >= 4, "\(search): located in the file")
        }
        let spec = SearchSpec(method: .asha, eta: 3, minEpochs: 1, maxEpochs: 9)
        let schedule = try SearchSchedule.make(spec, configurations: 20).get()
        #expect(schedule.brackets.map { $0.rungs.map { [$0.configurations, $0.epochs] } } == [[[20, 1], [6, 3], [2, 9]]])
        let lines = schedule.describe(spec, labels: (0..<20).map { "c\($0)" })
        #expect(lines.first?.hasPrefix("search: asha (asynchronous successive halving), eta 3, 1–9 epochs") == true)
        #expect(lines.contains { $0.contains("stops when every configuration has started and nothing can be promoted") })
    }

    /// mobilenet_v2's width multiplier can be drawn like any option: each draw is its own network.
    @Test func theWidthMultiplierIsDrawable() throws {
        let loaded = try load("tlc: 1\nname: w\ndata: {classes: [0, 1], validation: 0.1}\nbackbone: {arch: mobilenet_v2}\n"
                              + "sweep: {random: {trials: 6, seed: 1, params: {backbone.options.width_mult: {choice: [0.35, 0.5, 1.0]}}}}\n"
                              + "search: {method: asha, eta: 2, max_epochs: 2}\n").get()
        #expect(loaded.rejected.isEmpty && loaded.points.count == 6)
        let counts = try loaded.points.map { p in
            try Zoo.architecture("mobilenet_v2", options: p.spec.backbone.options, input: p.spec.data.inputShape, classes: 2).analyze().parameters
        }
        #expect(Set(counts).count == Set(loaded.points.map(\.label)).count && Set(counts).count >= 2, "\(zip(loaded.points.map(\.label), counts).map { "\($0) \($1)" })")
        // A value out of range is the spec's error, not a rejected configuration, even when drawn.
        guard case .failure(let e) = try load("tlc: 1\nname: w\ndata: {classes: [0, 1], validation: 0.1}\nbackbone: {arch: mobilenet_v2}\n"
                                              + "sweep: {random: {trials: 6, params: {backbone.options.width_mult: {choice: [0.5, 5]}}}}\n") else {
            Issue.record("width_mult 5 must be refused"); return
        }
        #expect(e.diagnostics.contains { $0.message.contains("width_mult") && $0.message.contains("(0, 4]") }, "\(e.diagnostics)")
    }
}
