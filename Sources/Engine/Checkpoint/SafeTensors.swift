// SafeTensors — reading and writing checkpoints in the safetensors format: tensor
// data converted to and from Float32, files written atomically, and loading a
// checkpoint into a Network by name. The header (its layout, dtypes, checks and
// encoding) belongs to SafeTensorsFormat, which validation shares.

import Foundation
import SafeTensorsFormat

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

    /// The file layout every writer shares: the header (see
    /// ``SafeTensorsHeader/encode(_:metadata:)``), then the data `body` appends in the
    /// same order; written atomically.
    static func assemble(_ entries: [(name: String, dtype: String, shape: [Int], bytes: Int)], metadata: [String: String],
                         to path: String, body: (inout Data) -> Void) throws {
        var out: Data
        do { out = try SafeTensorsHeader.encode(entries.map { ($0.name, $0.dtype, $0.shape, $0.bytes) }, metadata: metadata) } catch {
            throw EngineError.checkpoint(path: path, message: error.message)
        }
        body(&out)
        do { try out.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw EngineError.fileWrite(reason: FileSystemErrors.writing(path, error))
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
        let header: SafeTensorsHeader
        do { header = try SafeTensorsHeader.parse(data) } catch {
            throw EngineError.checkpoint(path: path, message: error.message)
        }
        let start = header.dataStart
        var tensors: [(name: String, tensor: Tensor)] = []
        for entry in header.entries {
            let dtype = entry.dtype
            switch dtype {
            case .f32, .f64, .f16, .bf16, .i64, .i32, .u32, .i16, .u8, .i8, .bool: break
            case .u16, .u64, .f8e5m2, .f8e4m3:
                throw EngineError.checkpoint(path: path, message: "tensor '\(entry.name)' has unsupported dtype \(dtype.rawValue)")
            }
            let n = entry.elementCount, width = dtype.byteWidth
            let t = Tensor(zeros: entry.shape)
            data.withUnsafeBytes { raw in
                let base = raw.baseAddress! + start + entry.dataOffsets.lowerBound
                for i in 0..<n {
                    let p = base + i * width
                    let v: Float
                    switch dtype {
                    case .f32: v = Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
                    case .f64: v = Float(Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))))
                    case .i32: v = Float(Int32(littleEndian: p.loadUnaligned(as: Int32.self)))
                    case .u32: v = Float(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
                    case .i64: v = Float(Int64(littleEndian: p.loadUnaligned(as: Int64.self)))
                    case .i16: v = Float(Int16(littleEndian: p.loadUnaligned(as: Int16.self)))
                    case .f16: v = Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))))
                    case .bf16: v = Float(bitPattern: UInt32(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))) << 16)
                    case .u8, .bool: v = Float(p.load(as: UInt8.self))
                    default: v = Float(p.load(as: Int8.self))
                    }
                    t[i] = v
                }
            }
            tensors.append((entry.name, t))
        }
        return File(tensors: tensors, metadata: header.metadata)
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
