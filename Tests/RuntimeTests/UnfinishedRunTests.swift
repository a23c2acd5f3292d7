// A killed run leaves `.<id>.partial` behind: `tlc ls` shows it, and `tlc gc`
// removes it once its writer is gone — never a folder a live run is writing.
import Foundation
import Testing
@testable import Runtime

@Suite struct UnfinishedRunTests {
    @Test func abandonedPartialFoldersAreListedAndCollected() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-partial-\(UUID().uuidString)").path
        let exp = root + "/exp"
        try FileManager.default.createDirectory(atPath: exp, withIntermediateDirectories: true)
        // A process that has exited: its pid names no live writer.
        let done = Process()
        done.executableURL = URL(fileURLWithPath: "/bin/true")
        try done.run()
        done.waitUntilExit()
        for (id, pid) in [("20261130-000000-dead", done.processIdentifier), ("20261130-000001-live", getpid())] {
            let dir = exp + "/.\(id).partial"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try "\(pid) \(StageCache.hostTag)\n".write(toFile: dir + "/.writer", atomically: true, encoding: .utf8)
            try "partial log\n".write(toFile: dir + "/log.txt", atomically: true, encoding: .utf8)
        }
        let store = RunStore(outputRoot: root)
        let listed = store.unfinishedRuns()
        #expect(Set(listed.map(\.id)) == ["20261130-000000-dead", "20261130-000001-live"])
        #expect(listed.first { $0.id.hasSuffix("dead") }?.isRunning == false && listed.first { $0.id.hasSuffix("live") }?.isRunning == true)
        let dry = try store.collectGarbage(dryRun: true)
        #expect(dry.removed.map(\.path) == [exp + "/.20261130-000000-dead.partial"])
        #expect(FileManager.default.fileExists(atPath: exp + "/.20261130-000000-dead.partial"))
        _ = try store.collectGarbage(dryRun: false)
        #expect(!FileManager.default.fileExists(atPath: exp + "/.20261130-000000-dead.partial"))
        #expect(FileManager.default.fileExists(atPath: exp + "/.20261130-000001-live.partial"), "a live run's folder is never removed")
    }
}
