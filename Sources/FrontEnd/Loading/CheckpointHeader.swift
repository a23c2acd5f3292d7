// CheckpointHeader — reads just the header of a safetensors file (8-byte length, JSON
// table of dtype/shape/offsets) so validation can compare a `file:` backbone with the
// architecture's tensors without loading any weights.
import Foundation

/// Why a file's header cannot be used.
public struct HeaderProblem: Error, Sendable { public var message: String }

public struct CheckpointHeader: Sendable {
    public struct Entry: Hashable, Sendable {
        public var dtype: String
        public var shape: [Int]
    }
    public var tensors: [String: Entry]
    public var metadata: [String: String]

    /// Floating-point dtypes the engine converts to Float32 when loading.
    public static let floatingDTypes: Set<String> = ["F32", "F16", "BF16", "F64"]

    /// Reads and checks the header; a truncated or malformed file is an error message.
    public static func read(_ path: String) -> Result<CheckpointHeader, HeaderProblem> {
        guard let handle = FileHandle(forReadingAtPath: path) else { return .failure(HeaderProblem(message: "cannot open \(path)")) }
        defer { try? handle.close() }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard let prefix = try? handle.read(upToCount: 8), prefix.count == 8 else {
            return .failure(HeaderProblem(message: "\(path) is not a safetensors file: it is shorter than the 8-byte header length"))
        }
        let length = prefix.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= 100_000_000, Int(length) <= size - 8 else {
            return .failure(HeaderProblem(message: "\(path) is not a safetensors file or is truncated: its header claims \(length) bytes but the file has \(size)"))
        }
        guard let json = try? handle.read(upToCount: Int(length)), json.count == Int(length),
              let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            return .failure(HeaderProblem(message: "\(path) is not a safetensors file: its header is not a JSON object"))
        }
        var tensors: [String: Entry] = [:], metadata: [String: String] = [:]
        var end = 0
        for (name, value) in object {
            if name == "__metadata__" {
                for (k, v) in value as? [String: Any] ?? [:] { if let s = v as? String { metadata[k] = s } }
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = (info["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  let offsets = (info["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }), offsets.count == 2 else {
                return .failure(HeaderProblem(message: "\(path): tensor '\(name)' has a malformed header entry"))
            }
            end = max(end, offsets[1])
            tensors[name] = Entry(dtype: dtype, shape: shape)
        }
        guard 8 + Int(length) + end <= size else {
            return .failure(HeaderProblem(message: "\(path) is truncated: its tensors need \(8 + Int(length) + end) bytes but the file has \(size)"))
        }
        return .success(CheckpointHeader(tensors: tensors, metadata: metadata))
    }
}
