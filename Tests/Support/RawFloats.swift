// Float32 arrays to and from raw little-endian files (numpy's `fromfile`/`tofile`),
// the plain way tests hand batches and outputs to Python and back.
import Foundation

public enum RawFloats {
    public static func write(_ values: [Float], to path: String) throws {
        try values.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: path))
    }
    public static func read(_ path: String) throws -> [Float] {
        try Data(contentsOf: URL(fileURLWithPath: path)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}
