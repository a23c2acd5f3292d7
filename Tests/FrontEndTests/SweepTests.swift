// Sweep expansion: counts, zip rules, random search, stable ids and labels,
// checked over many generated grids (property tests with a seeded generator).
import Foundation
import Testing
@testable import FrontEnd

@Suite struct SweepTests {
    func load(_ body: String, overrides: [String] = []) throws -> LoadedExperiment {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-sweep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("s.yaml").path
        try ("tlc: 1\nname: s\n" + body).write(toFile: file, atomically: true, encoding: .utf8)
        return try ExperimentLoader().load(path: file, overrides: overrides)
    }

    @Test func gridIsACartesianProductWithReadableLabels() throws {
        let e = try load("sweep:\n  grid:\n    optimizer.lr: [1e-3, 3e-4]\n    data.train_per_class: [20, 100, 500]\n")
        #expect(e.points.count == 6)
        #expect(e.points.map(\.label) == [
            "lr=1e-3,train_per_class=20", "lr=1e-3,train_per_class=100", "lr=1e-3,train_per_class=500",
            "lr=3e-4,train_per_class=20", "lr=3e-4,train_per_class=100", "lr=3e-4,train_per_class=500"])
        #expect(e.points[4].spec.optimizer.lr == 3e-4 && e.points[4].spec.data.trainPerClass == 100)
        #expect(Set(e.points.map(\.id)).count == 6)
    }

    @Test func casesNameSetsOfSettings() throws {
        let e = try load("""
            optimizer: {lr: 1e-3}
            sweep:
              cases:
                small: {optimizer.lr: 1e-4, training.epochs: 2}
                big: {optimizer.lr: 1e-2}
              grid:
                seed: [1, 2]

            """)
        #expect(e.points.map(\.label) == ["case=small,seed=1", "case=small,seed=2", "case=big,seed=1", "case=big,seed=2"])
        #expect(e.points[0].spec.optimizer.lr == 1e-4 && e.points[0].spec.training.epochs == 2)
        #expect(e.points[2].spec.optimizer.lr == 1e-2 && e.points[2].spec.training.epochs == e.base.training.epochs)
        #expect(e.sweptPaths == ["case", "seed"])
        #expect(e.points[0].assignments.map(\.path) == ["case", "seed"])
        #expect(Set(e.points.map(\.id)).count == 4)
        // A case's value that does not type-check is located in the case; a field both
        // set by cases and swept is an error.
        #expect(throws: DiagnosticError.self) { try load("sweep:\n  cases:\n    a: {optimizer.lr: -1}\n") }
        do {
            _ = try load("sweep:\n  cases:\n    a: {optimizer.lr: 1e-3}\n  grid:\n    optimizer.lr: [1e-4]\n")
            Issue.record("expected an error")
        } catch let error as DiagnosticError { #expect(error.diagnostics.contains { $0.message.contains("swept twice") }) }
        do {
            _ = try load("sweep:\n  cases:\n    a: {optimizer.lrr: 1}\n    'x,y': {seed: 1}\n")
            Issue.record("expected errors")
        } catch let error as DiagnosticError {
            #expect(error.diagnostics.contains { $0.message.contains("case 'a' path 'optimizer.lrr'") && $0.location?.line == 5 })
            #expect(error.diagnostics.contains { $0.message.contains("a case name must be non-empty") })
        }
    }

    @Test func propertyGridCountsAndStableIDs() throws {
        var rng = SplitMix64(seed: 42)
        let fields: [(String, (Int) -> String)] = [
            ("seed", { "\($0)" }), ("training.epochs", { "\($0 + 1)" }), ("optimizer.lr", { "\(Double($0 + 1) * 1e-4)" }),
            ("training.batch_size", { "\(16 * ($0 + 1))" }), ("data.validation", { "\(Double($0) * 0.05)" }),
        ]
        for _ in 0..<25 {
            let k = 1 + Int(rng.next() % 3)
            var chosen = fields
            chosen.shuffle(using: &rng)
            chosen = Array(chosen.prefix(k))
            var expected = 1
            var yaml = "sweep:\n  grid:\n"
            for (path, value) in chosen {
                let n = 1 + Int(rng.next() % 4)
                expected *= n
                yaml += "    \(path): [\((0..<n).map(value).joined(separator: ", "))]\n"
            }
            let a = try load(yaml), b = try load(yaml)
            #expect(a.points.count == expected)
            #expect(a.points.map(\.id) == b.points.map(\.id))           // stable across loads
            #expect(Set(a.points.map(\.id)).count == expected)        // distinct values, distinct points
            #expect(Set(a.points.map(\.label)).count == expected)
        }
    }

    @Test func identicalPointsShareAnID() throws {
        let e = try load("sweep:\n  grid:\n    optimizer.lr: [1e-3, 0.001, 1.0e-3]\n")
        #expect(e.points.count == 3)
        #expect(Set(e.points.map(\.id)).count == 1)
    }

    @Test func zipWalksListsTogether() throws {
        let e = try load("sweep:\n  zip:\n    optimizer.lr: [1e-3, 1e-4]\n    training.epochs: [2, 4]\n  grid:\n    seed: [1, 2, 3]\n")
        #expect(e.points.count == 6)
        #expect(e.points.allSatisfy { ($0.spec.optimizer.lr == 1e-3) == ($0.spec.training.epochs == 2) })
    }

    @Test func randomSearchIsSeededAndInRange() throws {
        let body = "sweep:\n  random:\n    trials: 20\n    seed: 3\n    params:\n      optimizer.lr: {loguniform: [1e-5, 1e-2]}\n      training.epochs: {int: [1, 4]}\n      optimizer.kind: {choice: [adam, sgd]}\n"
        let a = try load(body), b = try load(body)
        #expect(a.points.count == 20)
        #expect(a.points.map(\.id) == b.points.map(\.id))
        #expect(a.points.allSatisfy { $0.spec.optimizer.lr >= 1e-5 && $0.spec.optimizer.lr <= 1e-2 })
        #expect(a.points.allSatisfy { (1...4).contains($0.spec.training.epochs) })
        #expect(Set(a.points.map(\.spec.optimizer.kind)).count == 2)
        let c = try load(body.replacingOccurrences(of: "seed: 3", with: "seed: 4"))
        #expect(c.points.map(\.id) != a.points.map(\.id))
    }

    @Test func sweepOverSeedAndListIndexes() throws {
        let e = try load("head:\n  layers: [{dense: 128}, relu]\nsweep:\n  grid:\n    seed: [1, 2]\n    head.layers.0.dense: [32, 64]\n")
        #expect(e.points.count == 4)
        #expect(e.points.map(\.label).first == "seed=1,dense=32")
        #expect(e.points.last?.spec.head.layers == [.dense(64), .relu])
        #expect(e.points.last?.spec.seed == 2)
    }

    @Test func zipLengthMismatchAndBadValuesAreLocated() throws {
        #expect {
            try load("sweep:\n  zip:\n    optimizer.lr: [1e-3]\n    seed: [1, 2]\n")
        } throws: { error in
            (error as? DiagnosticError)?.diagnostics.first?.location?.line == 6
        }
        // An invalid value in one point is reported once, at the value.
        #expect {
            try load("sweep:\n  grid:\n    training.epochs: [1, 0]\n    seed: [1, 2, 3]\n")
        } throws: { error in
            let ds = (error as? DiagnosticError)?.diagnostics ?? []
            return ds.count == 1 && ds[0].location?.line == 5 && ds[0].location?.column == 26
        }
    }

    @Test func largeGridsExpandQuickly() throws {
        // 10,000 points: 100 × 100.
        let lrs = (1...100).map { "\(Double($0) * 1e-5)" }.joined(separator: ", ")
        let seeds = (1...100).map(String.init).joined(separator: ", ")
        let e = try load("sweep:\n  grid:\n    optimizer.lr: [\(lrs)]\n    seed: [\(seeds)]\n")
        #expect(e.points.count == 10_000)
        #expect(e.warnings.contains { $0.message.contains("10000 points") })
    }
}

@Suite struct PrintableLabelTests {
    @Test func controlCharactersInLabelsAreWrittenOut() throws {
        let e = try SweepTests().load("sweep:\n  grid:\n    description: [\"\\e]0;PWNED\\a\\e[2J\", plain]\n")
        let label = e.points[0].label
        #expect(!label.unicodeScalars.contains { $0.value < 0x20 }, "\(label.debugDescription)")
        #expect(label == "description=\\u{1B}]0;PWNED\\u{7}\\u{1B}[2J")
        #expect(e.points[1].label == "description=plain")
    }
}
