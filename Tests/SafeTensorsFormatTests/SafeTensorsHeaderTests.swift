// The shared safetensors header reader: a well-formed header reads back as written,
// and hostile headers (truncated files, huge lengths, offsets past the end, extents
// that overflow, wrong JSON types) are clean errors that say what is wrong.
import Testing
import Foundation
import SafeTensorsFormat

@Suite struct SafeTensorsHeaderTests {
    /// A file: the 8-byte little-endian `length` (default: the JSON's), the JSON text, then `data` bytes.
    func file(_ json: String, length: UInt64? = nil, data: Int = 0) -> Data {
        var out = Data()
        var n = (length ?? UInt64(json.utf8.count)).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(Data(json.utf8))
        out.append(Data(repeating: 0, count: data))
        return out
    }

    /// The error message `parse` gives for `data` (nil when it parses).
    func problem(_ data: Data) -> String? {
        do { _ = try SafeTensorsHeader.parse(data); return nil } catch { return error.message }
    }

    func temporaryFile(_ data: Data) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-safetensors-\(UUID().uuidString).safetensors").path
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func writtenHeadersReadBack() throws {
        let header = try SafeTensorsHeader.encode([("b.weight", "F32", [2, 3], 24), ("a.bias", "I8", [4], 4), ("empty", "F16", [0, 5], 0)],
                                                  metadata: ["tlc.architecture": "cnn"])
        #expect(header.count % 8 == 0)
        let data = header + Data(repeating: 7, count: 28)
        let parsed = try SafeTensorsHeader.parse(data)
        #expect(parsed.entries.map(\.name) == ["b.weight", "a.bias", "empty"], "in data order")
        let bias = try #require(parsed["a.bias"])
        #expect(bias.name == "a.bias" && bias.dtype == .i8 && bias.shape == [4] && bias.dataOffsets == 24..<28 && bias.elementCount == 4)
        #expect(parsed["b.weight"]?.elementCount == 6 && parsed["missing"] == nil)
        #expect(parsed.metadata == ["tlc.architecture": "cnn"])
        #expect(parsed.dataStart == header.count)
        // The same through a file, reading only the header; and from a slice of a larger buffer.
        let path = try temporaryFile(data)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let read = try SafeTensorsHeader.read(path: path)
        #expect(read.entries == parsed.entries && read.metadata == parsed.metadata)
        let slice = (Data([1, 2, 3]) + data).dropFirst(3)
        #expect(try SafeTensorsHeader.parse(slice).entries == parsed.entries)
        // Names are unique and __metadata__ is reserved.
        #expect(throws: SafeTensorsFormatError.self) { try SafeTensorsHeader.encode([("x", "F32", [1], 4), ("x", "F32", [1], 4)], metadata: [:]) }
        #expect(throws: SafeTensorsFormatError.self) { try SafeTensorsHeader.encode([("__metadata__", "F32", [1], 4)], metadata: [:]) }
    }

    @Test func truncatedFilesAndHugeLengthsAreErrors() {
        #expect(problem(Data())?.contains("shorter than the 8-byte header length") == true)
        #expect(problem(Data([1, 0, 0]))?.contains("shorter than the 8-byte header length") == true)
        // Lengths far beyond any file, up to the largest the 8 bytes can say.
        for length: UInt64 in [UInt64.max, UInt64(Int.max), 1 << 40, UInt64(SafeTensorsHeader.maximumHeaderLength) + 1] {
            #expect(problem(file("{}", length: length))?.contains("over the 100000000-byte limit") == true, "\(length)")
        }
        // A plausible length, but the file ends before the header does.
        #expect(problem(file("{}", length: 64))?.contains("its header claims 64 bytes but the file has 10") == true)
        // Text that is not a safetensors file at all.
        #expect(problem(Data("not a checkpoint".utf8))?.contains("not a safetensors file") == true)
        // The header is whole but the data is cut short.
        let cut = file(#"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#, data: 10)
        #expect(problem(cut) == "truncated: its tensors need \(cut.count + 6) bytes but the file has \(cut.count)")
    }

    @Test func offsetsThatDoNotFitAreErrors() {
        func entry(_ body: String) -> String { #"{"t": {"# + body + "}}" }
        let cases: [(String, String)] = [
            (entry(#""dtype": "F32", "shape": [2], "data_offsets": [0, 4000000000000]"#), "do not span its 8 bytes"),
            (entry(#""dtype": "F32", "shape": [2], "data_offsets": [-8, 0]"#), "do not span"),
            (entry(#""dtype": "F32", "shape": [2], "data_offsets": [8, 0]"#), "do not span"),
            (entry(#""dtype": "F32", "shape": [2], "data_offsets": [9223372036854775800, 9223372036854775807]"#), "do not span"),
            (entry(#""dtype": "F32", "shape": [2], "data_offsets": [64, 72]"#), "truncated"),
            (entry(#""dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]"#), "too large"),
            (entry(#""dtype": "F64", "shape": [2305843009213693952], "data_offsets": [0, 8]"#), "too large"),
            (entry(#""dtype": "F32", "shape": [-2, -4], "data_offsets": [0, 32]"#), "negative extent"),
        ]
        for (json, expected) in cases {
            let message = problem(file(json, data: 8))
            #expect(message?.contains(expected) == true, "\(json): \(message ?? "accepted")")
            #expect(message?.contains("'t'") == true || expected == "truncated", "names the tensor: \(message ?? "")")
        }
    }

    @Test func wrongJSONIsAnError() {
        let cases: [(String, String)] = [
            ("[1, 2]", "not a JSON object"),
            ("{\"t\": ", "not a JSON object"),
            (#"{"t": 3}"#, "malformed header entry"),
            (#"{"t": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}"#, "malformed header entry"),
            (#"{"t": {"dtype": "F32", "shape": [1e300], "data_offsets": [0, 4]}}"#, "malformed header entry"),
            (#"{"t": {"dtype": "F32", "shape": ["1"], "data_offsets": [0, 4]}}"#, "malformed header entry"),
            (#"{"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 99999999999999999999999]}}"#, "malformed header entry"),
            (#"{"t": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}"#, "malformed header entry"),
            (#"{"t": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}}"#, "malformed header entry"),
            (#"{"t": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}"#, "unknown dtype F33"),
            (#"{"__metadata__": [1]}"#, "__metadata__ is not an object"),
            (#"{"__metadata__": {"epochs": 3}}"#, "metadata 'epochs' is not a string"),
        ]
        for (json, expected) in cases {
            let message = problem(file(json, data: 8))
            #expect(message?.contains(expected) == true, "\(json): \(message ?? "accepted")")
        }
    }

    @Test func unreadablePathsAreErrors() throws {
        #expect(throws: SafeTensorsFormatError.self) { try SafeTensorsHeader.read(path: "/nonexistent/tlc/x.safetensors") }
        #expect(throws: SafeTensorsFormatError.self) { try SafeTensorsHeader.read(path: FileManager.default.temporaryDirectory.path) }
        let path = try temporaryFile(file("{}", length: 1 << 40))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: SafeTensorsFormatError.self) { try SafeTensorsHeader.read(path: path) }
    }
}
