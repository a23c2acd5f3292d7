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
        var hasher = SHA256()
        hasher.update(data: Array("tlc-stage/\(formatVersion)\n\(work.kind.rawValue)\n".utf8))
        hasher.update(data: try canonicalJSON(work))
        var tail: [UInt8] = [0x0a]
        for (i, d) in dependencies.enumerated() {
            if i > 0 { tail.append(0x2c) }
            tail += d.utf8
        }
        hasher.update(data: tail)
        return hex(hasher.finalize())
    }

    /// The work value's payload as compact JSON with sorted keys (what JSONEncoder
    /// writes with `[.sortedKeys, .withoutEscapingSlashes]`, see ``CanonicalJSON``).
    public static func canonicalJSON(_ work: StageWork) throws -> [UInt8] {
        try CanonicalJSON.encode(StageWork.Payload(work: work))
    }

    /// Lower-case hex SHA-256 of `bytes`.
    public static func sha256<Bytes: DataProtocol>(_ bytes: Bytes) -> String {
        hex(SHA256.hash(data: bytes))
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
