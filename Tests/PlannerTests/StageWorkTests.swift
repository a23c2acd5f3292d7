// The stage redesign's invariants: every stage kind's work value is in its hash
// (changing any field changes the hash), and plan.json is the plan's Codable
// encoding, decoding back to an equal plan and refusing hand-edited work.
import Foundation
import Testing
@testable import FrontEnd
@testable import Jobs
@testable import Planner

@Suite struct StageWorkTests {
    /// A folder with a source experiment and a transfer experiment that, together,
    /// lower to every stage kind: features (frozen prefix), fisher (EWC), prune,
    /// quantize, distill and a seeds ensemble, besides the usual chain.
    static func everyKind() throws -> Plan {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-work-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
            tlc: 1
            name: src
            seed: 2
            data: {classes: [0, 1, 2], train_per_class: 30, test_per_class: 10}
            backbone: {arch: lenet5}
            training: {epochs: 1, batch_size: 16}

            """.write(toFile: dir + "/src.yaml", atomically: true, encoding: .utf8)
        try """
            tlc: 1
            name: dst
            seed: 3
            data: {classes: [3, 4, 5], train_per_class: 30, test_per_class: 10}
            backbone: {arch: lenet5, weights: run:src, freeze: {up_to: conv1}}
            optimizer: {kind: sgd, lr: 0.01, groups: {head: {lr: 0.1}}}
            training: {epochs: 2, batch_size: 16, schedule: {kind: step, step_epochs: 1}, regularization: {ewc: 10, fisher_samples: 20}}
            compression:
              - prune: {sparsity: 0.5}
              - share: {bits: 4, finetune_epochs: 1}
              - quantize: {bits: 8, calibration_batches: 2}
              - distill: {student: {arch: mlp, options: {widths: [16]}}, teacher: run:src, epochs: 1}
              - encode:
            ensemble: {members: 2}

            """.write(toFile: dir + "/dst.yaml", atomically: true, encoding: .utf8)
        return try PlanBuilder().plan(try ExperimentLoader().load(path: dir + "/dst.yaml"))
    }

    /// An image folder's plan (data.decode); its files need not be images to be planned.
    static func imageFolder() throws -> Plan {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-work-\(UUID().uuidString)").path
        for (c, file) in [("a", "1.png"), ("a", "2.jpg"), ("b", "1.png")] {
            try FileManager.default.createDirectory(atPath: "\(dir)/photos/\(c)", withIntermediateDirectories: true)
            try Data("\(c)\(file)".utf8).write(to: URL(fileURLWithPath: "\(dir)/photos/\(c)/\(file)"))
        }
        try """
            tlc: 1
            name: img
            data: {dataset: folder:photos, image_size: 16, resize: 20, augment: {random_resized_crop: true}}
            normalization: {kind: imagenet}
            backbone: {arch: mlp, options: {widths: [8]}}
            training: {epochs: 1}

            """.write(toFile: dir + "/img.yaml", atomically: true, encoding: .utf8)
        return try PlanBuilder().plan(try ExperimentLoader().load(path: dir + "/img.yaml"))
    }

    @Test func thePlanHasEveryStageKind() throws {
        let kinds = Set(try Self.everyKind().stages.map(\.kind) + Self.imageFolder().stages.map(\.kind))
        #expect(kinds == Set(Stage.Kind.allCases), "missing: \(Set(Stage.Kind.allCases).subtracting(kinds))")
    }

    static let enumWords = ["standardize", "min_max", "none", "channel", "global", "magnitude", "l1_filter",
                            "mean_probs", "vote", "weighted", "val.loss", "val.accuracy"]

    /// Changed copies of the whole value, several for each of its leaves.
    static func mutations(of value: JSONValue) -> [JSONValue] {
        switch value {
        case .object(let entries):
            return entries.indices.flatMap { i in mutations(of: entries[i].value).map { m -> JSONValue in
                var c = entries; c[i].value = m; return .object(c) } }
        case .list(let items):
            return items.indices.flatMap { i in mutations(of: items[i]).map { m -> JSONValue in var c = items; c[i] = m; return .list(c) } }
        case .bool(let b): return [.bool(!b)]
        case .int(let n): return [.int(n + 1)]
        case .double(let d): return [.double(d * 1.5)]
        // A closed set of words (an enum) changes to another of its words.
        case .string(let s): return [.string(s + "x")] + enumWords.filter { $0 != s }.map(JSONValue.string)
        case .null: return []
        }
    }

    @Test func changingAnyFieldOfAnyWorkChangesItsHash() throws {
        var changedByKind: [Stage.Kind: Int] = [:]
        for plan in [try Self.everyKind(), try Self.imageFolder()] { for stage in plan.stages {
            let depHashes = stage.deps.map { d in plan.stage(d)!.hash }
            #expect(try StageHashing.hash(stage.work, dependencies: depHashes) == stage.hash)
            let json = try JSONDecoder().decode(JSONValue.self, from: Data(StageHashing.canonicalJSON(stage.work)))
            for mutated in Self.mutations(of: json) {
                let data = try JSONEncoder().encode(mutated)
                // Some changes are not valid work (an unknown enum case): they cannot run at all.
                guard let work = try? StageWork.decode(stage.kind, from: JSONDecoderBox.decoder(data)), work != stage.work else { continue }
                #expect(try StageHashing.hash(work, dependencies: depHashes) != stage.hash, "\(stage.kind.rawValue): \(String(decoding: data, as: UTF8.self))")
                changedByKind[stage.kind, default: 0] += 1
            }
            // The dependencies are part of the name too.
            if !depHashes.isEmpty {
                #expect(try StageHashing.hash(stage.work, dependencies: depHashes.reversed() + ["0"]) != stage.hash)
            }
        } }
        // Every kind had fields to change (a report's included), and each change counted.
        for kind in Stage.Kind.allCases { #expect((changedByKind[kind] ?? 0) > 0, "\(kind.rawValue) has no field that changes its hash") }
    }

    @Test func planJSONDecodesToAnEqualPlan() throws {
        let plan = try Self.everyKind()
        let data = try plan.encoded()
        let decoded = try Plan.decode(data)
        #expect(decoded == plan)
        #expect(try decoded.encoded() == data)
        // A sweep's points keep their assignments, in order, with ints and doubles apart.
        let sweep = try PlanBuilder().plan(try ExperimentLoader().load(path: try Self.file(
            "tlc: 1\nname: s\ndata: {classes: [0, 1]}\nbackbone: {arch: mlp}\nsweep:\n  grid:\n    training.epochs: [1, 2]\n    optimizer.lr: [1.0, 0.5]\n")))
        let again = try Plan.decode(try sweep.encoded())
        #expect(again == sweep)
        #expect(again.points[0].assignments.map(\.path) == ["training.epochs", "optimizer.lr"])
        #expect(again.points[0].assignments.map(\.value) == [.int(1), .double(1.0)])
    }

    @Test func aHandEditedPlanIsRefused() throws {
        let plan = try Self.everyKind()
        var text = String(decoding: try plan.encoded(), as: UTF8.self)
        // Raise the training epochs of the train stage without re-hashing.
        let train = try #require(plan.stages.first { $0.kind == .train })
        guard case .train(let work) = train.work else { Issue.record("not a train work"); return }
        let range = try #require(text.range(of: "\"epochs\" : \(work.training.epochs)"))
        text.replaceSubrange(range, with: "\"epochs\" : 40")
        #expect(throws: PlanFileError.self) { try Plan.decode(Data(text.utf8)) }
        do { _ = try Plan.decode(Data(text.utf8)) } catch let e as PlanFileError {
            #expect(e.message.contains("does not match its work"))
        }
        #expect(throws: PlanFileError.self) { try Plan.decode(Data("{\"format\": 2}".utf8)) }
        #expect(throws: PlanFileError.self) { try Plan.decode(Data("not json".utf8)) }
    }

    @Test func workValuesCarryTheResolvedDecisions() throws {
        let plan = try Self.everyKind()
        guard case .train(let train)? = plan.stages.first(where: { $0.kind == .train && $0.experiment == "dst" })?.work else {
            Issue.record("no train stage of dst"); return
        }
        #expect(train.frozen == ["conv1"])
        #expect(train.featureCut == 3)   // conv1 and the parameter-free layers after it
        #expect(train.ewc == 10 && train.training.groups.map(\.match) == ["head"])
        #expect(train.training.schedule == .step(everyEpochs: 1, gamma: 0.1))
        guard case .modelInit(let initWork)? = plan.stages.first(where: { $0.kind == .modelInit && $0.experiment == "dst" })?.work else {
            Issue.record("no model.init of dst"); return
        }
        #expect(initWork.weights == .upstream(experiment: "src"))
        #expect(initWork.architecture.head.count > 0)
        guard case .report(let report)? = plan.stages.first(where: { $0.kind == .report && $0.experiment == "dst" })?.work else { Issue.record("no report"); return }
        #expect(report.classes == [3, 4, 5] && report.classNames == ["Dress", "Coat", "Sandal"])
    }

    static func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-work-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// Decodes a payload the way plan.json does (a Decoder for `StageWork.decode`).
enum JSONDecoderBox {
    struct Capture: Decodable {
        let decoder: any Decoder
        init(from decoder: any Decoder) throws { self.decoder = decoder }
    }
    static func decoder(_ data: Data) throws -> any Decoder { try JSONDecoder().decode(Capture.self, from: data).decoder }
}

@Suite struct UpstreamRunTests {
    @Test func aPlanRecordsTheExperimentsItTrainsOnTheWay() throws {
        let plan = try StageWorkTests.everyKind()
        let src = try #require(plan.upstreamRuns.first { $0.experiment == "src" })
        #expect(plan.upstreamRuns.count == 1 && src.file.hasSuffix("/src.yaml") && src.sourceText.contains("name: src"))
        // Its own plan: one point, its report, and only the stages it reads.
        let own = plan.plan(of: src)
        #expect(own.experiment == "src" && own.points.count == 1 && own.upstreamRuns.isEmpty)
        #expect(own.stages.allSatisfy { $0.experiment == "src" })
        #expect(own.stage(src.point.reportStage)?.kind == .report)
        #expect(try Plan.decode(try own.encoded()) == own)
    }
}
