// StageHashing — a stage's name: SHA-256 over the format version, the stage kind,
// the canonical JSON of its work value (sorted keys) and its dependencies' hashes.
// What is hashed is exactly what the executor receives, so a stage cannot read a
// value its hash does not cover.
import Crypto
import Foundation

public enum StageHashing {
    /// Bump when the engine's outputs for the same work change: every hash changes.
    public static let formatVersion = 2

    public static func hash(_ work: StageWork, dependencies: [String]) throws -> String {
        var canonical = Array("tlc-stage/\(formatVersion)\n\(work.kind.rawValue)\n".utf8)
        canonical += try canonicalJSON(work)
        canonical += Array("\n\(dependencies.joined(separator: ","))".utf8)
        return sha256(canonical)
    }

    /// The work value's payload as compact JSON with sorted keys.
    public static func canonicalJSON(_ work: StageWork) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(StageWork.Payload(work: work)))
    }

    /// Lower-case hex SHA-256 of `bytes`.
    public static func sha256<Bytes: DataProtocol>(_ bytes: Bytes) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in SHA256.hash(data: bytes) {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
