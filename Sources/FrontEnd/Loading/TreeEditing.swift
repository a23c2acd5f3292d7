// Edits of YAML trees that keep source locations: deep merge for `extends`,
// setting a dotted path for `--set` overrides and sweep points.

enum TreeEditing {
    /// Deep merge: `child` over `base`. Mappings merge key by key (base order first,
    /// then the child's new keys); a child's `null` deletes the key; any other value
    /// (lists included) replaces the base's value wholesale.
    static func merge(base: YAMLNode, child: YAMLNode) -> YAMLNode {
        guard let b = base.mapping, let c = child.mapping else { return child }
        var out: [YAMLPair] = []
        for pair in b {
            let key = pair.key.scalar?.text
            if let override = c.first(where: { $0.key.scalar?.text == key }) {
                if override.value.isNull { continue }
                out.append(YAMLPair(key: override.key, value: merge(base: pair.value, child: override.value)))
            } else {
                out.append(pair)
            }
        }
        for pair in c where !b.contains(where: { $0.key.scalar?.text == pair.key.scalar?.text }) {
            if pair.value.isNull { continue }
            out.append(pair)
        }
        return YAMLNode(.mapping(out), at: child.location)
    }

    enum SetError: Error, CustomStringConvertible {
        case notAContainer(String), indexOutOfRange(String, Int)
        var description: String {
            switch self {
            case .notAContainer(let k): "'\(k)' indexes a value that is not a list"
            case .indexOutOfRange(let k, let n): "index \(k) is out of range (the list has \(n) item\(n == 1 ? "" : "s"))"
            }
        }
    }

    /// Sets `value` at `path` (segments; numbers index lists). Missing mapping keys
    /// are created; a null or scalar in the way becomes a mapping.
    static func set(_ value: YAMLNode, at path: ArraySlice<String>, in node: YAMLNode) throws(SetError) -> YAMLNode {
        guard let key = path.first else { return value }
        let rest = path.dropFirst()
        switch node.kind {
        case .sequence(var items):
            guard let index = Int(key) else { throw .notAContainer(key) }
            guard items.indices.contains(index) else { throw .indexOutOfRange(key, items.count) }
            items[index] = try set(value, at: rest, in: items[index])
            return YAMLNode(.sequence(items), at: node.location)
        case .mapping(var pairs):
            if let i = pairs.firstIndex(where: { $0.key.scalar?.text == key }) {
                pairs[i].value = try set(value, at: rest, in: pairs[i].value)
            } else {
                let empty = YAMLNode(.mapping([]), at: value.location)
                let keyNode = YAMLNode(.scalar(YAMLScalar(key)), at: value.location)
                pairs.append(YAMLPair(key: keyNode, value: try set(value, at: rest, in: empty)))
            }
            return YAMLNode(.mapping(pairs), at: node.location)
        case .scalar:
            if Int(key) != nil, !node.isNull { throw .notAContainer(key) }
            return try set(value, at: path, in: YAMLNode(.mapping([]), at: node.location))
        }
    }

    /// Removes a top-level key.
    static func removing(_ key: String, from node: YAMLNode) -> YAMLNode {
        guard let pairs = node.mapping else { return node }
        return YAMLNode(.mapping(pairs.filter { $0.key.scalar?.text != key }), at: node.location)
    }

    /// Moves a value cut out of a longer one-line text (an override) into place:
    /// every location goes to `file` and `line`, line-1 columns shifted by `columns`.
    static func relocated(_ node: YAMLNode, file: String, line: Int, columns: Int) -> YAMLNode {
        let l = node.location
        let loc = SourceLocation(file: file, line: line, column: l.line == 1 ? l.column + columns : l.column)
        switch node.kind {
        case .scalar: return YAMLNode(node.kind, at: loc)
        case .sequence(let items):
            return YAMLNode(.sequence(items.map { relocated($0, file: file, line: line, columns: columns) }), at: loc)
        case .mapping(let pairs):
            return YAMLNode(.mapping(pairs.map { YAMLPair(key: relocated($0.key, file: file, line: line, columns: columns),
                                                          value: relocated($0.value, file: file, line: line, columns: columns)) }), at: loc)
        }
    }
}
