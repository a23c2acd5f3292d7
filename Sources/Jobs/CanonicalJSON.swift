// CanonicalJSON — the bytes a stage's hash covers: a value's `Encodable` encoding
// as compact JSON with keys sorted by their UTF-8 bytes, byte for byte what
// Foundation's `JSONEncoder` writes with `[.sortedKeys, .withoutEscapingSlashes]`
// (numbers as `description` without a trailing ".0", control characters as
// `\u00xx`), but without its boxed intermediate values: planning a big sweep
// hashes millions of work values. CanonicalJSONTests compares the two.

enum CanonicalJSON {
    /// `value` as canonical JSON.
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = CanonicalEncoder()
        try value.encode(to: encoder)
        var writer = Writer()
        writer.bytes.reserveCapacity(512)
        try writer.write(encoder.node ?? .object(CanonicalObject()), depth: 0)
        return writer.bytes
    }

    /// An encoded value waiting to be written.
    enum Node {
        case null
        case bool(Bool)
        case int(Int64)
        case unsigned(UInt64)
        /// A finite number's text.
        case number(String)
        case string(String)
        case object(CanonicalObject)
        case array(CanonicalArray)
        /// A value encoded through `superEncoder()`.
        case deferred(CanonicalEncoder)
    }

    struct Writer {
        var bytes: [UInt8] = []

        mutating func write(_ node: Node, depth: Int) throws {
            guard depth < 512 else { throw EncodingError.invalidValue(0, .init(codingPath: [], debugDescription: "nested too deeply")) }
            switch node {
            case .null: append("null")
            case .bool(let b): append(b ? "true" : "false")
            case .int(let i): bytes += String(i).utf8
            case .unsigned(let u): bytes += String(u).utf8
            case .number(let text): bytes += text.utf8
            case .string(let s): writeString(s)
            case .array(let array):
                bytes.append(0x5b)
                for (i, item) in array.items.enumerated() {
                    if i > 0 { bytes.append(0x2c) }
                    try write(item, depth: depth + 1)
                }
                bytes.append(0x5d)
            case .object(let object):
                bytes.append(0x7b)
                var first = true
                let order = object.sortedOrder()
                for (n, i) in order.enumerated() {
                    // A key set twice keeps its last value (JSONEncoder keeps a dictionary).
                    if n + 1 < order.count, object.entries[order[n + 1]].key == object.entries[i].key { continue }
                    if !first { bytes.append(0x2c) }
                    first = false
                    writeString(object.entries[i].key)
                    bytes.append(0x3a)
                    try write(object.entries[i].value, depth: depth + 1)
                }
                bytes.append(0x7d)
            case .deferred(let encoder):
                try write(encoder.node ?? .object(CanonicalObject()), depth: depth)
            }
        }

        mutating func append(_ text: StaticString) {
            bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }

        mutating func writeString(_ s: String) {
            bytes.append(0x22)
            // Most strings (keys, names, paths) need no escape: copied whole.
            if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5c }) {
                bytes.append(contentsOf: s.utf8)
                bytes.append(0x22)
                return
            }
            for byte in s.utf8 {
                switch byte {
                case 0x22: append("\\\"")
                case 0x5c: append("\\\\")
                case 0x08: append("\\b")
                case 0x0c: append("\\f")
                case 0x0a: append("\\n")
                case 0x0d: append("\\r")
                case 0x09: append("\\t")
                case 0x00...0x1f:
                    let hex: StaticString = "0123456789abcdef"
                    append("\\u00")
                    bytes.append(hex.utf8Start[Int(byte >> 4)])
                    bytes.append(hex.utf8Start[Int(byte & 0x0f)])
                default: bytes.append(byte)
                }
            }
            bytes.append(0x22)
        }
    }

    /// A finite floating-point number as JSONEncoder writes it: 1.0 as `1`, 1e-05 as `1e-05`.
    static func number<F: BinaryFloatingPoint & CustomStringConvertible>(_ value: F) throws -> Node {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "Unable to encode \(value) directly in JSON."))
        }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        return .number(text)
    }
}

/// A JSON object being filled: keys in the order encoded.
final class CanonicalObject {
    var entries: [(key: String, value: CanonicalJSON.Node)] = []

    func set(_ key: String, _ value: CanonicalJSON.Node) { entries.append((key, value)) }

    /// Indices in key order (UTF-8 bytes), equal keys in the order set (a stable insertion sort: objects are small).
    func sortedOrder() -> [Int] {
        var order = Array(entries.indices)
        guard order.count > 1 else { return order }
        for i in 1..<order.count {
            let item = order[i]
            var j = i
            while j > 0, entries[item].key.utf8.lexicographicallyPrecedes(entries[order[j - 1]].key.utf8) {
                order[j] = order[j - 1]
                j -= 1
            }
            order[j] = item
        }
        return order
    }
}

/// A JSON array being filled.
final class CanonicalArray {
    var items: [CanonicalJSON.Node] = []
}

/// The `Encoder` that builds nodes.
final class CanonicalEncoder: Encoder {
    /// Not tracked (no work value reads it): errors name the value, not where it is.
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var node: CanonicalJSON.Node?

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        // Asking twice gives the same object, as JSONEncoder does.
        if case .object(let object)? = node { return KeyedEncodingContainer(KeyedContainer(object: object)) }
        let object = CanonicalObject()
        node = .object(object)
        return KeyedEncodingContainer(KeyedContainer(object: object))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .array(let array)? = node { return UnkeyedContainer(array: array) }
        let array = CanonicalArray()
        node = .array(array)
        return UnkeyedContainer(array: array)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValueContainer(encoder: self) }

    /// A nested value's node: primitives directly, anything else through its own encoder.
    static func node<T: Encodable>(_ value: T) throws -> CanonicalJSON.Node {
        switch value {
        case let v as String: return .string(v)
        case let v as Int: return .int(Int64(v))
        case let v as Double: return try CanonicalJSON.number(v)
        case let v as Bool: return .bool(v)
        default:
            let encoder = CanonicalEncoder()
            try value.encode(to: encoder)
            return encoder.node ?? .object(CanonicalObject())
        }
    }

    struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let object: CanonicalObject
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil(forKey key: Key) throws { object.set(key.stringValue, .null) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { object.set(key.stringValue, .bool(value)) }
        mutating func encode(_ value: String, forKey key: Key) throws { object.set(key.stringValue, .string(value)) }
        mutating func encode(_ value: Double, forKey key: Key) throws {
            object.set(key.stringValue, try CanonicalJSON.number(value))
        }
        mutating func encode(_ value: Float, forKey key: Key) throws {
            object.set(key.stringValue, try CanonicalJSON.number(value))
        }
        mutating func encode(_ value: Int, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { object.set(key.stringValue, .int(value)) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { object.set(key.stringValue, .unsigned(UInt64(value))) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { object.set(key.stringValue, .unsigned(UInt64(value))) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { object.set(key.stringValue, .unsigned(UInt64(value))) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { object.set(key.stringValue, .unsigned(UInt64(value))) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { object.set(key.stringValue, .unsigned(value)) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            object.set(key.stringValue, try CanonicalEncoder.node(value))
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            let nested = CanonicalObject()
            object.set(key.stringValue, .object(nested))
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(object: nested))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            let nested = CanonicalArray()
            object.set(key.stringValue, .array(nested))
            return UnkeyedContainer(array: nested)
        }

        mutating func superEncoder() -> any Encoder { superEncoder(key: "super") }
        mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(key: key.stringValue) }
        private func superEncoder(key: String) -> any Encoder {
            let encoder = CanonicalEncoder()
            object.set(key, .deferred(encoder))
            return encoder
        }
    }

    struct UnkeyedContainer: UnkeyedEncodingContainer {
        let array: CanonicalArray
        var codingPath: [any CodingKey] { [] }
        var count: Int { array.items.count }

        mutating func encodeNil() throws { array.items.append(.null) }
        mutating func encode(_ value: Bool) throws { array.items.append(.bool(value)) }
        mutating func encode(_ value: String) throws { array.items.append(.string(value)) }
        mutating func encode(_ value: Double) throws { array.items.append(try CanonicalJSON.number(value)) }
        mutating func encode(_ value: Float) throws { array.items.append(try CanonicalJSON.number(value)) }
        mutating func encode(_ value: Int) throws { array.items.append(.int(Int64(value))) }
        mutating func encode(_ value: Int8) throws { array.items.append(.int(Int64(value))) }
        mutating func encode(_ value: Int16) throws { array.items.append(.int(Int64(value))) }
        mutating func encode(_ value: Int32) throws { array.items.append(.int(Int64(value))) }
        mutating func encode(_ value: Int64) throws { array.items.append(.int(value)) }
        mutating func encode(_ value: UInt) throws { array.items.append(.unsigned(UInt64(value))) }
        mutating func encode(_ value: UInt8) throws { array.items.append(.unsigned(UInt64(value))) }
        mutating func encode(_ value: UInt16) throws { array.items.append(.unsigned(UInt64(value))) }
        mutating func encode(_ value: UInt32) throws { array.items.append(.unsigned(UInt64(value))) }
        mutating func encode(_ value: UInt64) throws { array.items.append(.unsigned(value)) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            array.items.append(try CanonicalEncoder.node(value))
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            let nested = CanonicalObject()
            array.items.append(.object(nested))
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(object: nested))
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let nested = CanonicalArray()
            array.items.append(.array(nested))
            return UnkeyedContainer(array: nested)
        }

        mutating func superEncoder() -> any Encoder {
            let encoder = CanonicalEncoder()
            array.items.append(.deferred(encoder))
            return encoder
        }
    }

    struct SingleValueContainer: SingleValueEncodingContainer {
        let encoder: CanonicalEncoder
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil() throws { encoder.node = .null }
        mutating func encode(_ value: Bool) throws { encoder.node = .bool(value) }
        mutating func encode(_ value: String) throws { encoder.node = .string(value) }
        mutating func encode(_ value: Double) throws { encoder.node = try CanonicalJSON.number(value) }
        mutating func encode(_ value: Float) throws { encoder.node = try CanonicalJSON.number(value) }
        mutating func encode(_ value: Int) throws { encoder.node = .int(Int64(value)) }
        mutating func encode(_ value: Int8) throws { encoder.node = .int(Int64(value)) }
        mutating func encode(_ value: Int16) throws { encoder.node = .int(Int64(value)) }
        mutating func encode(_ value: Int32) throws { encoder.node = .int(Int64(value)) }
        mutating func encode(_ value: Int64) throws { encoder.node = .int(value) }
        mutating func encode(_ value: UInt) throws { encoder.node = .unsigned(UInt64(value)) }
        mutating func encode(_ value: UInt8) throws { encoder.node = .unsigned(UInt64(value)) }
        mutating func encode(_ value: UInt16) throws { encoder.node = .unsigned(UInt64(value)) }
        mutating func encode(_ value: UInt32) throws { encoder.node = .unsigned(UInt64(value)) }
        mutating func encode(_ value: UInt64) throws { encoder.node = .unsigned(value) }
        mutating func encode<T: Encodable>(_ value: T) throws { encoder.node = try CanonicalEncoder.node(value) }
    }
}
