// NodeReader — typed, located reads of YAML nodes for the spec decoder. Every
// failed read emits one located diagnostic and returns nil, so the decoder goes
// on and reports every error in one pass.

final class NodeReader {
    let diagnostics: DiagnosticEngine
    init(diagnostics: DiagnosticEngine) { self.diagnostics = diagnostics }

    func error(_ message: String, at node: YAMLNode, notes: [String] = []) {
        diagnostics.emit(.error(message, at: node.location, notes: notes))
    }

    /// A mapping whose keys must come from `known` (unknown keys get "did you mean").
    /// Returns the entries by key, or nil when the node is not a mapping.
    func mapping(_ node: YAMLNode, _ what: String, known: [String]) -> [String: YAMLNode]? {
        guard let pairs = node.mapping else {
            error("\(what) must be a mapping, not \(article(node.kindName))", at: node)
            return nil
        }
        var out: [String: YAMLNode] = [:]
        for pair in pairs {
            let key = pair.key.scalar?.text ?? ""
            if known.contains(key) {
                out[key] = pair.value
            } else if let s = suggestion(for: key, among: known) {
                error("unknown key '\(key)' in \(what); did you mean '\(s)'?", at: pair.key)
            } else if let s = SpecSchema.elsewhere(key, notAt: what) {
                error("unknown key '\(key)' in \(what); did you mean '\(s)'?", at: pair.key,
                      notes: ["'\(s)' is where the spec keeps it"])
            } else {
                error("unknown key '\(key)' in \(what)", at: pair.key,
                      notes: ["known keys: \(known.joined(separator: ", "))"])
            }
        }
        return out
    }

    func string(_ node: YAMLNode, _ what: String) -> String? {
        guard let s = node.scalar, !node.isNull else {
            error("\(what) must be a string, not \(article(node.kindName))", at: node)
            return nil
        }
        return s.text
    }

    func bool(_ node: YAMLNode, _ what: String) -> Bool? {
        guard let s = node.scalar, s.style == .plain, let b = s.bool else {
            error("\(what) must be true or false, not \(describe(node))", at: node)
            return nil
        }
        return b
    }

    func int(_ node: YAMLNode, _ what: String) -> Int? {
        guard let s = node.scalar, s.style == .plain,
              let v = s.int ?? s.double.flatMap({ $0 == $0.rounded() && abs($0) < 1e15 ? Int($0) : nil }) else {
            error("\(what) must be an integer, not \(describe(node))", at: node)
            return nil
        }
        return v
    }

    /// An integer in the range SpecSchema gives the field at `path` (`what`, by
    /// default the path, names it in messages).
    func int(_ node: YAMLNode, _ what: String? = nil, schema path: String) -> Int? {
        let what = what ?? path
        guard let v = int(node, what) else { return nil }
        let range = SpecSchema.integerRange(at: path)
        if let values = range.values, !values.contains(v) {
            let listed = values.map(String.init)
            let choices = listed.count > 1 ? listed.dropLast().joined(separator: ", ") + " or " + listed.last! : listed.joined()
            error("\(what) must be \(choices), got \(v)", at: node); return nil
        }
        if let min = range.min, v < min { error("\(what) must be at least \(min), got \(v)", at: node); return nil }
        if let max = range.max, v > max { error("\(what) must be at most \(max), got \(v)", at: node); return nil }
        return v
    }

    /// Any finite number.
    func double(_ node: YAMLNode, _ what: String) -> Double? {
        guard let s = node.scalar, s.style == .plain, let v = s.double else {
            error("\(what) must be a number, not \(describe(node))", at: node)
            return nil
        }
        guard v.isFinite else { error("\(what) must be finite, got \(s.text)", at: node); return nil }
        return v
    }

    /// A number in the range SpecSchema gives the field at `path` (`what`, by
    /// default the path, names it in messages).
    func double(_ node: YAMLNode, _ what: String? = nil, schema path: String) -> Double? {
        let what = what ?? path
        guard let v = double(node, what), let text = node.scalar?.text else { return nil }
        let range = SpecSchema.numberRange(at: path)
        if let min = range.min {
            if range.exclusiveMin, !(v > min) { error("\(what) must be > \(fmt(min)), got \(text)", at: node); return nil }
            if !range.exclusiveMin, !(v >= min) { error("\(what) must be ≥ \(fmt(min)), got \(text)", at: node); return nil }
        }
        if let max = range.max {
            if range.exclusiveMax, !(v < max) { error("\(what) must be < \(fmt(max)), got \(text)", at: node); return nil }
            if !range.exclusiveMax, !(v <= max) { error("\(what) must be ≤ \(fmt(max)), got \(text)", at: node); return nil }
        }
        return v
    }

    func enumeration<E: RawRepresentable & CaseIterable>(_ node: YAMLNode, _ what: String, _: E.Type) -> E? where E.RawValue == String {
        guard let text = string(node, what) else { return nil }
        if let v = E(rawValue: text) { return v }
        let all = E.allCases.map(\.rawValue)
        if let s = suggestion(for: text, among: all) {
            error("unknown \(what) '\(text)'; did you mean '\(s)'?", at: node)
        } else {
            error("unknown \(what) '\(text)'", at: node, notes: ["expected one of: \(all.joined(separator: ", "))"])
        }
        return nil
    }

    func sequence(_ node: YAMLNode, _ what: String) -> [YAMLNode]? {
        guard let items = node.sequence else {
            error("\(what) must be a list, not \(article(node.kindName))", at: node)
            return nil
        }
        return items
    }

    /// The architecture option value a node holds.
    func optionValue(_ node: YAMLNode) -> OptionValueResult {
        switch node.kind {
        case .scalar(let s):
            if s.style != .plain { return .value(.string(s.text)) }
            if let i = s.int { return .value(.int(i)) }
            if let d = s.double { return .value(.double(d)) }
            if let b = s.bool { return .value(.bool(b)) }
            if s.isNull { return .invalid }
            return .value(.string(s.text))
        case .sequence(let items):
            var out: [OptionValue] = []
            for item in items {
                guard case .value(let v) = optionValue(item) else { return .invalid }
                out.append(v)
            }
            return .value(.list(out))
        case .mapping:
            return .invalid
        }
    }

    enum OptionValueResult { case value(OptionValue), invalid }

    func describe(_ node: YAMLNode) -> String {
        if let s = node.scalar, !node.isNull {
            return s.style == .plain ? "'\(s.text)'" : "the string \"\(s.text)\""
        }
        return article(node.kindName)
    }

    func article(_ kind: String) -> String {
        switch kind {
        case "null": return "null"
        case "mapping", "integer": return "a \(kind)"
        default: return kind.first.map { "aeiou".contains($0) } == true ? "an \(kind)" : "a \(kind)"
        }
    }

    private func fmt(_ d: Double) -> String { SpecValue.canonicalNumber(d) }
}

import ModelZoo
