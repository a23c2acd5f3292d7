// DeepCompressionFormat — a model stored the Deep Compression way (Han et al., 2016):
// pruned weights sparse (a bitmask of the nonzero positions), shared weights as
// codebook indices of `bits` bits each plus the float32 codebook, and every stream
// entropy-coded with zlib's deflate (LZ77 and Huffman coding). The container is a
// safetensors file that Python's safetensors reads; docs/spec.md shows the numpy
// lines that decode it.
//
// For every conv and dense weight `W` of shape S (N values, M of them nonzero):
//   `W::mask`     U8   deflate(bitmask of N bits, least significant bit first)
//   `W::codebook` F32  [2^bits at most]  the shared values (with codes)
//   `W::codes`    U8   deflate(M codes of `bits` bits, packed least significant bit first;
//                      `bits` = ceil(log2(codebook size)), at least 1)
//   `W::values`   U8   deflate(M float32 little-endian values) (without codes)
// Every other tensor (biases, batch norm) is stored as it is (F32). The metadata has
// `tlc.format` = `deep-compression/1`, `tlc.crc32` (zlib's CRC-32 of the data after
// the header, in hex: a damaged file is refused when read) and, per compressed
// weight, `tlc.shape.W` (its shape as JSON) and `tlc.bits.W` (0 when values are
// stored, not codes).
import CZlib
import Foundation
import SafeTensorsFormat

public enum DeepCompressionFormat {
    public static let formatName = "deep-compression/1"

    /// Bytes the model takes at each step of the pipeline.
    public struct Sizes: Codable, Hashable, Sendable {
        /// Every tensor as float32 (the baseline checkpoint's payload).
        public var dense: Int
        /// Weights sparse: bitmask plus float32 nonzero values.
        public var sparse: Int
        /// Weights sparse and shared: bitmask, packed codes and codebooks (= sparse without codes).
        public var quantized: Int
        /// The file: every stream entropy-coded, with its header.
        public var coded: Int
    }

    /// Writes `network` to `path`; with `codebooks`, its weights as codes (the network's
    /// weights must be snapped to them). Returns the size of every step.
    @discardableResult
    public static func write(_ network: Network, codebooks: Codebooks?, metadata: [String: String] = [:], to path: String) throws -> Sizes {
        var entries: [(name: String, dtype: String, shape: [Int], bytes: Int)] = []
        var payloads: [Data] = []
        var meta = metadata
        meta["tlc.format"] = formatName
        if meta["tlc.architecture"] == nil { meta["tlc.architecture"] = network.architecture.name }
        let weights = Set(PruningMasks.prunable(network).map(\.name))
        var sizes = Sizes(dense: 0, sparse: 0, quantized: 0, coded: 0)
        func add(_ name: String, _ dtype: String, _ shape: [Int], _ data: Data) {
            entries.append((name, dtype, shape, data.count)); payloads.append(data)
        }
        for (name, tensor) in network.stateTensors {
            let n = tensor.count
            sizes.dense += n * 4
            guard weights.contains(name) else {
                let raw = floatBytes((0..<n).map { tensor[$0] })
                add(name, "F32", tensor.shape, raw)
                sizes.sparse += raw.count; sizes.quantized += raw.count
                continue
            }
            var mask = [UInt8](repeating: 0, count: (n + 7) / 8)
            var nonzero: [Float] = []
            var positions: [Int] = []
            for i in 0..<n where tensor[i] != 0 {
                mask[i >> 3] |= 1 << UInt8(i & 7)
                nonzero.append(tensor[i]); positions.append(i)
            }
            meta["tlc.shape.\(name)"] = "[" + tensor.shape.map(String.init).joined(separator: ",") + "]"
            let packedMask = try deflate(Data(mask))
            add(name + "::mask", "U8", [packedMask.count], packedMask)
            sizes.sparse += mask.count + nonzero.count * 4
            if let book = codebooks?.layers[name], book.codes.count == n {
                let bits = book.bits
                var codes: [Int] = []
                codes.reserveCapacity(positions.count)
                for i in positions {
                    let c = Int(book.codes[i])
                    guard c >= 0, book.centroids[c] == tensor[i] else {
                        throw EngineError.invalidArgument("\(name): weight \(i) is not its shared value; snap the weights to the codebook first")
                    }
                    codes.append(c)
                }
                let packed = pack(codes, bits: bits)
                meta["tlc.bits.\(name)"] = "\(bits)"
                add(name + "::codebook", "F32", [book.centroids.count], floatBytes(book.centroids))
                let coded = try deflate(packed)
                add(name + "::codes", "U8", [coded.count], coded)
                sizes.quantized += mask.count + packed.count + book.centroids.count * 4
            } else {
                meta["tlc.bits.\(name)"] = "0"
                let coded = try deflate(floatBytes(nonzero))
                add(name + "::values", "U8", [coded.count], coded)
                sizes.quantized += mask.count + nonzero.count * 4
            }
        }
        var checksum = crc32(0, nil, 0)
        for p in payloads { checksum = p.withUnsafeBytes { crc32(checksum, $0.bindMemory(to: Bytef.self).baseAddress, uInt($0.count)) } }
        meta["tlc.crc32"] = String(checksum, radix: 16)
        try SafeTensors.assemble(entries, metadata: meta, to: path) { out in for p in payloads { out.append(p) } }
        sizes.coded = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return sizes
    }

    /// Whether the file at `path` is in this format (reads its header only).
    public static func isCompressed(_ path: String) -> Bool {
        (try? SafeTensorsHeader.read(path: path))?.metadata["tlc.format"] == formatName
    }

    /// Loads a file written by ``write(_:codebooks:metadata:to:)`` into `network`
    /// (built from the same architecture). Returns the file's metadata.
    @discardableResult
    public static func read(_ path: String, into network: Network) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EngineError.checkpoint(path: path, message: "cannot read the file")
        }
        let header: SafeTensorsHeader
        do { header = try SafeTensorsHeader.parse(data) } catch { throw EngineError.checkpoint(path: path, message: error.message) }
        guard header.metadata["tlc.format"] == formatName else {
            throw EngineError.checkpoint(path: path, message: "not a Deep Compression file (no tlc.format \(formatName))")
        }
        let checksum = data.withUnsafeBytes { raw in
            crc32(crc32(0, nil, 0), raw.bindMemory(to: Bytef.self).baseAddress! + header.dataStart, uInt(data.count - header.dataStart))
        }
        guard header.metadata["tlc.crc32"] == String(checksum, radix: 16) else {
            throw EngineError.checkpoint(path: path, message: "the file is damaged (its CRC-32 does not match tlc.crc32)")
        }
        var byName: [String: SafeTensorsHeader.Entry] = [:]
        for e in header.entries { byName[e.name] = e }
        func bytes(_ name: String) throws -> Data {
            guard let e = byName[name] else { throw EngineError.checkpoint(path: path, message: "missing tensor \(name)") }
            let start = header.dataStart + e.dataOffsets.lowerBound
            return data.subdata(in: start..<(start + e.dataOffsets.count))
        }
        func floats(_ raw: Data) -> [Float] {
            raw.withUnsafeBytes { r in (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: r.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) } }
        }
        let weights = Set(PruningMasks.prunable(network).map(\.name))
        for (name, tensor) in network.stateTensors {
            let n = tensor.count
            guard weights.contains(name) else {
                guard let e = byName[name], e.dtype == .f32, e.shape == tensor.shape else {
                    throw EngineError.checkpoint(path: path, message: "tensor '\(name)' is missing or has another shape than \(tensor.shape)")
                }
                let values = floats(try bytes(name))
                for i in 0..<n { tensor[i] = values[i] }
                continue
            }
            guard header.metadata["tlc.shape.\(name)"] == "[" + tensor.shape.map(String.init).joined(separator: ",") + "]" else {
                throw EngineError.checkpoint(path: path, message: "weight '\(name)' has another shape than \(tensor.shape)")
            }
            let mask = try inflate(try bytes(name + "::mask"), expected: (n + 7) / 8, path: path, what: name + "::mask")
            let maskBytes = [UInt8](mask)
            var positions: [Int] = []
            for i in 0..<n where maskBytes[i >> 3] & (1 << UInt8(i & 7)) != 0 { positions.append(i) }
            let bits = Int(header.metadata["tlc.bits.\(name)"] ?? "") ?? -1
            let values: [Float]
            if bits == 0 {
                values = floats(try inflate(try bytes(name + "::values"), expected: positions.count * 4, path: path, what: name + "::values"))
            } else if (1...8).contains(bits) {
                let book = floats(try bytes(name + "::codebook"))
                let packed = try inflate(try bytes(name + "::codes"), expected: (positions.count * bits + 7) / 8, path: path, what: name + "::codes")
                let codes = unpack(packed, bits: bits, count: positions.count)
                guard codes.allSatisfy({ $0 < book.count }) else {
                    throw EngineError.checkpoint(path: path, message: "\(name)::codes indexes past its codebook")
                }
                values = codes.map { book[$0] }
            } else {
                throw EngineError.checkpoint(path: path, message: "weight '\(name)' has no valid tlc.bits entry")
            }
            for i in 0..<n { tensor[i] = 0 }
            for (k, i) in positions.enumerated() { tensor[i] = values[k] }
        }
        return header.metadata
    }

    // MARK: streams

    static func floatBytes(_ values: [Float]) -> Data {
        var d = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
        return d
    }

    /// Codes of `bits` bits each, packed least significant bit first.
    static func pack(_ codes: [Int], bits: Int) -> Data {
        var out = [UInt8](repeating: 0, count: (codes.count * bits + 7) / 8)
        var bit = 0
        for c in codes {
            for b in 0..<bits where (c >> b) & 1 == 1 { out[(bit + b) >> 3] |= 1 << UInt8((bit + b) & 7) }
            bit += bits
        }
        return Data(out)
    }

    static func unpack(_ data: Data, bits: Int, count: Int) -> [Int] {
        let bytes = [UInt8](data)
        return (0..<count).map { k in
            var c = 0
            for b in 0..<bits {
                let i = k * bits + b
                if bytes[i >> 3] & (1 << UInt8(i & 7)) != 0 { c |= 1 << b }
            }
            return c
        }
    }

    /// zlib's deflate at its best compression.
    static func deflate(_ input: Data) throws -> Data {
        var bound = compressBound(uLong(input.count))
        var out = [UInt8](repeating: 0, count: Int(bound))
        let status = input.withUnsafeBytes { src in
            compress2(&out, &bound, src.bindMemory(to: Bytef.self).baseAddress, uLong(input.count), Z_BEST_COMPRESSION)
        }
        guard status == Z_OK else { throw EngineError.invalidArgument("zlib could not compress a stream (status \(status))") }
        return Data(out.prefix(Int(bound)))
    }

    /// Inflates a stream that must come out exactly `expected` bytes long.
    static func inflate(_ input: Data, expected: Int, path: String, what: String) throws -> Data {
        var length = uLongf(max(expected, 1))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = input.withUnsafeBytes { src in
            uncompress(&out, &length, src.bindMemory(to: Bytef.self).baseAddress, uLong(input.count))
        }
        guard status == Z_OK, Int(length) == expected else {
            throw EngineError.checkpoint(path: path, message: "\(what) is damaged (its zlib stream does not decode to \(expected) bytes)")
        }
        return Data(out.prefix(expected))
    }
}
