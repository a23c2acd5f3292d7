// YAML scalars and their YAML 1.2 core-schema resolution: which plain scalars
// are null, booleans, integers or floats. Quoted and block scalars are always
// strings. (YAML 1.1 forms like yes/no/on/off, 1_000 or 0777-as-octal are not
// special here.)

/// The text of a scalar and how it was written.
public struct YAMLScalar: Hashable, Sendable {
    public enum Style: Hashable, Sendable {
        case plain, singleQuoted, doubleQuoted, literal, folded
    }

    /// The scalar's value after YAML's own unescaping and line folding.
    public var text: String
    public var style: Style

    public init(_ text: String, style: Style = .plain) {
        self.text = text
        self.style = style
    }

    /// Whether the text is subject to type resolution (only plain scalars are).
    private var resolves: Bool { style == .plain }

    /// Plain `""`, `~`, `null`, `Null` or `NULL`.
    public var isNull: Bool {
        guard resolves else { return false }
        switch text {
        case "", "~", "null", "Null", "NULL": return true
        default: return false
        }
    }

    /// Plain `true`/`True`/`TRUE`/`false`/`False`/`FALSE`.
    public var bool: Bool? {
        guard resolves else { return nil }
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: return nil
        }
    }

    /// Plain decimal (`-12`, `+3`), hexadecimal (`0x1F`) or octal (`0o17`)
    /// integer that fits in `Int`; an optional sign is accepted on all three.
    public var int: Int? {
        guard resolves else { return nil }
        return Self.parseInt(Array(text.utf8))
    }

    /// Any plain integer (even one too large for `Int`) or float: `1.5`, `1e-3`,
    /// `3E+4`, `.5`, `1.`, `.inf`, `-.Inf`, `.nan`, …
    public var double: Double? {
        guard resolves else { return nil }
        let bytes = Array(text.utf8)
        if let i = Self.parseInt(bytes) { return Double(i) }
        return Self.parseFloat(bytes)
    }

    /// The text, whatever it resolves to.
    public var string: String { text }

    // MARK: - Core-schema grammar

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    private static func parseInt(_ bytes: [UInt8]) -> Int? {
        var sign = ""
        var digits = bytes[...]
        if let first = digits.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            if first == UInt8(ascii: "-") { sign = "-" }
            digits = digits.dropFirst()
        }
        var radix = 10
        if digits.count > 2, digits.first == UInt8(ascii: "0") {
            let marker = digits[digits.startIndex + 1]
            if marker == UInt8(ascii: "x") { radix = 16 }
            if marker == UInt8(ascii: "o") { radix = 8 }
            if radix != 10 { digits = digits.dropFirst(2) }
        }
        guard !digits.isEmpty else { return nil }
        let valid: (UInt8) -> Bool
        switch radix {
        case 16: valid = { isDigit($0) || (0x61...0x66).contains($0) || (0x41...0x46).contains($0) }
        case 8: valid = { $0 >= 0x30 && $0 <= 0x37 }
        default: valid = isDigit
        }
        guard digits.allSatisfy(valid) else { return nil }
        // Int(_:radix:) rejects overflow by returning nil.
        return Int(sign + String(decoding: digits, as: UTF8.self), radix: radix)
    }

    private static func parseFloat(_ bytes: [UInt8]) -> Double? {
        switch String(decoding: bytes, as: UTF8.self) {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        case ".nan", ".NaN", ".NAN": return .nan
        default: break
        }
        // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
        var i = 0
        let n = bytes.count
        if i < n, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
        var mantissaDigits = 0
        while i < n, isDigit(bytes[i]) { i += 1; mantissaDigits += 1 }
        if i < n, bytes[i] == UInt8(ascii: ".") {
            i += 1
            while i < n, isDigit(bytes[i]) { i += 1; mantissaDigits += 1 }
        }
        guard mantissaDigits > 0 else { return nil }
        if i < n, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < n, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            var exponentDigits = 0
            while i < n, isDigit(bytes[i]) { i += 1; exponentDigits += 1 }
            guard exponentDigits > 0 else { return nil }
        }
        guard i == n else { return nil }
        // The grammar above is a subset of what strtod accepts ("1." and ".5" included).
        return Double(String(decoding: bytes, as: UTF8.self))
    }
}
