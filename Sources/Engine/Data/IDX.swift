// IDX — reader for the IDX format (MNIST/Fashion-MNIST), plain or gzip-compressed,
// through zlib's gzread (which reads uncompressed files transparently). Every size is
// checked against the bytes actually present; malformed files throw naming the file.

import CZlib
import Foundation

/// An IDX array of unsigned bytes: its dimensions and data.
public struct IDXArray: Sendable {
    public var dimensions: [Int]
    public var bytes: [UInt8]
}

public enum IDX {
    /// Reads a whole file, decompressing gzip if it is compressed.
    public static func readFile(_ path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw EngineError.dataFile(path: path, message: "no such file")
        }
        guard let f = gzopen(path, "rb") else {
            throw EngineError.dataFile(path: path, message: "cannot open")
        }
        defer { gzclose(f) }
        gzbuffer(f, 1 << 18)
        var out = [UInt8]()
        let attrs = try? FileManager.default.attributesOfItem(atPath: path)
        let size = (attrs?[.size] as? NSNumber)?.intValue ?? 0
        out.reserveCapacity(max(size * 4, 1 << 16))
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(f, $0.baseAddress, UInt32($0.count)) }
            if n < 0 {
                var errnum: Int32 = 0
                let msg = gzerror(f, &errnum).map { String(cString: $0) } ?? "read error"
                throw EngineError.dataFile(path: path, message: "cannot decompress: \(msg)")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<Int(n)])
        }
        return out
    }

    /// Parses an unsigned-byte IDX file (magic 0x0000_08_nd).
    public static func load(_ path: String) throws -> IDXArray {
        try parse(readFile(path), path: path)
    }

    /// Parses IDX bytes; `path` names the source in errors.
    public static func parse(_ data: [UInt8], path: String) throws -> IDXArray {
        guard data.count >= 4 else { throw EngineError.dataFile(path: path, message: "truncated IDX header (\(data.count) bytes)") }
        guard data[0] == 0, data[1] == 0 else { throw EngineError.dataFile(path: path, message: "not an IDX file (bad magic number)") }
        guard data[2] == 0x08 else {
            throw EngineError.dataFile(path: path, message: "unsupported IDX element type 0x\(String(data[2], radix: 16)) (only unsigned bytes)")
        }
        let nd = Int(data[3])
        guard nd >= 1, nd <= 8 else { throw EngineError.dataFile(path: path, message: "bad IDX dimension count \(nd)") }
        let headerSize = 4 + 4 * nd
        guard data.count >= headerSize else { throw EngineError.dataFile(path: path, message: "truncated IDX header") }
        var dims: [Int] = []
        var total = 1
        for d in 0..<nd {
            let o = 4 + 4 * d
            let v = Int(data[o]) << 24 | Int(data[o + 1]) << 16 | Int(data[o + 2]) << 8 | Int(data[o + 3])
            dims.append(v)
            let (m, overflow) = total.multipliedReportingOverflow(by: v)
            guard !overflow, m <= 1 << 40 else { throw EngineError.dataFile(path: path, message: "IDX dimensions \(dims) are too large") }
            total = m
        }
        guard data.count - headerSize >= total else {
            throw EngineError.dataFile(path: path, message: "truncated: dimensions \(dims) need \(total) bytes of data, found \(data.count - headerSize)")
        }
        return IDXArray(dimensions: dims, bytes: Array(data[headerSize..<(headerSize + total)]))
    }
}
