// SlurmSettings — where and how `tlc run --executor slurm` submits: partition,
// time limit, cores, memory, extra sbatch options, the tlc binary the nodes run.
// Read from the command line and from an executor profile (`--executor-config
// FILE`, YAML parsed by the front end, errors located at file:line:col).
// Settings say where a stage runs, never what it is: they never reach the planner
// and so never enter a stage's hash.
import Foundation
import FrontEnd

public struct SlurmSettings: Sendable, Equatable {
    /// `--partition` (nil: the cluster's default partition).
    public var partition: String?
    /// `--time`, Slurm's formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
    public var time: String?
    /// `--cpus-per-task`; also the engine's thread count in each job.
    public var cpusPerTask: Int?
    /// `--mem`, e.g. 4G or 500M.
    public var mem: String?
    /// More sbatch options, each one word such as `--account=lab` or `--qos=short`.
    public var sbatchOptions: [String] = []
    /// The tlc binary the jobs run (default: this one; it must be reachable from the nodes).
    public var tlcBinary: String?
    /// Seconds between two looks at the queue.
    public var pollSeconds: Double = 2

    public init() {}

    /// Options tlc sets itself on every job; a profile or `--sbatch-option` must not.
    static let reservedOptions = ["--array", "--dependency", "-d", "--output", "-o", "--error", "-e", "--job-name", "-J",
                                  "--parsable", "--wrap", "--chdir", "-D"]

    /// Keys of an executor profile, for messages and suggestions.
    static let profileKeys = ["executor", "partition", "time", "cpus_per_task", "mem", "sbatch", "tlc", "poll_seconds"]

    /// Reads an executor profile. Every problem is a located diagnostic.
    public static func load(profile path: String) throws(DiagnosticError) -> SlurmSettings {
        let root: YAMLNode
        do { root = try YAMLParser.parse(fileAt: path) } catch let e as DiagnosticError { throw e } catch {
            throw DiagnosticError([.error("cannot read the executor profile \(path): \(error)", at: nil)])
        }
        var s = SlurmSettings()
        var errors: [Diagnostic] = []
        guard let pairs = root.mapping else {
            throw DiagnosticError([.error("an executor profile is a mapping (partition:, time:, cpus_per_task:, mem:, sbatch:, tlc:), found a \(root.kindName)",
                                          at: root.location)])
        }
        func string(_ node: YAMLNode, _ key: String) -> String? {
            guard let text = node.scalar?.text, !node.isNull, !text.isEmpty else {
                errors.append(.error("'\(key)' must be a non-empty string, found a \(node.kindName)", at: node.location)); return nil
            }
            return text
        }
        for pair in pairs {
            let key = pair.key.scalar?.text ?? "", value = pair.value
            switch key {
            case "executor":
                if let v = string(value, key), v != "slurm" {
                    errors.append(.error("unknown executor '\(v)'; a profile describes the 'slurm' executor", at: value.location))
                }
            case "partition": s.partition = string(value, key)
            case "time": s.time = string(value, key)
            case "mem": s.mem = string(value, key)
            case "tlc": s.tlcBinary = string(value, key)
            case "cpus_per_task":
                if let n = value.scalar?.int { s.cpusPerTask = n }
                else { errors.append(.error("'cpus_per_task' must be a whole number, found a \(value.kindName)", at: value.location)) }
            case "poll_seconds":
                if let d = value.scalar?.double, d > 0 { s.pollSeconds = d }
                else { errors.append(.error("'poll_seconds' must be a positive number", at: value.location)) }
            case "sbatch":
                guard let items = value.sequence else {
                    errors.append(.error("'sbatch' is a list of sbatch options, e.g. [\"--account=lab\", \"--qos=short\"]", at: value.location)); continue
                }
                for item in items { if let v = string(item, "sbatch") { s.sbatchOptions.append(v) } }
            default:
                let hint = suggestion(for: key, among: profileKeys).map { "; did you mean '\($0)'?" } ?? ""
                errors.append(.error("unknown key '\(key)' in an executor profile\(hint)", at: pair.key.location,
                                     notes: ["known keys: " + profileKeys.joined(separator: ", ")]))
            }
        }
        // Values are checked like the command line's, at the value's location.
        for problem in s.problems() {
            let node = pairs.first { $0.key.scalar?.text == problem.key }?.value
            errors.append(.error(problem.message, at: node?.location ?? root.location))
        }
        if !errors.isEmpty { throw DiagnosticError(errors) }
        return s
    }

    /// These settings with every value `other` sets taking precedence (command line over profile).
    public func overridden(by other: SlurmSettings) -> SlurmSettings {
        var s = self
        if let v = other.partition { s.partition = v }
        if let v = other.time { s.time = v }
        if let v = other.cpusPerTask { s.cpusPerTask = v }
        if let v = other.mem { s.mem = v }
        if let v = other.tlcBinary { s.tlcBinary = v }
        if other.pollSeconds != SlurmSettings().pollSeconds { s.pollSeconds = other.pollSeconds }
        s.sbatchOptions += other.sbatchOptions
        return s
    }

    /// What is wrong with these settings: the profile key and a sentence naming it.
    public func problems() -> [(key: String, message: String)] {
        var out: [(key: String, message: String)] = []
        if let p = partition, p.isEmpty || p.contains(where: \.isWhitespace) {
            out.append(("partition", "'partition' must be one word, found '\(p)'"))
        }
        if let t = time, !Self.isSlurmTime(t) {
            out.append(("time", "'time' must be a Slurm time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS), found '\(t)'"))
        }
        if let c = cpusPerTask, c < 1 || c > 4096 { out.append(("cpus_per_task", "'cpus_per_task' must be between 1 and 4096, found \(c)")) }
        if let m = mem, m.range(of: #"^[0-9]+[KMGTkmgt]?$"#, options: .regularExpression) == nil {
            out.append(("mem", "'mem' must be a size such as 4G, 500M or 8000 (megabytes), found '\(m)'"))
        }
        for o in sbatchOptions {
            if !o.hasPrefix("-") {
                out.append(("sbatch", "'sbatch' options start with '-' (e.g. --account=lab), found '\(o)'"))
            } else if let reserved = Self.reservedOptions.first(where: { o == $0 || o.hasPrefix($0 + "=") || ($0.count == 2 && o.hasPrefix($0) && !o.hasPrefix("--")) }) {
                out.append(("sbatch", "'sbatch' option '\(o)' is set by tlc itself (\(reserved)); remove it"))
            }
        }
        if let b = tlcBinary, b.isEmpty { out.append(("tlc", "'tlc' must be the path of the tlc binary on the nodes")) }
        return out
    }

    static func isSlurmTime(_ t: String) -> Bool {
        let patterns = [#"^[0-9]+$"#, #"^[0-9]+:[0-9]{1,2}$"#, #"^[0-9]+:[0-9]{1,2}:[0-9]{1,2}$"#,
                        #"^[0-9]+-[0-9]{1,2}$"#, #"^[0-9]+-[0-9]{1,2}:[0-9]{1,2}$"#, #"^[0-9]+-[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}$"#]
        return patterns.contains { t.range(of: $0, options: .regularExpression) != nil }
    }

    /// The `#SBATCH` lines these settings add to every job script.
    var directives: [String] {
        var out: [String] = []
        if let partition { out.append("--partition=\(partition)") }
        if let time { out.append("--time=\(time)") }
        if let cpusPerTask { out.append("--cpus-per-task=\(cpusPerTask)") }
        if let mem { out.append("--mem=\(mem)") }
        return out + sbatchOptions
    }
}
