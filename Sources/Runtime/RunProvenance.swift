// RunProvenance — what a run was asked to do and what it reused: the command line
// as given, the `--set` overrides, the base seed and the seeds each point really
// used (a sweep's points need not share one), and whether every stage came from
// the cache. LocalRunner writes it as the first lines of log.txt and into env.json;
// RunStore reads it back for `tlc ls` and `tlc show`.
import Foundation
import FrontEnd
import Jobs

public struct RunProvenance: Sendable {
    /// The command line (program name first) as given, nil when the run was started
    /// through the library rather than the command line.
    public var command: [String]?
    /// The `--set PATH=VALUE` overrides the plan was made with.
    public var overrides: [String]
    /// The experiment's own `seed` (after overrides).
    public var baseSeed: Int
    /// The seeds of each point, from its resolved spec.
    public var points: [PointSeeds]
    public var isSweep: Bool
    /// Set when every stage came from the cache: how many stages that was.
    public var cachedStages: Int?

    /// The seeds one point used: `seed`, and the separate streams its spec sets (`seeds.data`, …).
    public struct PointSeeds: Sendable, Equatable {
        public var label: String
        public var seed: Int
        /// Only the streams the spec sets apart from `seed`, by name: "data", "init", "shuffle".
        public var streams: [String: Int]
        static let streamNames = ["data", "init", "shuffle"]
    }

    public init(plan: Plan, command: [String]?) {
        self.command = command
        overrides = plan.overrides
        baseSeed = plan.seed
        isSweep = plan.isSweep
        points = plan.points.map { Self.seeds(of: $0, default: plan.seed) }
    }

    /// A point's seeds, read from its resolved spec (the base seed if it cannot be read).
    static func seeds(of point: PlanPoint, default base: Int) -> PointSeeds {
        guard let node = try? YAMLParser.parse(point.resolvedSpec, file: "resolved.yaml") else {
            return PointSeeds(label: point.label, seed: base, streams: [:])
        }
        let spec = ExperimentLoader.specValue(node)
        guard case .int(let seed)? = spec["seed"] else { return PointSeeds(label: point.label, seed: base, streams: [:]) }
        var streams: [String: Int] = [:]
        for name in PointSeeds.streamNames {
            if case .int(let s)? = spec["seeds"]?[name] { streams[name] = s }
        }
        return PointSeeds(label: point.label, seed: seed, streams: streams)
    }

    /// The first lines of log.txt: the command as given and the overrides.
    public var logLines: [String] {
        [
            "command: " + (command.map(Self.shellLine) ?? "(none: started through the library, not the command line)"),
            "overrides: " + (overrides.isEmpty ? "none" : overrides.map(Self.shellWord).joined(separator: " ")),
        ]
    }

    /// env.json's entries: `command`, `overrides`, `base_seed`, then `seed` for a single
    /// run (and `seed_streams` when its spec sets separate seeds) or, for a sweep,
    /// `seeds` with each point's seeds — never one `seed` the points did not all use —
    /// and `cached`.
    var environmentEntries: [(String, SpecValue?)] {
        func streams(_ p: PointSeeds) -> SpecValue? {
            p.streams.isEmpty ? nil : .object(PointSeeds.streamNames.map { name in (name, p.streams[name].map(SpecValue.int)) })
        }
        var entries: [(String, SpecValue?)] = [
            ("command", command.map { .list($0.map(SpecValue.string)) } ?? .null),
            ("overrides", .list(overrides.map(SpecValue.string))),
            ("base_seed", .int(baseSeed)),
        ]
        if isSweep {
            entries.append(("seeds", .list(points.map { p in
                .object([("point", .string(p.label)), ("seed", .int(p.seed)), ("streams", streams(p))])
            })))
        } else {
            let p = points.first
            entries.append(("seed", .int(p?.seed ?? baseSeed)))
            entries.append(("seed_streams", p.flatMap(streams)))
        }
        entries.append(("cached", .bool(cachedStages != nil)))
        return entries
    }

    /// Records the stage counts once the stages ran: every stage came from the cache
    /// when none ran here, none failed, and (with a remote executor) all were in the
    /// cache before it started (`cachedBeforeRemote`), so nothing was computed for this run.
    mutating func noteStages(ran: Int, reused: Int, failed: Bool, cachedBeforeRemote: Bool) {
        cachedStages = ran == 0 && reused > 0 && !failed && cachedBeforeRemote ? reused : nil
    }

    /// Whether every stage the scheduler runs (all but reports) has a complete cache entry.
    static func everyStageCached(_ plan: Plan, in cache: StageCache) -> Bool {
        plan.stages.allSatisfy { $0.kind == .report || cache.isComplete($0.hash) }
    }

    // MARK: command lines for people

    /// The arguments as one line a shell would split back into the same words.
    public static func shellLine(_ arguments: [String]) -> String {
        arguments.map(shellWord).joined(separator: " ")
    }

    /// A word, single-quoted when a shell would otherwise split or expand it.
    public static func shellWord(_ word: String) -> String {
        let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
        if !word.isEmpty && word.allSatisfy(plain.contains) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}
