// Separate seeds: `seeds.data`, `seeds.init`, `seeds.shuffle` each default to
// `seed`; an ensemble over sweep points whose data differ is refused at validation,
// located at `ensemble.members`, with the seed to sweep instead.
import Foundation
import Testing
@testable import FrontEnd

@Suite struct SeedsTests {
    func load(_ body: String) throws -> LoadedExperiment {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-seeds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("s.yaml").path
        try ("tlc: 1\nname: s\ndata: {classes: [0, 1]}\nbackbone: {arch: mlp}\n" + body).write(toFile: file, atomically: true, encoding: .utf8)
        return try ExperimentLoader().load(path: file)
    }

    @Test func eachSeedDefaultsToSeed() throws {
        let plain = try load("seed: 4\n").base
        #expect(plain.dataSeed == 4 && plain.initSeed == 4 && plain.shuffleSeed == 4)
        #expect(plain.specValue["seeds"] == nil)
        let split = try load("seed: 4\nseeds: {init: 9, shuffle: 2}\n").base
        #expect(split.dataSeed == 4 && split.initSeed == 9 && split.shuffleSeed == 2)
        // resolved.yaml keeps what was set, and reads back to the same spec.
        #expect(split.specValue["seeds"]?.canonicalJSON == #"{"init":9,"shuffle":2}"#)
    }

    @Test func badSeedsAreLocatedErrors() throws {
        do {
            _ = try load("seeds: {init: -1, shufle: 2}\n")
            Issue.record("accepted bad seeds")
        } catch let e as DiagnosticError {
            let text = e.diagnostics.map(\.description).joined(separator: "\n")
            #expect(text.contains("s.yaml:5:") && text.contains("seeds.init"), "\(text)")
            #expect(text.contains("shufle") && text.contains("shuffle"), "did you mean: \(text)")
        }
    }

    @Test func anEnsembleOverPointsWithDifferentDataIsRefusedAtValidation() throws {
        do {
            _ = try load("sweep: {grid: {seed: [1, 2]}}\nensemble: {members: {top: 2}}\n")
            Issue.record("accepted an ensemble over different data")
        } catch let e as DiagnosticError {
            let d = try #require(e.diagnostics.first { $0.message.contains("different data") })
            #expect(d.location?.line == 6, "\(d)")
            #expect(d.message.contains("`seed`"))
            #expect(d.notes.contains { $0.contains("seeds.init") })
        }
        // Sweeping the initialization keeps the data: accepted, and the points share it.
        let ok = try load("sweep: {grid: {seeds.init: [1, 2]}}\nensemble: {members: {top: 2}}\n")
        #expect(ok.points.map(\.label) == ["init=1", "init=2"])
        #expect(Set(ok.points.map(\.spec.dataSeed)).count == 1 && Set(ok.points.map(\.spec.initSeed)) == [1, 2])
        // Named points that share their data are fine even when others differ.
        _ = try load("sweep: {grid: {data.train_per_class: [10, 20], seeds.init: [1, 2]}}\n"
                     + "ensemble: {members: [\"point:train_per_class=10,init=1\", \"point:train_per_class=10,init=2\"]}\n")
    }
}
