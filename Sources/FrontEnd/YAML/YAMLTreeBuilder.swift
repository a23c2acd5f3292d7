// YAMLTreeBuilder — turns libyaml's event stream into a `YAMLNode` tree. It owns
// the libyaml parser's lifetime, converts marks to 1-based locations, and
// enforces the document rules tlc adds on top of YAML: one document, unique
// scalar keys, standard tags only, no merge keys, bounded depth, and alias
// expansion bounded by a node budget checked *before* anything is copied.
// The builder is iterative (an explicit stack of open collections), so nesting
// depth never turns into Swift stack depth.

import CYaml

final class YAMLTreeBuilder {
    /// A mapping or sequence whose end event has not arrived yet.
    private struct Frame {
        var isMapping: Bool
        var location: SourceLocation
        var anchor: String?
        /// Node count before this collection was opened, to size it for its anchor.
        var countAtStart: Int
        var items: [YAMLNode] = []
        var pairs: [YAMLPair] = []
        /// The key waiting for its value, and whether the pair will be kept.
        var pendingKey: YAMLNode?
        var keepPendingPair = true
        /// First location of each key text, to report duplicates.
        var seenKeys: [String: SourceLocation] = [:]
    }

    /// Stops the event loop after a diagnostic that makes going on pointless.
    private struct Stop: Error {}

    private let file: String
    private let limits: YAMLParser.Limits
    private let diagnostics = DiagnosticEngine()
    private var bytes: [UInt8] = []

    private var stack: [Frame] = []
    private var root: YAMLNode?
    private var documents = 0
    /// Nodes produced so far, counting every node an alias expands to.
    private var nodeCount = 0
    /// Finished anchored nodes and their sizes in nodes.
    private var anchors: [String: (node: YAMLNode, size: Int)] = [:]

    init(file: String, limits: YAMLParser.Limits) {
        self.file = file
        self.limits = limits
    }

    /// Builds the tree of the single document in `bytes` (already checked to be
    /// UTF-8 without NUL bytes). Throws `DiagnosticError`.
    func build(_ bytes: [UInt8]) throws -> YAMLNode {
        self.bytes = bytes
        let start = SourceLocation(file: file, line: 1, column: 1)
        if !bytes.isEmpty {
            let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
            defer { parser.deallocate() }
            guard yaml_parser_initialize(parser) == 1 else {
                throw DiagnosticError([.error("out of memory while starting the YAML parser", at: start)])
            }
            defer { yaml_parser_delete(parser) }
            bytes.withUnsafeBufferPointer { buffer in
                yaml_parser_set_input_string(parser, buffer.baseAddress, buffer.count)
                do {
                    try readEvents(parser)
                } catch {
                    // A `Stop` has already been recorded as a diagnostic.
                }
            }
        }
        if diagnostics.hasErrors {
            throw DiagnosticError(diagnostics.diagnostics)
        }
        return root ?? YAMLNode(.scalar(YAMLScalar("")), at: start)
    }

    // MARK: - Events

    private func readEvents(_ parser: UnsafeMutablePointer<yaml_parser_t>) throws {
        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(parser, &event) == 1 else {
                // On failure libyaml leaves the event empty; nothing to delete.
                reportLibYAMLError(parser.pointee)
                throw Stop()
            }
            defer { yaml_event_delete(&event) }
            if event.type == YAML_STREAM_END_EVENT { return }
            try handle(event)
        }
    }

    private func handle(_ event: yaml_event_t) throws {
        let location = self.location(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                try stop(.error("expected a single document; found a second one", at: location,
                            notes: ["one experiment per file: remove the '---' and what follows, or move it to its own file"]))
            }

        case YAML_SCALAR_EVENT:
            let data = event.data.scalar
            try count(1, at: location)
            var scalar = YAMLScalar(text(data.value, length: data.length), style: style(data.style))
            applyTag(text(data.tag), to: &scalar, at: location)
            let node = YAMLNode(.scalar(scalar), at: location)
            register(anchor: text(data.anchor), node: node, size: 1)
            attach(node)

        case YAML_ALIAS_EVENT:
            try expandAlias(text(event.data.alias.anchor) ?? "", at: location)

        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            let isMapping = event.type == YAML_MAPPING_START_EVENT
            let (anchorPointer, tagPointer) = isMapping
                ? (event.data.mapping_start.anchor, event.data.mapping_start.tag)
                : (event.data.sequence_start.anchor, event.data.sequence_start.tag)
            if stack.count >= limits.maxDepth {
                try stop(.error("nesting is deeper than the limit of \(limits.maxDepth) levels", at: location))
            }
            let countAtStart = nodeCount
            try count(1, at: location)
            checkCollectionTag(text(tagPointer), isMapping: isMapping, at: location)
            stack.append(Frame(isMapping: isMapping, location: location, anchor: text(anchorPointer),
                               countAtStart: countAtStart))

        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            let frame = stack.removeLast()
            let node = YAMLNode(frame.isMapping ? .mapping(frame.pairs) : .sequence(frame.items), at: frame.location)
            register(anchor: frame.anchor, node: node, size: nodeCount - frame.countAtStart)
            attach(node)

        default:
            // Stream start and document end carry nothing for the tree.
            break
        }
    }

    /// Records a fatal diagnostic and unwinds the event loop.
    private func stop(_ diagnostic: Diagnostic) throws -> Never {
        diagnostics.emit(diagnostic)
        throw Stop()
    }

    /// Adds `n` nodes to the budget, failing before the budget is exceeded.
    private func count(_ n: Int, at location: SourceLocation, alias: Bool = false) throws {
        guard n <= limits.maxNodes - nodeCount else {
            if alias {
                try stop(.error("alias expansion exceeds the limit of \(limits.maxNodes) nodes (a 'billion laughs' document?)",
                                at: location))
            }
            try stop(.error("the document has more than \(limits.maxNodes) nodes", at: location))
        }
        nodeCount += n
    }

    // MARK: - Building

    private func register(anchor: String?, node: YAMLNode, size: Int) {
        if let anchor { anchors[anchor] = (node, size) }
    }

    /// Copies an anchored node in place of an alias, after charging its full
    /// size to the node budget (so a billion-laughs document stops at once).
    private func expandAlias(_ name: String, at location: SourceLocation) throws {
        guard let (node, size) = anchors[name] else {
            if stack.contains(where: { $0.anchor == name }) {
                diagnostics.emit(.error("alias '*\(name)' refers to a node that contains it; recursive aliases are not supported",
                                        at: location))
            } else {
                var notes: [String] = []
                if let close = suggestion(for: name, among: anchors.keys.sorted()) {
                    notes.append("did you mean '*\(close)'?")
                }
                diagnostics.emit(.error("found undefined alias '*\(name)'", at: location, notes: notes))
            }
            // Stand in a null so the rest of the document can still be checked.
            try count(1, at: location)
            attach(YAMLNode(.scalar(YAMLScalar("")), at: location))
            return
        }
        try count(size, at: location, alias: true)
        var copy = node
        copy.location = location
        attach(copy)
    }

    /// Hands a finished node to the collection it belongs to, or makes it the root.
    private func attach(_ node: YAMLNode) {
        guard var frame = stack.popLast() else {
            root = node
            return
        }
        defer { stack.append(frame) }
        if !frame.isMapping {
            frame.items.append(node)
            return
        }
        guard let key = frame.pendingKey else {
            frame.pendingKey = node
            frame.keepPendingPair = checkKey(node, in: &frame)
            return
        }
        if frame.keepPendingPair {
            frame.pairs.append(YAMLPair(key: key, value: node))
        }
        frame.pendingKey = nil
    }

    /// Whether `key` may be used: a scalar, not a merge key, not a duplicate.
    private func checkKey(_ key: YAMLNode, in frame: inout Frame) -> Bool {
        guard let scalar = key.scalar else {
            diagnostics.emit(.error("a mapping key must be a scalar, not a \(key.kindName)", at: key.location,
                                    notes: ["keys are names such as 'epochs'; put structured values on the right of the ':'"]))
            return false
        }
        if scalar.style == .plain, scalar.text == "<<" {
            diagnostics.emit(.error("merge keys ('<<') are not supported; use 'extends' instead", at: key.location))
            return false
        }
        if let first = frame.seenKeys[scalar.text] {
            diagnostics.emit(.error("duplicate key '\(scalar.text)'", at: key.location,
                                    notes: ["'\(scalar.text)' is first defined at line \(first.line), column \(first.column)"]))
            return false
        }
        frame.seenKeys[scalar.text] = key.location
        return true
    }

    // MARK: - Tags

    private static let coreTagPrefix = "tag:yaml.org,2002:"

    /// `!!int` for core-schema tags, the tag itself otherwise.
    private static func display(_ tag: String) -> String {
        tag.hasPrefix(coreTagPrefix) ? "!!" + tag.dropFirst(coreTagPrefix.count) : tag
    }

    /// Applies a standard scalar tag (`!!str` makes a string; `!!int`, `!!float`,
    /// `!!bool`, `!!null` make the scalar resolve, and it must resolve to that type).
    private func applyTag(_ tag: String?, to scalar: inout YAMLScalar, at location: SourceLocation) {
        guard let tag else { return }
        // The non-specific tag `!` means "not plain": a string.
        if tag == "!" || tag == Self.coreTagPrefix + "str" {
            if scalar.style == .plain { scalar.style = .doubleQuoted }
            return
        }
        let resolved: YAMLScalar = YAMLScalar(scalar.text, style: .plain)
        let fits: Bool
        let name = tag.hasPrefix(Self.coreTagPrefix) ? String(tag.dropFirst(Self.coreTagPrefix.count)) : ""
        switch name {
        case "int": fits = resolved.int != nil
        case "float": fits = resolved.double != nil
        case "bool": fits = resolved.bool != nil
        case "null": fits = resolved.isNull
        case "map", "seq":
            diagnostics.emit(.error("tag '\(Self.display(tag))' cannot be applied to a scalar", at: location))
            return
        default:
            diagnostics.emit(.error("unknown tag '\(Self.display(tag))'", at: location,
                                    notes: ["only the standard tags !!str, !!int, !!float, !!bool, !!null, !!map and !!seq are allowed"]))
            return
        }
        if fits {
            scalar = resolved
        } else {
            diagnostics.emit(.error("'\(scalar.text)' is not a valid \(Self.display(tag))", at: location))
        }
    }

    private func checkCollectionTag(_ tag: String?, isMapping: Bool, at location: SourceLocation) {
        guard let tag, tag != "!" else { return }
        switch tag {
        case Self.coreTagPrefix + "map" where isMapping, Self.coreTagPrefix + "seq" where !isMapping:
            return
        case Self.coreTagPrefix + "map", Self.coreTagPrefix + "seq", Self.coreTagPrefix + "str",
             Self.coreTagPrefix + "int", Self.coreTagPrefix + "float", Self.coreTagPrefix + "bool",
             Self.coreTagPrefix + "null":
            let kind = isMapping ? "mapping" : "sequence"
            diagnostics.emit(.error("tag '\(Self.display(tag))' cannot be applied to a \(kind)", at: location))
        default:
            diagnostics.emit(.error("unknown tag '\(Self.display(tag))'", at: location,
                                    notes: ["only the standard tags !!str, !!int, !!float, !!bool, !!null, !!map and !!seq are allowed"]))
        }
    }

    // MARK: - libyaml values

    private func location(_ mark: yaml_mark_t) -> SourceLocation {
        // A mark at the end of the input (past a final line break) is the end of the last line.
        if Int(mark.index) >= bytes.count { return InputCheck.location(ofByte: bytes.count, in: bytes, file: file) }
        return SourceLocation(file: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }

    private func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?, length: Int) -> String {
        guard let pointer else { return "" }
        return String(decoding: UnsafeBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    private func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let pointer else { return nil }
        return String(cString: pointer)
    }

    private func style(_ style: yaml_scalar_style_t) -> YAMLScalar.Style {
        switch style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: return .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: return .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: return .literal
        case YAML_FOLDED_SCALAR_STYLE: return .folded
        default: return .plain
        }
    }

    // MARK: - libyaml errors

    /// Turns libyaml's error state into a located diagnostic.
    private func reportLibYAMLError(_ parser: yaml_parser_t) {
        let problem = parser.problem.map { String(cString: $0) } ?? "the YAML parser failed"
        switch parser.error {
        case YAML_MEMORY_ERROR:
            diagnostics.emit(.error("out of memory while parsing YAML", at: SourceLocation(file: file, line: 1, column: 1)))
        case YAML_READER_ERROR:
            var message = problem
            if parser.problem_value != -1 {
                message += " (#x" + String(parser.problem_value, radix: 16, uppercase: true) + ")"
            }
            diagnostics.emit(.error(message, at: InputCheck.location(ofByte: parser.problem_offset, in: bytes, file: file)))
        default:
            let at = location(parser.problem_mark)
            var notes: [String] = []
            if let context = parser.context.map({ String(cString: $0) }) {
                let mark = parser.context_mark
                notes.append("\(context) starting at line \(mark.line + 1), column \(mark.column + 1)")
            }
            if problem == "mapping values are not allowed in this context" {
                notes.append("a ':' here usually means this line is indented differently from the one above, "
                             + "or a value containing ': ' needs quotes")
            }
            if lineHasTabIndentation(at.line) {
                notes.append("YAML does not allow tabs for indentation; indent with spaces")
            }
            diagnostics.emit(.error(problem, at: at, notes: notes))
        }
    }

    /// Whether the leading whitespace of a 1-based line contains a tab.
    private func lineHasTabIndentation(_ line: Int) -> Bool {
        var current = 1
        var i = 0
        while i < bytes.count, current < line {
            if bytes[i] == 0x0A { current += 1 }
            i += 1
        }
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 {
            if bytes[i] == 0x09 { return true }
            i += 1
        }
        return false
    }
}
