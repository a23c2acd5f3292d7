// SafeTensors — reading and writing the safetensors format (8-byte little-endian
// header length, JSON header with dtype/shape/data_offsets and `__metadata__`,
// raw little-endian data), and loading a checkpoint into a Network by name.

import Foundation

public enum SafeTensors {
    /// Writes F32 tensors and string metadata to `path` atomically (temporary file + rename).
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:], to path: String) throws {
        try assemble(tensors.map { ($0.name, "F32", $0.tensor.shape, $0.tensor.count * 4) }, metadata: metadata, to: path) { out in
            for (_, t) in tensors {
                #if _endian(big)
                for i in 0..<t.count { var v = t[i].bitPattern.littleEndian; withUnsafeBytes(of: &v) { out.append(contentsOf: $0) } }
                #else
                out.append(UnsafeBufferPointer(start: t.pointer, count: t.count))
                #endif
            }
        }
    }

    /// The file layout every writer shares: the JSON header (entries in order, data
    /// offsets consecutive, padded to 8 bytes) after its little-endian length, then
    /// the data `body` appends in the same order; written atomically.
    static func assemble(_ entries: [(name: String, dtype: String, shape: [Int], bytes: Int)], metadata: [String: String],
                         to path: String, body: (inout Data) -> Void) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for e in entries {
            guard header[e.name] == nil, e.name != "__metadata__" else {
                throw EngineError.checkpoint(path: path, message: "duplicate or reserved tensor name '\(e.name)'")
            }
            header[e.name] = ["dtype": e.dtype, "shape": e.shape, "data_offsets": [offset, offset + e.bytes]] as [String: Any]
            offset += e.bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        body(&out)
        do { try out.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw EngineError.checkpoint(path: path, message: "cannot write: \(error.localizedDescription)")
        }
    }

    /// A read safetensors file: tensors in file order and the metadata.
    public struct File {
        public var tensors: [(name: String, tensor: Tensor)]
        public var metadata: [String: String]
        public func tensor(_ name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }
    }

    /// Reads a safetensors file (F32, F64, F16, BF16 and integer tensors are converted to Float32).
    public static func read(_ path: String) throws -> File {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EngineError.checkpoint(path: path, message: "cannot read the file")
        }
        guard data.count >= 8 else { throw EngineError.checkpoint(path: path, message: "truncated (no header length)") }
        let hlen = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard hlen <= UInt64(data.count - 8), hlen < 100_000_000 else {
            throw EngineError.checkpoint(path: path, message: "header length \(hlen) exceeds the file size \(data.count)")
        }
        let start = 8 + Int(hlen)
        guard let obj = try? JSONSerialization.jsonObject(with: data.subdata(in: 8..<start)), let header = obj as? [String: Any] else {
            throw EngineError.checkpoint(path: path, message: "header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let m = header["__metadata__"] {
            guard let mm = m as? [String: Any] else { throw EngineError.checkpoint(path: path, message: "__metadata__ is not an object") }
            for (k, v) in mm {
                guard let s = v as? String else { throw EngineError.checkpoint(path: path, message: "metadata '\(k)' is not a string") }
                metadata[k] = s
            }
        }
        let body = data.count - start
        var entries: [(name: String, begin: Int, tensor: Tensor)] = []
        for (name, v) in header where name != "__metadata__" {
            guard let info = v as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = (info["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  let offs = (info["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }), offs.count == 2 else {
                throw EngineError.checkpoint(path: path, message: "tensor '\(name)' has a malformed header entry")
            }
            let width: Int
            switch dtype {
            case "F32", "I32", "U32": width = 4
            case "F64", "I64": width = 8
            case "F16", "BF16", "I16": width = 2
            case "U8", "I8", "BOOL": width = 1
            default: throw EngineError.checkpoint(path: path, message: "tensor '\(name)' has unsupported dtype \(dtype)")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw EngineError.checkpoint(path: path, message: "tensor '\(name)' has a negative extent") }
            let n = shape.reduce(1, *)
            guard offs[0] >= 0, offs[1] >= offs[0], offs[1] <= body, offs[1] - offs[0] == n * width else {
                throw EngineError.checkpoint(path: path, message: "tensor '\(name)' (\(dtype) \(shape)) has data offsets \(offs) that do not fit its size or the file (\(body) data bytes)")
            }
            let t = Tensor(zeros: shape)
            data.withUnsafeBytes { raw in
                let base = raw.baseAddress! + start + offs[0]
                for i in 0..<n {
                    let p = base + i * width
                    let v: Float
                    switch dtype {
                    case "F32": v = Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
                    case "F64": v = Float(Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))))
                    case "I32": v = Float(Int32(littleEndian: p.loadUnaligned(as: Int32.self)))
                    case "U32": v = Float(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
                    case "I64": v = Float(Int64(littleEndian: p.loadUnaligned(as: Int64.self)))
                    case "I16": v = Float(Int16(littleEndian: p.loadUnaligned(as: Int16.self)))
                    case "F16": v = Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))))
                    case "BF16": v = Float(bitPattern: UInt32(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))) << 16)
                    case "U8", "BOOL": v = Float(p.load(as: UInt8.self))
                    default: v = Float(p.load(as: Int8.self))
                    }
                    t[i] = v
                }
            }
            entries.append((name, offs[0], t))
        }
        entries.sort { ($0.begin, $0.name) < ($1.begin, $1.name) }
        return File(tensors: entries.map { ($0.name, $0.tensor) }, metadata: metadata)
    }
}

extension Network {
    /// Saves parameters and buffers with `metadata` (architecture name is added as `tlc.architecture`).
    public func save(to path: String, metadata: [String: String] = [:]) throws {
        var m = metadata
        if m["tlc.architecture"] == nil { m["tlc.architecture"] = architecture.name }
        try SafeTensors.write(stateTensors, metadata: m, to: path)
    }

    /// Loads tensors by name from a safetensors file. With `only`, loads just the tensors
    /// those names cover (e.g. `["backbone"]` or block names) and ignores the rest; otherwise
    /// every state tensor of the network must be present. Shapes must match.
    /// Returns the names loaded and the file's metadata.
    @discardableResult
    public func load(from path: String, only: Set<String>? = nil) throws -> (loaded: [String], metadata: [String: String]) {
        let file = try SafeTensors.read(path)
        var byName: [String: Tensor] = [:]
        for (n, t) in file.tensors { byName[n] = t }
        let wanted = stateTensors.filter { entry in
            guard let only else { return true }
            if only.contains("backbone") && (backboneParameterNames.contains(entry.name)
                || backboneParameterNames.contains(where: { Self.sameLayer($0, entry.name) })) { return true }
            return Network.covers(only, entry.name)
        }
        let missing = wanted.filter { byName[$0.name] == nil }.map(\.name)
        guard missing.isEmpty else {
            throw EngineError.checkpoint(path: path, message: "missing tensors: \(missing.prefix(8).joined(separator: ", "))\(missing.count > 8 ? ", …" : "")")
        }
        for (n, t) in wanted where byName[n]!.shape != t.shape {
            throw EngineError.checkpoint(path: path, message: "tensor '\(n)' has shape \(byName[n]!.shape) but the network expects \(t.shape)")
        }
        for (n, t) in wanted { t.copyValues(from: byName[n]!) }
        return (wanted.map(\.name), file.metadata)
    }

    static func sameLayer(_ a: String, _ b: String) -> Bool {
        guard let da = a.lastIndex(of: "."), let db = b.lastIndex(of: ".") else { return false }
        return a[..<da] == b[..<db]
    }
}
