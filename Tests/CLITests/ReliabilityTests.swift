// Reliability of `tlc run` as a process: SIGKILL at random moments never leaves
// a corrupt cache entry or a finished-looking run, a rerun always completes with
// the same results, and two concurrent runs of one spec share the work.
import Foundation
import Testing
import Runtime
@testable import TLCCommands

enum TLCBinary {
    /// The `tlc` executable built next to this test bundle.
    static var path: String {
        var dir = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("tlc").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return Repo.root + "/.build/debug/tlc"
    }

    static func start(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    @discardableResult
    static func run(_ args: [String]) throws -> Int32 {
        let p = try start(args)
        p.waitUntilExit()
        return p.terminationStatus
    }
}

@Suite(.serialized) struct ReliabilityTests {
    static let spec = """
        tlc: 1
        name: sturdy
        seed: 11
        data: {classes: [0, 1, 5, 9], train_per_class: 150, test_per_class: 50, validation: 0.1}
        backbone: {arch: mlp, options: {widths: [48]}}
        training: {epochs: 3, batch_size: 32}

        """

    func setUp() throws -> (dir: String, file: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-rel-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/sturdy.yaml"
        try Self.spec.write(toFile: file, atomically: true, encoding: .utf8)
        return (dir, file)
    }

    /// Metrics that must be reproducible (timings are not).
    func stableMetrics(_ runDir: String) throws -> [String: Double] {
        let data = try Data(contentsOf: URL(fileURLWithPath: runDir + "/metrics.json"))
        let all = try JSONSerialization.jsonObject(with: data) as! [String: Double]
        return all.filter { !$0.key.hasPrefix("time.") && !$0.key.hasPrefix("latency.") }
    }

    func latest(_ out: String) throws -> String {
        out + "/sturdy/" + (try FileManager.default.destinationOfSymbolicLink(atPath: out + "/sturdy/latest"))
    }

    /// Every cache entry is complete and intact: its manifest decodes and every file
    /// it lists is there with its size and SHA-256, nothing more.
    func checkCache(_ out: String) throws {
        let cache = StageCache(root: out + "/.cache")
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: cache.root)) ?? [] where !entry.hasPrefix(".") {
            #expect(throws: Never.self, "\(entry)") { try cache.verify(entry) }
        }
    }

    @Test func killedAtRandomMomentsThenRerunGivesTheSameResults() throws {
        let (dir, file) = try setUp()
        let reference = dir + "/reference"
        #expect(try TLCBinary.run(["run", file, "--output", reference]) == 0)
        let expected = try stableMetrics(try latest(reference))
        let referenceModel = FileManager.default.contents(atPath: try latest(reference) + "/model.safetensors")

        let out = dir + "/killed"
        var generator = SystemRandomNumberGenerator()
        for round in 0..<20 {
            // --force: every killed run recomputes and rewrites cache entries, so kills land mid-write.
            let p = try TLCBinary.start(["run", file, "--output", out, "--force"])
            usleep(UInt32.random(in: 20_000...1_500_000, using: &generator))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            try checkCache(out)
            #expect(try TLCBinary.run(["run", file, "--output", out]) == 0, "rerun after kill \(round)")
            #expect(try stableMetrics(try latest(out)) == expected, "metrics after kill \(round)")
            #expect(FileManager.default.contents(atPath: try latest(out) + "/model.safetensors") == referenceModel)
            try checkCache(out)
        }
        // Killed runs never look finished: only hidden .partial folders, no half-written run ids.
        for name in try FileManager.default.contentsOfDirectory(atPath: out + "/sturdy") where !name.hasPrefix(".") && name != "latest" {
            #expect(FileManager.default.fileExists(atPath: out + "/sturdy/\(name)/metrics.json") || name.hasSuffix(".failed"), "\(name)")
        }
    }

    @Test func twoConcurrentRunsBothSucceedAndShareTheWork() throws {
        let (dir, file) = try setUp()
        let out = dir + "/shared"
        let a = try TLCBinary.start(["run", file, "--output", out])
        let b = try TLCBinary.start(["run", file, "--output", out])
        a.waitUntilExit()
        b.waitUntilExit()
        #expect(a.terminationStatus == 0 && b.terminationStatus == 0)
        let runs = try FileManager.default.contentsOfDirectory(atPath: out + "/sturdy").filter { !$0.hasPrefix(".") && $0 != "latest" }
        #expect(runs.count == 2)
        var ran = 0
        for run in runs {
            let log = try String(contentsOfFile: out + "/sturdy/\(run)/log.txt", encoding: .utf8)
            if let line = log.split(separator: "\n").first(where: { $0.hasPrefix("stages:") }) {
                ran += Int(line.split(separator: " ")[1]) ?? 0
            }
        }
        #expect(ran == 5)   // every stage computed exactly once between the two
        #expect(try stableMetrics(out + "/sturdy/" + runs[0]) == (try stableMetrics(out + "/sturdy/" + runs[1])))
        try checkCache(out)
    }
}

@Suite struct OutputRootTests {
    @Test func anEmptyOrFileOutputRootIsAUsageError() throws {
        #expect(TLC.run(["ls", "--output", ""]) == 2)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-not-a-dir-\(UUID().uuidString)").path
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(TLC.run(["ls", "--output", file]) == 2)
        #expect(TLC.run(["run", Repo.root + "/Experiments/quickstart.yaml", "--output", file]) == 2)
        // TLC_OUTPUT set but empty would mean the current folder.
        let empty = Shell.run(TLCBinary.path, ["ls"], env: ["TLC_OUTPUT": ""])
        #expect(empty.status == 2 && empty.err.contains("TLC_OUTPUT is set but empty"), "\(empty.err)")
        #expect(!empty.err.contains("NSCocoaErrorDomain") && !empty.err.contains("Error Domain"))
    }
}
