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
    public var canonicalJSON: String { String(decoding: canonicalBytes, as: UTF8.self) }

    /// The canonical text as UTF-8 bytes (what hashes are computed over).
    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        writeCanonical(into: &out)
        return out
    }

    private func writeCanonical(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d): out.append(contentsOf: Self.canonicalNumber(d).utf8)
        case .string(let s): Self.appendQuoted(s, to: &out)
        case .list(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.writeCanonical(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .map(let entries):
            out.append(UInt8(ascii: "{"))
            let sorted = entries.count < 2 ? entries : entries.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            for (i, e) in sorted.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.appendQuoted(e.key, to: &out)
                out.append(UInt8(ascii: ":"))
                e.value.writeCanonical(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Appends a JSON string literal (UTF-8), escaping quotes, backslashes and controls.
    static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out.append(contentsOf: s.utf8)
            out.append(UInt8(ascii: "\""))
            return
        }
        let hex = Array("0123456789abcdef".utf8)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// JSON text for people: keys in order, two-space indentation.
    public func prettyJSON(indent: String = "") -> String {
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        writePretty(into: &out, depth: indent.count / 2)
        return String(decoding: out, as: UTF8.self)
    }

    private func writePretty(into out: inout [UInt8], depth: Int) {
        func newline(_ d: Int) {
            out.append(UInt8(ascii: "\n"))
            for _ in 0..<(2 * d) { out.append(UInt8(ascii: " ")) }
        }
        switch self {
        case .list(let items) where !items.isEmpty:
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                item.writePretty(into: &out, depth: depth + 1)
            }
            newline(depth)
            out.append(UInt8(ascii: "]"))
        case .map(let entries) where !entries.isEmpty:
            out.append(UInt8(ascii: "{"))
            for (i, e) in entries.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                Self.appendQuoted(e.key, to: &out)
                out.append(contentsOf: [UInt8(ascii: ":"), UInt8(ascii: " ")])
                e.value.writePretty(into: &out, depth: depth + 1)
            }
            newline(depth)
            out.append(UInt8(ascii: "}"))
        case .list: out.append(contentsOf: "[]".utf8)
        case .map: out.append(contentsOf: "{}".utf8)
        default: writeCanonical(into: &out)
        }
    }

    /// 0.0003 → "3e-4", 0.00025 → "2.5e-4", 2500000 → "2.5e6" (from Swift's shortest
    /// round-trip digits, so no rounding surprises and no Foundation formatting).
    static func scientific(_ d: Double) -> String {
        var text = "\(abs(d))"
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        // digits and the position of the decimal point
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        var digits = String(parts[0]) + (parts.count > 1 ? String(parts[1]) : "")
        var pointAt = parts[0].count + exponent
        while digits.hasPrefix("0") && digits.count > 1 { digits.removeFirst(); pointAt -= 1 }
        while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
        let mantissa = digits.count == 1 ? digits : "\(digits.first!).\(digits.dropFirst())"
        return (d < 0 ? "-" : "") + mantissa + "e\(pointAt - 1)"
    }

    public static func canonicalNumber(_ d: Double) -> String {
        if d.isNaN { return "\"nan\"" }
        if d.isInfinite { return d > 0 ? "\"inf\"" : "\"-inf\"" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int(d)) }
        return "\(d)"
    }

    public static func jsonQuoted(_ s: String) -> String {
        var out: [UInt8] = []
        appendQuoted(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A short, human-readable form for labels: `3e-4`, `100`, `adam`, `[1, 2]`.
    public var compactText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            if d != 0, d.isFinite, abs(d) < 1e-2 || abs(d) >= 1e6 { return Self.scientific(d) }
            return Self.canonicalNumber(d)
        case .string(let s): return s
        case .list(let items): return "[" + items.map(\.compactText).joined(separator: ",") + "]"
        case .map(let entries): return "{" + entries.map { "\($0.key):\($0.value.compactText)" }.joined(separator: ",") + "}"
        }
    }
}

import Foundation
