// YAML document tree — what the parser hands to the rest of the front end: a
// mapping / sequence / scalar tree in which every node carries the file, line
// and column it starts at. Aliases are already expanded; there are no anchors,
// tags or comments left. Mappings keep their source order.

/// One node of a parsed YAML document.
public struct YAMLNode: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        case scalar(YAMLScalar)
        /// Key/value pairs in source order; keys are unique scalars.
        case mapping([YAMLPair])
        case sequence([YAMLNode])
    }

    public var kind: Kind
    /// Where the node starts (its anchor or tag, if it has one). For a copy made
    /// by expanding an alias, the copy's root is located at the alias and its
    /// descendants keep the locations of the anchored original.
    public var location: SourceLocation

    public init(_ kind: Kind, at location: SourceLocation) {
        self.kind = kind
        self.location = location
    }

    public var scalar: YAMLScalar? {
        if case .scalar(let s) = kind { return s }
        return nil
    }

    public var mapping: [YAMLPair]? {
        if case .mapping(let pairs) = kind { return pairs }
        return nil
    }

    public var sequence: [YAMLNode]? {
        if case .sequence(let items) = kind { return items }
        return nil
    }

    /// The value for a scalar key with this text; nil if this is not a mapping
    /// or has no such key.
    public subscript(key: String) -> YAMLNode? {
        guard case .mapping(let pairs) = kind else { return nil }
        return pairs.first { $0.key.scalar?.text == key }?.value
    }

    /// A plain scalar `""`, `~`, `null`, `Null` or `NULL`.
    public var isNull: Bool {
        scalar?.isNull ?? false
    }

    /// "mapping", "sequence", "string", "number", "boolean" or "null", for messages
    /// such as "expected a number, found a mapping".
    public var kindName: String {
        switch kind {
        case .mapping: return "mapping"
        case .sequence: return "sequence"
        case .scalar(let s):
            if s.isNull { return "null" }
            if s.bool != nil { return "boolean" }
            if s.double != nil { return "number" }
            return "string"
        }
    }
}

/// One entry of a mapping.
public struct YAMLPair: Hashable, Sendable {
    public var key: YAMLNode
    public var value: YAMLNode

    public init(key: YAMLNode, value: YAMLNode) {
        self.key = key
        self.value = value
    }
}
