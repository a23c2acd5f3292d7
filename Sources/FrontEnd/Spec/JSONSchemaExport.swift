// JSON Schema (draft 2020-12) of the spec language, generated from SpecSchema,
// for editors running yaml-language-server.

extension SpecSchema {
    public static func jsonSchema() -> String {
        let doc: SpecValue = .object([
            ("$schema", .string("https://json-schema.org/draft/2020-12/schema")),
            ("$id", .string("https://tlc.dev/schema/experiment-v1.json")),
            ("title", .string("tlc experiment (spec language v1)")),
            ("description", .string("A declarative transfer-learning experiment for tlc.")),
        ]).appending(schemaValue(root, required: sections.filter(\.required).map(\.name)))
        return doc.prettyJSON() + "\n"
    }

    static func schemaValue(_ type: SchemaType, doc: String? = nil, required: [String]? = nil) -> SpecValue {
        var entries: [(String, SpecValue?)] = []
        switch type {
        case .object(let fields, let additional):
            entries.append(("type", .string("object")))
            entries.append(("properties", .map(fields.map { SpecEntry($0.name, schemaValue($0.type, doc: $0.doc)) })))
            let req = required ?? fields.filter(\.required).map(\.name)
            if !req.isEmpty { entries.append(("required", .list(req.map(SpecValue.string)))) }
            entries.append(("additionalProperties", additional.map { schemaValue($0) } ?? .bool(false)))
        case .string(let values, let pattern):
            entries.append(("type", .string("string")))
            if let values { entries.append(("enum", .list(values.map(SpecValue.string)))) }
            if let pattern { entries.append(("pattern", .string(pattern))) }
        case .integer(let min, let max, let values):
            entries.append(("type", .string("integer")))
            entries.append(("minimum", min.map(SpecValue.int)))
            entries.append(("maximum", max.map(SpecValue.int)))
            entries.append(("enum", values.map { .list($0.map(SpecValue.int)) }))
        case .number(let min, let max, let exMin, let exMax):
            entries.append(("type", .string("number")))
            if let min { entries.append((exMin ? "exclusiveMinimum" : "minimum", .double(min))) }
            if let max { entries.append((exMax ? "exclusiveMaximum" : "maximum", .double(max))) }
        case .boolean:
            entries.append(("type", .string("boolean")))
        case .null:
            entries.append(("type", .string("null")))
        case .array(let element, let minItems, let maxItems):
            entries.append(("type", .string("array")))
            entries.append(("items", schemaValue(element)))
            entries.append(("minItems", minItems.map(SpecValue.int)))
            entries.append(("maxItems", maxItems.map(SpecValue.int)))
        case .oneOf(let options):
            entries.append(("anyOf", .list(options.map { schemaValue($0) })))
        case .any:
            break
        }
        if let doc { entries.insert(("description", .string(doc)), at: 0) }
        return .object(entries)
    }
}

extension SpecValue {
    func appending(_ other: SpecValue) -> SpecValue {
        guard case .map(let a) = self, case .map(let b) = other else { return self }
        return .map(a + b)
    }
}
