// QuantizedCheckpoint — a QuantizedNetwork as an int8 safetensors file and back:
// integer weights, their scales and the biases as tensors, the layout (shapes,
// activation scales and zero points) as JSON metadata.
//
// Owns: QuantizedNetwork.save/load, the file's layout record, RawTensor and
// SafeTensors.writeRaw (tensors of mixed dtypes).

import Foundation
import ModelZoo

extension QuantizedNetwork {
    /// Saves as safetensors: `<layer>.weight` I8 `[out, K]` (K in the integer path's
    /// order), `<layer>.weight_scale`, `<layer>.bias` F32; the layout (shapes, activation
    /// scales and zero points) as JSON in the metadata key `tlc.int8`.
    public func save(to path: String, metadata: [String: String] = [:]) throws {
        var entries: [RawTensor] = []
        for case .linear(let l) in ops {
            var w = [Int8](repeating: 0, count: l.outputs * l.k)
            for o in 0..<l.outputs { for j in 0..<l.k { w[o * l.k + j] = l.weights[o * l.kPadded + j] } }
            entries.append(RawTensor(name: l.name + ".weight", int8: w, shape: [l.outputs, l.k]))
            entries.append(RawTensor(name: l.name + ".weight_scale", float: l.weightScales, shape: [l.outputs]))
            entries.append(RawTensor(name: l.name + ".bias", float: l.bias, shape: [l.outputs]))
        }
        let layout = Layout(ops: ops, bits: config.bits, perChannel: config.perChannel, inputScale: inputScale, inputZero: inputZero,
                            input: input, outputs: outputs, parameterCount: parameterCount)
        var meta = metadata
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        meta["tlc.int8"] = String(decoding: try encoder.encode(layout), as: UTF8.self)
        try SafeTensors.writeRaw(entries, metadata: meta, to: path)
    }

    struct Layout: Codable {
        var ops: [QuantizedOp]
        var bits: Int, perChannel: Bool
        var inputScale: Float, inputZero: Int
        var input: FeatureShape
        var outputs: Int, parameterCount: Int
    }

    /// Reads a file written by ``save(to:metadata:)``.
    public static func load(from path: String) throws -> QuantizedNetwork {
        let file = try SafeTensors.read(path)
        guard let text = file.metadata["tlc.int8"], let layout = try? JSONDecoder().decode(Layout.self, from: Data(text.utf8)) else {
            throw EngineError.checkpoint(path: path, message: "not an int8 checkpoint (no tlc.int8 metadata)")
        }
        var ops: [QuantizedOp] = []
        for op in layout.ops {
            guard case .linear(var l) = op else { ops.append(op); continue }
            guard let w = file.tensor(l.name + ".weight"), let s = file.tensor(l.name + ".weight_scale"), let b = file.tensor(l.name + ".bias"),
                  w.shape == [l.outputs, l.k], s.count == l.outputs, b.count == l.outputs else {
                throw EngineError.checkpoint(path: path, message: "tensors of '\(l.name)' are missing or have the wrong shape")
            }
            l.weights = [Int8](repeating: 0, count: l.outputs * l.kPadded)
            for o in 0..<l.outputs { for j in 0..<l.k { l.weights[o * l.kPadded + j] = Int8(w[o * l.k + j]) } }
            l.weightScales = s.values; l.bias = b.values
            l.computeRowSums()
            ops.append(.linear(l))
        }
        return QuantizedNetwork(ops: ops, config: QuantizationConfig(bits: layout.bits, perChannel: layout.perChannel),
                                inputScale: layout.inputScale, inputZero: layout.inputZero, input: layout.input,
                                outputs: layout.outputs, parameterCount: layout.parameterCount)
    }
}

/// A tensor of any dtype as raw little-endian bytes, for ``SafeTensors/writeRaw(_:metadata:to:)``.
public struct RawTensor {
    public var name: String, dtype: String, shape: [Int], bytes: [UInt8]
    public init(name: String, int8 values: [Int8], shape: [Int]) {
        self.name = name; dtype = "I8"; self.shape = shape; bytes = values.map { UInt8(bitPattern: $0) }
    }
    public init(name: String, float values: [Float], shape: [Int]) {
        self.name = name; dtype = "F32"; self.shape = shape
        bytes = values.flatMap { v -> [UInt8] in let b = v.bitPattern.littleEndian; return [UInt8(b & 0xff), UInt8(b >> 8 & 0xff), UInt8(b >> 16 & 0xff), UInt8(b >> 24)] }
    }
}

extension SafeTensors {
    /// Writes tensors of mixed dtypes (raw bytes) and metadata atomically.
    public static func writeRaw(_ tensors: [RawTensor], metadata: [String: String] = [:], to path: String) throws {
        try assemble(tensors.map { ($0.name, $0.dtype, $0.shape, $0.bytes.count) }, metadata: metadata, to: path) { out in
            for t in tensors { out.append(contentsOf: t.bytes) }
        }
    }
}
