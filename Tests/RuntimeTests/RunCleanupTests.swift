// Deleting under an output root (RunCleanup), on small real runs: `gc --keep-last`
// removes older runs then the entries only they used, naming each entry's stage kind
// and experiment; removing a run repairs `latest`, refuses a sweep point alone and
// never touches the cache.
import Foundation
import Testing
@testable import FrontEnd
@testable import Planner
import Jobs
@testable import Runtime

@Suite(.serialized) struct RunCleanupTests {
    // The same scratch folders and runs as the provenance tests.
    func temp() throws -> String { try RunProvenanceTests().temp() }
    func run(_ yaml: String, in dir: String, overrides: [String] = []) throws -> RunResult {
        try RunProvenanceTests().run(yaml, in: dir, overrides: overrides)
    }

    static let small = RunToolsTests.small

    @Test func keepLastRemovesOlderRunsThenTheirEntries() throws {
        let dir = try temp()
        let fm = FileManager.default
        let oldest = try run(Self.small, in: dir)
        let middle = try run(Self.small, in: dir, overrides: ["optimizer.lr=3e-3"])
        let newest = try run(Self.small, in: dir)
        let other = try run(Self.small.replacingOccurrences(of: "name: tiny", with: "name: other"), in: dir)
        let store = RunStore(outputRoot: dir + "/Outputs")
        let cache = dir + "/Outputs/.cache"
        func entries() throws -> Set<String> { Set(try fm.contentsOfDirectory(atPath: cache).filter { !$0.hasPrefix(".") }) }
        let before = try entries()
        // What only the middle run used: its train and evaluate stages (report stages are never cached).
        let onlyMiddle = Set(try store.read(middle.runDir).stageHashes).subtracting(try store.read(newest.runDir).stageHashes).intersection(before)
        #expect(onlyMiddle.count == 2)
        // A run directory a killed `tlc rm` was deleting.
        let leftover = dir + "/Outputs/tiny/.tmp-removing-2147483000-1-\(StageCache.hostTag)"
        try fm.createDirectory(atPath: leftover, withIntermediateDirectories: true)

        let dry = try store.collectGarbage(dryRun: true, keepLast: 1)
        #expect(dry.removedRuns.map(\.path) == [middle.runDir, oldest.runDir])
        #expect(dry.removedRuns.allSatisfy { $0.experiment == "tiny" && $0.reason == "older than the newest run of tiny" && $0.bytes > 0 })
        let dryEntries = dry.removed.filter { $0.reason == "unreferenced cache entry" }
        #expect(Set(dryEntries.map { ($0.path as NSString).lastPathComponent }) == onlyMiddle)
        #expect(Set(dryEntries.compactMap(\.kind)) == ["train", "evaluate"])
        #expect(dryEntries.allSatisfy { $0.experiment == "tiny" }, "named from the plan of the run --keep-last removes")
        #expect(dry.removed.contains { $0.path == leftover && $0.reason == "leftover of a removed run" })
        #expect(fm.fileExists(atPath: oldest.runDir) && fm.fileExists(atPath: middle.runDir) && fm.fileExists(atPath: leftover))
        #expect(try entries() == before)

        let done = try store.collectGarbage(dryRun: false, keepLast: 1)
        #expect(done.removedRuns.map(\.path) == dry.removedRuns.map(\.path))
        #expect(done.removed.map(\.path).sorted() == dry.removed.map(\.path).sorted())
        #expect(done.latestChanges.isEmpty, "latest was the newest run, which stays")
        #expect(!fm.fileExists(atPath: oldest.runDir) && !fm.fileExists(atPath: middle.runDir) && !fm.fileExists(atPath: leftover))
        #expect(fm.fileExists(atPath: newest.runDir) && fm.fileExists(atPath: other.runDir))
        #expect(try entries() == before.subtracting(onlyMiddle))
        #expect(try store.resolve("tiny@latest").path == newest.runDir)
        #expect(try run(Self.small, in: dir).cachedStages == 5)

        // With every run gone, no plan names an entry: each is listed by kind, unreferenced.
        for r in store.allRuns() { _ = try store.removeRun(r) }
        let orphans = try store.collectGarbage(dryRun: true)
        #expect(orphans.removed.count == (try entries()).count)
        #expect(orphans.removed.allSatisfy { $0.kind != nil && $0.experiment == nil })
    }

    @Test func removingRunsRepairsLatestAndNeverTouchesTheCache() throws {
        let dir = try temp()
        let fm = FileManager.default
        let first = try run(Self.small, in: dir)
        let second = try run(Self.small, in: dir, overrides: ["optimizer.lr=3e-3"])
        let store = RunStore(outputRoot: dir + "/Outputs")
        let cache = dir + "/Outputs/.cache"
        let before = try fm.contentsOfDirectory(atPath: cache).sorted()
        // A newer failed run: never `latest`.
        let failedDir = dir + "/Outputs/tiny/29991231-235959-dead.failed"
        try fm.copyItem(atPath: first.runDir, toPath: failedDir)
        try fm.removeItem(atPath: failedDir + "/metrics.json")

        let removed = try store.removeRun(try store.resolve("tiny@latest"))
        #expect(removed.path == second.runDir && removed.bytes > 0)
        #expect(removed.latest == .repointed(experimentDir: dir + "/Outputs/tiny", runID: (first.runDir as NSString).lastPathComponent))
        #expect(!fm.fileExists(atPath: second.runDir))
        #expect(try store.resolve("tiny@latest").path == first.runDir)
        #expect(try fm.contentsOfDirectory(atPath: cache).sorted() == before)

        // Removing a run latest does not point at leaves the link alone.
        #expect(try store.removeRun(try store.resolve("29991231-235959-dead")).latest == nil)
        #expect(try store.resolve("tiny@latest").path == first.runDir)
        // The last succeeded run: the link goes.
        #expect(try store.removeRun(try store.resolve(first.runDir)).latest == .removed(experimentDir: dir + "/Outputs/tiny"))
        #expect((try? fm.destinationOfSymbolicLink(atPath: dir + "/Outputs/tiny/latest")) == nil)
        #expect(throws: RunStoreError.self) { try store.resolve("tiny@latest") }
        #expect(try fm.contentsOfDirectory(atPath: cache).sorted() == before)

        // One point of a sweep is refused, naming the sweep to remove instead.
        let sweep = try run(Self.small + "sweep:\n  grid:\n    optimizer.lr: [1e-3, 3e-3]\n", in: dir)
        let point = try store.resolve(sweep.points[0].runDir)
        do {
            _ = try store.removeRun(point)
            Issue.record("a sweep point was removed")
        } catch {
            #expect("\(error)".contains("one point of the sweep \(sweep.runDir)") && "\(error)".contains("tlc rm \(sweep.runDir)"))
        }
        #expect(fm.fileExists(atPath: sweep.points[0].runDir))
        #expect(try store.removeRun(try store.resolve(sweep.runDir)).path == sweep.runDir)
        #expect(!fm.fileExists(atPath: sweep.runDir))
    }
}
