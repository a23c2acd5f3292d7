// The fields of SpecSchema that hold one value, found by dotted path: the ranges
// and allowed values the decoder and the sweep check against, so each bound is
// written once, in the schema. A path names object keys; `*` stands for any list
// index or any free key ("optimizer.betas.*", "optimizer.groups.*.lr",
// "compression.*.prune.sparsity").

/// A field that holds one value (a number, integer, string or boolean).
public struct SchemaLeaf: Sendable {
    public var path: String
    public var type: SchemaType
}

extension SpecSchema {
    /// Every value-holding field, in schema order. A field with several forms
    /// (`train_per_class`: `all` or an integer) has one leaf per form.
    public static let leaves: [SchemaLeaf] = {
        var out: [SchemaLeaf] = []
        func walk(_ type: SchemaType, _ path: String) {
            func child(_ name: String) -> String { path.isEmpty ? name : path + "." + name }
            switch type {
            case .object(let fields, let additional):
                for f in fields { walk(f.type, child(f.name)) }
                if let additional { walk(additional, child("*")) }
            case .array(let element, _, _): walk(element, child("*"))
            case .oneOf(let options): for o in options { walk(o, path) }
            case .any, .null: break
            case .string, .integer, .number, .boolean: out.append(SchemaLeaf(path: path, type: type))
            }
        }
        walk(root, "")
        return out
    }()

    private static let leavesByPath: [String: [SchemaType]] = Dictionary(grouping: leaves, by: \.path).mapValues { $0.map(\.type) }

    /// The range of the number field at `path`.
    static func numberRange(at path: String) -> (min: Double?, max: Double?, exclusiveMin: Bool, exclusiveMax: Bool) {
        for type in leavesByPath[path] ?? [] {
            if case .number(let min, let max, let exclusiveMin, let exclusiveMax) = type { return (min, max, exclusiveMin, exclusiveMax) }
        }
        preconditionFailure("SpecSchema has no number field '\(path)'")
    }

    /// The range (or the list of allowed values) of the integer field at `path`.
    static func integerRange(at path: String) -> (min: Int?, max: Int?, values: [Int]?) {
        for type in leavesByPath[path] ?? [] {
            if case .integer(let min, let max, let values) = type { return (min, max, values) }
        }
        preconditionFailure("SpecSchema has no integer field '\(path)'")
    }

    /// The values the string field at `path` allows.
    static func stringValues(at path: String) -> [String] {
        for type in leavesByPath[path] ?? [] {
            if case .string(let values?, _) = type { return values }
        }
        preconditionFailure("SpecSchema has no string field with listed values '\(path)'")
    }
}
