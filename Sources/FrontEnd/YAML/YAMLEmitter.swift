// YAMLEmitter — writes a `YAMLNode` tree back as YAML (for `resolved.yaml`).
// Output is block style, with short scalar-only sequences (and mappings inside
// sequences, like `{dense: 128}`) written in flow style on one line. Strings are
// quoted exactly when a plain scalar would read back as something else, so the
// output parses to the same resolved tree. Comments, anchors and tags are gone.

public enum YAMLEmitter {
    /// Lines longer than this are written in block style instead of flow style.
    static let lineWidth = 80
    /// libyaml only recognizes implicit keys shorter than 1024 characters.
    static let maxImplicitKeyLength = 1000

    public static func emit(_ node: YAMLNode) -> String {
        var out = ""
        switch node.kind {
        case .scalar(let scalar):
            out = render(scalar, flow: false) + "\n"
        case .mapping(let pairs) where pairs.isEmpty:
            out = "{}\n"
        case .sequence(let items) where items.isEmpty:
            out = "[]\n"
        case .mapping(let pairs):
            writeMapping(pairs, indent: 0, continuingLine: false, into: &out)
        case .sequence(let items):
            writeSequence(items, indent: 0, continuingLine: false, into: &out)
        }
        return out
    }

    // MARK: - Block style

    /// Writes `pairs` at `indent`; when `continuingLine`, the first line's
    /// indentation is already on the line (after a sequence's "- ").
    private static func writeMapping(_ pairs: [YAMLPair], indent: Int, continuingLine: Bool, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        for (index, pair) in pairs.enumerated() {
            if index > 0 || !continuingLine { out += pad }
            let key = renderKey(pair.key)
            if key.utf8.count > maxImplicitKeyLength {
                // Too long for an implicit key: use the explicit "? key" / ": value" form.
                out += "? " + key + "\n" + pad + ":"
                writeValue(pair.value, indent: indent, usedColumns: indent + 2, into: &out)
                continue
            }
            out += key + ":"
            writeValue(pair.value, indent: indent, usedColumns: indent + key.count + 2, into: &out)
        }
    }

    private static func writeSequence(_ items: [YAMLNode], indent: Int, continuingLine: Bool, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        for (index, item) in items.enumerated() {
            if index > 0 || !continuingLine { out += pad }
            out += "-"
            if let inline = inlineText(item, flowMappings: true, usedColumns: indent + 2) {
                out += " " + inline + "\n"
            } else if case .mapping(let pairs) = item.kind {
                out += " "
                writeMapping(pairs, indent: indent + 2, continuingLine: true, into: &out)
            } else if case .sequence(let nested) = item.kind {
                out += " "
                writeSequence(nested, indent: indent + 2, continuingLine: true, into: &out)
            }
        }
    }

    /// Writes what follows "key:" — on the same line if it fits, else as a block below.
    private static func writeValue(_ value: YAMLNode, indent: Int, usedColumns: Int, into out: inout String) {
        if let inline = inlineText(value, flowMappings: false, usedColumns: usedColumns) {
            out += " " + inline + "\n"
            return
        }
        out += "\n"
        switch value.kind {
        case .mapping(let pairs):
            writeMapping(pairs, indent: indent + 2, continuingLine: false, into: &out)
        case .sequence(let items):
            writeSequence(items, indent: indent + 2, continuingLine: false, into: &out)
        case .scalar:
            break  // scalars are always inline
        }
    }

    /// One-line text for a node, or nil when it should be written as a block:
    /// scalars always; empty collections as `{}` / `[]`; sequences (and, when
    /// `flowMappings`, mappings) of scalars in flow style if the line stays short.
    private static func inlineText(_ node: YAMLNode, flowMappings: Bool, usedColumns: Int) -> String? {
        switch node.kind {
        case .scalar(let scalar):
            return render(scalar, flow: false)
        case .mapping(let pairs) where pairs.isEmpty:
            return "{}"
        case .sequence(let items) where items.isEmpty:
            return "[]"
        case .mapping where !flowMappings:
            return nil
        default:
            guard let text = flowText(node, allowMappings: flowMappings), usedColumns + text.count <= lineWidth else {
                return nil
            }
            return text
        }
    }

    // MARK: - Flow style

    /// Flow text for a sequence whose items are scalars or flat mappings of scalars.
    private static func flowText(_ node: YAMLNode, allowMappings: Bool) -> String? {
        switch node.kind {
        case .scalar(let scalar):
            return render(scalar, flow: true)
        case .sequence(let items):
            var parts: [String] = []
            for item in items {
                guard let part = flowText(item, allowMappings: true) else { return nil }
                parts.append(part)
            }
            return "[" + parts.joined(separator: ", ") + "]"
        case .mapping(let pairs):
            guard allowMappings else { return nil }
            var parts: [String] = []
            for pair in pairs {
                guard let key = pair.key.scalar, let value = pair.value.scalar else { return nil }
                let keyText = render(key, flow: true, isKey: true)
                guard keyText.utf8.count <= maxImplicitKeyLength else { return nil }
                parts.append(keyText + ": " + render(value, flow: true))
            }
            return "{" + parts.joined(separator: ", ") + "}"
        }
    }

    // MARK: - Scalars

    private static func renderKey(_ key: YAMLNode) -> String {
        // The parser only produces scalar keys; a hand-built tree with a
        // collection key gets its flow text quoted as a string key.
        guard let scalar = key.scalar else {
            return quoted(flowText(key, allowMappings: true) ?? "")
        }
        return render(scalar, flow: false, isKey: true)
    }

    /// The scalar as YAML text that reads back to the same resolved value.
    static func render(_ scalar: YAMLScalar, flow: Bool, isKey: Bool = false) -> String {
        if scalar.style == .plain, !scalar.text.isEmpty || !isKey {
            // Keys are compared by text, so a key keeps its spelling (`~`, `1`);
            // a null value is written in one canonical way.
            if scalar.isNull { return isKey ? scalar.text : "null" }
            if scalar.bool != nil || scalar.double != nil { return scalar.text }
        }
        return canBePlain(scalar.text, flow: flow) ? scalar.text : quoted(scalar.text)
    }

    /// Words YAML 1.1 readers (PyYAML, older libraries) take as booleans; quoted
    /// so `resolved.yaml` means the same thing to them.
    private static let yaml11Booleans: Set<String> = [
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "on", "On", "ON", "off", "Off", "OFF",
    ]

    /// Whether `text` can be written as a plain scalar and read back as this string.
    static func canBePlain(_ text: String, flow: Bool) -> Bool {
        guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last else { return false }
        if first == " " || last == " " { return false }
        let probe = YAMLScalar(text)
        if probe.isNull || probe.bool != nil || probe.double != nil { return false }
        if yaml11Booleans.contains(text) || text == "<<" { return false }
        if "-?:,[]{}#&*!|>'\"%@`".unicodeScalars.contains(first) { return false }
        if text.hasPrefix("...") || last == ":" { return false }
        var previous: Unicode.Scalar = first
        for scalar in text.unicodeScalars {
            guard isPrintable(scalar) else { return false }
            // ": " would start a value and " #" a comment.
            if (previous == ":" && scalar == " ") || (previous == " " && scalar == "#") { return false }
            if flow, ":,[]{}".unicodeScalars.contains(scalar) { return false }
            previous = scalar
        }
        return true
    }

    /// Printable characters that stay on one line (no tabs, breaks or BOMs).
    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x20...0x7E: return true
        case 0xA0...0xD7FF: return scalar.value != 0x2028 && scalar.value != 0x2029
        case 0xE000...0xFFFD: return scalar.value != 0xFEFF
        case 0x10000...0x10FFFF: return true
        default: return false
        }
    }

    /// Single quotes when the text is printable, else double quotes with escapes.
    static func quoted(_ text: String) -> String {
        if text.unicodeScalars.allSatisfy(isPrintable) {
            var out = "'"
            for character in text {
                out += character == "'" ? "''" : String(character)
            }
            return out + "'"
        }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\0": out += "\\0"
            default:
                if isPrintable(scalar) {
                    out.unicodeScalars.append(scalar)
                } else if scalar.value <= 0xFF {
                    out += "\\x" + hex(scalar.value, digits: 2)
                } else if scalar.value <= 0xFFFF {
                    out += "\\u" + hex(scalar.value, digits: 4)
                } else {
                    out += "\\U" + hex(scalar.value, digits: 8)
                }
            }
        }
        return out + "\""
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
