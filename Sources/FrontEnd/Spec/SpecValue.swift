// SpecValue — a plain, ordered value tree that every spec type encodes to. It is
// the one source for `resolved.yaml` (YAML, keys in declaration order), for
// canonical bytes (sorted keys, normalized numbers) that the planner hashes, and
// for JSON in plans.

/// One key and value of a `SpecValue.map`.
public struct SpecEntry: Hashable, Sendable {
    public var key: String
    public var value: SpecValue
    public init(_ key: String, _ value: SpecValue) { self.key = key; self.value = value }
}

public indirect enum SpecValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([SpecValue])
    case map([SpecEntry])

    /// Builds a map, dropping entries whose value is nil.
    public static func object(_ entries: [(String, SpecValue?)]) -> SpecValue {
        .map(entries.compactMap { k, v in v.map { SpecEntry(k, $0) } })
    }

    public subscript(key: String) -> SpecValue? {
        guard case .map(let entries) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }

    /// Canonical text: JSON with sorted keys, no spaces, integers as integers and
    /// doubles in Swift's shortest round-trip form (so `1e-3` and `0.001` agree).
    /// Doubles that are whole numbers are written as integers.
    public var canonicalJSON: String {
        var out = ""
        writeCanonical(into: &out)
        return out
    }

    private func writeCanonical(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += Self.canonicalNumber(d)
        case .string(let s): out += Self.jsonQuoted(s)
        case .list(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.writeCanonical(into: &out)
            }
            out += "]"
        case .map(let entries):
            out += "{"
            for (i, e) in entries.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }).enumerated() {
                if i > 0 { out += "," }
                out += Self.jsonQuoted(e.key)
                out += ":"
                e.value.writeCanonical(into: &out)
            }
            out += "}"
        }
    }

    /// JSON text for people: keys in order, two-space indentation.
    public func prettyJSON(indent: String = "") -> String {
        switch self {
        case .list(let items) where !items.isEmpty:
            let inner = indent + "  "
            return "[\n" + items.map { inner + $0.prettyJSON(indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .map(let entries) where !entries.isEmpty:
            let inner = indent + "  "
            return "{\n" + entries.map { inner + Self.jsonQuoted($0.key) + ": " + $0.value.prettyJSON(indent: inner) }
                .joined(separator: ",\n") + "\n\(indent)}"
        case .list: return "[]"
        case .map: return "{}"
        case .double(let d): return Self.canonicalNumber(d)
        default: return canonicalJSON
        }
    }

    public static func canonicalNumber(_ d: Double) -> String {
        if d.isNaN { return "\"nan\"" }
        if d.isInfinite { return d > 0 ? "\"inf\"" : "\"-inf\"" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int(d)) }
        return "\(d)"
    }

    public static func jsonQuoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// A short, human-readable form for labels: `3e-4`, `100`, `adam`, `[1, 2]`.
    public var compactText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            if d != 0, d.isFinite, abs(d) < 1e-2 || abs(d) >= 1e6 {
                // 0.0003 -> 3e-4, 2500000 -> 2.5e6
                let e = Int(floor(log10(abs(d))))
                var m = String(format: "%.4g", d / pow(10, Double(e)))
                if m.hasPrefix("10") { m = "1" }  // rounding up to the next decade
                return "\(m)e\(m == "1" && String(format: "%.4g", d / pow(10, Double(e))).hasPrefix("10") ? e + 1 : e)"
            }
            return Self.canonicalNumber(d)
        case .string(let s): return s
        case .list(let items): return "[" + items.map(\.compactText).joined(separator: ",") + "]"
        case .map(let entries): return "{" + entries.map { "\($0.key):\($0.value.compactText)" }.joined(separator: ",") + "}"
        }
    }
}

import Foundation
