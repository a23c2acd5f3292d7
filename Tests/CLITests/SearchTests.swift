// `search:` end to end through `tlc run`: successive halving over four learning
// rates trains rung after rung, promotes the best half by validation accuracy, and
// its winner — trained 1, 2 then 4 epochs by continuing — is bitwise the model
// trained straight to 4 epochs under the same budget. A rerun replays the decision
// journal and computes nothing; a search killed with SIGKILL mid-rung and rerun
// keeps every decision it had made and recomputes no finished stage.
import Foundation
import Testing
import Engine
import FrontEnd
@testable import TLCCommands

@Suite struct SearchTests {
    static let spec = """
        tlc: 1
        name: NAME
        seed: 5
        data: {classes: [0, 1, 2], train_per_class: TRAIN, test_per_class: 30, validation: 0.2}
        backbone: {arch: ARCH}
        optimizer: {kind: adam, lr: 1e-3}
        training: {batch_size: 32, schedule: {kind: cosine}}
        sweep: {grid: {optimizer.lr: [3e-4, 1e-3, 3e-3, 1e-2]}}
        search: {method: successive_halving, eta: 2, min_epochs: 1, max_epochs: 4}

        """

    static func folder(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    struct NoJournal: Error {}

    /// The search's decision journal (an error until it exists).
    static func journal(_ out: String, _ experiment: String) throws -> (path: String, entries: [[String: Any]]) {
        let dir = out + "/\(experiment)/.search"
        guard let name = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.first(where: { $0.hasSuffix(".jsonl") }) else { throw NoJournal() }
        let text = try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
        return (dir + "/" + name, text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
    }

    @Test func promotionContinuesTrainingAndTheWinnerIsTheStraightRun() throws {
        let dir = try Self.folder("search")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.spec.replacingOccurrences(of: "NAME", with: "halving").replacingOccurrences(of: "TRAIN", with: "50")
            .replacingOccurrences(of: "ARCH", with: "mlp").write(toFile: dir + "/halving.yaml", atomically: true, encoding: .utf8)
        let out = dir + "/Outputs"
        try #require(TLC.run(["run", dir + "/halving.yaml", "--output", out]) == 0)

        // The journal: 4, 2, 1 configurations; each rung promotes its best by val.accuracy.
        let entries = try Self.journal(out, "halving").entries
        let rungs = Dictionary(grouping: entries, by: { $0["rung"] as? Int ?? -1 })
        #expect(rungs.keys.sorted() == [0, 1, 2] && rungs[0]?.count == 4 && rungs[1]?.count == 2 && rungs[2]?.count == 1)
        for r in 0..<2 {
            let rung = rungs[r] ?? []
            let promoted = rung.filter { $0["promoted"] as? Bool == true }.compactMap { $0["metric"] as? Double }
            let stopped = rung.filter { $0["promoted"] as? Bool == false }.compactMap { $0["metric"] as? Double }
            #expect(promoted.count == rung.count / 2)
            #expect((promoted.min() ?? 0) >= (stopped.max() ?? 0), "rung \(r) promotes its best")
            let next = Set((rungs[r + 1] ?? []).compactMap { $0["label"] as? String })
            #expect(next == Set(rung.filter { $0["promoted"] as? Bool == true }.compactMap { $0["label"] as? String }))
        }
        let run = out + "/halving/latest"
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/search.json"))) as? [String: Any])
        #expect(summary["epochs_trained"] as? Int == 4 * 1 + 2 * 1 + 1 * 2, "promoted configurations train only the extra epochs")
        #expect(summary["epochs_exhaustive"] as? Int == 16)
        let winner = try #require(summary["winner"] as? String)
        let pareto = try #require(summary["pareto"] as? [[String: Any]])
        #expect(pareto.first?["configuration"] as? String == winner && (pareto.first?["params"] as? Int ?? 0) > 0,
                "the winner leads the Pareto front of the models trained to the end: \(pareto)")
        let report = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
        #expect(report.contains("search-rungs"), "the report has the rung chart")
        #expect(report.contains("swept: training.epochs"), "the winner's points differ only in epochs")
        #expect(rungs[2]?.first?["label"] as? String == winner)

        // The winner at 4 epochs, continued rung after rung, is the straight run's model bit for bit.
        let lr = try #require(winner.split(separator: "=").last.map(String.init))
        try Self.spec.replacingOccurrences(of: "NAME", with: "straight").replacingOccurrences(of: "TRAIN", with: "50")
            .replacingOccurrences(of: "ARCH", with: "mlp")
            .replacingOccurrences(of: "sweep: {grid: {optimizer.lr: [3e-4, 1e-3, 3e-3, 1e-2]}}\n", with: "")
            .replacingOccurrences(of: "search: {method: successive_halving, eta: 2, min_epochs: 1, max_epochs: 4}\n", with: "")
            .replacingOccurrences(of: "optimizer: {kind: adam, lr: 1e-3}", with: "optimizer: {kind: adam, lr: \(lr)}")
            .replacingOccurrences(of: "training: {batch_size: 32,", with: "training: {epochs: 4, budget: 4, batch_size: 32,")
            .write(toFile: dir + "/straight.yaml", atomically: true, encoding: .utf8)
        try #require(TLC.run(["run", dir + "/straight.yaml", "--output", out, "--no-cache"]) == 0)
        let folders = try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.hasSuffix("epochs=4") }
        let continued = try SafeTensors.read(run + "/" + (try #require(folders.first)) + "/model.safetensors")
        let straight = try SafeTensors.read(out + "/straight/latest/model.safetensors")
        #expect(continued.tensors.map(\.name) == straight.tensors.map(\.name))
        #expect(zip(continued.tensors, straight.tensors).allSatisfy { $0.1.values.map(\.bitPattern) == $1.1.values.map(\.bitPattern) },
                "the searched winner's weights are the straight run's")

        // A rerun replays the journal: every stage from the cache, the same winner.
        try #require(TLC.run(["run", dir + "/halving.yaml", "--output", out]) == 0)
        let again = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/halving/latest/search.json"))) as? [String: Any])
        #expect(again["winner"] as? String == winner && again["epochs_trained_by_this_process"] as? Int == 0)
        let env = try String(contentsOfFile: out + "/halving/latest/env.json", encoding: .utf8)
        #expect(env.contains("\"cached\": true"), "\(env.prefix(400))")
    }

    @Test func aKilledSearchResumesWithoutRedoingOrUndoingAnything() throws {
        let dir = try Self.folder("search-kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.spec.replacingOccurrences(of: "NAME", with: "killed").replacingOccurrences(of: "TRAIN", with: "150")
            .replacingOccurrences(of: "ARCH", with: "lenet5").write(toFile: dir + "/killed.yaml", atomically: true, encoding: .utf8)
        let out = dir + "/Outputs"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TLCBinary.path)
        p.arguments = ["run", dir + "/killed.yaml", "--output", out]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // SIGKILL as soon as the first rung is decided (the second is training).
        let deadline = Date().addingTimeInterval(300)
        var firstRung: [[String: Any]] = []
        while Date() < deadline && p.isRunning {
            if let j = try? Self.journal(out, "killed"), j.entries.count >= 4 { firstRung = j.entries; break }
            usleep(20_000)
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        try #require(firstRung.count == 4, "the first rung was decided before the kill")
        let before = try String(contentsOfFile: try Self.journal(out, "killed").path, encoding: .utf8)
        #expect(!FileManager.default.fileExists(atPath: out + "/killed/latest"), "killed mid-search: no finished run directory")

        let rerun = Shell.run(TLCBinary.path, ["run", dir + "/killed.yaml", "--output", out])
        try #require(rerun.status == 0, "\(rerun.err)")
        #expect(rerun.err.contains("bracket 1, rung 1: 4 × 1 epochs (from the journal)"), "\(rerun.err)")
        // No rung-1 training again: its four train stages come from the cache, no epoch of them runs.
        #expect(!rerun.err.contains(",epochs=1] epoch "), "\(rerun.err)")
        let after = try String(contentsOfFile: try Self.journal(out, "killed").path, encoding: .utf8)
        #expect(after.hasPrefix(before), "the decisions made before the kill stand")
        #expect(FileManager.default.fileExists(atPath: out + "/killed/latest/search.json"))
    }

    static let gridSpec = """
        tlc: 1
        name: NAME
        seed: 4
        data: {classes: [0, 1, 2], train_per_class: 50, test_per_class: 20, validation: 0.2}
        backbone: {arch: mlp, options: {widths: [24]}}
        optimizer: {kind: adam, lr: 3e-3}
        training: {batch_size: 32, schedule: {kind: cosine}}
        sweep:
          grid:
            backbone.options.widths: [[8], [24], [64]]
            optimizer.lr: [1e-3, 3e-3, 1e-2]
        search: SEARCH

        """

    /// Evolution's children each change one swept value of their parent, the controller's
    /// samples are the grid's; both decide the same on a second, uncached run, and a
    /// rerun replays the journal.
    @Test(arguments: ["{method: evolution, population: 3, sample: 2, models: 6, max_epochs: 1}",
                      "{method: reinforce, models: 6, max_epochs: 1}"])
    func evolutionAndReinforceAreSeededAndReplayed(_ search: String) throws {
        let dir = try Self.folder("search-models")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.gridSpec.replacingOccurrences(of: "NAME", with: "models").replacingOccurrences(of: "SEARCH", with: search)
            .write(toFile: dir + "/models.yaml", atomically: true, encoding: .utf8)
        try #require(TLC.run(["run", dir + "/models.yaml", "--output", dir + "/A"]) == 0)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/A/models/latest/search.json"))) as? [String: Any])
        let steps = try #require(summary["steps"] as? [[String: Any]])
        #expect(steps.count == 6)
        let metrics = steps.compactMap { $0["val.accuracy"] as? Double }
        let winner = try #require(summary["winner"] as? String)
        #expect(steps.first { $0["configuration"] as? String == winner }?["val.accuracy"] as? Double == metrics.max(), "the winner is the best model")
        if search.contains("evolution") {
            // Every child differs from its parent in exactly one swept value.
            for step in steps.dropFirst(3) {
                let child = try #require(step["configuration"] as? String), parent = try #require(step["parent"] as? String)
                let differences = zip(child.split(separator: ","), parent.split(separator: ",")).filter { $0 != $1 }.count
                #expect(differences == 1, "\(parent) → \(child)")
            }
            #expect(steps.prefix(3).allSatisfy { $0["parent"] == nil })
        }
        // The same spec and seed: the same decisions, computed again without the cache.
        try #require(TLC.run(["run", dir + "/models.yaml", "--output", dir + "/B", "--no-cache"]) == 0)
        let journalA = try String(contentsOfFile: try Self.journal(dir + "/A", "models").path, encoding: .utf8)
        let journalB = try String(contentsOfFile: try Self.journal(dir + "/B", "models").path, encoding: .utf8)
        #expect(journalA == journalB)
        // A rerun replays the journal.
        try #require(TLC.run(["run", dir + "/models.yaml", "--output", dir + "/A"]) == 0)
        let again = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/A/models/latest/search.json"))) as? [String: Any])
        #expect(again["winner"] as? String == winner && again["epochs_trained_by_this_process"] as? Int == 0)
    }

    // MARK: ASHA

    static let ashaSpec = """
        tlc: 1
        name: NAME
        seed: 6
        data: {classes: [0, 1, 2], train_per_class: TRAIN, test_per_class: 20, validation: 0.2}
        backbone: {arch: ARCH}
        optimizer: {kind: adam, lr: 3e-3}
        training: {batch_size: 32, schedule: {kind: cosine}}
        sweep:
          grid:
            optimizer.lr: [3e-4, 1e-3, 3e-3, 1e-2]
            training.batch_size: [16, 32]
        search: {method: asha, eta: 2, min_epochs: 1, max_epochs: 4}

        """

    /// Checks a journal against ASHA's rule: every decision is the one the results
    /// before it (in the journal) make, every result was decided, nothing is decided
    /// twice. Returns the decisions that have no result.
    @discardableResult
    static func checkAshaJournal(_ entries: [[String: Any]], eta: Int, rungs: Int, configurations: Int) -> [String] {
        var completed = [[(Int, Double)]](repeating: [], count: rungs)
        var promoted = [Set<Int>](repeating: [], count: rungs)
        var started = Set<Int>(), pending: [String] = []
        for e in entries {
            let c = e["configuration"] as? Int ?? -1, r = e["rung"] as? Int ?? -1, event = e["event"] as? String ?? ""
            let key = "\(c)@\(r)"
            // What the rule decides now: the highest rung with a promotable configuration, else a start.
            var rule: String? = nil
            for k in stride(from: rungs - 2, through: 0, by: -1) where rule == nil {
                let ranked = completed[k].sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(completed[k].count / eta)
                if let t = ranked.first(where: { !promoted[k].contains($0.0) }) { rule = "promote \(t.0)@\(k + 1)" }
            }
            switch event {
            case "start":
                #expect(rule == nil, "a start while \(rule ?? "") was due")
                #expect(r == 0 && started.insert(c).inserted, "\(e)")
                pending.append(key)
            case "promote":
                #expect(rule == "promote \(key)", "\(e) against the rule's \(rule ?? "start")")
                promoted[r - 1].insert(c)
                pending.append(key)
            case "result":
                #expect(pending.contains(key), "a result never decided: \(e)")
                pending.removeAll { $0 == key }
                completed[r].append((c, e["metric"] as? Double ?? -1))
            default: Issue.record("not an asha entry: \(e)")
            }
        }
        #expect(started.count <= configurations)
        return pending
    }

    /// ASHA with one worker: deterministic (a second, uncached run makes the same
    /// decisions, and the winner is bitwise the same model), every decision follows the
    /// rule, promotions continue training, and a rerun replays everything.
    @Test func ashaWithOneWorkerIsDeterministic() throws {
        let dir = try Self.folder("asha")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.ashaSpec.replacingOccurrences(of: "NAME", with: "asha").replacingOccurrences(of: "TRAIN", with: "20")
            .replacingOccurrences(of: "ARCH", with: "mlp").write(toFile: dir + "/asha.yaml", atomically: true, encoding: .utf8)
        let plan = Shell.run(TLCBinary.path, ["plan", dir + "/asha.yaml"])
        #expect(plan.status == 0 && plan.out.contains("search: asha (asynchronous successive halving), eta 2, 1–4 epochs"), "\(plan.out.prefix(600))")
        #expect(plan.out.contains("rung 3: 4 epochs, at least 2 configurations"), "\(plan.out.prefix(900))")
        try #require(TLC.run(["run", dir + "/asha.yaml", "--output", dir + "/A", "--jobs", "1"]) == 0)
        let entries = try Self.journal(dir + "/A", "asha").entries
        #expect(Self.checkAshaJournal(entries, eta: 2, rungs: 3, configurations: 8).isEmpty, "every decision has its result")
        let events = entries.compactMap { $0["event"] as? String }
        // One worker: a decision, its result, the next decision...
        #expect(zip(events, events.dropFirst()).allSatisfy { ($0 == "result") != ($1 == "result") }, "\(events)")
        #expect(Array(events.prefix(5)) == ["start", "result", "start", "result", "promote"], "promoted as soon as 1 of 2 is the best half: \(events)")
        #expect(events.filter { $0 == "start" }.count == 8)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/A/asha/latest/search.json"))) as? [String: Any])
        let winner = try #require(summary["winner"] as? String)
        let top = entries.filter { $0["event"] as? String == "result" && $0["rung"] as? Int == 2 }
        #expect(top.max { ($0["metric"] as? Double ?? 0) < ($1["metric"] as? Double ?? 0) }?["label"] as? String == winner || top.count > 1)
        // Cost: each result at rung k paid only its extra epochs.
        let spent = entries.filter { $0["event"] as? String == "result" }.reduce(0) { sum, e in
            sum + [1, 1, 2][e["rung"] as? Int ?? 0]
        }
        #expect(summary["epochs_trained"] as? Int == spent && spent < 8 * 4, "\(spent) epochs against 32")
        #expect((summary["decisions"] as? [[String: Any]])?.count == events.filter { $0 != "result" }.count)
        // The Pareto front carries each finalist's measured latency (per batch of 256, median and range).
        let front = try #require(summary["pareto"] as? [[String: Any]])
        #expect(!front.isEmpty && front.allSatisfy { ($0["latency_per_batch_ms"] as? Double ?? 0) > 0 && ($0["latency_per_batch_ms_range"] as? [Double])?.count == 2 },
                "\(front)")
        #expect(front.first?["configuration"] as? String == winner || (front.first?["val.accuracy"] as? Double) == (top.compactMap { $0["metric"] as? Double }.max()))
        #expect((summary["latency"] as? String)?.contains("seeded random inputs") == true)
        let report = try String(contentsOfFile: dir + "/A/asha/latest/report.html", encoding: .utf8)
        #expect(report.contains("search-rungs"), "the report has the rung chart")

        // The same spec: the same decisions and the same model, computed again without the cache.
        try #require(TLC.run(["run", dir + "/asha.yaml", "--output", dir + "/B", "--jobs", "1", "--no-cache"]) == 0)
        #expect(try String(contentsOfFile: Self.journal(dir + "/A", "asha").path, encoding: .utf8)
                == String(contentsOfFile: Self.journal(dir + "/B", "asha").path, encoding: .utf8))
        let model = { (root: String) -> Data? in
            let run = root + "/asha/latest"
            let folder = (try? FileManager.default.contentsOfDirectory(atPath: run))?.first { $0.hasSuffix("epochs=4") }
            return folder.flatMap { FileManager.default.contents(atPath: run + "/" + $0 + "/model.safetensors") }
        }
        #expect(model(dir + "/A") != nil && model(dir + "/A") == model(dir + "/B"), "the winner's model, bit for bit")
        let uncached = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/B/asha/latest/search.json"))) as? [String: Any])
        #expect((uncached["latency"] as? String)?.hasPrefix("not measured: --no-cache") == true)

        // A rerun (with more workers) replays the journal: nothing trains, nothing new is decided.
        let before = try String(contentsOfFile: Self.journal(dir + "/A", "asha").path, encoding: .utf8)
        try #require(TLC.run(["run", dir + "/asha.yaml", "--output", dir + "/A", "--jobs", "2"]) == 0)
        let again = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/A/asha/latest/search.json"))) as? [String: Any])
        #expect(again["winner"] as? String == winner && again["epochs_trained_by_this_process"] as? Int == 0)
        #expect(try String(contentsOfFile: Self.journal(dir + "/A", "asha").path, encoding: .utf8) == before)
    }

    /// ASHA with two workers killed with SIGKILL while both train, then rerun: the
    /// journal before the kill is kept as it was, the decisions that had no result are
    /// trained first, every later decision follows the rule, and no finished training
    /// runs again.
    @Test func aKilledAshaSearchResumesItsDecisions() throws {
        let dir = try Self.folder("asha-kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.ashaSpec.replacingOccurrences(of: "NAME", with: "ashakill").replacingOccurrences(of: "TRAIN", with: "100")
            .replacingOccurrences(of: "ARCH", with: "lenet5").write(toFile: dir + "/k.yaml", atomically: true, encoding: .utf8)
        let out = dir + "/Outputs"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TLCBinary.path)
        p.arguments = ["run", dir + "/k.yaml", "--output", out, "--jobs", "2"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // SIGKILL once three results are in and two trainings are decided but unfinished.
        let deadline = Date().addingTimeInterval(300)
        var seen: [[String: Any]] = []
        while Date() < deadline && p.isRunning {
            if let j = try? Self.journal(out, "ashakill"), j.entries.filter({ $0["event"] as? String == "result" }).count >= 3,
               Self.checkAshaJournal(j.entries, eta: 2, rungs: 3, configurations: 8).count == 2 {
                seen = j.entries; break
            }
            usleep(10_000)
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        try #require(!seen.isEmpty, "the search was killed with decisions in flight")
        let before = try String(contentsOfFile: try Self.journal(out, "ashakill").path, encoding: .utf8)
        let beforeEntries = try Self.journal(out, "ashakill").entries
        let unfinished = Self.checkAshaJournal(beforeEntries, eta: 2, rungs: 3, configurations: 8)
        #expect(!FileManager.default.fileExists(atPath: out + "/ashakill/latest"), "killed mid-search: no finished run directory")

        let rerun = Shell.run(TLCBinary.path, ["run", dir + "/k.yaml", "--output", out, "--jobs", "2"])
        try #require(rerun.status == 0, "\(rerun.err.suffix(2000))")
        #expect(rerun.err.contains("asha: replayed"), "\(rerun.err.prefix(2000))")
        let after = try String(contentsOfFile: try Self.journal(out, "ashakill").path, encoding: .utf8)
        #expect(after.hasPrefix(before), "the decisions and results before the kill stand")
        let entries = try Self.journal(out, "ashakill").entries
        #expect(Self.checkAshaJournal(entries, eta: 2, rungs: 3, configurations: 8).isEmpty)
        // The interrupted decisions are resumed before anything new starts: with as many of
        // them as jobs (the kill waits for two), the first entry after the replay is one of
        // their results; and each of them has its result. (Which finishes first, and what a
        // freed job starts while the other still trains, depends on timing.)
        func key(_ e: [String: Any]) -> String { "\(e["configuration"] as? Int ?? -1)@\(e["rung"] as? Int ?? -1)" }
        let next = Array(entries.dropFirst(beforeEntries.count))
        if unfinished.count >= 2 {   // every job busy with a resumed decision
            #expect(next.first.map { $0["event"] as? String == "result" && unfinished.contains(key($0)) } == true, "first after the replay: \(next.prefix(4))")
        }
        for k in unfinished {
            #expect(next.contains { key($0) == k && $0["event"] as? String == "result" }, "\(k) resumed: \(next.prefix(6))")
        }
        // No finished training runs again: the rung-1 trainings with a result before the kill train no epoch.
        for e in beforeEntries where e["event"] as? String == "result" && e["rung"] as? Int == 0 {
            let label = try #require(e["label"] as? String)
            #expect(!rerun.err.contains("[\(label),epochs=1] epoch "), "\(label) at 1 epoch trained again")
        }
        #expect(FileManager.default.fileExists(atPath: out + "/ashakill/latest/search.json"))
    }

    /// A search over a space where some configurations do not fit (five 2×2 poolings of
    /// a 28×28 image) rejects each of them with the reason — `tlc plan` lists them,
    /// search.json records them — trains none of them and searches the rest; with no
    /// valid configuration left, `tlc validate` exits 2 with a located error.
    @Test func aSearchRejectsInvalidConfigurationsAndSearchesTheRest() throws {
        let dir = try Self.folder("search-reject")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = """
            tlc: 1
            name: rej
            seed: 2
            data: {classes: [0, 1, 2], train_per_class: 20, test_per_class: 10, validation: 0.2}
            backbone: {arch: vgg, options: {blocks: [[8]], fc: [16], batchnorm: false}}
            optimizer: {kind: adam, lr: 3e-3}
            training: {batch_size: 32, schedule: {kind: cosine}}
            sweep:
              grid:
                backbone.options.blocks: BLOCKS
                optimizer.lr: [1e-3, 1e-2]
            search: {method: successive_halving, eta: 2, min_epochs: 1, max_epochs: 2}

            """
        try spec.replacingOccurrences(of: "BLOCKS", with: "[[[4]], [[4], [4], [4], [4], [4]], [[4], [4]]]")
            .write(toFile: dir + "/rej.yaml", atomically: true, encoding: .utf8)
        let plan = Shell.run(TLCBinary.path, ["plan", dir + "/rej.yaml"])
        #expect(plan.status == 0)
        let listed = plan.out.split(separator: "\n").filter { $0.hasPrefix("rejected: blocks=[[4],[4],[4],[4],[4]],lr=") }
        #expect(listed.count == 2 && listed.allSatisfy { $0.contains("too small for a 2×2 pooling window") }, "\(plan.out.prefix(800))")
        #expect(plan.err.contains("rej.yaml:9:3: warning: 2 of 6 configurations of the sweep are invalid and rejected"), "\(plan.err)")
        try #require(TLC.run(["run", dir + "/rej.yaml", "--output", dir + "/Outputs"]) == 0)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/Outputs/rej/latest/search.json"))) as? [String: Any])
        let rejected = try #require(summary["rejected"] as? [[String: Any]])
        #expect(rejected.count == 2 && rejected.allSatisfy { ($0["configuration"] as? String)?.hasPrefix("blocks=[[4],[4],[4],[4],[4]]") == true })
        let trained = Set(try Self.journal(dir + "/Outputs", "rej").entries.compactMap { $0["label"] as? String })
        #expect(trained.count == 4 && !trained.contains { $0.hasPrefix("blocks=[[4],[4],[4],[4],[4]]") }, "\(trained)")

        try spec.replacingOccurrences(of: "BLOCKS", with: "[[[4], [4], [4], [4], [4]], [[2], [2], [2], [2], [2], [2]]]")
            .write(toFile: dir + "/none.yaml", atomically: true, encoding: .utf8)
        let none = Shell.run(TLCBinary.path, ["validate", dir + "/none.yaml"])
        #expect(none.status == 2)
        #expect(none.err.contains("none.yaml:9:3: error: every one of the 4 configurations of the sweep is invalid"), "\(none.err)")
    }

    /// Evolution and the controller over a `random` sweep (not a grid: every rate is
    /// drawn from a log-uniform distribution): each child is one of its parent's nearest
    /// configurations, every model is one of the sweep's configurations, and the same
    /// spec decides the same on a second, uncached run.
    @Test(arguments: ["{method: evolution, population: 3, sample: 2, models: 5, max_epochs: 1}",
                      "{method: reinforce, models: 4, max_epochs: 1}"])
    func evolutionAndReinforceSearchARandomSweep(_ search: String) throws {
        let dir = try Self.folder("search-random")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = Self.gridSpec.replacingOccurrences(of: "NAME", with: "rnd").replacingOccurrences(of: "SEARCH", with: search)
            .replacingOccurrences(of: "train_per_class: 50, test_per_class: 20", with: "train_per_class: 20, test_per_class: 10")
            .replacingOccurrences(of: """
              grid:
                backbone.options.widths: [[8], [24], [64]]
                optimizer.lr: [1e-3, 3e-3, 1e-2]
            """, with: """
              random:
                trials: 8
                seed: 4
                params: {backbone.options.widths: {choice: [[8], [24], [64]]}, optimizer.lr: {loguniform: [1e-3, 1e-2]}}
            """)
        #expect(spec.contains("random:"))
        try spec.write(toFile: dir + "/rnd.yaml", atomically: true, encoding: .utf8)
        try #require(TLC.run(["run", dir + "/rnd.yaml", "--output", dir + "/A"]) == 0)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/A/rnd/latest/search.json"))) as? [String: Any])
        let steps = try #require(summary["steps"] as? [[String: Any]])
        #expect(steps.count == (search.contains("evolution") ? 5 : 4))
        let labels = try ExperimentLoader().load(path: dir + "/rnd.yaml").points.map(\.label)
        #expect(steps.allSatisfy { labels.contains($0["configuration"] as? String ?? "") })
        if search.contains("evolution") {
            for step in steps.dropFirst(3) {
                let child = try #require(step["configuration"] as? String), parent = try #require(step["parent"] as? String)
                let differences = zip(child.split(separator: ","), parent.split(separator: ",")).filter { $0 != $1 }.count
                // The lr of every draw differs, so the nearest configurations change it, and the width only when no other has the parent's.
                #expect(child != parent && (1...2).contains(differences), "\(parent) → \(child)")
                #expect((step["mutation"] as? String)?.contains("optimizer.lr:") == true, "\(step)")
            }
        }
        try #require(TLC.run(["run", dir + "/rnd.yaml", "--output", dir + "/B", "--no-cache"]) == 0)
        #expect(try String(contentsOfFile: try Self.journal(dir + "/A", "rnd").path, encoding: .utf8)
                == String(contentsOfFile: try Self.journal(dir + "/B", "rnd").path, encoding: .utf8))
    }
}
