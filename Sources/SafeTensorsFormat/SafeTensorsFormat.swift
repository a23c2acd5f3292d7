// SafeTensorsFormat — the header of a safetensors file, in one place for FrontEnd
// (validation compares a `file:` backbone with an architecture without loading any
// weights) and the Engine (checkpoints). A file is an 8-byte little-endian header
// length, a JSON object with one entry per tensor (`dtype`, `shape`, `data_offsets`
// relative to the data section) and an optional `__metadata__` object of strings,
// then the raw little-endian data.
//
// Owns: the dtypes and their widths, reading and checking a header (from a file,
// reading only the header, or from a whole file in memory) with errors that say what
// is wrong, and encoding a header. Hostile input (truncated files, huge lengths,
// offsets past the end, extents that overflow) is an error, never a crash. Knows
// nothing about tensor values, networks or specs. Foundation only.

import Foundation

/// The element types of the safetensors format.
public enum SafeTensorsDType: String, CaseIterable, Hashable, Sendable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3"
    case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
    case i32 = "I32", u32 = "U32", f32 = "F32"
    case f64 = "F64", i64 = "I64", u64 = "U64"

    /// Bytes per element.
    public var byteWidth: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3: 1
        case .i16, .u16, .f16, .bf16: 2
        case .i32, .u32, .f32: 4
        case .f64, .i64, .u64: 8
        }
    }
}

/// Why a safetensors header cannot be used: a sentence naming the tensor, key or byte
/// count at fault. It does not name the file; callers add the path.
public struct SafeTensorsFormatError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A checked safetensors header: every entry has a known dtype, a non-negative shape
/// and data offsets that span exactly its bytes inside the file's data section.
public struct SafeTensorsHeader: Sendable {
    /// One tensor of the file.
    public struct Entry: Hashable, Sendable {
        public var name: String
        public var dtype: SafeTensorsDType
        public var shape: [Int]
        /// The tensor's bytes, relative to the start of the data section (``SafeTensorsHeader/dataStart``).
        public var dataOffsets: Range<Int>
        /// Number of elements (the product of `shape`).
        public var elementCount: Int
    }

    /// The tensors in data order (by first byte, then by name).
    public let entries: [Entry]
    /// The `__metadata__` strings.
    public let metadata: [String: String]
    /// Bytes of the JSON header (after the 8-byte length).
    public let headerLength: Int
    private let index: [String: Int]

    /// Offset of the data section in the file.
    public var dataStart: Int { 8 + headerLength }

    /// The entry of tensor `name`, if the file has one.
    public subscript(name: String) -> Entry? { index[name].map { entries[$0] } }

    /// Header lengths above this are refused before anything is read (a corrupt or
    /// foreign file, not a checkpoint).
    public static let maximumHeaderLength = 100_000_000

    init(entries: [Entry], metadata: [String: String], headerLength: Int) {
        self.entries = entries; self.metadata = metadata; self.headerLength = headerLength
        var index: [String: Int] = [:]
        for (i, e) in entries.enumerated() { index[e.name] = i }
        self.index = index
    }

    // MARK: reading

    /// Reads and checks the header of the file at `path`, reading none of its tensor data.
    public static func read(path: String) throws(SafeTensorsFormatError) -> SafeTensorsHeader {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw SafeTensorsFormatError("cannot open the file") }
        defer { try? handle.close() }
        let size: Int
        let prefix: Data
        do {
            size = Int(try handle.seekToEnd())
            try handle.seek(toOffset: 0)
            prefix = try handle.read(upToCount: 8) ?? Data()
        } catch {
            throw SafeTensorsFormatError("cannot read the file (\(error.localizedDescription))")
        }
        return try parse(prefix: prefix, fileSize: size) { length in
            (try? handle.read(upToCount: length)) ?? Data()
        }
    }

    /// Checks and parses the header of a whole file held in memory.
    public static func parse(_ file: Data) throws(SafeTensorsFormatError) -> SafeTensorsHeader {
        let start = file.startIndex
        return try parse(prefix: file.prefix(8), fileSize: file.count) { length in
            file.subdata(in: (start + 8)..<(start + 8 + length))
        }
    }

    /// The checks both readers share: `prefix` is the file's first (up to) 8 bytes and
    /// `json(length)` returns the `length` header bytes after them (fewer if it cannot).
    static func parse(prefix: Data, fileSize size: Int, json: (Int) -> Data) throws(SafeTensorsFormatError) -> SafeTensorsHeader {
        guard prefix.count == 8 else {
            throw SafeTensorsFormatError("not a safetensors file: it is shorter than the 8-byte header length (\(size) bytes)")
        }
        let length = prefix.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= UInt64(maximumHeaderLength) else {
            throw SafeTensorsFormatError("not a safetensors file: its header length \(length) is over the \(maximumHeaderLength)-byte limit (the file has \(size) bytes)")
        }
        guard Int(length) <= size - 8 else {
            throw SafeTensorsFormatError("not a safetensors file, or truncated: its header claims \(length) bytes but the file has \(size)")
        }
        let headerLength = Int(length)
        let bytes = json(headerLength)
        guard bytes.count == headerLength else {
            throw SafeTensorsFormatError("truncated: its \(headerLength)-byte header could not be read in full")
        }
        guard let object = try? JSONSerialization.jsonObject(with: bytes), let header = object as? [String: Any] else {
            throw SafeTensorsFormatError("not a safetensors file: its header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let m = header["__metadata__"] {
            guard let pairs = m as? [String: Any] else { throw SafeTensorsFormatError("__metadata__ is not an object") }
            for (key, value) in pairs {
                guard let s = value as? String else { throw SafeTensorsFormatError("metadata '\(printable(key))' is not a string") }
                metadata[key] = s
            }
        }
        let dataBytes = size - 8 - headerLength
        var entries: [Entry] = []
        var end = 0
        for name in header.keys.sorted() where name != "__metadata__" {
            let entry = try checkedEntry(name, header[name]!)
            end = max(end, entry.dataOffsets.upperBound)
            entries.append(entry)
        }
        guard end <= dataBytes else {
            throw SafeTensorsFormatError("truncated: its tensors need \(8 + headerLength + end) bytes but the file has \(size)")
        }
        entries.sort { ($0.dataOffsets.lowerBound, $0.name) < ($1.dataOffsets.lowerBound, $1.name) }
        return SafeTensorsHeader(entries: entries, metadata: metadata, headerLength: headerLength)
    }

    /// One tensor's entry, checked on its own (the data section's size is checked after).
    private static func checkedEntry(_ name: String, _ value: Any) throws(SafeTensorsFormatError) -> Entry {
        guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
              let shape = integers(info["shape"]), let offsets = integers(info["data_offsets"]), offsets.count == 2 else {
            throw SafeTensorsFormatError("tensor '\(printable(name))' has a malformed header entry (it needs a dtype string, a shape of integers and data_offsets [begin, end])")
        }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw SafeTensorsFormatError("tensor '\(printable(name))' has unknown dtype \(printable(dtypeName))")
        }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw SafeTensorsFormatError("tensor '\(printable(name))' has a negative extent in its shape \(shape)")
        }
        var count = 1
        for extent in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            guard !overflow else { throw SafeTensorsFormatError("tensor '\(printable(name))' has shape \(shape), too large for any file") }
            count = product
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.byteWidth)
        guard !overflow else { throw SafeTensorsFormatError("tensor '\(printable(name))' has shape \(shape), too large for any file") }
        guard offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] - offsets[0] == byteCount else {
            throw SafeTensorsFormatError("tensor '\(printable(name))' (\(printable(dtypeName)) \(shape)) has data offsets \(offsets) that do not span its \(byteCount) bytes")
        }
        return Entry(name: name, dtype: dtype, shape: shape, dataOffsets: offsets[0]..<offsets[1], elementCount: count)
    }

    /// A JSON array of integers (nil for anything else, fractions and out-of-range numbers included).
    private static func integers(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var out: [Int] = []
        out.reserveCapacity(array.count)
        for element in array {
            guard let i = element as? Int else { return nil }
            out.append(i)
        }
        return out
    }

    // MARK: writing

    /// The bytes before a file's data: the little-endian header length and the JSON
    /// header (keys sorted, padded with spaces to a multiple of 8 bytes) with one entry
    /// per tensor in order, data offsets consecutive from 0. The data follows in the
    /// same order.
    public static func encode(_ tensors: [(name: String, dtype: String, shape: [Int], byteCount: Int)],
                              metadata: [String: String]) throws(SafeTensorsFormatError) -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in tensors {
            guard header[t.name] == nil, t.name != "__metadata__" else {
                throw SafeTensorsFormatError("duplicate or reserved tensor name '\(printable(t.name))'")
            }
            header[t.name] = ["dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + t.byteCount]] as [String: Any]
            offset += t.byteCount
        }
        var json: Data
        do { json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]) } catch {
            throw SafeTensorsFormatError("cannot encode the header: \(error.localizedDescription)")
        }
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        return out
    }
}

/// A name or string from a file, for a message: at most 96 characters (then `…`),
/// control characters written as `\u{1B}`.
func printable(_ text: String) -> String {
    var out = "", count = 0
    for scalar in text.unicodeScalars {
        if count == 96 { out += "…"; break }
        if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
            out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
        } else {
            out.unicodeScalars.append(scalar)
        }
        count += 1
    }
    return out
}
