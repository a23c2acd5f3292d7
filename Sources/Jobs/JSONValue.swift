// JSONValue — a plain JSON value for the few places a plan carries free-form
// data (sweep assignments). Integers and doubles stay apart.
public enum JSONValue: Codable, Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([JSONValue])
    case object([Entry])

    public struct Entry: Codable, Hashable, Sendable {
        public var key: String
        public var value: JSONValue
        public init(key: String, value: JSONValue) { self.key = key; self.value = value }
    }

    /// The key of a tagged double: `{"double": "1.0"}`.
    static let doubleTag = "double"

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        if let keyed = try? decoder.container(keyedBy: Key.self) {
            if keyed.allKeys.map(\.stringValue) == [Self.doubleTag], let text = try? keyed.decode(String.self, forKey: Key(stringValue: Self.doubleTag)),
               let d = Double(text) {
                self = .double(d)
                return
            }
            // Decoders do not keep key order: objects come back sorted by key.
            self = .object(try keyed.allKeys.map(\.stringValue).sorted().map {
                Entry(key: $0, value: try keyed.decode(JSONValue.self, forKey: Key(stringValue: $0)))
            })
            return
        }
        if var list = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !list.isAtEnd { items.append(try list.decode(JSONValue.self)) }
            self = .list(items)
            return
        }
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value") }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null: var c = encoder.singleValueContainer(); try c.encodeNil()
        case .bool(let b): var c = encoder.singleValueContainer(); try c.encode(b)
        case .int(let i): var c = encoder.singleValueContainer(); try c.encode(i)
        case .double(let d) where d.isFinite && d != d.rounded():
            var c = encoder.singleValueContainer(); try c.encode(d)
        case .double(let d):
            // JSON writes 1.0 as 1, which would read back as an integer: tag it.
            var c = encoder.container(keyedBy: Key.self); try c.encode("\(d)", forKey: Key(stringValue: Self.doubleTag))
        case .string(let s): var c = encoder.singleValueContainer(); try c.encode(s)
        case .list(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(item) }
        case .object(let entries):
            var c = encoder.container(keyedBy: Key.self)
            for e in entries { try c.encode(e.value, forKey: Key(stringValue: e.key)) }
        }
    }
}

