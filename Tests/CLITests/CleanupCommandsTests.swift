// `tlc rm` and `tlc gc --keep-last` on small real runs: they delete what they should
// (exit 0), keep `latest` pointing at a run and the cache whole, and refuse bad
// references and options (exit 2, nothing deleted).
import Foundation
import Testing
@testable import Runtime
@testable import TLCCommands

@Suite(.serialized) struct CleanupCommandsTests {
    @Test func rmAndGcKeepLastDeleteRunsAndRefuseBadInput() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-cli-rm-\(UUID().uuidString)").path
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/clitiny.yaml", sweepFile = dir + "/clisweep.yaml", out = dir + "/Outputs"
        try RunCommandsTests.small.write(toFile: file, atomically: true, encoding: .utf8)
        try (RunCommandsTests.small.replacingOccurrences(of: "name: clitiny", with: "name: clisweep")
             + "sweep:\n  grid:\n    seed: [1, 2]\n").write(toFile: sweepFile, atomically: true, encoding: .utf8)
        for overrides in [["--set", "optimizer.lr=1e-2"], ["--set", "optimizer.lr=3e-3"], []] {
            #expect(TLC.run(["run", file, "--output", out] + overrides) == 0)
        }
        #expect(TLC.run(["run", sweepFile, "--output", out]) == 0)
        let store = RunStore(outputRoot: out)
        let tiny = store.runs(of: "clitiny").map(\.path)
        let sweep = try store.resolve("clisweep@latest")
        let cache = out + "/.cache"
        let cacheBefore = try fm.contentsOfDirectory(atPath: cache).sorted()
        func latest(_ name: String) -> String? { try? fm.destinationOfSymbolicLink(atPath: "\(out)/\(name)/latest") }

        // Bad references, a sweep point alone, no argument: exit 2 and nothing removed.
        #expect(TLC.run(["rm", "nothere@latest", "--output", out]) == 2)
        #expect(TLC.run(["rm", "clitiny@latest", "clitiny@7", "--output", out]) == 2)
        #expect(TLC.run(["rm", sweep.points[0].path, "--output", out]) == 2)
        #expect(TLC.run(["rm", "--output", out]) == 2)
        #expect(store.runs(of: "clitiny").map(\.path) == tiny && fm.fileExists(atPath: sweep.points[0].path))

        // The newest run, named through the latest link, by NAME@latest and by id: removed once (the
        // run, not the link), latest moves to the next, the cache is untouched.
        #expect(TLC.run(["rm", out + "/clitiny/latest", "clitiny@latest", (tiny[0] as NSString).lastPathComponent, "--output", out]) == 0)
        #expect(!fm.fileExists(atPath: tiny[0]))
        #expect(latest("clitiny") == (tiny[1] as NSString).lastPathComponent)
        #expect(try fm.contentsOfDirectory(atPath: cache).sorted() == cacheBefore)
        // A whole sweep by its id: the experiment has no run left, so no latest either.
        #expect(TLC.run(["rm", sweep.id, "--output", out]) == 0)
        #expect(!fm.fileExists(atPath: sweep.path) && latest("clisweep") == nil)

        // gc --keep-last: 0 is refused; a dry run deletes nothing; then the older run goes.
        #expect(TLC.run(["gc", "--keep-last", "0", "--output", out]) == 2)
        #expect(TLC.run(["gc", "--keep-last", "1", "--dry-run", "--output", out]) == 0)
        #expect(store.runs(of: "clitiny").map(\.path) == [tiny[1], tiny[2]])
        let dry = try store.collectGarbage(dryRun: true, keepLast: 1)
        let lines = CollectGarbage.lines(dry, dryRun: true)
        #expect(lines.contains { $0.hasPrefix("would remove run \(tiny[2])  (older than the newest run of clitiny") })
        #expect(lines.contains { $0.contains("train stage of clitiny") && $0.hasPrefix("would remove \(cache)/") })
        #expect(lines.contains { $0.contains("train stage (unreferenced)") }, "the removed sweep's and run's entries")
        #expect(lines.last?.hasPrefix("would free") == true)
        #expect(TLC.run(["gc", "--keep-last", "1", "--output", out]) == 0)
        #expect(store.runs(of: "clitiny").map(\.path) == [tiny[1]])
        #expect(latest("clitiny") == (tiny[1] as NSString).lastPathComponent)
        #expect(try store.collectGarbage(dryRun: true).removed.isEmpty)
        #expect(TLC.run(["run", file, "--output", out, "--set", "optimizer.lr=3e-3"]) == 0)
        #expect(store.runs(of: "clitiny").first?.cached == true, "the kept run's stages are all still cached")
    }
}
