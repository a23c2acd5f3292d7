// RunEnvironment — what a run directory's `env.json` records about where and how
// a run happened: tlc version, the spec's git commit and dirtiness, the BLAS
// library, its core and thread count, the engine's kernels, CPU, OS, times and resource use, with what the
// run was asked to do (RunProvenance: command, overrides, seeds, cached). It only
// observes the machine; nothing here influences a result.
import CBLAS
import Engine
import Foundation
import FrontEnd

public enum RunEnvironment {
    /// The `env.json` value for a run that started at `started` and ends now.
    /// `specFile` is the experiment file as given to `tlc run` (recorded as an absolute path).
    public static func capture(specFile: String, provenance: RunProvenance, started: Date, ended: Date = Date()) -> SpecValue {
        let git = gitState(of: specFile)
        let usage = resourceUsage()
        let asked = provenance.environmentEntries
        return .object([
            ("tlc_version", .string(LocalRunner.versionString)),
            ("spec_file", .string(SpecDecoder.resolvePath(specFile, relativeTo: ""))),
        ] + asked + [
            ("git", .object([
                ("commit", git.map { .string($0.commit) } ?? .null),
                ("dirty", git.map { .bool($0.dirty) } ?? .null),
            ])),
            ("blas", .object([
                ("library", .string("OpenBLAS")),
                ("config", .string(openBLASConfig())),
                ("core", .string(KernelSet.blasCore)),
                ("detected_core", KernelSet.blasCoreDetected.map(SpecValue.string) ?? .null),
                ("threads", .int(Int(openblas_get_num_threads()))),
            ])),
            ("kernels", .object([
                ("float", .string(KernelSet.float)),
                ("pointwise", .string(KernelSet.pointwise)),
                ("int8", .string(KernelSet.int8)),
            ])),
            ("cpu", .object([
                ("model", cpuModel().map(SpecValue.string) ?? .null),
                ("cores", .int(ProcessInfo.processInfo.activeProcessorCount)),
            ])),
            ("os", .object([
                ("name", osName().map(SpecValue.string) ?? .null),
                ("kernel", kernelRelease().map(SpecValue.string) ?? .null),
            ])),
            ("started", .string(iso8601(started))),
            ("ended", .string(iso8601(ended))),
            ("wall_seconds", .double(ended.timeIntervalSince(started))),
            ("cpu_seconds", .double(usage.cpuSeconds)),
            ("peak_rss_bytes", .int(usage.peakRSSBytes)),
        ])
    }

    /// ISO 8601 in UTC with whole seconds: `2026-11-29T02:14:04Z`.
    public static func iso8601(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    // MARK: pieces

    struct GitState { var commit: String; var dirty: Bool }

    /// The commit of the repository holding `file` and whether `file` differs from it;
    /// nil when git is missing or the file is not in a repository.
    static func gitState(of file: String) -> GitState? {
        let path = SpecDecoder.resolvePath(file, relativeTo: "")
        let dir = (path as NSString).deletingLastPathComponent
        guard let head = runGit(["-C", dir, "rev-parse", "HEAD"]), head.status == 0 else { return nil }
        let commit = head.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !commit.isEmpty,
              let status = runGit(["-C", dir, "status", "--porcelain", "--", (path as NSString).lastPathComponent]),
              status.status == 0 else { return nil }
        return GitState(commit: commit, dirty: !status.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
    }

    /// Runs `git` found on PATH; nil when it cannot be started.
    private static func runGit(_ arguments: [String]) -> (status: Int32, output: String)? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func openBLASConfig() -> String {
        guard let config = openblas_get_config() else { return "unknown" }
        return String(cString: config).trimmingCharacters(in: .whitespaces)
    }

    /// The first `model name` line of /proc/cpuinfo.
    static func cpuModel() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// PRETTY_NAME from /etc/os-release.
    static func osName() -> String? {
        guard let text = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
            var value = line.dropFirst("PRETTY_NAME=".count)
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = value.dropFirst().dropLast() }
            return String(value)
        }
        return nil
    }

    /// `uname -r`.
    static func kernelRelease() -> String? {
        var u = utsname()
        guard uname(&u) == 0 else { return nil }
        return withUnsafeBytes(of: &u.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// CPU seconds (user + system) and peak resident set size of this process.
    /// VmHWM of /proc/self/status, in kilobytes.
    static func peakResidentKilobytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
        return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }

    static func resourceUsage() -> (cpuSeconds: Double, peakRSSBytes: Int) {
        var r = rusage()
        #if os(Linux)
        let who = RUSAGE_SELF.rawValue
        #else
        let who = RUSAGE_SELF
        #endif
        guard getrusage(who, &r) == 0 else { return (0, 0) }
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        #if os(Linux)
        // VmHWM is this process image's own high-water mark: ru_maxrss also counts the
        // parent's memory when the parent spawned tlc with vfork (as Foundation does).
        let rssBytes = peakResidentKilobytes().map { $0 * 1024 } ?? Int(r.ru_maxrss) * 1024
        #else
        let rssBytes = Int(r.ru_maxrss)             // bytes on macOS
        #endif
        return (seconds(r.ru_utime) + seconds(r.ru_stime), rssBytes)
    }
}
