// `tlc run --executor slurm` against a real Slurm: a single-node cluster
// (munged, slurmctld, slurmd from Debian's slurm-wlm and munge, set up by
// scripts/slurm-local.sh in a temporary folder) runs a 4-point sweep. The test
// checks the job array really ran (sacct, from the job-completion log), the
// metrics and models equal a local run's bit for bit, a second run submits
// nothing, and an array task cancelled with scancel is resubmitted and completes
// on the next run. The daemons it started are stopped at the end.
// Also: executor options and profiles that are wrong exit with 2.
import Foundation
import Testing
import TestSupport
@testable import TLCCommands

/// Slurm's daemons and clients, installed with apt-get when missing (as `make deps` does).
enum SlurmInstall {
    static let available: Bool = {
        func have() -> Bool { ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/bin/sbatch"].allSatisfy(FileManager.default.isExecutableFile) }
        if have() { return true }
        let apt = Shell.run("/bin/sh", ["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge"])
        if apt.status != 0 { print("SlurmTests: apt-get could not install slurm-wlm and munge: \(apt.err.suffix(500))") }
        return have()
    }()
}

/// Runs a program and collects what it prints.
enum Shell {
    struct Result { var status: Int32; var out: String; var err: String; var seconds: Double }

    static func run(_ program: String, _ args: [String], env: [String: String] = [:]) -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { _, new in new }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-shell-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: dir.path + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: dir.path + ".err", contents: nil)
        defer { try? FileManager.default.removeItem(atPath: dir.path + ".out"); try? FileManager.default.removeItem(atPath: dir.path + ".err") }
        let started = Date()
        do {
            p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.path + ".out"))
            p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.path + ".err"))
            p.standardInput = FileHandle.nullDevice
            try p.run()
        } catch { return Result(status: -1, out: "", err: "\(error)", seconds: 0) }
        p.waitUntilExit()
        let read = { (s: String) in (try? String(contentsOfFile: dir.path + s, encoding: .utf8)) ?? "" }
        return Result(status: p.terminationStatus, out: read(".out"), err: read(".err"), seconds: Date().timeIntervalSince(started))
    }
}

/// A single-node Slurm in a temporary folder, up for the life of one test.
struct LocalSlurm {
    let dir: String
    let env: [String: String]

    static func start() throws -> LocalSlurm {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-slurm-\(UUID().uuidString.prefix(8))").path
        let port = Int.random(in: 20000...29000)
        let up = Shell.run(Repo.root + "/scripts/slurm-local.sh", ["up", dir], env: ["SLURM_LOCAL_PORT": String(port)])
        guard up.status == 0 else {
            _ = Shell.run(Repo.root + "/scripts/slurm-local.sh", ["down", dir])
            throw SlurmSetupError(message: "slurm-local.sh up failed (\(up.status)): \(up.err)")
        }
        return LocalSlurm(dir: dir, env: ["SLURM_CONF": dir + "/slurm.conf"])
    }

    func stop() {
        _ = Shell.run(Repo.root + "/scripts/slurm-local.sh", ["down", dir])
    }

    /// The daemons' process ids, from their pid files (read while they run).
    var daemonPIDs: [Int32] {
        ["slurmctld.pid", "slurmd.pid", "munge/munged.pid"].compactMap { name in
            (try? String(contentsOfFile: dir + "/" + name, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }

    /// Whether one of these processes still runs (a zombie waiting to be reaped has stopped).
    static func anyRunning(_ pids: [Int32]) -> Bool {
        pids.contains { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            return !stat[close...].dropFirst(2).hasPrefix("Z")
        }
    }

    func tlc(_ args: [String]) -> Shell.Result { Shell.run(TLCBinary.path, args, env: env) }
}

struct SlurmSetupError: Error, CustomStringConvertible { var message: String; var description: String { message } }

@Suite(.serialized) struct SlurmTests {
    static let sweep = TestSpecs.tinySweep(name: "slurmsweep")

    func workspace() throws -> (dir: String, file: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-slurmtest-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/slurmsweep.yaml"
        try Self.sweep.write(toFile: file, atomically: true, encoding: .utf8)
        return (dir, file)
    }

    /// point label → (stable metrics, model bytes) of a finished sweep.
    func results(_ json: String) throws -> [String: ([String: Double], Data?)] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["status"] as? String == "succeeded")
        var out: [String: ([String: Double], Data?)] = [:]
        for point in try #require(object["points"] as? [[String: Any]]) {
            let label = try #require(point["label"] as? String), dir = try #require(point["run_dir"] as? String)
            let metrics = (point["metrics"] as? [String: Double] ?? [:]).filter { !$0.key.hasPrefix("time.") && !$0.key.hasPrefix("latency.") }
            out[label] = (metrics, FileManager.default.contents(atPath: dir + "/model.safetensors"))
        }
        return out
    }

    func runLog(_ json: String) throws -> String {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let dir = try #require(object["run_dir"] as? String)
        return try String(contentsOfFile: dir + "/log.txt", encoding: .utf8)
    }

    /// A successive-halving search through Slurm: every rung is a wave of jobs; the
    /// decisions and the winner are the local search's, bit for bit.
    @Test(.enabled(if: SlurmInstall.available, "slurm-wlm and munge are not installed and apt-get could not install them"))
    func searchRungsAreWavesOfSlurmJobs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-slurmsearch-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/halving.yaml"
        try SearchTests.spec.replacingOccurrences(of: "NAME", with: "halving").replacingOccurrences(of: "TRAIN", with: "50")
            .replacingOccurrences(of: "ARCH", with: "mlp").write(toFile: file, atomically: true, encoding: .utf8)
        let local = Shell.run(TLCBinary.path, ["run", file, "--output", dir + "/Local"])
        try #require(local.status == 0, "\(local.err)")
        let slurm = try LocalSlurm.start()
        defer { slurm.stop() }
        let remote = slurm.tlc(["run", file, "--executor", "slurm", "--output", dir + "/Outputs", "--poll-seconds", "0.5"])
        try #require(remote.status == 0, "\(remote.err)")
        let waves = remote.err.components(separatedBy: "slurm: ").filter { $0.contains("job(s) submitted") }
        #expect(waves.count >= 3, "one wave per rung (and the winner's evaluation): \(waves)")
        let journal = { (root: String) throws -> String in
            let j = try SearchTests.journal(root, "halving")
            return try String(contentsOfFile: j.path, encoding: .utf8)
        }
        #expect(try journal(dir + "/Outputs") == journal(dir + "/Local"), "the same decisions, the same metrics")
        let winner = { (root: String) -> Data? in
            let run = root + "/halving/latest"
            let folder = (try? FileManager.default.contentsOfDirectory(atPath: run))?.first { $0.hasSuffix("epochs=4") }
            return folder.flatMap { FileManager.default.contents(atPath: run + "/" + $0 + "/model.safetensors") }
        }
        #expect(winner(dir + "/Outputs") != nil && winner(dir + "/Outputs") == winner(dir + "/Local"), "the winner's model, bit for bit")
    }

    /// ASHA through Slurm with two workers: each decision is its own wave of jobs, two
    /// in flight at once (the second configuration starts before the first has a
    /// result); every decision follows the rule; a rerun replays the journal and
    /// submits nothing.
    @Test(.enabled(if: SlurmInstall.available, "slurm-wlm and munge are not installed and apt-get could not install them"))
    func ashaDecisionsAreWavesOfSlurmJobsInFlightTogether() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-slurmasha-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/asha.yaml"
        try SearchTests.ashaSpec.replacingOccurrences(of: "NAME", with: "slurmasha").replacingOccurrences(of: "TRAIN", with: "30")
            .replacingOccurrences(of: "ARCH", with: "mlp")
            .replacingOccurrences(of: "    training.batch_size: [16, 32]\n", with: "")
            .replacingOccurrences(of: "max_epochs: 4", with: "max_epochs: 2")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let slurm = try LocalSlurm.start()
        defer { slurm.stop() }
        let common = ["run", file, "--executor", "slurm", "--output", dir + "/Outputs", "--poll-seconds", "0.5", "--jobs", "2"]
        let first = slurm.tlc(common)
        try #require(first.status == 0, "\(first.err.suffix(3000))")
        let entries = try SearchTests.journal(dir + "/Outputs", "slurmasha").entries
        #expect(SearchTests.checkAshaJournal(entries, eta: 2, rungs: 2, configurations: 4).isEmpty)
        let decisions = entries.filter { $0["event"] as? String != "result" }.count
        let lines = first.err.split(separator: "\n").map(String.init)
        let waves = lines.filter { $0.hasPrefix("slurm: ") && $0.contains("job(s) submitted") }
        #expect(waves.count >= decisions && decisions >= 6, "a wave per decision (and the winner's evaluation): \(waves.count) waves, \(decisions) decisions")
        let firstResult = try #require(lines.firstIndex { $0.hasPrefix("asha: rung 1 result") })
        #expect(lines[..<firstResult].filter { $0.hasPrefix("asha: start") }.count == 2, "two workers: two waves in flight before the first result")
        #expect(FileManager.default.fileExists(atPath: dir + "/Outputs/slurmasha/latest/search.json"))
        // A rerun replays the journal: no training is submitted again.
        let again = slurm.tlc(common)
        try #require(again.status == 0, "\(again.err.suffix(2000))")
        #expect(again.err.contains("asha: replayed \(decisions) decisions"), "\(again.err.prefix(1500))")
        #expect(!again.err.contains("asha: start") && !again.err.contains("asha: promote"))
        #expect(try SearchTests.journal(dir + "/Outputs", "slurmasha").entries.count == entries.count)
    }

    @Test(.enabled(if: SlurmInstall.available, "slurm-wlm and munge are not installed and apt-get could not install them"))
    func sweepThroughARealSlurm() throws {
        let (dir, file) = try workspace()
        // The same sweep locally, for reference.
        let local = Shell.run(TLCBinary.path, ["run", file, "--json", "--output", dir + "/Local"])
        #expect(local.status == 0, "\(local.err)")
        let expected = try results(local.out)
        #expect(expected.count == 4)

        let slurm = try LocalSlurm.start()
        let daemons = slurm.daemonPIDs
        #expect(daemons.count == 3 && LocalSlurm.anyRunning(daemons))
        defer {
            slurm.stop()
            #expect(!LocalSlurm.anyRunning(daemons), "the Slurm daemons the test started are stopped")
        }
        let out = dir + "/Outputs"
        let common = ["--executor", "slurm", "--output", out, "--poll-seconds", "0.5", "--json"]

        // 1. Through Slurm: bitwise equal to the local run.
        let first = slurm.tlc(["run", file] + common)
        #expect(first.status == 0, "\(first.err)")
        let got = try results(first.out)
        #expect(got.count == 4)
        for (label, (metrics, model)) in expected {
            #expect(got[label]?.0 == metrics, "metrics of \(label)")
            #expect(got[label]?.1 != nil && got[label]?.1 == model, "model of \(label)")
        }
        print("SlurmTests: the 4-point sweep took \(String(format: "%.1f", local.seconds)) s locally and \(String(format: "%.1f", first.seconds)) s through Slurm")
        let firstLog = try runLog(first.out)
        #expect(firstLog.contains("points (array of 4 tasks)"), "one array of 4 tasks")

        // sacct (from the job-completion log: no slurmdbd here) shows the 4 array tasks.
        let sacct = Shell.run("/usr/bin/sacct", ["--completion", "-n", "-P", "-o", "JobName,State"], env: slurm.env)
        let tasks = sacct.out.split(separator: "\n").filter { $0.hasPrefix("tlc:slurmsweep:points|") }
        #expect(tasks.count == 4, "sacct: \(sacct.out) \(sacct.err)")
        #expect(tasks.allSatisfy { $0.hasSuffix("|COMPLETED") })
        let submissions = { (try? FileManager.default.contentsOfDirectory(atPath: out + "/.slurm/slurmsweep").count) ?? 0 }
        #expect(submissions() == 1)

        // 2. Everything is cached: a second run submits nothing and gives the same results.
        let second = slurm.tlc(["run", file] + common)
        #expect(second.status == 0, "\(second.err)")
        #expect(try runLog(second.out).contains("slurm: 0 job(s) submitted"))
        #expect(submissions() == 1)
        #expect(try results(second.out).mapValues(\.0) == expected.mapValues(\.0))

        // 3. A new seed, detached; one array task is cancelled with scancel before it runs.
        let detached = slurm.tlc(["run", file, "--set", "seed=6"] + common + ["--detach"])
        #expect(detached.status == 0, "\(detached.err)")
        // The jobs run the plan recorded at submission: the experiment file can go away meanwhile.
        try FileManager.default.moveItem(atPath: file, toPath: file + ".away")
        let info = try #require(try JSONSerialization.jsonObject(with: Data(detached.out.utf8)) as? [String: Any])
        let jobs = try #require(info["jobs"] as? [String])
        let array = try #require(jobs.first { $0.contains("points") }?.split(separator: " ").first.map(String.init))
        let cancel = Shell.run("/usr/bin/scancel", ["\(array)_2"], env: slurm.env)
        #expect(cancel.status == 0, "\(cancel.err)")
        let status = slurm.tlc(["status", try #require(info["submission"] as? String), "--output", out])
        #expect(status.status == 0, "\(status.err)")
        #expect(status.out.contains("\(array)_0"))
        // Jobs that ran while the file was away finished into the cache (every one but the cancelled task).
        let submission = try #require(info["submission"] as? String)
        for _ in 0..<240 {
            let q = Shell.run("/usr/bin/squeue", ["-h", "-t", "PENDING,RUNNING"], env: slurm.env)
            if q.out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        let away = slurm.tlc(["status", submission, "--output", out])
        #expect(away.status == 0, "\(away.err)")
        for task in [0, 1, 3] {
            let row = away.out.split(separator: "\n").first { $0.contains("\(array)_\(task) ") || $0.hasSuffix("\(array)_\(task)") }
            #expect(row?.contains("COMPLETED") == true, "task \(task) with the spec file away: \(away.out)")
        }
        try FileManager.default.moveItem(atPath: file + ".away", toPath: file)
        // The next run waits for the jobs still in flight and resubmits only the cancelled point.
        let resumed = slurm.tlc(["run", file, "--set", "seed=6"] + common)
        #expect(resumed.status == 0, "\(resumed.err)")
        let resumedLog = try runLog(resumed.out)
        #expect(resumedLog.contains("slurm: 1 job(s) submitted (1 task(s))"), "\(resumedLog)")
        let resumedResults = try results(resumed.out)
        #expect(resumedResults.count == 4 && resumedResults.values.allSatisfy { $0.1 != nil })

        // 4. A failing job (here: a tlc binary that only fails) is reported with its job id,
        // state and log; the jobs waiting for it are cancelled, not left pending forever.
        let failing = slurm.tlc(["run", file, "--set", "seed=7", "--tlc-binary", "/bin/false"] + common)
        #expect(failing.status == 1)
        #expect(failing.err.contains("Slurm job") && failing.err.contains("FAILED") && failing.err.contains("/logs/data.load-"), "\(failing.err)")
        let left = Shell.run("/usr/bin/squeue", ["-h", "-t", "PENDING,RUNNING"], env: slurm.env)
        #expect(left.out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "jobs left in the queue: \(left.out)")
    }

    @Test func badExecutorOptionsExitWithTwo() throws {
        let (dir, file) = try workspace()
        let out = dir + "/Outputs"
        #expect(TLC.run(["run", file, "--executor", "kubernetes", "--output", out]) == 2)
        #expect(TLC.run(["run", file, "--partition", "debug", "--output", out]) == 2)          // needs --executor slurm
        #expect(TLC.run(["run", file, "--executor", "slurm", "--time", "soon", "--output", out]) == 2)
        #expect(TLC.run(["run", file, "--executor", "slurm", "--mem", "lots", "--output", out]) == 2)
        #expect(TLC.run(["run", file, "--executor", "slurm", "--sbatch-option=--array=0-3", "--output", out]) == 2)
        #expect(TLC.run(["run", file, "--executor", "slurm", "--no-cache", "--output", out]) == 2)
        #expect(TLC.run(["run", file, "--executor", "slurm", "--jobs", "2", "--output", out]) == 2)   // --jobs: an asha search's workers only
        #expect(TLC.run(["run", file, "--executor", "slurm", "--executor-config", dir + "/missing.yaml", "--output", out]) == 2)
        let profile = dir + "/cluster.yaml"
        try "partition: debug\ntime: 2:00:00\ncpu_per_task: 4\nmem: [1]\n".write(toFile: profile, atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", file, "--executor", "slurm", "--executor-config", profile, "--output", out]) == 2)
        #expect(TLC.run(["status", "nothing-here", "--output", out]) == 2)
        #expect(TLC.run(["exec-stage", file, "0123456789abcdef", "--output", out]) == 2)
        #expect(!FileManager.default.fileExists(atPath: out + "/slurmsweep"), "nothing ran")
    }
}
