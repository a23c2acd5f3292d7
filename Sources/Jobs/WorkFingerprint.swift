// WorkFingerprint — a cheap, exact name for a work value and its dependencies,
// for finding a stage already made without hashing its canonical JSON again (a
// sweep's points make the same train stage many times). It is the SHA-256 of the
// value's encoding events as raw bytes: which container each entry belongs to, its
// key, and its value (numbers by their bits, so -0.0 and 0.0 differ, strings with
// their lengths). Equal fingerprints mean the same encoding, so the same canonical
// JSON and the same stage hash. Never written anywhere: only compared in memory.
import Crypto

public struct WorkFingerprint: Hashable {
    private let digest: SHA256.Digest

    /// The fingerprint of `work` on the stages `dependencies` (their ids).
    public init(_ work: StageWork, dependencies: [String]) throws {
        let sink = FingerprintSink()
        sink.write(work.kind.rawValue)
        try StageWork.Payload(work: work).encode(to: FingerprintEncoder(sink: sink, parent: 0, key: nil))
        sink.write(UInt8(ascii: "|"))
        for d in dependencies { sink.write(d) }
        digest = SHA256.hash(data: sink.bytes)
    }
}

/// The bytes written so far, and the number of containers opened.
final class FingerprintSink {
    var bytes: [UInt8] = []
    var containers = 0

    init() { bytes.reserveCapacity(1024) }

    func write(_ byte: UInt8) { bytes.append(byte) }
    func write(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    func write(_ value: Int) { write(UInt64(bitPattern: Int64(value))) }
    func write(_ text: String) {
        write(text.utf8.count)
        bytes.append(contentsOf: text.utf8)
    }

    /// Opens a container under `parent` (at `key`, or appended when nil); returns its number.
    func open(_ kind: UInt8, parent: Int, key: String?) -> Int {
        containers += 1
        write(kind)
        write(parent)
        entryKey(key)
        write(containers)
        return containers
    }

    func entryKey(_ key: String?) {
        if let key { write(UInt8(ascii: "k")); write(key) } else { write(UInt8(ascii: "-")) }
    }

    /// A scalar entry: its container, key, type tag and bits.
    func scalar(parent: Int, key: String?, tag: UInt8, bits: UInt64) {
        write(tag); write(parent); entryKey(key); write(bits)
    }

    func string(parent: Int, key: String?, _ value: String) {
        write(UInt8(ascii: "s")); write(parent); entryKey(key); write(value)
    }
}

/// Encodes into the sink; `parent` is the container the value goes in, at `key`.
struct FingerprintEncoder: Encoder {
    let sink: FingerprintSink
    let parent: Int
    let key: String?
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(Keyed<Key>(sink: sink, id: sink.open(UInt8(ascii: "{"), parent: parent, key: key)))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        Unkeyed(sink: sink, id: sink.open(UInt8(ascii: "["), parent: parent, key: key))
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { Single(sink: sink, parent: parent, key: key) }

    /// A value of any type: numbers by their bits, anything else through its own encoding.
    static func encode<T: Encodable>(_ value: T, sink: FingerprintSink, parent: Int, key: String?) throws {
        switch value {
        case let v as String: sink.string(parent: parent, key: key, v)
        case let v as Int: sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: Int64(v)))
        case let v as Double: sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "d"), bits: v.bitPattern)
        case let v as Bool: sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "b"), bits: v ? 1 : 0)
        default: try value.encode(to: FingerprintEncoder(sink: sink, parent: parent, key: key))
        }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let sink: FingerprintSink
        let id: Int
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil(forKey key: Key) throws { sink.scalar(parent: id, key: key.stringValue, tag: UInt8(ascii: "n"), bits: 0) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { sink.scalar(parent: id, key: key.stringValue, tag: UInt8(ascii: "b"), bits: value ? 1 : 0) }
        mutating func encode(_ value: Double, forKey key: Key) throws { sink.scalar(parent: id, key: key.stringValue, tag: UInt8(ascii: "d"), bits: value.bitPattern) }
        mutating func encode(_ value: Float, forKey key: Key) throws { sink.scalar(parent: id, key: key.stringValue, tag: UInt8(ascii: "f"), bits: UInt64(value.bitPattern)) }
        mutating func encode(_ value: Int, forKey key: Key) throws { sink.scalar(parent: id, key: key.stringValue, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: Int64(value))) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { sink.scalar(parent: id, key: key.stringValue, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: Int64(value))) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { sink.scalar(parent: id, key: key.stringValue, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: Int64(value))) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { sink.scalar(parent: id, key: key.stringValue, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: Int64(value))) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { sink.scalar(parent: id, key: key.stringValue, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: value)) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { sink.scalar(parent: id, key: key.stringValue, tag: UInt8(ascii: "u"), bits: UInt64(value)) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { sink.scalar(parent: id, key: key.stringValue, tag: UInt8(ascii: "u"), bits: UInt64(value)) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { sink.scalar(parent: id, key: key.stringValue, tag: UInt8(ascii: "u"), bits: UInt64(value)) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { sink.scalar(parent: id, key: key.stringValue, tag: UInt8(ascii: "u"), bits: UInt64(value)) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { sink.scalar(parent: id, key: key.stringValue, tag: UInt8(ascii: "u"), bits: value) }
        mutating func encode(_ value: String, forKey key: Key) throws { sink.string(parent: id, key: key.stringValue, value) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            try FingerprintEncoder.encode(value, sink: sink, parent: id, key: key.stringValue)
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            KeyedEncodingContainer(Keyed<NestedKey>(sink: sink, id: sink.open(UInt8(ascii: "{"), parent: id, key: key.stringValue)))
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            Unkeyed(sink: sink, id: sink.open(UInt8(ascii: "["), parent: id, key: key.stringValue))
        }
        mutating func superEncoder() -> any Encoder { FingerprintEncoder(sink: sink, parent: id, key: "super") }
        mutating func superEncoder(forKey key: Key) -> any Encoder { FingerprintEncoder(sink: sink, parent: id, key: key.stringValue) }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let sink: FingerprintSink
        let id: Int
        var count = 0
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil() throws { sink.scalar(parent: id, key: nil, tag: UInt8(ascii: "n"), bits: 0); count += 1 }
        mutating func encode(_ value: Bool) throws { sink.scalar(parent: id, key: nil, tag: UInt8(ascii: "b"), bits: value ? 1 : 0); count += 1 }
        mutating func encode(_ value: Double) throws { sink.scalar(parent: id, key: nil, tag: UInt8(ascii: "d"), bits: value.bitPattern); count += 1 }
        mutating func encode(_ value: Float) throws { sink.scalar(parent: id, key: nil, tag: UInt8(ascii: "f"), bits: UInt64(value.bitPattern)); count += 1 }
        mutating func encode(_ value: Int) throws { sink.scalar(parent: id, key: nil, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: Int64(value))); count += 1 }
        mutating func encode(_ value: Int8) throws { sink.scalar(parent: id, key: nil, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: Int64(value))); count += 1 }
        mutating func encode(_ value: Int16) throws { sink.scalar(parent: id, key: nil, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: Int64(value))); count += 1 }
        mutating func encode(_ value: Int32) throws { sink.scalar(parent: id, key: nil, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: Int64(value))); count += 1 }
        mutating func encode(_ value: Int64) throws { sink.scalar(parent: id, key: nil, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: value)); count += 1 }
        mutating func encode(_ value: UInt) throws { sink.scalar(parent: id, key: nil, tag: UInt8(ascii: "u"), bits: UInt64(value)); count += 1 }
        mutating func encode(_ value: UInt8) throws { sink.scalar(parent: id, key: nil, tag: UInt8(ascii: "u"), bits: UInt64(value)); count += 1 }
        mutating func encode(_ value: UInt16) throws { sink.scalar(parent: id, key: nil, tag: UInt8(ascii: "u"), bits: UInt64(value)); count += 1 }
        mutating func encode(_ value: UInt32) throws { sink.scalar(parent: id, key: nil, tag: UInt8(ascii: "u"), bits: UInt64(value)); count += 1 }
        mutating func encode(_ value: UInt64) throws { sink.scalar(parent: id, key: nil, tag: UInt8(ascii: "u"), bits: value); count += 1 }
        mutating func encode(_ value: String) throws { sink.string(parent: id, key: nil, value); count += 1 }
        mutating func encode<T: Encodable>(_ value: T) throws {
            try FingerprintEncoder.encode(value, sink: sink, parent: id, key: nil)
            count += 1
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            count += 1
            return KeyedEncodingContainer(Keyed<NestedKey>(sink: sink, id: sink.open(UInt8(ascii: "{"), parent: id, key: nil)))
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            count += 1
            return Unkeyed(sink: sink, id: sink.open(UInt8(ascii: "["), parent: id, key: nil))
        }
        mutating func superEncoder() -> any Encoder {
            count += 1
            return FingerprintEncoder(sink: sink, parent: id, key: nil)
        }
    }

    struct Single: SingleValueEncodingContainer {
        let sink: FingerprintSink
        let parent: Int
        let key: String?
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil() throws { sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "n"), bits: 0) }
        mutating func encode(_ value: Bool) throws { sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "b"), bits: value ? 1 : 0) }
        mutating func encode(_ value: Double) throws { sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "d"), bits: value.bitPattern) }
        mutating func encode(_ value: Float) throws { sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "f"), bits: UInt64(value.bitPattern)) }
        mutating func encode(_ value: Int) throws { sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: Int64(value))) }
        mutating func encode(_ value: Int8) throws { sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: Int64(value))) }
        mutating func encode(_ value: Int16) throws { sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: Int64(value))) }
        mutating func encode(_ value: Int32) throws { sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: Int64(value))) }
        mutating func encode(_ value: Int64) throws { sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "i"), bits: UInt64(bitPattern: value)) }
        mutating func encode(_ value: UInt) throws { sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "u"), bits: UInt64(value)) }
        mutating func encode(_ value: UInt8) throws { sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "u"), bits: UInt64(value)) }
        mutating func encode(_ value: UInt16) throws { sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "u"), bits: UInt64(value)) }
        mutating func encode(_ value: UInt32) throws { sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "u"), bits: UInt64(value)) }
        mutating func encode(_ value: UInt64) throws { sink.scalar(parent: parent, key: key, tag: UInt8(ascii: "u"), bits: value) }
        mutating func encode(_ value: String) throws { sink.string(parent: parent, key: key, value) }
        mutating func encode<T: Encodable>(_ value: T) throws { try FingerprintEncoder.encode(value, sink: sink, parent: parent, key: key) }
    }
}
