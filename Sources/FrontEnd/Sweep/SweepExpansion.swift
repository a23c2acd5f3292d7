// Sweep expansion — pure: a `sweep` section and a base tree in, one assignment
// list per point out. `grid` is a cartesian product, `zip` walks equal-length
// lists together, `random` draws `trials` points from distributions with its own
// seed, `cases` names sets of settings (`frozen: {backbone.freeze: all}`); they
// combine as a product. Values keep their source locations, so a
// swept value that does not type-check is reported where it is written.

/// One swept field of a point.
public struct SweepAssignment: Hashable, Sendable {
    public var path: String
    public var value: YAMLNode
    /// Set by a case rather than swept on its own: applied, but left out of labels
    /// (the label shows `case=NAME`, and the `case` assignment itself sets nothing).
    public var hidden = false
    public init(path: String, value: YAMLNode, hidden: Bool = false) { self.path = path; self.value = value; self.hidden = hidden }
}

/// The parsed `sweep` section.
public struct SweepDefinition: Sendable {
    /// Named cases, each a set of field settings; the pseudo-path `case` labels them.
    public var cases: [(name: String, key: YAMLNode, settings: [(path: String, key: YAMLNode, value: YAMLNode)])] = []
    public var grid: [(path: String, key: YAMLNode, values: [YAMLNode])] = []
    public var zip: [(path: String, key: YAMLNode, values: [YAMLNode])] = []
    public var random: RandomSearch?

    public struct RandomSearch: Sendable {
        public var trials: Int
        public var seed: Int
        public var params: [(path: String, key: YAMLNode, distribution: Distribution, node: YAMLNode)]
    }
    public enum Distribution: Sendable {
        case choice([YAMLNode])
        case uniform(Double, Double)
        case loguniform(Double, Double)
        case int(Int, Int)
    }

    /// Number of points before expansion (saturating).
    public var pointCount: Int {
        var n = max(cases.count, 1)
        for g in grid { n = n.multipliedReportingOverflow(by: g.values.count).overflow ? Int.max : n * g.values.count }
        if let z = zip.first { n = n.multipliedReportingOverflow(by: z.values.count).overflow ? Int.max : n * z.values.count }
        if let r = random { n = n.multipliedReportingOverflow(by: r.trials).overflow ? Int.max : n * r.trials }
        return n
    }

    /// Every swept path, in the order labels show them.
    public var paths: [String] { (cases.isEmpty ? [] : ["case"]) + grid.map(\.path) + zip.map(\.path) + (random?.params.map(\.path) ?? []) }
}

public enum SweepExpansion {
    /// The most points a sweep may expand to.
    public static let maxPoints = 1_000_000
    /// Above this many points the plan warns.
    public static let largeSweepWarning = 1_000

    /// Parses and checks a `sweep` node; nil after emitting errors.
    public static func parse(_ node: YAMLNode, defaultSeed: Int, maxPoints: Int = SweepExpansion.maxPoints,
                             diagnostics: DiagnosticEngine) -> SweepDefinition? {
        let r = NodeReader(diagnostics: diagnostics)
        let errorsBefore = diagnostics.diagnostics.count
        guard let m = r.mapping(node, "sweep", known: ["cases", "grid", "zip", "random"]) else { return nil }
        var def = SweepDefinition()
        var seen: [String: YAMLNode] = [:]
        func checkPath(_ key: YAMLNode) -> String? {
            guard let path = r.string(key, "a sweep path") else { return nil }
            if let problem = SpecSchema.checkPath(path) { r.error("sweep path '\(path)': \(problem)", at: key); return nil }
            if let first = seen[path] {
                r.error("'\(path)' is swept twice", at: key, notes: ["first swept at \(first.location)"]); return nil
            }
            seen[path] = key
            return path
        }
        if let n = m["cases"] {
            if let pairs = n.mapping, !pairs.isEmpty {
                var casePaths: [String: YAMLNode] = [:]
                for p in pairs {
                    guard let name = r.string(p.key, "a case name") else { continue }
                    if name.isEmpty || name.contains(",") || name.contains("=") {
                        r.error("a case name must be non-empty without ',' or '=' (it becomes part of point labels)", at: p.key); continue
                    }
                    guard let settings = p.value.mapping else {
                        r.error("sweep.cases.\(name) must map field paths to values, e.g. {backbone.freeze: all}", at: p.value); continue
                    }
                    var items: [(String, YAMLNode, YAMLNode)] = []
                    for s in settings {
                        guard let path = r.string(s.key, "a case path") else { continue }
                        if let problem = SpecSchema.checkPath(path) { r.error("case '\(name)' path '\(path)': \(problem)", at: s.key); continue }
                        if items.contains(where: { $0.0 == path }) { r.error("case '\(name)' sets '\(path)' twice", at: s.key); continue }
                        casePaths[path] = casePaths[path] ?? s.key
                        items.append((path, s.key, s.value))
                    }
                    def.cases.append((name, p.key, items.map { ($0.0, $0.1, $0.2) }))
                }
                // A field set by cases cannot also be swept (the two would fight).
                for (path, key) in casePaths { seen[path] = key }
            } else {
                r.error("sweep.cases must map case names to field settings, e.g. {frozen: {backbone.freeze: all}}", at: n)
            }
        }
        for section in ["grid", "zip"] {
            guard let n = m[section] else { continue }
            guard let pairs = n.mapping else { r.error("sweep.\(section) must map field paths to lists of values", at: n); continue }
            if pairs.isEmpty { r.error("sweep.\(section) is empty", at: n) }
            for p in pairs {
                guard let path = checkPath(p.key) else { continue }
                guard let values = p.value.sequence else {
                    r.error("sweep.\(section).\(path) must be a list of values, e.g. [1e-3, 3e-4]", at: p.value); continue
                }
                if values.isEmpty { r.error("sweep.\(section).\(path) has no values", at: p.value); continue }
                if section == "grid" { def.grid.append((path, p.key, values)) } else { def.zip.append((path, p.key, values)) }
            }
        }
        if let first = def.zip.first {
            for z in def.zip.dropFirst() where z.values.count != first.values.count {
                r.error("sweep.zip lists must have equal lengths: '\(z.path)' has \(z.values.count) values but '\(first.path)' has \(first.values.count)",
                        at: z.key)
            }
        }
        if let n = m["random"], let rm = r.mapping(n, "sweep.random", known: ["trials", "seed", "params"]) {
            var trials = 0, seed = defaultSeed
            if let t = rm["trials"] { trials = r.int(t, schema: "sweep.random.trials") ?? 0 }
            else { r.error("sweep.random needs 'trials'", at: n) }
            if let s = rm["seed"], let v = r.int(s, schema: "sweep.random.seed") { seed = v }
            var params: [(String, YAMLNode, SweepDefinition.Distribution, YAMLNode)] = []
            if let pn = rm["params"], let pairs = pn.mapping {
                for p in pairs {
                    guard let path = checkPath(p.key) else { continue }
                    guard let dm = p.value.mapping, dm.count == 1, let kind = dm[0].key.scalar?.text else {
                        r.error("a random parameter is one of {choice: [...]}, {uniform: [lo, hi]}, {loguniform: [lo, hi]}, {int: [lo, hi]}", at: p.value)
                        continue
                    }
                    let arg = dm[0].value
                    switch kind {
                    case "choice":
                        guard let items = arg.sequence, !items.isEmpty else { r.error("choice needs a non-empty list", at: arg); continue }
                        params.append((path, p.key, .choice(items), p.value))
                    case "uniform", "loguniform", "int":
                        guard let items = arg.sequence, items.count == 2 else { r.error("\(kind) needs [low, high]", at: arg); continue }
                        let range = "sweep.random.params.*.\(kind).*"
                        if kind == "int" {
                            guard let lo = r.int(items[0], "int low", schema: range), let hi = r.int(items[1], "int high", schema: range) else { continue }
                            guard lo <= hi else { r.error("int range [\(lo), \(hi)] is empty", at: arg); continue }
                            params.append((path, p.key, .int(lo, hi), p.value))
                        } else {
                            guard let lo = r.double(items[0], "\(kind) low", schema: range),
                                  let hi = r.double(items[1], "\(kind) high", schema: range) else { continue }
                            guard lo <= hi else { r.error("\(kind) range [\(lo), \(hi)] is empty", at: arg); continue }
                            params.append((path, p.key, kind == "uniform" ? .uniform(lo, hi) : .loguniform(lo, hi), p.value))
                        }
                    default:
                        let hint = suggestion(for: kind, among: ["choice", "uniform", "loguniform", "int"]).map { "; did you mean '\($0)'?" } ?? ""
                        r.error("unknown distribution '\(kind)'\(hint)", at: dm[0].key)
                    }
                }
            } else if let pn = rm["params"] { r.error("sweep.random.params must map field paths to distributions", at: pn) }
            else { r.error("sweep.random needs 'params'", at: n) }
            def.random = SweepDefinition.RandomSearch(trials: trials, seed: seed, params: params.map { ($0.0, $0.1, $0.2, $0.3) })
        }
        if m.isEmpty { r.error("sweep needs cases, grid, zip or random", at: node) }
        let count = def.pointCount
        if count > maxPoints {
            r.error("the sweep expands to \(count == Int.max ? "more than \(maxPoints)" : String(count)) points; the limit is \(maxPoints)", at: node)
        }
        return diagnostics.diagnostics.count == errorsBefore ? def : nil
    }

    /// Every point's assignments, in a stable order: cases, then grid (last path
    /// fastest), then zip rows, then random trials.
    public static func expand(_ def: SweepDefinition) -> [[SweepAssignment]] {
        var points: [[SweepAssignment]] = [[]]
        if !def.cases.isEmpty {
            points = def.cases.map { c in
                [SweepAssignment(path: "case", value: YAMLNode(.scalar(YAMLScalar(c.name)), at: c.key.location))]
                    + c.settings.map { SweepAssignment(path: $0.path, value: $0.value, hidden: true) }
            }
        }
        for g in def.grid {
            var next: [[SweepAssignment]] = []
            next.reserveCapacity(points.count * g.values.count)
            for p in points { for v in g.values { next.append(p + [SweepAssignment(path: g.path, value: v)]) } }
            points = next
        }
        if let first = def.zip.first {
            var next: [[SweepAssignment]] = []
            for p in points {
                for i in first.values.indices {
                    next.append(p + def.zip.map { SweepAssignment(path: $0.path, value: $0.values[i]) })
                }
            }
            points = next
        }
        if let random = def.random {
            var rng = SplitMix64(seed: UInt64(random.seed))
            var trials: [[SweepAssignment]] = []
            for _ in 0..<random.trials {
                trials.append(random.params.map { p in SweepAssignment(path: p.path, value: draw(p.distribution, at: p.node, rng: &rng)) })
            }
            var next: [[SweepAssignment]] = []
            for p in points { for t in trials { next.append(p + t) } }
            points = next
        }
        return points
    }

    static func draw(_ d: SweepDefinition.Distribution, at node: YAMLNode, rng: inout SplitMix64) -> YAMLNode {
        func number(_ x: Double) -> YAMLNode {
            // Four significant digits keep labels readable and values reproducible.
            let text = SpecValue.double(Double(String(format: "%.4g", x))!).compactText
            return YAMLNode(.scalar(YAMLScalar(text)), at: node.location)
        }
        switch d {
        case .choice(let items): return items[Int(rng.next() % UInt64(items.count))]
        case .uniform(let lo, let hi): return number(lo + (hi - lo) * rng.nextUnit())
        case .loguniform(let lo, let hi): return number(exp(log(lo) + (log(hi) - log(lo)) * rng.nextUnit()))
        case .int(let lo, let hi):
            let span = UInt64(hi - lo) + 1
            return YAMLNode(.scalar(YAMLScalar(String(lo + Int(rng.next() % span)))), at: node.location)
        }
    }

    /// A readable label: `lr=3e-4,train_per_class=100`. Each path is shortened to
    /// its last segment unless that would be ambiguous.
    public static func label(_ assignments: [SweepAssignment], values: [SpecValue]) -> String {
        let short = shortNames(assignments.map(\.path))
        return zip(short, values).map { "\($0)=\(printable($1.compactText))" }.joined(separator: ",")
    }

    /// Text with control characters written as `\u{1B}`: a label is printed to
    /// terminals and logs, where an escape sequence must not act.
    public static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        return text.unicodeScalars.map { isControl($0) ? "\\u{" + String($0.value, radix: 16, uppercase: true) + "}" : String($0) }.joined()
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool { s.value < 0x20 || (0x7F...0x9F).contains(s.value) }

    /// Labels for many points: short names worked out once, value texts cached.
    final class Labeler {
        private var short: [[String]: [String]] = [:]
        private var texts: [SpecValue: String] = [:]
        func label(_ paths: [String], _ values: [SpecValue]) -> String {
            let names: [String]
            if let known = short[paths] { names = known } else { names = SweepExpansion.shortNames(paths); short[paths] = names }
            var parts: [String] = []
            parts.reserveCapacity(values.count)
            for (name, value) in zip(names, values) {
                let text: String
                if let known = texts[value] { text = known } else { text = SweepExpansion.printable(value.compactText); texts[value] = text }
                parts.append(name + "=" + text)
            }
            return parts.joined(separator: ",")
        }
    }

    /// Each path shortened to its last segment unless that would be ambiguous.
    static func shortNames(_ paths: [String]) -> [String] {
        paths.map { p -> String in
            let segs = p.split(separator: ".")
            var n = 1
            while n < segs.count {
                let candidate = segs.suffix(n).joined(separator: ".")
                if paths.filter({ $0 == candidate || $0.hasSuffix("." + candidate) }).count == 1 { break }
                n += 1
            }
            return segs.suffix(n).joined(separator: ".")
        }
    }
}

/// A small deterministic generator for random search (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

/// FNV-1a 64-bit, for stable short ids (not a content hash for caching).
public func stableID(_ text: String) -> String { StableIDHasher().appending(text).id }

/// FNV-1a 64-bit, fed in parts: the ids of many texts with one long prefix (a sweep's
/// points: the base spec, then each point's values) hash the prefix once.
struct StableIDHasher {
    private var state: UInt64 = 0xcbf2_9ce4_8422_2325

    func appending(_ text: String) -> StableIDHasher {
        var copy = self
        for b in text.utf8 { copy.state ^= UInt64(b); copy.state = copy.state &* 0x100_0000_01b3 }
        return copy
    }

    /// 16 lower-case hex digits.
    var id: String {
        let hex = String(state, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

import Foundation
