// A resolved spec written back as YAML (resolved.yaml of a run directory): the
// plain value's keys in their documented order, doubles always with a point.
import Foundation

extension SpecValue {
    /// This value as a YAML document.
    public var resolvedYAML: String { YAMLEmitter.emit(yamlNode) }

    /// This value as a YAML node (located at resolved.yaml:1:1).
    public var yamlNode: YAMLNode {
        let here = SourceLocation(file: "resolved.yaml", line: 1, column: 1)
        switch self {
        case .null: return YAMLNode(.scalar(YAMLScalar("null")), at: here)
        case .bool(let b): return YAMLNode(.scalar(YAMLScalar(b ? "true" : "false")), at: here)
        case .int(let i): return YAMLNode(.scalar(YAMLScalar(String(i))), at: here)
        case .double(let d): return YAMLNode(.scalar(YAMLScalar(d == d.rounded() && abs(d) < 1e15 ? String(format: "%.1f", d) : compactText)), at: here)
        case .string(let s): return YAMLNode(.scalar(YAMLScalar(s, style: .doubleQuoted)), at: here)
        case .list(let items): return YAMLNode(.sequence(items.map(\.yamlNode)), at: here)
        case .map(let entries):
            return YAMLNode(.mapping(entries.map { YAMLPair(key: YAMLNode(.scalar(YAMLScalar($0.key)), at: here), value: $0.value.yamlNode) }), at: here)
        }
    }
}
