// DataFileShape — how many feature values one sample of a user's data file has,
// read from the file's head only (a csv header line, an npy header), so that
// `validate` can check `data.input_shape` against it before anything runs; and
// how many samples it holds (the planner's memory estimate). Nothing of the
// file's content is ever quoted back.
import Foundation

public enum DataFileShape {
    /// Samples in a csv file: its lines after the header (a last line without a
    /// newline counts; blank lines do not). Nil when it cannot be read.
    public static func csvSamples(_ path: String) -> Int? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var lines = 0, lineHasText = false
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            for byte in chunk {
                if byte == 0x0A { if lineHasText { lines += 1 }; lineHasText = false }
                else if byte != 0x0D && byte != 0x20 { lineHasText = true }
            }
        }
        if lineHasText { lines += 1 }
        return max(0, lines - 1)
    }

    /// Samples in an npy array: the first axis of its shape. Nil when it cannot be read.
    public static func npySamples(_ path: String) -> Int? {
        guard case .success(let shape) = npyShape(path) else { return nil }
        return shape.first
    }

    /// Feature columns of a csv file (every column but `label`), or why it cannot be read.
    static func csvFeatures(_ path: String) -> Result<Int, DataShapeProblem> {
        guard let handle = FileHandle(forReadingAtPath: path) else { return .failure(.init(DataShapeProblem.unreadable)) }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 1 << 20)) ?? Data()
        guard let end = head.firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) ?? (head.count < 1 << 20 ? head.endIndex : nil) else {
            return .failure(.init("has no header line in its first MB"))
        }
        let columns = String(decoding: head[..<end], as: UTF8.self).split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard columns.contains("label") else {
            return .failure(.init("has no 'label' column in its header line (\(columns.count) column\(columns.count == 1 ? "" : "s"))"))
        }
        return .success(columns.count - 1)
    }

    /// Feature values per sample of an npy array (the product of its shape after the
    /// first axis), from its header.
    static func npyFeatures(_ path: String) -> Result<Int, DataShapeProblem> {
        npyShape(path).map { $0.dropFirst().reduce(1) { $0 * $1 } }
    }

    /// An npy array's shape, from its header.
    static func npyShape(_ path: String) -> Result<[Int], DataShapeProblem> {
        guard let handle = FileHandle(forReadingAtPath: path) else { return .failure(.init(DataShapeProblem.unreadable)) }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 1 << 16)) ?? Data())
        guard head.count >= 10, head[0] == 0x93, Array(head[1...5]) == Array("NUMPY".utf8) else { return .failure(.init("is not an npy file")) }
        let major = head[6]
        let lengthBytes = major >= 2 ? 4 : 2
        guard head.count >= 8 + lengthBytes else { return .failure(.init("has a truncated npy header")) }
        var length = 0
        for i in 0..<lengthBytes { length |= Int(head[8 + i]) << (8 * i) }
        let start = 8 + lengthBytes
        guard length > 0, start + length <= head.count else { return .failure(.init("has an npy header past its first 64 KB")) }
        let header = String(decoding: head[start..<(start + length)], as: UTF8.self)
        guard let open = header.range(of: "'shape':"), let lp = header[open.upperBound...].firstIndex(of: "("),
              let rp = header[lp...].firstIndex(of: ")") else { return .failure(.init("has no shape in its npy header")) }
        let dims = header[header.index(after: lp)..<rp].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let values = dims.compactMap { Int($0) }
        guard values.count == dims.count, values.count >= 1 else { return .failure(.init("has a shape tlc cannot read")) }
        return .success(values)
    }
}

struct DataShapeProblem: Error {
    static let unreadable = "cannot be read"
    var message: String
    init(_ message: String) { self.message = message }
}
