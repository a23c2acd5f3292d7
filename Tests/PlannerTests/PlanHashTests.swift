// Stage hashes: stable over key order and number spelling, and a changed field
// changes exactly the stages that read it and the ones downstream.
import Foundation
import Testing
@testable import FrontEnd
@testable import Planner
import Jobs

@Suite struct PlanHashTests {
    func plan(_ body: String, overrides: [String] = []) throws -> Plan {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("p.yaml").path
        try body.write(toFile: file, atomically: true, encoding: .utf8)
        return try PlanBuilder().plan(try ExperimentLoader().load(path: file, overrides: overrides))
    }

    let base = """
        tlc: 1
        name: p
        seed: 3
        data: {classes: [0, 1, 2], train_per_class: 50}
        normalization: {kind: standardize}
        backbone: {arch: mlp, options: {widths: [64]}}
        optimizer: {kind: adam, lr: 1e-3}
        training: {epochs: 2, batch_size: 32}

        """

    func hashes(_ p: Plan) -> [String: String] {
        Dictionary(p.stages.map { ($0.kind.rawValue, $0.hash) }, uniquingKeysWith: { a, _ in a })
    }

    @Test func keyOrderAndNumberSpellingDoNotChangeHashes() throws {
        let reordered = """
            training: {batch_size: 32, epochs: 2.0}
            optimizer: {lr: 0.001, kind: adam}
            backbone: {options: {widths: [64]}, arch: mlp}
            normalization: {kind: standardize, per: channel}
            data: {train_per_class: 50, classes: [0, 1, 2]}
            seed: 3
            name: p
            tlc: 1

            """
        let a = try plan(base), b = try plan(reordered)
        #expect(a.stages.map(\.hash) == b.stages.map(\.hash))
        #expect(a.stages.count == 6)
    }

    @Test func hashesAreStableAcrossRuns() throws {
        // A fixed spec has a fixed data.load hash on every machine and process.
        let a = try plan(base), b = try plan(base)
        #expect(a.stages.map(\.hash) == b.stages.map(\.hash))
        #expect(a.stages.allSatisfy { $0.hash.count == 64 })
    }

    @Test func oneChangedFieldChangesExactlyTheDependentStages() throws {
        let a = hashes(try plan(base))
        let lr = hashes(try plan(base, overrides: ["optimizer.lr=3e-4"]))
        #expect(lr["data.load"] == a["data.load"] && lr["data.normalize"] == a["data.normalize"] && lr["model.init"] == a["model.init"])
        #expect(lr["train"] != a["train"] && lr["evaluate"] != a["evaluate"] && lr["report"] != a["report"])

        let norm = hashes(try plan(base, overrides: ["normalization.kind=minmax"]))
        #expect(norm["data.load"] == a["data.load"] && norm["model.init"] == a["model.init"])
        #expect(norm["data.normalize"] != a["data.normalize"] && norm["train"] != a["train"])

        let report = hashes(try plan(base, overrides: ["report.target=test.loss"]))
        #expect(report.filter { $0.key != "report" } == a.filter { $0.key != "report" })
        #expect(report["report"] != a["report"])

        let width = hashes(try plan(base, overrides: ["backbone.options.widths=[128]"]))
        #expect(width["data.normalize"] == a["data.normalize"])
        #expect(width["model.init"] != a["model.init"] && width["train"] != a["train"])
    }

    @Test func sweepPointsShareStagesAndFeaturesAreComputedOnce() throws {
        let p = try plan(base.replacingOccurrences(of: "backbone: {arch: mlp, options: {widths: [64]}}",
                                                   with: "backbone: {arch: mlp, options: {widths: [64]}, freeze: all}\nhead: {layers: [{dense: 16}]}")
                         + "sweep:\n  grid:\n    head.layers.0.dense: [16, 32, 64]\n    optimizer.lr: [1e-3, 1e-4]\n")
        #expect(p.points.count == 6)
        let byKind = Dictionary(grouping: p.stages, by: \.kind)
        #expect(byKind[.dataLoad]?.count == 1 && byKind[.dataNormalize]?.count == 1)
        #expect(byKind[.features]?.count == 1)
        #expect(byKind[.features]?.first?.points.count == 6)
        #expect(byKind[.modelInit]?.count == 3)   // one per head width
        #expect(byKind[.train]?.count == 6)
    }

    @Test func identicalPointsRunOnce() throws {
        let p = try plan(base + "sweep:\n  grid:\n    optimizer.lr: [1e-3, 0.001]\n")
        #expect(p.points.count == 2)
        #expect(p.stages.filter { $0.kind == .train }.count == 1)
    }

    @Test func compressionStepsChainAndKeepUpstreamHashes() throws {
        let withPrune = base + "compression:\n  - prune: {sparsity: 0.5}\n  - quantize: {bits: 8}\n"
        let a = try plan(withPrune)
        let b = try plan(withPrune.replacingOccurrences(of: "bits: 8", with: "bits: 8, calibration_batches: 3"))
        let ha = hashes(a), hb = hashes(b)
        #expect(ha["train"] == hb["train"] && ha["prune"] == hb["prune"])
        #expect(ha["quantize"] != hb["quantize"])
        let q = a.stages.first { $0.kind == .quantize }!
        #expect(q.deps.first == a.stages.first { $0.kind == .prune }!.id)
    }

    @Test func formatsCarryTheStages() throws {
        let p = try plan(base)
        let json = p.json()
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        let stages = object["stages"] as! [[String: Any]]
        #expect(stages.count == p.stages.count)
        #expect(stages.allSatisfy { $0["id"] != nil && $0["kind"] != nil && $0["hash"] != nil && $0["deps"] != nil })
        #expect(p.dot().contains("->"))
        #expect(p.text().contains("6 stages"))
    }

    @Test func bigSweepsLowerOnTwoThreadsToTheSamePlan() throws {
        // 600 points: lowered in two halves and merged. Every stage follows its
        // dependencies, shared stages carry every point, and the plan is stable.
        let lrs = (1...25).map { "\(Double($0) * 1e-4)" }.joined(separator: ", ")
        let seeds = (1...24).map(String.init).joined(separator: ", ")
        let body = base + "sweep:\n  grid:\n    optimizer.lr: [\(lrs)]\n    seed: [\(seeds)]\n"
        let a = try plan(body), b = try plan(body)
        #expect(a.points.count == 600)
        #expect(a.stages.map(\.id) == b.stages.map(\.id))
        #expect(a.stages.count == 24 * 3 + 600 * 3)
        var seen = Set<String>()
        for s in a.stages {
            #expect(s.deps.allSatisfy(seen.contains), "\(s.id) before its dependencies")
            seen.insert(s.id)
        }
        #expect(a.stages.filter { $0.kind == .dataLoad }.allSatisfy { $0.points.count == 25 })
        #expect(Set(a.points.map(\.reportStage)).count == 600)
    }
}

@Suite struct SeedStageTests {
    @Test func eachSeedReachesOnlyItsStages() throws {
        let base = PlanHashTests().base
        let p = try PlanHashTests().plan(base + "sweep:\n  grid:\n    seeds.init: [1, 2]\n    seeds.shuffle: [1, 2]\n")
        let byKind = Dictionary(grouping: p.stages, by: \.kind)
        // One data chain for all four points; one model.init per init seed; one train per point.
        #expect(byKind[.dataLoad]?.count == 1 && byKind[.dataNormalize]?.count == 1)
        #expect(byKind[.modelInit]?.count == 2)
        #expect(byKind[.train]?.count == 4)
        // Without `seeds`, `seed` reaches all three streams as before.
        let plain = try PlanHashTests().plan(base)
        let same = try PlanHashTests().plan(base + "seeds: {data: 3, init: 3, shuffle: 3}\n")
        #expect(plain.stages.filter { $0.kind != .report }.map(\.hash) == same.stages.filter { $0.kind != .report }.map(\.hash))
    }
}
