// SlurmClient — the only place that runs Slurm's commands (sbatch, squeue,
// scancel, scontrol) and reads what they print. Everything above it works with
// job references ("12", "13_2") and states.
import Foundation

public struct SlurmError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A job's (or array task's) state as squeue reports it.
public struct SlurmState: Sendable, Equatable {
    public var state: String
    public var reason: String

    static let active: Set<String> = ["PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING",
                                      "SIGNALING", "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "STOPPED"]
    public var isActive: Bool { Self.active.contains(state) }
    public var isCompleted: Bool { state == "COMPLETED" }
    /// Pending on a dependency that can never be met (a job it waits for failed).
    public var isStuck: Bool { state == "PENDING" && reason == "DependencyNeverSatisfied" }
}

public struct SlurmClient: Sendable {
    public init() {}

    /// Runs a Slurm command; returns stdout, throws with stderr on a non-zero exit.
    @discardableResult
    func command(_ name: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [name] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { throw SlurmError(message: "cannot run \(name): \(error)") }
        // Read both pipes before waiting, so a large output never blocks the child.
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outBytes = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let errBytes = errBox.data
        p.waitUntilExit()
        let stdout = String(decoding: outBytes, as: UTF8.self)
        if p.terminationStatus != 0 {
            let stderr = String(decoding: errBytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if p.terminationStatus == 127 { throw SlurmError(message: "\(name) is not installed or not on PATH") }
            throw SlurmError(message: "\(name) failed (exit \(p.terminationStatus))\(stderr.isEmpty ? "" : ": \(stderr)")")
        }
        return stdout
    }

    /// Whether Slurm's commands are here and a controller answers.
    public func check() throws {
        do { try command("squeue", ["-h", "-o", "%i", "-j", "0"]) } catch let e as SlurmError {
            // "Invalid job id" means the controller answered.
            if e.message.contains("Invalid job id") { return }
            throw SlurmError(message: "cannot reach Slurm: \(e.message). Is this a Slurm login node (SLURM_CONF set, slurmctld up)?")
        }
    }

    /// Submits a batch script; returns the job id.
    public func submit(script: String, dependencies: [String]) throws -> String {
        var args = ["--parsable"]
        if !dependencies.isEmpty { args.append("--dependency=afterok:" + dependencies.joined(separator: ":")) }
        args.append(script)
        let out = try command("sbatch", args).trimmingCharacters(in: .whitespacesAndNewlines)
        // --parsable prints "id" or "id;cluster".
        guard let id = out.split(separator: ";").first.map(String.init), !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw SlurmError(message: "sbatch printed no job id: '\(out)'")
        }
        return id
    }

    /// Cancels jobs or array tasks.
    public func cancel(_ refs: [String]) throws {
        guard !refs.isEmpty else { return }
        try command("scancel", refs)
    }

    /// The state of every job and array task of these job ids that the controller
    /// still knows (recently finished ones included), keyed "12" or "13_2".
    public func states(of jobIDs: [String]) throws -> [String: SlurmState] {
        guard !jobIDs.isEmpty else { return [:] }
        // Ask for this user's jobs and filter: `squeue -j` fails outright when one id is unknown.
        let user = ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
        let out = try command("squeue", ["-h", "-t", "all", "-u", user, "-r", "-o", "%i|%T|%r"])
        let wanted = Set(jobIDs)
        var table: [String: SlurmState] = [:]
        for line in out.split(separator: "\n") {
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 3 else { continue }
            let state = SlurmState(state: f[1].trimmingCharacters(in: .whitespaces), reason: f[2].trimmingCharacters(in: .whitespaces))
            for ref in Self.expand(f[0].trimmingCharacters(in: .whitespaces)) {
                let job = String(ref.split(separator: "_").first ?? "")
                if wanted.contains(job) { table[ref] = state }
            }
        }
        return table
    }

    /// "13_[0-2,5%4]" → 13_0, 13_1, 13_2, 13_5; "12" and "13_4" as they are.
    static func expand(_ ref: String) -> [String] {
        guard let open = ref.firstIndex(of: "["), let close = ref.lastIndex(of: "]"), open < close else { return [ref] }
        let job = ref[..<open].dropLast()     // drop the "_"
        var body = ref[ref.index(after: open)..<close]
        if let pct = body.firstIndex(of: "%") { body = body[..<pct] }
        var out: [String] = []
        for part in body.split(separator: ",") {
            let ends = part.split(separator: "-").compactMap { Int($0) }
            if ends.count == 2, ends[0] <= ends[1], ends[1] - ends[0] < 100_000 { out += (ends[0]...ends[1]).map { "\(job)_\($0)" } }
            else if ends.count == 1 { out.append("\(job)_\(ends[0])") }
        }
        return out
    }

    /// The exit code of a finished job or task ("1:0"), if the controller still knows it.
    public func exitCode(of ref: String) -> String? {
        guard let out = try? command("scontrol", ["show", "job", "-o", ref]) else { return nil }
        return out.split(separator: " ").first { $0.hasPrefix("ExitCode=") }.map { String($0.dropFirst("ExitCode=".count)) }
    }
}
